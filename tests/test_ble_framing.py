"""ISO 18013-5 BLE transport, independent of any Bluetooth stack: UUIDs, Ident, chunks, the BLE options of
the engagement (Annex D included) and the channel's state machine over a fake GATT port."""

from __future__ import annotations

import hashlib
import hmac
import threading
import uuid

import pytest

from didlib.cbor import encode
from didlib.errors import DecodeError, LimitExceeded, SessionError
from didlib.keys import generate_key
from didlib.session import DeviceEngagement, RetrievalMethod
from didlib.session.ble import (
    CENTRAL_CLIENT,
    PERIPHERAL_SERVER,
    BleChannel,
    Reassembler,
    chunk_payload_size,
    ident,
    split,
)
from didlib.session.engagement import BLE, BleOptions

ANNEX_D_UUID = uuid.UUID("45efef74-2b2c-4837-a9a3-b0e1d05a6917")


# ------------------------------------------------------------------------------------------- GATT layout
def test_characteristic_uuids_of_both_modes():
    """18013-5 Tables 11 (mdoc peripheral server mode) and 12 (mdoc central client mode)."""
    ps = PERIPHERAL_SERVER
    assert (str(ps.state), str(ps.client2server), str(ps.server2client)) == (
        "00000001-a123-48ce-896b-4c76973373e6", "00000002-a123-48ce-896b-4c76973373e6",
        "00000003-a123-48ce-896b-4c76973373e6")
    assert PERIPHERAL_SERVER.ident is None
    assert (str(CENTRAL_CLIENT.state), str(CENTRAL_CLIENT.client2server), str(CENTRAL_CLIENT.server2client),
            str(CENTRAL_CLIENT.ident)) == (
        "00000005-a123-48ce-896b-4c76973373e6", "00000006-a123-48ce-896b-4c76973373e6",
        "00000007-a123-48ce-896b-4c76973373e6", "00000008-a123-48ce-896b-4c76973373e6")


def test_ident_known_answer(annex_d):
    """Ident = HKDF-SHA-256(IKM = EDeviceKeyBytes (tag 24 included), salt empty, info "BLEIdent", 16 bytes)
    for the Annex D engagement key; checked against RFC 5869 written out with hmac."""
    key_bytes = annex_d["E_DEVICE_KEY_BYTES"]
    assert key_bytes[:2] == b"\xd8\x18"  # the tag-24-wrapped form is the IKM
    assert ident(key_bytes).hex() == "8da0b7a85919f05673054ea996bbd124"
    prk = hmac.new(bytes(32), key_bytes, hashlib.sha256).digest()
    assert ident(key_bytes) == hmac.new(prk, b"BLEIdent\x01", hashlib.sha256).digest()[:16]
    assert ident(key_bytes[4:]) != ident(key_bytes)  # the bare COSE_Key gives another value
    engagement = DeviceEngagement.parse(annex_d["DEVICE_ENGAGEMENT"])
    assert ident(engagement.e_device_key_bytes.raw) == ident(key_bytes)


# ------------------------------------------------------------------------------------------- chunks
def test_chunk_sizes():
    """A chunk is at most ATT_MTU - 3 bytes and never over 512; one of them is the continuation byte."""
    assert [chunk_payload_size(m) for m in (23, 185, 512, 515, 517, 1024)] == [19, 181, 508, 511, 511, 511]
    with pytest.raises(ValueError):
        chunk_payload_size(22)


def test_chunk_framing_known_answer():
    message = bytes(range(40))
    assert [c.hex() for c in split(message, 23)] == [
        "01" + bytes(range(0, 19)).hex(), "01" + bytes(range(19, 38)).hex(), "00" + "2627"]
    assert split(bytes(19), 23) == [b"\x00" + bytes(19)]  # exactly one chunk's worth: no empty trailer
    assert split(b"", 23) == [b"\x00"]
    assert [len(c) for c in split(bytes(70_000), 185)] == [182] * 386 + [70_000 - 181 * 386 + 1]


