"""The ISO/IEC 18013-5 BLE transport on Bumble, Google's Bluetooth host stack written in Python.

With a USB Bluetooth adapter (``usb:0``) or a Linux HCI socket (``hci-socket:0``) this is a working
reader or holder on Linux, Windows and macOS; with Bumble's virtual controllers on a
:class:`VirtualLink` two devices talk in one process without any radio, which is how the tests run.

Bumble is asyncio; the sessions are not. Each adapter runs its stack on an event loop in a background
thread, and every blocking call here waits on that loop with a timeout, so nothing hangs. The 18013-5
framing and state machine are :class:`~didlib.session.ble.channel.BleChannel`'s; this module only moves
bytes (a :class:`~didlib.session.ble.channel.GattPort`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import uuid
from collections.abc import Coroutine
from typing import Any, TypeVar

from bumble import core, gatt, hci
from bumble.controller import Controller
from bumble.device import Advertisement, Connection, Device, Peer
from bumble.gatt_client import CharacteristicProxy
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport import open_transport
from bumble.transport.common import AsyncPipeSink
from bumble.transport.common import Transport as HciTransport

from didlib.errors import SessionError
from didlib.session.ble.channel import BleChannel
from didlib.session.ble.framing import MAX_VALUE, MIN_MTU
from didlib.session.ble.gatt import Mode, characteristics, ident

__all__ = ["BumbleAdapter", "BumbleServer", "VirtualLink", "MAX_MTU"]

T = TypeVar("T")
MAX_MTU = MAX_VALUE + 5  # 517: a 512-byte value in one notification, what Android and iOS ask for
ADVERTISING_INTERVAL_MS = 100  # what phones use while a person waits (Android's low-latency mode)
DISCONNECT_WAIT = 1.0  # seconds; when both sides hang up at once, the peer's confirmation never comes


class _Loop:
    """An asyncio event loop in a daemon thread, with a blocking, time-limited ``run``."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="didlib-ble", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float, what: str) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except (TimeoutError, concurrent.futures.TimeoutError):
            future.cancel()
            raise SessionError(f"Bluetooth: {what} took longer than {timeout:g} s", code="timeout") from None
        except SessionError:
            raise
        except core.TimeoutError as exc:
            raise SessionError(f"Bluetooth: {what} timed out: {exc}", code="timeout") from exc
        except (
            core.BaseBumbleError,
            ConnectionError,
            asyncio.CancelledError,
            concurrent.futures.CancelledError,  # Bumble cancels a pending request when the link drops
        ) as exc:
            reason = str(exc) or type(exc).__name__
            raise SessionError(f"Bluetooth: {what} failed: {reason}", code="connection_lost") from exc

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


class VirtualLink:
    """Bumble's virtual controllers joined by one in-process link: Bluetooth with no radio (tests, demos).

    Every adapter of a link shares its event loop, as the link delivers packets on it."""

    def __init__(self) -> None:
        self._loop = _Loop()
        self.link = LocalLink()  # type: ignore[no-untyped-call]

    def adapter(self, name: str, timeout: float = 10.0) -> BumbleAdapter:
        async def create() -> Device:  # a controller belongs to the running loop
            controller = Controller(name, link=self.link)
            host = Host(controller, AsyncPipeSink(controller))
            return Device(name=name, address=hci.Address.generate_static_address(), host=host)

        return BumbleAdapter(self._loop, self._loop.run(create(), timeout, "creating a controller"), timeout=timeout)

    def close(self) -> None:
        self._loop.stop()


