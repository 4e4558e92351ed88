"""Who connects to whom over BLE, from the engagement: the holder's offer and the reader's choice.

The holder offers one mode in its engagement (mdoc peripheral server mode by default: the phone
advertises, the till connects, as most wallets do). The reader takes BLE when the engagement offers it and
a Bluetooth adapter is present, preferring peripheral server mode (it can connect straight to the address
the engagement gives), then central client mode (the reader advertises and checks nothing: the holder
checks the reader's Ident); otherwise the local network. Nothing here imports a Bluetooth stack: an
adapter is anything with ``address``, ``serve`` and ``connect`` (Bumble's, or an Android one).
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from dataclasses import dataclass
from typing import Protocol

from didlib.errors import SessionError
from didlib.session.ble.channel import BleChannel
from didlib.session.ble.gatt import Mode
from didlib.session.engagement import BLE, BleOptions, DeviceEngagement, RetrievalMethod
from didlib.session.transport import TcpListener, TcpTransport, Transport

__all__ = [
    "BleAdapter", "BleServer", "BleHolder", "ReaderLink", "reader_transport", "holder_transport", "find_adapter",
]

ADAPTER_ENV = "DIDLIB_BLE_ADAPTER"  # a Bumble transport name, e.g. usb:0 or hci-socket:0
DEFAULT_ADAPTERS = ("hci-socket:0", "usb:0")


class BleServer(Protocol):
    def accept(self, timeout: float = 120.0) -> BleChannel: ...

    def close(self) -> None: ...


class BleAdapter(Protocol):
    """A Bluetooth LE device able to be either side of the 18013-5 service."""

    @property
    def address(self) -> bytes: ...

    def serve(self, service_uuid: uuid.UUID, mode: Mode, *, e_device_key_bytes: bytes | None = None) -> BleServer: ...

    def connect(
        self,
        service_uuid: uuid.UUID,
        mode: Mode,
        *,
        address: bytes | None = None,
        e_device_key_bytes: bytes | None = None,
        timeout: float = 20.0,
    ) -> BleChannel: ...


class BleHolder:
    """The holder's side: the BLE retrieval method to put in the engagement, then the connection.

    In peripheral server mode the phone advertises from the moment this is made (while the QR code is on
    screen); in central client mode it looks for the reader once the reader has read the QR code."""

    def __init__(self, adapter: BleAdapter, mode: Mode = Mode.PERIPHERAL_SERVER, *, with_address: bool = True) -> None:
        self.adapter, self.mode = adapter, mode
        self.service_uuid = uuid.uuid4()
        self._server: BleServer | None = None
        if mode is Mode.PERIPHERAL_SERVER:
            address = adapter.address if with_address else None
            options = BleOptions(peripheral_server_uuid=self.service_uuid, address=address)
            self._server = adapter.serve(self.service_uuid, mode)
        else:
            options = BleOptions(central_client_uuid=self.service_uuid)
        self.method = RetrievalMethod.ble(options)

    def open(self, engagement: DeviceEngagement, timeout: float = 120.0) -> BleChannel:
        """Wait for the reader (peripheral server mode) or find it (central client mode)."""
        if self._server is not None:
            return self._server.accept(timeout)
        return self.adapter.connect(
            self.service_uuid, self.mode, e_device_key_bytes=engagement.e_device_key_bytes.raw, timeout=timeout
        )

    def close(self) -> None:
        if self._server is not None:
            self._server.close()


POLL = 0.2  # seconds spent on each offered transport in turn while the holder waits for a reader


def holder_transport(
    engagement: DeviceEngagement, *, ble: BleHolder | None, listener: TcpListener | None, timeout: float
) -> TcpTransport | BleChannel:
    """The holder waits for the reader on every transport it offered; the first reader to arrive wins.

    Both waits are passive (a TCP port, a BLE peripheral server), so they are polled in turn. Central
    client mode is active (the phone looks for the reader) and is offered on its own."""
    if ble is None and listener is None:
        raise ValueError("the holder offers no transport")
    if ble is not None and (listener is None or ble.mode is Mode.CENTRAL_CLIENT):
        if listener is not None:
            raise ValueError("central client mode cannot be offered together with the local network")
        return ble.open(engagement, timeout)
    assert listener is not None
    if ble is None:
        return listener.accept(timeout)
    deadline = time.monotonic() + timeout
    while True:
        for wait in (lambda t: ble.open(engagement, t), listener.accept):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SessionError("no reader connected in time", code="timeout")
            try:
                return wait(min(POLL, remaining))
            except SessionError as exc:
                if exc.code != "timeout":
                    raise


@dataclass
class ReaderLink:
    """The reader's open transport and what it says about itself (for the till's screen)."""

    transport: Transport
    kind: str  # "ble" or "local_network"
    note: str

    def close(self) -> None:
        close = getattr(self.transport, "close", None)
        if close is not None:
            with contextlib.suppress(SessionError):
                close()


def reader_transport(
    engagement: DeviceEngagement, adapter: BleAdapter | None, *, timeout: float = 30.0, no_adapter: str = ""
) -> ReaderLink:
    """Open the transport the engagement and this machine have in common: BLE when both offer it, else the
    local network. Raises :class:`SessionError` ``unsupported`` when there is none."""
    offers = [m.ble_options for m in engagement.retrieval_methods if m.type == BLE]
    ble = next((o for o in offers if o is not None), None)
    if ble is not None and adapter is not None:
        if ble.peripheral_server_uuid is not None:
            channel = adapter.connect(
                ble.peripheral_server_uuid, Mode.PERIPHERAL_SERVER, address=ble.address, timeout=timeout
            )
            return ReaderLink(channel, "ble", "Bluetooth (the phone is the server)")
        assert ble.central_client_uuid is not None
        server = adapter.serve(
            ble.central_client_uuid, Mode.CENTRAL_CLIENT, e_device_key_bytes=engagement.e_device_key_bytes.raw
        )
        try:
            return ReaderLink(server.accept(timeout), "ble", "Bluetooth (the phone is the client)")
        except SessionError:
            server.close()
            raise
    for method in engagement.retrieval_methods:
        address = method.address()
        if address is not None:
            reason = no_adapter if ble is not None else ""
            note = "local network" + (f" ({reason})" if reason else "")
            return ReaderLink(TcpTransport.connect(*address, timeout=timeout), "local_network", note)
    if ble is not None:
        reason = no_adapter or "no Bluetooth adapter"
        raise SessionError(f"the phone offers only Bluetooth and this reader has {reason}", code="no_adapter")
    raise SessionError("the engagement offers no transport this reader speaks", code="unsupported")


def find_adapter(spec: str | None = None) -> tuple[BleAdapter | None, str]:
    """The Bluetooth adapter to use (``spec``, else $DIDLIB_BLE_ADAPTER, else the first HCI socket or USB
    adapter), or None and why not, in words a till or wallet can show."""
    try:
        from didlib.session.ble.bumble_stack import BumbleAdapter
    except ImportError:
        return None, "Bluetooth support is not installed (pip install 'didlib[ble]')"
    wanted = spec or os.environ.get(ADAPTER_ENV)
    for candidate in [wanted] if wanted else DEFAULT_ADAPTERS:
        with contextlib.suppress(SessionError):
            return BumbleAdapter.open(candidate), f"Bluetooth adapter {candidate}"
    return None, "no Bluetooth adapter"
