"""Transports carry session messages as opaque bytes; the sessions do not know which one is used.

The local-network transport is here; ISO 18013-5 BLE (8.3.3.1.1) is :class:`didlib.session.ble.BleChannel`;
NFC would plug in behind the same two calls. The in-memory pair serves tests and same-process demos.
"""

from __future__ import annotations

import queue
import socket
import struct
from typing import Protocol

from didlib.errors import SessionError

__all__ = ["Transport", "InMemoryTransport", "TcpTransport", "TcpListener"]

MAX_MESSAGE = 1 << 20


class Transport(Protocol):
    """How session messages travel: anything that sends and receives whole messages (BLE, TCP, in memory)."""

    def send(self, message: bytes) -> None:
        """Send one whole message (the transport frames it)."""
        ...

    def receive(self, timeout: float | None = None) -> bytes:
        """The next whole message; a :class:`SessionError` when none comes within ``timeout`` seconds."""
        ...


class InMemoryTransport:
    """One end of a duplex in-process channel; make both ends with :meth:`pair`."""

    def __init__(self, inbox: queue.Queue[bytes], outbox: queue.Queue[bytes]) -> None:
        self._inbox, self._outbox = inbox, outbox

    @classmethod
    def pair(cls) -> tuple[InMemoryTransport, InMemoryTransport]:
        """Two connected ends, for tests and for both sides in one process."""
        a_to_b: queue.Queue[bytes] = queue.Queue()
        b_to_a: queue.Queue[bytes] = queue.Queue()
        return cls(b_to_a, a_to_b), cls(a_to_b, b_to_a)

    def send(self, message: bytes) -> None:
        """Send one message (at most the session's message limit)."""
        if len(message) > MAX_MESSAGE:
            raise SessionError(f"message of {len(message)} bytes is larger than {MAX_MESSAGE}", code="too_large")
        self._outbox.put(bytes(message))

    def receive(self, timeout: float | None = 10.0) -> bytes:
        """The next message; ``timeout`` seconds without one is a :class:`SessionError` (``timeout``)."""
        try:
            return self._inbox.get(timeout=timeout)
        except queue.Empty:
            raise SessionError("no message arrived in time", code="timeout") from None


class TcpTransport:
    """Messages over TCP on the local network, each preceded by its length (4 bytes, big-endian).

    A desktop stand-in for BLE's GATT characteristics: the same opaque session messages, the same limits.
    """

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    @classmethod
    def connect(cls, host: str, port: int, timeout: float = 10.0) -> TcpTransport:
        """Connect to a holder at ``host``:``port``; an unreachable one is a :class:`SessionError` (``unreachable``)."""
        try:
            return cls(socket.create_connection((host, port), timeout=timeout))
        except OSError as exc:
            raise SessionError(f"cannot reach {host}:{port}: {exc.strerror or exc}", code="unreachable") from exc

    def send(self, message: bytes) -> None:
        """Send one message, prefixed with its length."""
        if len(message) > MAX_MESSAGE:
            raise SessionError(f"message of {len(message)} bytes is larger than {MAX_MESSAGE}", code="too_large")
        try:
            self._sock.sendall(struct.pack(">I", len(message)) + message)
        except OSError as exc:
            raise SessionError(f"connection lost: {exc}", code="connection_lost") from exc

    def _read(self, size: int) -> bytes:
        chunks, remaining = [], size
        while remaining:
            chunk = self._sock.recv(min(remaining, 65536))
            if not chunk:
                raise SessionError("the other side closed the connection", code="connection_lost")
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def receive(self, timeout: float | None = 10.0) -> bytes:
        """The next message (length-prefixed; an announced length over the limit is refused before reading)."""
        self._sock.settimeout(timeout)
        try:
            (length,) = struct.unpack(">I", self._read(4))
            if length > MAX_MESSAGE:
                raise SessionError(
                    f"a message of {length} bytes is announced; the limit is {MAX_MESSAGE}", code="too_large"
                )
            return self._read(length)
        except TimeoutError:
            raise SessionError("no message arrived in time", code="timeout") from None
        except OSError as exc:
            raise SessionError(f"connection lost: {exc}", code="connection_lost") from exc

    def close(self) -> None:
        """Close the connection."""
        self._sock.close()


class TcpListener:
    """The holder's side: listen on a local port (named in the engagement) for one reader."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._sock = socket.create_server((host, port))
        self.host, self.port = self._sock.getsockname()[:2]

    def accept(self, timeout: float | None = 30.0) -> TcpTransport:
        """Wait for a reader to connect; ``timeout`` seconds without one is a :class:`SessionError`."""
        self._sock.settimeout(timeout)
        try:
            conn, _ = self._sock.accept()
        except TimeoutError:
            raise SessionError("no reader connected in time", code="timeout") from None
        return TcpTransport(conn)

    def close(self) -> None:
        """Stop listening."""
        self._sock.close()
