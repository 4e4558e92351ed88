"""Whole ISO 18013-5 sessions over Bluetooth LE: Bumble's stack on virtual controllers joined by a local link
(no radio), in both modes, and every way such a session ends early. Every wait has a timeout."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from conftest import NOW, ROOT, issue
from didlib.errors import DidlibError, SessionError
from didlib.keys import private_key_pem
from didlib.mdoc import DOCTYPE_MDL
from didlib.mdoc.registry import NS_ISO
from didlib.samples import mdl_data, portrait_jpeg
from didlib.session import HolderSession, ReaderSession, RetrievalMethod, TcpListener, run_reader, serve_holder
from didlib.session.ble import Mode
from didlib.session.ble.bumble_stack import BumbleAdapter, VirtualLink
from didlib.session.ble.connect import BleHolder, reader_transport

# A phone or till thread that crashes fails its test rather than leaving a warning.
pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")

AGE_REQUEST = {DOCTYPE_MDL: {NS_ISO: {"age_over_18": False, "portrait": False}}}
MODES = [Mode.PERIPHERAL_SERVER, Mode.CENTRAL_CLIENT]


@pytest.fixture
def radios() -> Iterator[tuple[BumbleAdapter, BumbleAdapter]]:
    """A phone and a till, each with a virtual Bluetooth controller, on one link."""
    link = VirtualLink()
    try:
        yield link.adapter("phone"), link.adapter("till")
    finally:
        link.close()


@pytest.fixture(scope="module")
def big_licence(pki, device_key):
    """A licence with a large portrait and signature image: together over 100 KB, so the response needs
    hundreds of chunks."""
    data = mdl_data(today=NOW.date(), portrait=portrait_jpeg(3, size=(800, 1000), quality=94))
    data[NS_ISO]["signature_usual_mark"] = base64.b64encode(portrait_jpeg(4, size=(800, 1000), quality=93)).decode()
    return issue(pki, DOCTYPE_MDL, data, device_key.public_key())


@pytest.fixture(scope="module")
def roadside(pki):
    """A reader entitled to every element of the licence (the shop may ask for age and portrait only)."""
    return pki.website_reader("roadside.example", organisation="Roadside check", now=NOW,
                              entitlement={DOCTYPE_MDL: {NS_ISO: "*"}})


def in_thread(work: Callable[[], object]) -> tuple[threading.Thread, dict[str, object]]:
    out: dict[str, object] = {}

    def run() -> None:
        try:
            out["value"] = work()
        except DidlibError as exc:
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def share_all(pending):
    return {doc.doctype: doc.allowed() for doc in pending.documents}


def ble_holder(licence, device_key, reader_trust, phone, mode, *methods):
    """The holder's BLE side and session: an engagement offering BLE in ``mode`` (and ``methods``)."""
    ble = BleHolder(phone, mode)
    holder = HolderSession([(licence, device_key)], reader_trust=reader_trust, now=NOW,
                           retrieval_methods=[ble.method, *methods])
    return ble, holder


def phone_session(licence, device_key, reader_trust, phone, mode, decide=share_all):
    """The holder: engagement with the BLE option, then serve one reader over BLE."""
    ble, holder = ble_holder(licence, device_key, reader_trust, phone, mode)

    def serve() -> bool:
        channel = ble.open(holder.engagement, timeout=20)
        try:
            return serve_holder(holder, channel, decide, timeout=20)
        finally:
            channel.close()
            ble.close()

    return holder, serve


def reader_for(holder, trust, shop, request=AGE_REQUEST):
    key, chain = shop
    return ReaderSession(holder.qr_uri(), request, trust=trust, reader_key=key, reader_chain=chain, now=NOW)


