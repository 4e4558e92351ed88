"""Reading files from outside with a size limit, so a wrong path (a disk image, /dev/zero) fails at once;
writing secrets so that they are never readable by others, not even for a moment."""

from __future__ import annotations

import os
from pathlib import Path

from didlib.errors import DidlibError, UsageError

__all__ = ["read_limited", "write_private"]


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


def write_private(path: str | Path, data: bytes) -> None:
    """Write a private key or other secret: created with mode 600 (an existing file keeps its own mode)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from exc
