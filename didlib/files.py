"""Reading files from outside with a size limit, so a wrong path (a disk image, /dev/zero) fails at once;
writing secrets so that they are never readable by others, not even for a moment."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from didlib.errors import DidlibError, UsageError

__all__ = ["locked", "read_limited", "write_private"]


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
    """Write a private key, a secret or shared state: mode 600, and atomic (a temporary file in the same folder,
    flushed to disk, then renamed over ``path``), so a reader or a crash sees the old file or the new one,
    never half of one. Creates the folder if needed."""
    file = Path(path)
    tmp = None
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=f".{file.name}.")  # mkstemp creates it with mode 600
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, file)
    except OSError as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise UsageError(f"cannot write {path}: {exc.strerror}") from exc


@contextlib.contextmanager
def locked(path: str | Path) -> Iterator[None]:
    """Hold an exclusive lock for ``path`` while reading, checking and rewriting it, so that processes doing so
    at once take turns (POSIX ``flock``; waits). The lock is on ``path.lock`` beside it, a file that is never
    replaced: :func:`write_private` renames a new file over ``path``, and a lock on the old one would let the
    next process read stale content."""
    lock = Path(f"{path}.lock")
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise UsageError(f"cannot lock {path}: {exc.strerror}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