class BumbleAdapter:
    """One Bluetooth LE device: a USB adapter, an HCI socket, or a virtual controller."""

    def __init__(
        self, loop: _Loop, device: Device, *, timeout: float = 10.0, hci_transport: HciTransport | None = None
    ) -> None:
        self._loop, self.device, self._hci = loop, device, hci_transport
        self._owns_loop = hci_transport is not None
        self.max_mtu = MAX_MTU  # the largest ATT_MTU this device asks for (client) or accepts (server)
        loop.run(device.power_on(), timeout, "powering on the adapter")

    @classmethod
    def open(cls, spec: str, timeout: float = 10.0) -> BumbleAdapter:
        """Open a real controller through a Bumble transport name (``usb:0``, ``hci-socket:0``, ``serial:...``).

        Raises :class:`SessionError` ``no_adapter`` when there is none."""
        loop = _Loop()
        hci_transport = None
        try:
            hci_transport = loop.run(open_transport(spec), timeout, f"opening {spec}")
            device = Device.with_hci("didlib", hci.Address.generate_static_address(), *hci_transport)
            return cls(loop, device, timeout=timeout, hci_transport=hci_transport)
        except Exception as exc:  # each HCI transport fails its own way (libusb, sockets, serial ports)
            if hci_transport is not None:
                with contextlib.suppress(Exception):
                    loop.run(hci_transport.close(), 5, "closing the adapter")
            loop.stop()
            raise SessionError(f"no Bluetooth adapter at {spec}: {exc}", code="no_adapter") from exc

    @property
    def address(self) -> bytes:
        """The address the device advertises with, most significant byte first (as the engagement carries it)."""
        return bytes(reversed(bytes(self.device.random_address)))

    def serve(self, service_uuid: uuid.UUID, mode: Mode, *, e_device_key_bytes: bytes | None = None) -> BumbleServer:
        """Be the GATT server of ``mode`` and advertise ``service_uuid``; :meth:`BumbleServer.accept` waits
        for the client. In central client mode (the reader serves) ``e_device_key_bytes`` gives Ident.

        One server per adapter at a time (it advertises one service): close it before serving again."""
        return BumbleServer(self, service_uuid, mode, e_device_key_bytes)

    def connect(
        self,
        service_uuid: uuid.UUID,
        mode: Mode,
        *,
        address: bytes | None = None,
        e_device_key_bytes: bytes | None = None,
        timeout: float = 20.0,
    ) -> BleChannel:
        """Be the GATT client of ``mode``: find the server advertising ``service_uuid`` (or the device at
        ``address``), exchange the MTU, subscribe, check Ident (central client mode: the holder checks
        the reader against its own ``e_device_key_bytes``) and write the start signal."""
        port = _ClientPort(self)
        channel = BleChannel(port, "client")
        expected = ident(e_device_key_bytes) if e_device_key_bytes is not None else None
        if mode is Mode.CENTRAL_CLIENT and expected is None:
            raise SessionError("central client mode needs EDeviceKeyBytes to check Ident", code="usage")
        opening = port.open(channel, service_uuid, mode, address, expected, self.max_mtu, timeout)
        self.run(opening, timeout + 1, "connecting")
        channel.start(timeout)
        return channel

    def run(self, coro: Coroutine[Any, Any, T], timeout: float, what: str) -> T:
        return self._loop.run(coro, timeout, what)

    def close(self) -> None:
        if self._owns_loop:
            with contextlib.suppress(SessionError):
                self.run(self.device.power_off(), 5, "powering off")
            if self._hci is not None:
                with contextlib.suppress(SessionError):
                    self.run(self._hci.close(), 5, "closing the adapter")
            self._loop.stop()


class _ConnectionPort:
    """What both sides share: the connection, its MTU and how to drop it."""

    def __init__(self, adapter: BumbleAdapter) -> None:
        self.adapter = adapter
        self.connection: Connection | None = None
        self._mtu = MIN_MTU

    @property
    def mtu(self) -> int:
        """The connection's ATT_MTU (after it is gone, the last one it had)."""
        if self.connection is not None:
            self._mtu = int(self.connection.att_mtu)
        return self._mtu

    def _live(self) -> Connection:
        if self.connection is None or self.connection.handle not in self.adapter.device.connections:
            raise SessionError("the Bluetooth link was lost", code="connection_lost")
        return self.connection

    def disconnect(self, timeout: float) -> None:
        connection, self.connection = self.connection, None
        if connection is not None and connection.handle in self.adapter.device.connections:
            with contextlib.suppress(SessionError):
                self.adapter.run(_hang_up(connection), timeout, "disconnecting")


async def _client_hangs_up(device: Device, connection: Connection) -> None:
    gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def left(*_: object) -> None:
        if not gone.done():
            gone.set_result(None)

    connection.once(connection.EVENT_DISCONNECTION, left)
    if connection.handle in device.connections:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(gone, DISCONNECT_WAIT)


async def _hang_up(connection: Connection) -> None:
    with contextlib.suppress(TimeoutError, core.BaseBumbleError, hci.HCI_Error):
        await asyncio.wait_for(connection.disconnect(), DISCONNECT_WAIT)


