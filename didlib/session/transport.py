"""Transports carry session messages as opaque bytes; the sessions do not know which one is used.

BLE (18013-5 8.3.3.1.1), NFC and the local-network transport plug in behind the same two calls. The
in-memory pair serves tests and same-process demos.
"""

from __future__ import annotations

import queue
from typing import Protocol

from didlib.errors import SessionError

__all__ = ["Transport", "InMemoryTransport"]

MAX_MESSAGE = 1 << 20


class Transport(Protocol):
    def send(self, message: bytes) -> None: ...

    def receive(self, timeout: float | None = None) -> bytes: ...


class InMemoryTransport:
    """One end of a duplex in-process channel; make both ends with :meth:`pair`."""

    def __init__(self, inbox: queue.Queue[bytes], outbox: queue.Queue[bytes]) -> None:
        self._inbox, self._outbox = inbox, outbox

    @classmethod
    def pair(cls) -> tuple[InMemoryTransport, InMemoryTransport]:
        a_to_b: queue.Queue[bytes] = queue.Queue()
        b_to_a: queue.Queue[bytes] = queue.Queue()
        return cls(b_to_a, a_to_b), cls(a_to_b, b_to_a)

    def send(self, message: bytes) -> None:
        if len(message) > MAX_MESSAGE:
            raise SessionError(f"message of {len(message)} bytes is larger than {MAX_MESSAGE}", code="too_large")
        self._outbox.put(bytes(message))

    def receive(self, timeout: float | None = 10.0) -> bytes:
        try:
            return self._inbox.get(timeout=timeout)
        except queue.Empty:
            raise SessionError("no message arrived in time", code="timeout") from None
