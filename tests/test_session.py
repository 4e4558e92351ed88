"""A whole ISO 18013-5 exchange between a holder session and a reader session, and every way it breaks."""

from __future__ import annotations

import datetime as dt

import pytest

from conftest import NOW
from didlib import TrustStore
from didlib.errors import DecodeError, ReaderNotAuthorised, SessionError
from didlib.keys import generate_key
from didlib.mdoc import DOCTYPE_AGE, DOCTYPE_DBS, DOCTYPE_MDL
from didlib.mdoc.registry import NS_AGE, NS_ISO
from didlib.pki import create_reader_ca, create_reader_certificate
from didlib.session import HolderSession, InMemoryTransport, ReaderSession, entitlement_extension
from didlib.session.messages import SessionData
from didlib.session.reader_auth import UNSTATED_WARNING

AGE_REQUEST = {DOCTYPE_MDL: {NS_ISO: {"age_over_18": False, "portrait": False}}}


def holder_for(licence, age_credential, device_key, reader_trust, **kw):
    return HolderSession([(licence, device_key), (age_credential, device_key)], reader_trust=reader_trust, now=NOW,
                         **kw)


def reader_for(holder, trust, shop, request=AGE_REQUEST, **kw):
    key, chain = shop
    return ReaderSession(holder.qr_uri(), request, trust=trust, reader_key=key, reader_chain=chain, now=NOW, **kw)


@pytest.mark.parametrize("device_mac", [False, True])
def test_full_exchange_over_a_transport(licence, age_credential, device_key, trust, reader_trust, shop, portrait,
                                        device_mac):
    holder = holder_for(licence, age_credential, device_key, reader_trust, device_mac=device_mac)
    reader = reader_for(holder, trust, shop)
    phone, till = InMemoryTransport.pair()

    till.send(reader.start())
    pending = holder.receive(phone.receive())
    assert pending.reader.name == "Example Shop" and pending.reader.organisation == "Example Shop"
    assert pending.documents[0].elements == AGE_REQUEST[DOCTYPE_MDL]
    assert pending.documents[0].held and pending.documents[0].beyond_entitlement == {}
    phone.send(holder.respond())

    result = reader.receive(till.receive())
    assert result.valid, result.errors
    assert result.documents[0].elements == {NS_ISO: {"age_over_18": True, "portrait": portrait}}
    assert result.documents[0].device_auth == ("mac" if device_mac else "signature")
    till.send(reader.terminate())
    holder.receive_followup(phone.receive())
    assert (holder.state, reader.state) == ("closed", "closed")


def test_holder_shares_only_what_it_agrees_to(licence, age_credential, device_key, trust, reader_trust, shop):
    holder = holder_for(licence, age_credential, device_key, reader_trust)
    reader = reader_for(holder, trust, shop)
    holder.receive(reader.start())
    result = reader.receive(holder.respond({DOCTYPE_MDL: {NS_ISO: ["age_over_18"]}}))
    assert result.valid
    assert result.documents[0].elements == {NS_ISO: {"age_over_18": True}}
    assert result.documents[0].not_returned == {NS_ISO: ["portrait"]}


def test_request_beyond_entitlement_is_flagged_and_withheld(licence, age_credential, device_key, trust,
                                                            reader_trust, shop):
    holder = holder_for(licence, age_credential, device_key, reader_trust)
    greedy = {DOCTYPE_MDL: {NS_ISO: {"age_over_18": False, "family_name": True, "resident_address": True}}}
    reader = reader_for(holder, trust, shop, greedy)
    pending = holder.receive(reader.start())
    assert pending.documents[0].beyond_entitlement == {NS_ISO: ["family_name", "resident_address"]}
    assert pending.documents[0].allowed() == {NS_ISO: ["age_over_18"]}
    # even if the holder ticks everything, nothing beyond the entitlement leaves the phone
    result = reader.receive(holder.respond({DOCTYPE_MDL: {NS_ISO: ["age_over_18", "family_name",
                                                                    "resident_address"]}}))
    assert result.documents[0].elements == {NS_ISO: {"age_over_18": True}}
    assert sorted(result.documents[0].not_returned[NS_ISO]) == ["family_name", "resident_address"]


def test_unknown_reader_ca_is_refused(licence, age_credential, device_key, trust, shop, tmp_path):
    other_ca_key = generate_key()
    other_trust = TrustStore([create_reader_ca(other_ca_key, common_name="Other CA",
                                               not_before=NOW - dt.timedelta(days=1))])
    holder = holder_for(licence, age_credential, device_key, other_trust)
    reader = reader_for(holder, trust, shop)
    with pytest.raises(ReaderNotAuthorised) as info:
        holder.receive(reader.start())
    assert info.value.code == "untrusted_issuer"