class _ClientPort(_ConnectionPort):
    def __init__(self, adapter: BumbleAdapter) -> None:
        super().__init__(adapter)
        self._state: CharacteristicProxy[bytes] | None = None
        self._client2server: CharacteristicProxy[bytes] | None = None

    async def open(
        self,
        channel: BleChannel,
        service_uuid: uuid.UUID,
        mode: Mode,
        address: bytes | None,
        expected_ident: bytes | None,
        mtu: int,
        timeout: float,
    ) -> None:
        device = self.adapter.device
        target = await _find(device, service_uuid, address, timeout)
        self.connection = connection = await device.connect(target, timeout=timeout)
        connection.on(connection.EVENT_DISCONNECTION, lambda *_: channel.link_lost())
        try:
            peer = Peer(connection)
            await peer.request_mtu(mtu)
            names = characteristics(mode)
            services = await peer.discover_service(core.UUID(str(service_uuid)))
            if not services:
                raise SessionError(f"the device offers no service {service_uuid}", code="unsupported")
            found = {str(c.uuid).upper(): c for c in await services[0].discover_characteristics()}

            def get(wanted: uuid.UUID) -> CharacteristicProxy[bytes]:
                proxy = found.get(str(wanted).upper())
                if proxy is None:
                    raise SessionError(f"the service has no characteristic {wanted}", code="unsupported")
                return proxy

            state, server2client = get(names.state), get(names.server2client)
            self._state, self._client2server = state, get(names.client2server)
            if (
                expected_ident is not None
                and names.ident is not None
                and bytes(await get(names.ident).read_value()) != expected_ident
            ):
                raise SessionError("this reader did not read our engagement (Ident differs)", code="ident_mismatch")
            await state.subscribe(lambda value: channel.state_received(bytes(value)))
            await server2client.subscribe(lambda value: channel.chunk_received(bytes(value)))
        except BaseException:
            self.connection = None
            await _hang_up(connection)
            raise

    def send_chunk(self, chunk: bytes, timeout: float) -> None:
        self._write(self._client2server, chunk, timeout)

    def send_state(self, value: int, timeout: float) -> None:
        self._write(self._state, bytes([value]), timeout)

    def _write(self, proxy: CharacteristicProxy[bytes] | None, value: bytes, timeout: float) -> None:
        self._live()
        assert proxy is not None
        self.adapter.run(proxy.write_value(value, with_response=False), timeout, "writing")


async def _find(device: Device, service_uuid: uuid.UUID, address: bytes | None, timeout: float) -> hci.Address:
    """The first connectable advertiser of the service UUID, or of the address the engagement names.

    The address is matched while scanning rather than dialled blind: only an advertisement tells its type
    (public or random), and a phone that also rotates private addresses is still found by its UUID."""
    if address is not None and len(address) != 6:
        raise SessionError("a BLE device address is 6 bytes", code="malformed")
    wanted = core.UUID(str(service_uuid))
    found: asyncio.Future[hci.Address] = asyncio.get_running_loop().create_future()

    def on_advertisement(advertisement: Advertisement) -> None:
        uuids = advertisement.data.get(core.AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS) or []
        named = address is not None and bytes(reversed(bytes(advertisement.address))) == address
        if (wanted in uuids or named) and advertisement.is_connectable and not found.done():
            found.set_result(advertisement.address)

    device.on(device.EVENT_ADVERTISEMENT, on_advertisement)
    try:
        await device.start_scanning(filter_duplicates=True)
        return await asyncio.wait_for(found, timeout)
    except TimeoutError:
        raise SessionError(f"no device advertised {service_uuid} in {timeout:g} s", code="timeout") from None
    finally:
        device.remove_listener(device.EVENT_ADVERTISEMENT, on_advertisement)
        with contextlib.suppress(core.BaseBumbleError, hci.HCI_Error):
            await device.stop_scanning()