def reader_fails_fast(holder, trust, shop, till, code):
    """The reader's session ends with ``code``, well before its 30-second wait for the holder; returns its
    transport."""
    reader = reader_for(holder, trust, shop)
    link = reader_transport(reader.engagement, till, timeout=20)
    started = time.monotonic()
    with pytest.raises(SessionError) as info:
        run_reader(reader, link.transport, timeout=30)
    assert info.value.code == code and time.monotonic() - started < 10
    return link


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
def test_full_session_over_ble(licence, device_key, trust, reader_trust, shop, portrait, radios, mode):
    phone, till = radios
    holder, serve = phone_session(licence, device_key, reader_trust, phone, mode)
    phone_thread, shared = in_thread(serve)
    reader = reader_for(holder, trust, shop)
    link = reader_transport(reader.engagement, till, timeout=20)
    assert link.kind == "ble"
    result = run_reader(reader, link.transport, timeout=20)
    link.close()
    phone_thread.join(20)
    assert not phone_thread.is_alive()
    assert result.valid, result.errors
    assert result.documents[0].elements == {NS_ISO: {"age_over_18": True, "portrait": portrait}}
    assert shared == {"value": True} and holder.state == "closed"
    assert link.transport.chunks_sent >= 1 and link.transport.port.mtu == 517


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
def test_response_over_64_kib_in_many_small_chunks(big_licence, device_key, trust, reader_trust, roadside, radios,
                                                   mode):
    phone, till = radios
    phone.max_mtu = till.max_mtu = 64  # 60 bytes of message per chunk
    holder, serve = phone_session(big_licence, device_key, reader_trust, phone, mode)
    response_sizes: list[int] = []
    respond = holder.respond
    holder.respond = lambda consent=None: response_sizes.append(len(message := respond(consent))) or message
    phone_thread, shared = in_thread(serve)
    request = {DOCTYPE_MDL: {NS_ISO: {"portrait": False, "signature_usual_mark": False}}}
    reader = reader_for(holder, trust, roadside, request)
    link = reader_transport(reader.engagement, till, timeout=20)
    result = run_reader(reader, link.transport, timeout=60)
    link.close()
    phone_thread.join(20)
    assert result.valid, result.errors
    images = result.documents[0].elements[NS_ISO]
    assert len(images["portrait"]) + len(images["signature_usual_mark"]) > 100_000
    assert shared == {"value": True}
    assert response_sizes[0] > 65_536 and link.transport.port.mtu == 64


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
def test_holder_declines(licence, device_key, trust, reader_trust, shop, radios, mode):
    """The holder says no: status 20 (session termination) reaches the reader as a clear error."""
    phone, till = radios
    holder, serve = phone_session(licence, device_key, reader_trust, phone, mode, decide=lambda pending: None)
    phone_thread, shared = in_thread(serve)
    reader = reader_for(holder, trust, shop)
    link = reader_transport(reader.engagement, till, timeout=20)
    with pytest.raises(SessionError) as info:
        run_reader(reader, link.transport, timeout=20)
    assert info.value.code == "session_terminated" and reader.state == "closed"
    link.close()
    phone_thread.join(20)
    assert shared == {"value": False}


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
def test_holder_ends_the_session_early_with_the_state_end_signal(licence, device_key, trust, reader_trust, shop,
                                                                 radios, mode):
    """The phone closes while the reader waits for the answer: BLE State 0x02, no SessionData at all."""
    phone, till = radios
    ble, holder = ble_holder(licence, device_key, reader_trust, phone, mode)

    def phone_leaves() -> None:
        channel = ble.open(holder.engagement, timeout=20)
        holder.receive(channel.receive(20))
        channel.close()

    phone_thread, _ = in_thread(phone_leaves)
    reader_fails_fast(holder, trust, shop, till, "session_terminated").close()
    phone_thread.join(20)


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
def test_dropped_link(licence, device_key, trust, reader_trust, shop, radios, mode):
    """The link goes down without a goodbye: the reader learns it at once (not after its timeout), and the
    phone's next send fails with the same clear error."""
    phone, till = radios
    ble, holder = ble_holder(licence, device_key, reader_trust, phone, mode)
    phone_side: dict[str, object] = {}

    def phone_drops() -> None:
        channel = ble.open(holder.engagement, timeout=20)
        holder.receive(channel.receive(20))
        channel.port.disconnect(5)  # out of range: no State 0x02
        try:
            channel.send(holder.respond())
        except SessionError as exc:
            phone_side["error"] = exc

    phone_thread, _ = in_thread(phone_drops)
    link = reader_fails_fast(holder, trust, shop, till, "connection_lost")
    with pytest.raises(SessionError) as info:
        link.transport.send(b"anyone?")
    assert info.value.code == "connection_lost"
    link.close()
    phone_thread.join(20)
    assert phone_side["error"].code == "connection_lost"


