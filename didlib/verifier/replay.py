"""A replay cache for one-way QR presentations: every nonce is accepted once within its window.

Entries expire when the presentation would be too old anyway, so the cache stays small (a busy till sees
a few thousand a day). It can live in a state file between runs of the command-line till and be shared by
several tills at once (:mod:`didlib.verifier.state`: SQLite, one write transaction per claim); it holds
random nonces only, nothing personal.
"""

from __future__ import annotations

import time
from pathlib import Path

from didlib.verifier.state import StateDb

__all__ = ["ReplayCache"]

MAX_ENTRIES = 200_000


class ReplayCache:
    """In memory (``path`` None) or in a state file that any number of processes share."""

    def __init__(self, path: Path | StateDb | None = None) -> None:
        self._db = path if isinstance(path, StateDb) else StateDb(path)

    def seen(self, nonce: bytes, now: float | None = None) -> bool:
        """A quick look before the work of verifying: the claim in :meth:`remember` is what decides."""
        now = time.time() if now is None else now
        return bool(self._db.query("SELECT 1 FROM nonces WHERE nonce = ? AND until > ?", nonce.hex(), now))

    def remember(self, nonce: bytes, until: float, now: float | None = None) -> bool:
        """Claim ``nonce`` as used until ``until`` (epoch seconds). False when it was already claimed (by this
        process or another one since :meth:`seen`): check and record are one transaction, so of two tills
        reading one code at once exactly one gets True."""
        now = time.time() if now is None else now
        with self._db.transaction() as db:
            db.execute("DELETE FROM nonces WHERE until <= ?", (now,))
            if db.execute("SELECT 1 FROM nonces WHERE nonce = ?", (nonce.hex(),)).fetchone():
                return False
            (count,) = db.execute("SELECT COUNT(*) FROM nonces").fetchone()
            if count >= MAX_ENTRIES:  # keep the entries that expire last
                db.execute("DELETE FROM nonces WHERE nonce IN (SELECT nonce FROM nonces ORDER BY until LIMIT ?)",
                           (count - MAX_ENTRIES + 1,))
            db.execute("INSERT INTO nonces (nonce, until) VALUES (?, ?)", (nonce.hex(), until))
        return True

    def __len__(self) -> int:
        return int(self._db.query("SELECT COUNT(*) FROM nonces")[0][0])