def test_reader_signing_with_the_wrong_key_is_refused(licence, age_credential, device_key, trust, reader_trust, shop):
    holder = holder_for(licence, age_credential, device_key, reader_trust)
    reader = reader_for(holder, trust, (generate_key(), shop[1]))
    with pytest.raises(ReaderNotAuthorised) as info:
        holder.receive(reader.start())
    assert info.value.code == "reader_auth_failed"


@pytest.fixture(scope="module")
def bare_reader(pki):
    """A reader certificate without didlib's entitlement extension: an ordinary 18013-5 reader."""
    key = generate_key()
    cert = create_reader_certificate(pki.certificate("reader-ca"), pki.key("reader-ca"), key.public_key(),
                                     common_name="Bare Reader", not_before=NOW - dt.timedelta(days=1))
    return key, [cert]


def test_reader_without_entitlement_is_shown_with_a_warning_and_the_holder_decides(
        licence, age_credential, device_key, trust, reader_trust, bare_reader):
    """Issue 15: such a reader used to get nothing at all; now the holder is warned and chooses."""
    holder = holder_for(licence, age_credential, device_key, reader_trust)
    reader = reader_for(holder, trust, bare_reader)
    pending = holder.receive(reader.start())
    assert pending.reader.name == "Bare Reader" and not pending.reader.entitlement_stated
    assert pending.reader.consent_warnings() == [UNSTATED_WARNING]
    assert pending.documents[0].beyond_entitlement == {}
    assert pending.documents[0].allowed() == {NS_ISO: ["age_over_18", "portrait"]}
    result = reader.receive(holder.respond({DOCTYPE_MDL: {NS_ISO: ["age_over_18"]}}))  # the holder's choice
    assert result.valid and result.documents[0].elements == {NS_ISO: {"age_over_18": True}}
    assert result.documents[0].not_returned == {NS_ISO: ["portrait"]}


def test_strict_wallet_refuses_a_reader_without_entitlement(licence, age_credential, device_key, trust,
                                                            reader_trust, bare_reader, shop):
    holder = holder_for(licence, age_credential, device_key, reader_trust, require_entitlement=True)
    with pytest.raises(ReaderNotAuthorised) as info:
        holder.receive(reader_for(holder, trust, bare_reader).start())
    assert info.value.code == "entitlement_missing"
    holder = holder_for(licence, age_credential, device_key, reader_trust, require_entitlement=True)
    pending = holder.receive(reader_for(holder, trust, shop).start())  # a reader that states it is fine
    assert pending.reader.entitlement_stated and pending.reader.consent_warnings() == []


def test_entitlement_wildcard(pki, licence, age_credential, device_key, trust, reader_trust):
    k = generate_key()
    cert = create_reader_certificate(
        pki.certificate("reader-ca"), pki.key("reader-ca"), k.public_key(), common_name="Youth Club",
        not_before=NOW - dt.timedelta(days=1), extra_extensions=[entitlement_extension({DOCTYPE_MDL: {NS_ISO: "*"}})])
    holder = holder_for(licence, age_credential, device_key, reader_trust)
    reader = reader_for(holder, trust, (k, [cert]), {DOCTYPE_MDL: {NS_ISO: {"family_name": True}}})
    pending = holder.receive(reader.start())
    assert pending.documents[0].beyond_entitlement == {}
    assert reader.receive(holder.respond()).documents[0].elements == {NS_ISO: {"family_name": "MORGAN"}}


def test_unauthenticated_reader(licence, age_credential, device_key, trust, reader_trust):
    strict = holder_for(licence, age_credential, device_key, reader_trust)
    reader = ReaderSession(strict.qr_uri(), AGE_REQUEST, trust=trust, now=NOW)
    with pytest.raises(ReaderNotAuthorised) as info:
        strict.receive(reader.start())
    assert info.value.code == "reader_auth_missing"
    lenient = holder_for(licence, age_credential, device_key, reader_trust, require_reader_auth=False)
    reader = ReaderSession(lenient.qr_uri(), AGE_REQUEST, trust=trust, now=NOW)
    assert lenient.receive(reader.start()).reader is None
    assert reader.receive(lenient.respond()).valid


def test_replayed_messages(licence, age_credential, device_key, trust, reader_trust, shop):
    holder = holder_for(licence, age_credential, device_key, reader_trust)
    reader = reader_for(holder, trust, shop)
    establishment = reader.start()
    holder.receive(establishment)
    with pytest.raises(SessionError) as info:
        holder.receive(establishment)
    assert info.value.code == "unexpected_message"
    answer = holder.respond()
    assert reader.receive(answer).valid
    with pytest.raises(SessionError):
        reader.receive(answer)
    # the same answer replayed into a new session with the same phone does not decrypt
    holder2 = holder_for(licence, age_credential, device_key, reader_trust)
    reader2 = reader_for(holder2, trust, shop)
    holder2.receive(reader2.start())
    with pytest.raises(SessionError) as info:
        reader2.receive(answer)
    assert info.value.code == "decryption_failed"


