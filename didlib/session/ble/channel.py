"""One side of an ISO/IEC 18013-5 BLE connection as a :class:`~didlib.session.transport.Transport`.

The state machine and framing live here; a Bluetooth stack (Bumble on desktops and tills, the platform's
Bluetooth through pyjnius on Android) only moves bytes, through a :class:`GattPort`, and reports what
arrives by calling :meth:`BleChannel.state_received`, :meth:`BleChannel.chunk_received` and
:meth:`BleChannel.link_lost` from any thread.

States: ``connecting`` -> ``open`` (State 0x01 written by the GATT client) -> ``ended`` (State 0x02 from
either side) or ``lost`` (the link went down without it) -> ``closed``.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from typing import Literal, Protocol

from didlib.errors import DidlibError, LimitExceeded, SessionError
from didlib.session.ble.framing import Reassembler, split
from didlib.session.ble.gatt import STATE_END, STATE_START
from didlib.session.transport import MAX_MESSAGE

__all__ = ["GattPort", "BleChannel"]

Side = Literal["server", "client"]
MAX_PENDING = 8  # whole messages waiting to be read; a session never has more than one or two in flight


class GattPort(Protocol):
    """What a Bluetooth stack provides to one connection. Every call blocks at most ``timeout`` seconds
    and raises :class:`SessionError` (``connection_lost`` / ``timeout``) when it cannot do its job."""

    @property
    def mtu(self) -> int:
        """The negotiated ATT_MTU of this connection."""
        ...

    def send_chunk(self, chunk: bytes, timeout: float) -> None:
        """Client: write without response to Client2Server. Server: notify Server2Client."""
        ...

    def send_state(self, value: int, timeout: float) -> None:
        """Client: write without response to State. Server: notify State."""
        ...

    def disconnect(self, timeout: float) -> None:
        """Drop the link (and stop advertising or scanning); never raises."""
        ...


_END, _LOST = object(), object()


class BleChannel:
    """Session messages over one BLE connection: ``send`` chunks them at the link's MTU, ``receive``
    returns whole messages. The State characteristic's end signal and a dropped link surface as
    :class:`SessionError` with codes ``session_terminated`` and ``connection_lost``."""

    def __init__(self, port: GattPort, side: Side, *, max_message: int = MAX_MESSAGE) -> None:
        self.port = port
        self.side = side
        self.state = "connecting"
        self.bytes_sent = 0  # chunk bytes handed to the stack (ATT values, continuation bytes included)
        self.chunks_sent = 0
        self._max_message = max_message
        self._reassembler = Reassembler(max_message)
        self._inbox: queue.Queue[bytes | object | DidlibError] = queue.Queue()
        self._opened = threading.Event()
        self._lock = threading.Lock()
        self._flooded = False
        self._over: object | None = None  # _END or _LOST, once receive has reported it

    # ------------------------------------------------------------------ called by the stack
    def state_received(self, value: bytes) -> None:
        """A write to (server) or notification of (client) the State characteristic."""
        if value == bytes([STATE_START]) and self.side == "server":
            with self._lock:
                if self.state == "connecting":
                    self.state = "open"
            self._opened.set()
        elif value == bytes([STATE_END]):
            with self._lock:
                if self.state in ("connecting", "open"):
                    self.state = "ended"
            self._opened.set()
            self._inbox.put(_END)
        # Anything else on State is ignored, as 18013-5 defines no other value.

    def chunk_received(self, chunk: bytes) -> None:
        """A write to Client2Server (server) or a notification on Server2Client (client).

        A peer that sends messages faster than the session reads them is cut off after ``MAX_PENDING``,
        so the unread ones never hold more than that many times the message limit."""
        if self._flooded:
            return
        try:
            message = self._reassembler.feed(chunk)
        except DidlibError as exc:
            self._inbox.put(exc)
            return
        if message is None:
            return
        if self._inbox.qsize() >= MAX_PENDING:
            self._flooded = True
            self._inbox.put(LimitExceeded(f"the other device sent more than {MAX_PENDING} unread messages"))
            return
        self._inbox.put(message)

    def link_lost(self) -> None:
        """The stack lost the link: a waiting or later send or receive fails (``connection_lost``), none hangs."""
        with self._lock:
            if self.state in ("connecting", "open"):
                self.state = "lost"
        self._opened.set()
        self._inbox.put(_LOST)

    # ------------------------------------------------------------------ used by the session
    def wait_open(self, timeout: float) -> None:
        """Server: wait for the client's start signal."""
        if not self._opened.wait(timeout):
            raise SessionError("the other device connected but never started the session", code="timeout")
        if self.state != "open":
            raise SessionError(f"the BLE session {self.state} before it started", code="connection_lost")

    def start(self, timeout: float) -> None:
        """Client: write the start signal (after subscribing to State and Server2Client)."""
        self.port.send_state(STATE_START, timeout)
        with self._lock:
            if self.state == "connecting":
                self.state = "open"
        self._opened.set()

    def send(self, message: bytes, timeout: float = 30.0) -> None:
        """Send one session message in chunks of the link's MTU, once the session is open."""
        if len(message) > self._max_message:
            raise SessionError(f"message of {len(message)} bytes is larger than {self._max_message}", code="too_large")
        self._check_open()
        for chunk in split(message, self.port.mtu):
            self.port.send_chunk(chunk, timeout)
            self.bytes_sent += len(chunk)
            self.chunks_sent += 1

    def receive(self, timeout: float | None = 10.0) -> bytes:
        """The next whole message, reassembled from its chunks; a :class:`SessionError` on a timeout or a lost link.
        Messages that arrived before the end signal or the link's loss are read first; from then on every receive
        reports the end, and nothing that arrived after it is read."""
        item = self._over
        if item is None:
            try:
                item = self._inbox.get(timeout=timeout)
            except queue.Empty:
                raise SessionError("no message arrived in time", code="timeout") from None
            if isinstance(item, bytes):
                return item
            if isinstance(item, DidlibError):
                raise item
            self._over = item
            self._inbox.put(item)  # wakes any other reader waiting
        if item is _END:
            raise SessionError("the other device ended the session (BLE State 0x02)", code="session_terminated")
        raise SessionError("the Bluetooth link was lost", code="connection_lost")

    def close(self, timeout: float = 5.0) -> None:
        """End the session (State 0x02 unless it already ended) and drop the link. Idempotent."""
        with self._lock:
            was_open, self.state = self.state == "open", "closed"
        if was_open:
            with contextlib.suppress(SessionError):  # a link already gone needs no goodbye
                self.port.send_state(STATE_END, timeout)
        self.port.disconnect(timeout)

    def _check_open(self) -> None:
        if self.state == "open":
            return
        if self.state == "ended":
            raise SessionError("the other device ended the session", code="session_terminated")
        if self.state == "connecting":
            raise SessionError("the BLE session has not started", code="unexpected_message")
        raise SessionError("the Bluetooth link was lost", code="connection_lost")
