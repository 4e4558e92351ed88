"""Reading files from outside with a size limit, so a wrong path (a disk image, /dev/zero) fails at once."""

from __future__ import annotations

from pathlib import Path

from didlib.errors import DidlibError, UsageError

__all__ = ["read_limited"]


def read_limited(path: str | Path, limit: int, what: str, error: type[DidlibError] = UsageError) -> bytes:
    """The bytes of ``path``, or ``error`` if it cannot be read or is larger than ``limit`` bytes."""
    file = Path(path)
    try:
        with file.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise error(f"cannot read {what} {file}: {exc.strerror}") from exc
    if len(data) > limit:
        raise error(f"{what} {file} is larger than {limit} bytes")
    return data