def test_tampered_ciphertext(licence, age_credential, device_key, trust, reader_trust, shop):
    holder = holder_for(licence, age_credential, device_key, reader_trust)
    reader = reader_for(holder, trust, shop)
    message = bytearray(reader.start())
    message[-3] ^= 0x20
    with pytest.raises(SessionError) as info:
        holder.receive(bytes(message))
    assert info.value.code == "decryption_failed"
    assert SessionData.parse(holder.error_message(info.value)).status == 10
    with pytest.raises(DecodeError):
        holder_for(licence, age_credential, device_key, reader_trust).receive(b"\xa1\x01")
    assert SessionData.parse(holder.error_message(DecodeError("x"))).status == 11


def test_holder_declines(licence, age_credential, device_key, trust, reader_trust, shop):
    holder = holder_for(licence, age_credential, device_key, reader_trust)
    reader = reader_for(holder, trust, shop)
    holder.receive(reader.start())
    with pytest.raises(SessionError) as info:
        reader.receive(holder.decline())
    assert info.value.code == "session_terminated"


def test_document_not_held(licence, age_credential, device_key, trust, reader_trust, shop):
    holder = holder_for(licence, age_credential, device_key, reader_trust)
    reader = reader_for(holder, trust, shop, {DOCTYPE_DBS: {"uk.gov.dbs.check.1": {"outcome": False}},
                                             DOCTYPE_AGE: {NS_AGE: {"age_over_25": False}}})
    pending = holder.receive(reader.start())
    assert [d.held for d in pending.documents] == [False, True]
    result = reader.receive(holder.respond())
    assert result.valid
    assert [d.elements for d in result.documents] == [{NS_AGE: {"age_over_25": True}}]


def test_state_machine_guards(licence, age_credential, device_key, trust, reader_trust, shop):
    holder = holder_for(licence, age_credential, device_key, reader_trust)
    with pytest.raises(SessionError):
        holder.respond()
    reader = reader_for(holder, trust, shop)
    with pytest.raises(SessionError):
        reader.receive(SessionData(status=20).encode())
    reader.start()
    with pytest.raises(SessionError):
        reader.start()


def test_transport_timeout():
    a, _ = InMemoryTransport.pair()
    with pytest.raises(SessionError) as info:
        a.receive(timeout=0.01)
    assert info.value.code == "timeout"


def test_exchange_over_the_local_network(licence, age_credential, device_key, trust, reader_trust, shop):
    """Engagement QR names a TCP port; the reader connects to it; both sides run the exchange loops."""
    import threading

    from didlib.session import RetrievalMethod, TcpListener, TcpTransport, run_reader, serve_holder

    listener = TcpListener()
    holder = holder_for(licence, age_credential, device_key, reader_trust,
                        retrieval_methods=[RetrievalMethod.local_network(listener.host, listener.port)])
    shared = []

    def phone():
        connection = listener.accept(timeout=10)
        shared.append(serve_holder(holder, connection, lambda pending: {DOCTYPE_MDL: pending.documents[0].allowed()}))
        connection.close()

    thread = threading.Thread(target=phone)
    thread.start()
    reader = reader_for(holder, trust, shop)
    (method,) = reader.engagement.retrieval_methods
    transport = TcpTransport.connect(*method.address())
    result = run_reader(reader, transport)
    thread.join(10)
    transport.close()
    listener.close()
    assert result.valid and result.documents[0].elements[NS_ISO]["age_over_18"] is True
    assert shared == [True] and holder.state == "closed"


def test_tcp_transport_limits():
    import socket
    import struct

    from didlib.session import TcpListener, TcpTransport

    listener = TcpListener()
    raw = socket.create_connection((listener.host, listener.port))
    server = listener.accept(timeout=5)
    raw.sendall(struct.pack(">I", 50 << 20))
    with pytest.raises(SessionError) as info:
        server.receive(timeout=5)
    assert info.value.code == "too_large"
    raw.close()
    with pytest.raises(SessionError) as info:
        server.receive(timeout=5)
    assert info.value.code == "connection_lost"
    with pytest.raises(SessionError) as info:
        TcpTransport.connect("127.0.0.1", listener.port + 1 if listener.port < 65535 else 1, timeout=1)
    assert info.value.code == "unreachable"
    listener.close()
