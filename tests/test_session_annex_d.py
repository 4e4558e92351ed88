"""Known-answer tests of the session layer on the ISO/IEC 18013-5 Annex D vectors, both directions."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from didlib import TrustStore
from didlib.cbor import Embedded, decode
from didlib.errors import DidlibError, ReaderNotAuthorised, SessionError
from didlib.keys import cose_key_from_public, public_key_from_cose
from didlib.mdoc import DeviceRequest, DocRequest, verify_response
from didlib.session import DeviceEngagement
from didlib.session.encryption import SessionEncryption, derive_session_keys
from didlib.session.messages import SessionData, establishment, parse_establishment
from didlib.session.reader_auth import reader_authentication_bytes, verify_reader_auth
from didlib.session.transcript import parse_transcript

ANNEX_D_TIME = dt.datetime(2021, 1, 1, tzinfo=dt.UTC)
QR_URI = ("mdoc:owBjMS4wAYIB2BhYS6QBAiABIVggWojRgrzl9C76WZQ_MzWdLoqWj_KJ2T5fpES2JDQxZ_4iWCCxboz4WN3HaQQHumHUwzgj"
          "eoz8895qpnL8YKVXqjL8ZwKBgwIBowD0AfULUEXv73QrLEg3qaOw4dBaaRc")


def _key(d: bytes) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int.from_bytes(d, "big"), ec.SECP256R1())


@pytest.fixture(scope="module")
def transcript(annex_d) -> bytes:
    return Embedded.from_raw(annex_d["SESSION_TRANSCRIPT_BYTES"]).content


def test_engagement_decodes_and_keeps_its_bytes(annex_d):
    engagement = DeviceEngagement.parse(annex_d["DEVICE_ENGAGEMENT"])
    assert engagement.version == "1.0"
    assert engagement.raw == annex_d["DEVICE_ENGAGEMENT"]
    assert engagement.e_device_key_bytes.raw == annex_d["E_DEVICE_KEY_BYTES"]
    cose = cose_key_from_public(engagement.e_device_key)
    assert (cose[-2], cose[-3]) == (annex_d["EPHEMERAL_DEVICE_KEY_X"], annex_d["EPHEMERAL_DEVICE_KEY_Y"])
    (ble,) = engagement.retrieval_methods
    assert (ble.type, ble.version) == (2, 1)
    assert ble.options[0] is False and ble.options[1] is True and len(ble.options[11]) == 16


def test_qr_uri_round_trip(annex_d):
    engagement = DeviceEngagement.parse(annex_d["DEVICE_ENGAGEMENT"])
    assert engagement.to_uri() == QR_URI
    assert DeviceEngagement.from_uri(QR_URI).raw == annex_d["DEVICE_ENGAGEMENT"]


@pytest.mark.parametrize("uri", ["mdoc://" + QR_URI[5:], QR_URI + "==", "mdoc:", "https://x", "mdoc:" + "A" * 20,
                                 "mdoc:" + base64.b64encode(b"\xa0").decode()])
def test_bad_uris(uri):
    with pytest.raises(DidlibError) as info:
        DeviceEngagement.from_uri(uri)
    assert getattr(info.value, "code", None) in {"malformed", "unsupported", "bad_key"}


def test_transcript_parts(annex_d, transcript):
    engagement, reader_key, handover = parse_transcript(transcript)
    assert engagement.raw == annex_d["SESSION_TRANSCRIPT_DEVICE_ENGAGEMENT_BYTES"]
    assert handover == [annex_d["SESSION_TRANSCRIPT_HANDOVER_SELECT"], annex_d["SESSION_TRANSCRIPT_HANDOVER_REQUEST"]]
    assert cose_key_from_public(public_key_from_cose(reader_key.decode()))[-2] == annex_d["EPHEMERAL_READER_KEY_X"]


def test_key_schedule(annex_d, transcript):
    device_side = derive_session_keys(_key(annex_d["EPHEMERAL_DEVICE_KEY_D"]),
                                      _key(annex_d["EPHEMERAL_READER_KEY_D"]).public_key(), transcript)
    reader_side = derive_session_keys(_key(annex_d["EPHEMERAL_READER_KEY_D"]),
                                      _key(annex_d["EPHEMERAL_DEVICE_KEY_D"]).public_key(), transcript)
    assert device_side == reader_side
    assert device_side.shared_secret == annex_d["ZAB_SHARED_SECRET"]
    assert device_side.sk_reader == annex_d["SK_READER"]
    assert device_side.sk_device == annex_d["SK_DEVICE"]


@pytest.fixture
def sessions(annex_d, transcript):
    keys = derive_session_keys(_key(annex_d["EPHEMERAL_READER_KEY_D"]),
                               _key(annex_d["EPHEMERAL_DEVICE_KEY_D"]).public_key(), transcript)
    return SessionEncryption("reader", keys), SessionEncryption("device", keys)


def test_decrypt_establishment_and_data(annex_d, sessions):
    reader, device = sessions
    e_reader_key, ciphertext = parse_establishment(annex_d["SESSION_ESTABLISHMENT"])
    assert e_reader_key.decode()[-2] == annex_d["EPHEMERAL_READER_KEY_X"]
    assert device.decrypt(ciphertext) == annex_d["DEVICE_REQUEST"]
    assert reader.decrypt(SessionData.parse(annex_d["SESSION_DATA"]).data) == annex_d["DEVICE_RESPONSE"]
    assert SessionData.parse(annex_d["SESSION_TERMINATION"]).status == 20


def test_encrypt_reproduces_the_vectors(annex_d, sessions, transcript):
    reader, device = sessions
    _, reader_key = parse_transcript(transcript)[:2]
    assert establishment(reader_key, reader.encrypt(annex_d["DEVICE_REQUEST"])) == annex_d["SESSION_ESTABLISHMENT"]
    assert SessionData(data=device.encrypt(annex_d["DEVICE_RESPONSE"])).encode() == annex_d["SESSION_DATA"]
    assert SessionData(status=20).encode() == annex_d["SESSION_TERMINATION"]


def test_replayed_and_tampered_messages_fail(annex_d, sessions):
    reader, device = sessions
    _, ciphertext = parse_establishment(annex_d["SESSION_ESTABLISHMENT"])
    device.decrypt(ciphertext)
    with pytest.raises(SessionError) as info:
        device.decrypt(ciphertext)  # replay: the counter has moved on
    assert info.value.code == "decryption_failed"
    data = SessionData.parse(annex_d["SESSION_DATA"]).data
    with pytest.raises(SessionError) as info:
        reader.decrypt(data[:-1] + bytes([data[-1] ^ 1]))
    assert info.value.code == "decryption_failed"
    assert reader.decrypt(data) == annex_d["DEVICE_RESPONSE"], "a failed message does not advance the counter"


def test_reader_authentication(annex_d, transcript):
    request = DeviceRequest.parse(annex_d["DEVICE_REQUEST"])
    doc = request.doc_requests[0]
    assert doc.items_request.content == annex_d["ITEMS_REQUEST"]
    assert doc.namespaces["org.iso.18013.5.1"]["family_name"] is True
    rebuilt = DocRequest(doc.doctype, doc.namespaces).to_cbor()["itemsRequest"]
    assert rebuilt.content == annex_d["ITEMS_REQUEST"], "requests are encoded in the order of the CDDL"
    assert reader_authentication_bytes(transcript, doc.items_request) == annex_d["READER_AUTHENTICATION_BYTES"]
    anchors = TrustStore([x509.load_der_x509_certificate(annex_d["READER_ROOT_CERT"])])
    identity = verify_reader_auth(doc.reader_auth, transcript, doc.items_request, anchors, ANNEX_D_TIME)
    assert identity.name == "reader" and identity.entitlement is None
    assert identity.certificate == x509.load_der_x509_certificate(annex_d["READER_CERT"])
    with pytest.raises(ReaderNotAuthorised) as info:  # over another transcript the signature fails
        verify_reader_auth(doc.reader_auth, transcript[:-1] + b"\xf6", doc.items_request, anchors, ANNEX_D_TIME)
    assert info.value.code == "reader_auth_failed"
    with pytest.raises(ReaderNotAuthorised) as info:  # today the reader certificate has expired
        verify_reader_auth(doc.reader_auth, transcript, doc.items_request, anchors, dt.datetime.now(dt.UTC))
    assert info.value.code == "certificate_expired"


def test_decrypted_response_verifies_with_mac(annex_d, sessions, transcript):
    reader, _ = sessions
    response = reader.decrypt(SessionData.parse(annex_d["SESSION_DATA"]).data)
    trust = TrustStore([x509.load_der_x509_certificate(annex_d["IACA_CERT"])])
    result = verify_response(response, trust=trust, session_transcript=transcript,
                             reader_key=_key(annex_d["EPHEMERAL_READER_KEY_D"]), now=ANNEX_D_TIME)
    assert result.valid and result.documents[0].device_auth == "mac"
    assert decode(response)["status"] == 0