def test_reassembly_round_trip_and_rejections():
    joiner = Reassembler(max_size=1000)
    message = bytes(range(256)) * 3
    chunks = split(message, 50)
    assert [joiner.feed(c) for c in chunks[:-1]] == [None] * (len(chunks) - 1)
    assert joiner.feed(chunks[-1]) == message
    for bad in (b"", b"\x02abc", b"\xffabc"):
        with pytest.raises(DecodeError):
            joiner.feed(bad)
    with pytest.raises(LimitExceeded):
        for chunk in split(bytes(1001), 23):
            joiner.feed(chunk)
    assert joiner.feed(b"\x00ok") == b"ok"  # a failed message leaves nothing behind


# ------------------------------------------------------------------------------------------- engagement
def test_annex_d_ble_options(annex_d):
    """Annex D's DeviceEngagement offers BLE in mdoc central client mode only, with its UUID."""
    engagement = DeviceEngagement.parse(annex_d["DEVICE_ENGAGEMENT"])
    (method,) = engagement.retrieval_methods
    assert (method.type, method.version) == (BLE, 1)
    options = method.ble_options
    assert options == BleOptions(central_client_uuid=ANNEX_D_UUID)
    assert (options.peripheral_server, options.central_client, options.address) == (False, True, None)
    assert RetrievalMethod.ble(options).to_cbor() == [2, 1, {0: False, 1: True, 11: ANNEX_D_UUID.bytes}]


def test_ble_options_round_trip_through_the_qr_uri():
    ps, cc = uuid.uuid4(), uuid.uuid4()
    options = BleOptions(peripheral_server_uuid=ps, central_client_uuid=cc, address=bytes.fromhex("c0ffee123456"))
    engagement = DeviceEngagement.create(generate_key().public_key(), [RetrievalMethod.ble(options)])
    (method,) = DeviceEngagement.from_uri(engagement.to_uri()).retrieval_methods
    assert method.ble_options == options
    assert method.options == {0: True, 1: True, 10: ps.bytes, 11: cc.bytes, 20: bytes.fromhex("c0ffee123456")}
    with pytest.raises(ValueError):
        RetrievalMethod.ble(BleOptions())


@pytest.mark.parametrize("options", [
    {1: True, 11: bytes(16)},  # no key 0
    {0: 1, 1: True, 11: bytes(16)},  # not a bool
    {0: True, 1: False},  # peripheral server mode without its UUID
    {0: False, 1: True, 11: bytes(15)},  # UUID of 15 bytes
    {0: False, 1: True, 11: str(uuid.uuid4())},  # UUID as text
    {0: True, 1: False, 10: bytes(16), 20: bytes(5)},  # address of 5 bytes
])
def test_malformed_ble_options_are_refused_when_the_engagement_is_read(options):
    from didlib.cbor import Embedded
    from didlib.keys import cose_key_from_public

    key = Embedded.wrap(cose_key_from_public(generate_key().public_key()))
    data = encode({0: "1.0", 1: [1, key], 2: [[2, 1, options]]})
    with pytest.raises(DecodeError):
        DeviceEngagement.parse(data)


# ------------------------------------------------------------------------------------------- state machine
class FakePort:
    """A GATT port that records what the channel sends; the test plays the other side."""

    def __init__(self, mtu: int = 23) -> None:
        self.mtu = mtu
        self.chunks: list[bytes] = []
        self.states: list[int] = []
        self.disconnected = False
        self.fail = False

    def send_chunk(self, chunk: bytes, timeout: float) -> None:
        if self.fail:
            raise SessionError("gone", code="connection_lost")
        self.chunks.append(chunk)

    def send_state(self, value: int, timeout: float) -> None:
        if self.fail:
            raise SessionError("gone", code="connection_lost")
        self.states.append(value)

    def disconnect(self, timeout: float) -> None:
        self.disconnected = True


def test_server_waits_for_start_then_exchanges_messages():
    port = FakePort()
    server = BleChannel(port, "server")
    with pytest.raises(SessionError) as info:
        server.send(b"too early")
    assert info.value.code == "unexpected_message"
    with pytest.raises(SessionError) as info:
        server.wait_open(0.01)
    assert info.value.code == "timeout"
    server.state_received(b"\x07")  # not a State value: ignored
    server.state_received(b"\x01")
    server.wait_open(0.01)
    for chunk in split(b"request" * 10, 23):
        server.chunk_received(chunk)
    assert server.receive(0.1) == b"request" * 10
    server.send(b"x" * 50)
    assert port.chunks == split(b"x" * 50, 23) and server.bytes_sent == 53 and server.chunks_sent == 3
    server.close()
    assert port.states == [0x02] and port.disconnected and server.state == "closed"
    server.close()  # again: nothing more is sent
    assert port.states == [0x02]


