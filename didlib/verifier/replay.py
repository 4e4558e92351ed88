"""A replay cache for one-way QR presentations: every nonce is accepted once within its window.

Entries expire when the presentation would be too old anyway, so the cache stays small (a busy till sees
a few thousand a day). It can live in a state folder between runs of the command-line till; it holds
random nonces only, nothing personal.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

__all__ = ["ReplayCache"]

MAX_ENTRIES = 200_000


class ReplayCache:
    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._seen: dict[str, float] = {}
        if path is not None and path.exists():
            self._load(path)

    def _load(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text()) if path.stat().st_size < 32 << 20 else {}
        except (OSError, ValueError):
            data = {}  # a damaged cache is replaced; the freshness window still bounds any replay
        if isinstance(data, dict):
            self._seen = {k: float(v) for k, v in data.items() if isinstance(k, str) and isinstance(v, (int, float))}

    def seen(self, nonce: bytes, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        expiry = self._seen.get(nonce.hex())
        return expiry is not None and expiry > now

    def remember(self, nonce: bytes, until: float, now: float | None = None) -> None:
        """Record ``nonce`` as used until ``until`` (epoch seconds); save if the cache has a file."""
        now = time.time() if now is None else now
        self._seen = {k: v for k, v in self._seen.items() if v > now}
        if len(self._seen) >= MAX_ENTRIES:  # keep the entries that expire last
            for key in sorted(self._seen, key=self._seen.__getitem__)[: len(self._seen) - MAX_ENTRIES + 1]:
                del self._seen[key]
        self._seen[nonce.hex()] = until
        if self._path is not None:
            self._save(self._path)

    def _save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".replay-")
        with os.fdopen(fd, "w") as handle:
            json.dump(self._seen, handle)
        os.replace(tmp, path)  # atomic: a crash leaves the old file or the new one

    def __len__(self) -> int:
        return len(self._seen)
