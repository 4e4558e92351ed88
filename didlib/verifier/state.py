"""A till's state on disk, shared by every process that checks codes at the same time: one SQLite file.

Two ``didlib check`` processes (or two till workers) must not both accept one code, and no check may go
uncounted. SQLite gives that without a server: the file is in WAL mode (readers never block the writer),
each read-modify-write is one ``BEGIN IMMEDIATE`` transaction (SQLite's write lock, taken at the start, so
two processes cannot both read "unused" and both write "used"), and a busy file is waited for, not failed.
A commit is atomic: a crash leaves the state before the check or after it. It holds random nonces with
their expiry times and counts, nothing personal.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from didlib.errors import UsageError

__all__ = ["Counts", "StateDb"]

BUSY_TIMEOUT = 30.0  # seconds a process waits for another's write before giving up

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS nonces (nonce TEXT PRIMARY KEY, until REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS nonces_until ON nonces (until)",
    "CREATE TABLE IF NOT EXISTS counts (name TEXT PRIMARY KEY, n INTEGER NOT NULL)",
)


class StateDb:
    """One connection to the state file (``None``: in memory, for one process), safe across threads too."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(":memory:" if path is None else path, timeout=BUSY_TIMEOUT,
                                       isolation_level=None, check_same_thread=False)
            if path is not None:
                self._db.execute("PRAGMA journal_mode=WAL")
            with self.transaction() as db:
                for statement in _SCHEMA:
                    db.execute(statement)
        except (sqlite3.Error, OSError) as exc:
            raise UsageError(f"the verifier state {path} cannot be used ({exc}): move it away to start afresh") \
                from exc

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: the database's write lock is held from the first statement to the commit."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def query(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()


class Counts:
    """How many checks and which decisions (accept, reject, refer): the only record a till keeps."""

    def __init__(self, db: StateDb | Path) -> None:
        self._db = db if isinstance(db, StateDb) else StateDb(db)

    def add(self, decision: str) -> None:
        with self._db.transaction() as db:
            for name in ("checks", decision):
                db.execute("INSERT INTO counts (name, n) VALUES (?, 1) ON CONFLICT (name) DO UPDATE SET n = n + 1",
                           (name,))

    def read(self) -> dict[str, int]:
        return {str(name): int(n) for name, n in self._db.query("SELECT name, n FROM counts")}