class BumbleServer(_ConnectionPort):
    """The GATT server of one session: the 18013-5 service, advertised until a client starts the session."""

    def __init__(
        self, adapter: BumbleAdapter, service_uuid: uuid.UUID, mode: Mode, e_device_key_bytes: bytes | None
    ) -> None:
        super().__init__(adapter)
        self.service_uuid = service_uuid
        self.channel = BleChannel(self, "server")
        self._tasks: set[asyncio.Task[None]] = set()  # advertising changes in flight (kept from the collector)
        names = characteristics(mode)
        write = gatt.Characteristic.Properties.WRITE_WITHOUT_RESPONSE
        notify = gatt.Characteristic.Properties.NOTIFY
        self._state: gatt.Characteristic[bytes] = gatt.Characteristic(
            str(names.state), write | notify, gatt.Characteristic.WRITEABLE,
            gatt.CharacteristicValue[bytes](write=self._on_state),
        )
        self._server2client: gatt.Characteristic[bytes] = gatt.Characteristic(
            str(names.server2client), notify, gatt.Characteristic.READABLE, b""
        )
        chars: list[gatt.Characteristic[Any]] = [
            self._state,
            gatt.Characteristic(
                str(names.client2server), write, gatt.Characteristic.WRITEABLE,
                gatt.CharacteristicValue[bytes](write=self._on_chunk),
            ),
            self._server2client,
        ]
        if mode is Mode.CENTRAL_CLIENT:
            if e_device_key_bytes is None or names.ident is None:
                raise SessionError("central client mode needs EDeviceKeyBytes for Ident", code="usage")
            chars.append(
                gatt.Characteristic(
                    str(names.ident), gatt.Characteristic.Properties.READ, gatt.Characteristic.READABLE,
                    ident(e_device_key_bytes),
                )
            )
        device = adapter.device
        device.gatt_server.max_mtu = adapter.max_mtu
        device.add_service(gatt.Service(str(service_uuid), chars))
        device.on(device.EVENT_CONNECTION, self._on_connection)
        uuids = core.AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS
        self._advertising = core.AdvertisingData(
            [
                (core.AdvertisingData.FLAGS, bytes([0x06])),  # LE general discoverable, no BR/EDR
                (uuids, bytes(core.UUID(str(service_uuid)))),
            ]
        )
        adapter.run(self._advertise(), 10, "advertising")

    async def _advertise(self) -> None:
        await self.adapter.device.start_advertising(
            advertising_data=bytes(self._advertising),
            advertising_interval_min=ADVERTISING_INTERVAL_MS,
            advertising_interval_max=ADVERTISING_INTERVAL_MS,
        )

    def _on_connection(self, connection: Connection) -> None:
        if self.connection is not None or connection.role != hci.Role.PERIPHERAL:
            return
        self.connection = connection
        connection.on(connection.EVENT_DISCONNECTION, lambda *_: self._on_disconnection(connection))
        self._spawn(self.adapter.device.stop_advertising())

    def _on_disconnection(self, connection: Connection) -> None:
        if connection is not self.connection:
            return
        if self.channel.state != "connecting":
            self.channel.link_lost()
            return
        # Gone before starting a session (a scanner, a reader that found the wrong service, a phone that
        # refused our Ident): advertise again for the device that scanned the QR code.
        self.connection = None
        self._spawn(self._advertise())

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_state(self, connection: Connection, value: bytes) -> None:
        if connection is self.connection:
            self.channel.state_received(bytes(value))

    def _on_chunk(self, connection: Connection, value: bytes) -> None:
        if connection is self.connection:
            self.channel.chunk_received(bytes(value))

    def accept(self, timeout: float = 120.0) -> BleChannel:
        """Wait until a client connected, subscribed and wrote the start signal."""
        self.channel.wait_open(timeout)
        return self.channel

    def send_chunk(self, chunk: bytes, timeout: float) -> None:
        self._notify(self._server2client, chunk, timeout)

    def send_state(self, value: int, timeout: float) -> None:
        self._notify(self._state, bytes([value]), timeout)

    def _notify(self, characteristic: gatt.Characteristic[Any], value: bytes, timeout: float) -> None:
        connection = self._live()
        self.adapter.run(self.adapter.device.notify_subscriber(connection, characteristic, value), timeout, "notifying")

    def disconnect(self, timeout: float) -> None:
        """Stop advertising; give the client a moment to hang up first (the GATT client ends the link after
        the end signal, and two sides hanging up at once confuse controllers), then hang up."""
        device = self.adapter.device
        device.remove_listener(device.EVENT_CONNECTION, self._on_connection)
        with contextlib.suppress(SessionError):
            self.adapter.run(device.stop_advertising(), timeout, "stopping advertising")
        connection = self.connection
        if connection is not None and connection.handle in device.connections:
            with contextlib.suppress(SessionError):
                self.adapter.run(_client_hangs_up(device, connection), timeout, "waiting for the client to leave")
        super().disconnect(timeout)

    def close(self) -> None:
        """Stop advertising and end the session (if one started)."""
        self.channel.close()