def test_client_writes_start_and_end():
    port = FakePort()
    client = BleChannel(port, "client")
    client.start(1)
    assert port.states == [0x01] and client.state == "open"
    client.state_received(b"\x01")  # a server does not start anything: ignored
    client.close()
    assert port.states == [0x01, 0x02]


def test_end_signal_and_lost_link_answer_every_receive():
    ended = BleChannel(FakePort(), "client")
    ended.start(1)
    ended.state_received(b"\x02")
    for _ in range(2):
        with pytest.raises(SessionError) as info:
            ended.receive(0.1)
        assert info.value.code == "session_terminated"
    with pytest.raises(SessionError) as info:
        ended.send(b"late")
    assert info.value.code == "session_terminated"
    port = FakePort()
    lost = BleChannel(port, "server")
    threading.Timer(0.05, lost.link_lost).start()
    with pytest.raises(SessionError) as info:
        lost.wait_open(5)  # wakes at once, does not wait 5 s
    assert info.value.code == "connection_lost"
    with pytest.raises(SessionError) as info:
        lost.receive(0.1)
    assert info.value.code == "connection_lost"
    lost.close()
    assert port.states == [] and port.disconnected  # no end signal on a dead link


@pytest.mark.parametrize("end", ["state", "lost"])
def test_nothing_is_read_after_the_end_signal_or_a_lost_link(end: str):
    """Found by the ble fuzzing harness: a message that arrived after the end signal (or the link lost) was
    returned by the receive after the one that reported the end. Messages that arrived before it still are."""
    channel = BleChannel(FakePort(), "server")
    channel.state_received(b"\x01")
    channel.chunk_received(b"\x00before")
    channel.state_received(b"\x02") if end == "state" else channel.link_lost()
    channel.chunk_received(b"\x00after")
    assert channel.receive(0.1) == b"before"
    for _ in range(3):
        with pytest.raises(SessionError) as info:
            channel.receive(0.1)
        assert info.value.code == ("session_terminated" if end == "state" else "connection_lost")


def test_bad_chunks_and_sizes_are_clear_errors():
    channel = BleChannel(FakePort(), "server", max_message=100)
    channel.state_received(b"\x01")
    channel.chunk_received(b"\x05junk")
    with pytest.raises(DecodeError):
        channel.receive(0.1)
    for chunk in split(bytes(101), 23):
        channel.chunk_received(chunk)
    with pytest.raises(LimitExceeded):
        channel.receive(0.1)
    with pytest.raises(SessionError) as info:
        channel.send(bytes(101))
    assert info.value.code == "too_large"
    with pytest.raises(SessionError) as info:
        channel.receive(0.01)
    assert info.value.code == "timeout"


def test_a_failing_port_surfaces_as_connection_lost():
    port = FakePort()
    channel = BleChannel(port, "client")
    channel.start(1)
    port.fail = True
    with pytest.raises(SessionError) as info:
        channel.send(b"hello")
    assert info.value.code == "connection_lost"
    channel.close()  # the end signal cannot go out; close still drops the link
    assert port.disconnected


def test_a_flood_of_messages_is_cut_off():
    from didlib.session.ble.channel import MAX_PENDING

    channel = BleChannel(FakePort(), "server")
    channel.state_received(b"\x01")
    for n in range(MAX_PENDING + 5):
        channel.chunk_received(b"\x00" + bytes([n]))
    assert [channel.receive(0.1) for _ in range(MAX_PENDING)] == [bytes([n]) for n in range(MAX_PENDING)]
    with pytest.raises(LimitExceeded):
        channel.receive(0.1)
    with pytest.raises(SessionError) as info:
        channel.receive(0.01)  # nothing after the cut-off
    assert info.value.code == "timeout"