def test_phone_out_of_range_without_a_word(licence, device_key, trust, reader_trust, shop, radios):
    """The phone's radio vanishes mid-session (no disconnection reaches the till, as before a supervision
    timeout): the till's wait ends at its own timeout with a clear error, and closing does not hang."""
    phone, till = radios
    ble, holder = ble_holder(licence, device_key, reader_trust, phone, Mode.PERIPHERAL_SERVER)
    phone_side: dict[str, bool] = {}

    def phone_vanishes() -> None:
        channel = ble.open(holder.engagement, timeout=20)
        holder.receive(channel.receive(20))
        controller = phone.device.host.controller.sink  # the virtual controller behind the host's pipe

        async def radio_off() -> None:
            controller.link.remove_controller(controller)
            phone_side["off"] = True

        phone.run(radio_off(), 5, "switching the radio off")

    phone_thread, _ = in_thread(phone_vanishes)
    reader = reader_for(holder, trust, shop)
    link = reader_transport(reader.engagement, till, timeout=20)
    started = time.monotonic()
    with pytest.raises(SessionError) as info:
        run_reader(reader, link.transport, timeout=2)
    assert info.value.code == "timeout" and time.monotonic() - started < 5
    started = time.monotonic()
    link.close()
    assert time.monotonic() - started < 8
    phone_thread.join(20)
    assert phone_side == {"off": True}


def test_the_phone_refuses_a_reader_with_the_wrong_ident(licence, device_key, reader_trust, radios):
    """Central client mode: a reader advertising the UUID but not knowing EDeviceKeyBytes is refused."""
    phone, till = radios
    ble, holder = ble_holder(licence, device_key, reader_trust, phone, Mode.CENTRAL_CLIENT)
    impostor = till.serve(ble.service_uuid, Mode.CENTRAL_CLIENT, e_device_key_bytes=b"\xd8\x18\x41\x00")
    with pytest.raises(SessionError) as info:
        ble.open(holder.engagement, timeout=10)
    assert info.value.code == "ident_mismatch"
    with pytest.raises(SessionError) as info:
        impostor.accept(timeout=0.5)  # the phone never started a session with it
    assert info.value.code == "timeout"
    impostor.close()


def test_nobody_advertising_times_out(radios):
    _, till = radios
    started = time.monotonic()
    with pytest.raises(SessionError) as info:
        till.connect(uuid.uuid4(), Mode.PERIPHERAL_SERVER, timeout=1)
    assert info.value.code == "timeout" and time.monotonic() - started < 5


def test_without_an_adapter_the_reader_uses_the_local_network(licence, device_key, trust, reader_trust, shop,
                                                              radios):
    """The phone offers BLE and the local network; a till with no adapter says so and uses the network."""
    phone, _ = radios
    listener = TcpListener()
    ble, holder = ble_holder(licence, device_key, reader_trust, phone, Mode.PERIPHERAL_SERVER,
                             RetrievalMethod.local_network(listener.host, listener.port))

    def phone_over_tcp() -> bool:
        connection = listener.accept(timeout=20)
        try:
            return serve_holder(holder, connection, share_all, timeout=20)
        finally:
            connection.close()
            ble.close()

    phone_thread, shared = in_thread(phone_over_tcp)
    reader = reader_for(holder, trust, shop)
    link = reader_transport(reader.engagement, None, no_adapter="no Bluetooth adapter", timeout=20)
    assert link.kind == "local_network" and link.note == "local network (no Bluetooth adapter)"
    assert run_reader(reader, link.transport, timeout=20).valid
    link.close()
    phone_thread.join(20)
    listener.close()
    assert shared == {"value": True}


def test_bluetooth_only_engagement_without_an_adapter_is_a_clear_error(licence, device_key, reader_trust, radios):
    ble, holder = ble_holder(licence, device_key, reader_trust, radios[0], Mode.PERIPHERAL_SERVER)
    with pytest.raises(SessionError) as info:
        reader_transport(holder.engagement, None, no_adapter="no Bluetooth adapter")
    assert info.value.code == "no_adapter" and "no Bluetooth adapter" in info.value.message
    ble.close()
    bare = HolderSession([(licence, device_key)], reader_trust=reader_trust, now=NOW)
    with pytest.raises(SessionError) as info:
        reader_transport(bare.engagement, None)
    assert info.value.code == "unsupported"


