"""zlib (RFC 1950) inflation with a ceiling, for data from outside (QR payloads, status lists)."""

from __future__ import annotations

import zlib

from didlib.errors import DecodeError, LimitExceeded

__all__ = ["inflate"]


def inflate(data: bytes, max_bytes: int, what: str) -> bytes:
    """Decompress ``data``; refuse output beyond ``max_bytes`` (zip bombs), truncation and empty results."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, max_bytes)
    except zlib.error as exc:
        raise DecodeError(f"{what} is not zlib data: {exc}") from exc
    if inflater.unconsumed_tail:
        raise LimitExceeded(f"{what} inflates beyond {max_bytes} bytes")
    if not inflater.eof or not out:
        raise DecodeError(f"{what} is truncated or empty")
    return out