def test_the_engagement_address_finds_the_phone(radios):
    """Peripheral server mode with the phone's address: the reader finds the phone by that address even when
    the UUID it looks for is not advertised (it then finds no such service there: a clear error)."""
    phone, till = radios
    server = phone.serve(uuid.uuid4(), Mode.PERIPHERAL_SERVER)
    with pytest.raises(SessionError) as info:
        till.connect(uuid.uuid4(), Mode.PERIPHERAL_SERVER, timeout=1)
    assert info.value.code == "timeout"
    with pytest.raises(SessionError) as info:
        till.connect(uuid.uuid4(), Mode.PERIPHERAL_SERVER, address=phone.address, timeout=5)
    assert info.value.code == "unsupported" and "offers no service" in info.value.message
    thread, out = in_thread(lambda: server.accept(timeout=10))  # the phone advertises again for the right reader
    channel = till.connect(server.service_uuid, Mode.PERIPHERAL_SERVER, timeout=5)
    thread.join(10)
    assert out["value"].state == "open" and channel.state == "open"
    channel.close()
    with pytest.raises(SessionError) as info:
        till.connect(uuid.uuid4(), Mode.PERIPHERAL_SERVER, address=b"\x01\x02", timeout=5)
    assert info.value.code == "malformed"
    server.close()


def test_find_adapter_says_when_there_is_none(monkeypatch, tmp_path):
    from didlib.session.ble.connect import find_adapter

    missing = f"serial:{tmp_path / 'no-such-port'}"
    started = time.monotonic()
    assert find_adapter(missing) == (None, "no Bluetooth adapter")
    monkeypatch.setenv("DIDLIB_BLE_ADAPTER", missing)
    assert find_adapter() == (None, "no Bluetooth adapter")
    assert time.monotonic() - started < 10


def _line(process: subprocess.Popen, timeout: float) -> str:
    """The next line a child prints, or a failure after ``timeout`` (never a hang)."""
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    assert box and box[0], f"no line from {process.args} in {timeout} s"
    return box[0].strip()


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
def test_a_session_between_two_processes(licence, device_key, trust, shop, pki, tmp_path, mode):
    """The phone and the till in separate processes, their virtual controllers on one link in a hub process
    (python -m didlib.session.ble.hub): the till opens its adapter as a real HCI transport."""
    (tmp_path / "credential.cbor").write_bytes(licence.to_bytes())
    (tmp_path / "device.pem").write_bytes(private_key_pem(device_key))
    (tmp_path / "reader-ca.pem").write_bytes((pki.folder / "reader-ca.pem").read_bytes())
    (tmp_path / "now").write_text(NOW.isoformat())
    hub = subprocess.Popen([sys.executable, "-m", "didlib.session.ble.hub", "--devices", "2"],
                           stdout=subprocess.PIPE, text=True)
    phone = None
    try:
        phone_adapter, till_adapter = json.loads(_line(hub, 20))["adapters"]
        phone = subprocess.Popen([sys.executable, str(ROOT / "tests" / "ble_phone.py"), phone_adapter, str(tmp_path),
                                  mode.value], stdout=subprocess.PIPE, text=True)
        uri = _line(phone, 20)
        till = BumbleAdapter.open(till_adapter)
        key, chain = shop
        reader = ReaderSession(uri, AGE_REQUEST, trust=trust, reader_key=key, reader_chain=chain, now=NOW)
        link = reader_transport(reader.engagement, till, timeout=20)
        result = run_reader(reader, link.transport, timeout=20)
        link.close()
        till.close()
        assert result.valid, result.errors
        assert json.loads(_line(phone, 20)) == {"shared": True}
        assert phone.wait(20) == 0
    finally:
        for process in (phone, hub):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(10)


def test_holder_waits_on_every_offer_and_gives_up_in_time(licence, device_key, reader_trust, radios):
    from didlib.session.ble.connect import holder_transport

    listener = TcpListener()
    ble, holder = ble_holder(licence, device_key, reader_trust, radios[0], Mode.PERIPHERAL_SERVER,
                             RetrievalMethod.local_network(listener.host, listener.port))
    started = time.monotonic()
    with pytest.raises(SessionError) as info:
        holder_transport(holder.engagement, ble=ble, listener=listener, timeout=1)
    assert info.value.code == "timeout" and time.monotonic() - started < 3
    with pytest.raises(ValueError):
        holder_transport(holder.engagement, ble=None, listener=None, timeout=1)
    ble.close()
    central, _ = ble_holder(licence, device_key, reader_trust, radios[0], Mode.CENTRAL_CLIENT)
    with pytest.raises(ValueError):
        holder_transport(holder.engagement, ble=central, listener=listener, timeout=1)
    listener.close()
