"""ISO/IEC 18013-7 Annex C over the W3C Digital Credentials API (``org-iso-mdoc``): the dcapi SessionTranscript
against a real Chrome/Android capture, round trips through the verifier and the wallet, and every refusal."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from conftest import NOW, load_vectors
from conftest import SHOP_HOST as HOST
from didlib.cbor import decode, encode
from didlib.cose import Sign1
from didlib.errors import DecodeError, ReaderNotAuthorised
from didlib.jose import b64url_decode, b64url_encode, public_from_jwk
from didlib.keys import same_public_key
from didlib.mdoc import present, present_elements
from didlib.mdoc.request import DeviceRequest
from didlib.oid4vp import PROTOCOL_MDOC, PresentationRequest, age_query, build_response, parse_dc_api_request
from didlib.oid4vp.dc_api_mdoc import (
    SUITE,
    make_encryption_info,
    open_response,
    read_encryption_info,
    seal_response,
)
from didlib.pki import public_key_of
from didlib.session.reader_auth import reader_authentication_bytes
from didlib.session.transcript import iso_dc_api_transcript

ORIGIN = f"https://{HOST}"
LATER = NOW + dt.timedelta(seconds=20)


def test_transcript_and_reader_auth_match_a_real_chrome_android_capture():
    """Annex C's transcript, byte for byte as another implementation built it for a real Chrome/Android request,
    and that request's readerAuth verifies over it (ReaderAuthentication with the dcapi handover), for that
    origin only."""
    vector = load_vectors("iso18013-7-annexC-dcapi.json")
    info, origin = vector["encryptionInfo"], vector["origin"]
    assert hashlib.sha256(info.encode() + b"\n").hexdigest() == vector["encryptionInfo_b64u_file_sha256"]
    transcript = iso_dc_api_transcript(info, origin)
    assert transcript.hex() == vector["sessionTranscript_hex"]
    assert hashlib.sha256(transcript).hexdigest() == vector["sessionTranscript_sha256"]
    nonce, recipient = read_encryption_info(info)
    assert len(nonce) == 32 and same_public_key(recipient, public_from_jwk(vector["recipientPublicKey_jwk"]))
    assert hashlib.sha256(vector["deviceRequest"].encode() + b"\n").hexdigest() == \
        vector["deviceRequest_b64u_file_sha256"]
    (doc,) = DeviceRequest.parse(b64url_decode(vector["deviceRequest"])).doc_requests
    signed = Sign1.from_cbor(doc.reader_auth)
    certificate = signed.x5chain()[0]
    assert certificate.subject.rfc4514_string() == vector["readerCertificateSubject"]
    payload = reader_authentication_bytes(transcript, doc.items_request)
    signed.verify(public_key_of(certificate), detached_payload=payload)
    with pytest.raises(Exception, match="signature"):
        signed.verify(public_key_of(certificate), detached_payload=reader_authentication_bytes(
            iso_dc_api_transcript(info, "http://127.0.0.1:3011"), doc.items_request))


def ask(website=None, *, origin=ORIGIN):
    """A DC API request from the page at ``origin`` and its org-iso-mdoc ``data``."""
    request = PresentationRequest.create_dc_api(origin, age_query(18), host=HOST, now=NOW)
    (data,) = [e["data"] for e in request.dc_api_requests(website) if e["protocol"] == PROTOCOL_MDOC]
    return request, data


def answer(data, reader_trust, mdocs, origin=ORIGIN):
    parsed = parse_dc_api_request(PROTOCOL_MDOC, data, origin, reader_trust, now=NOW)
    return build_response(parsed, [], mdocs, now=LATER).form


def test_request_is_a_device_request_and_encryption_info(website, reader_trust):
    request, data = ask(website)
    assert set(data) == {"deviceRequest", "encryptionInfo"}
    handover, parameters = decode(b64url_decode(data["encryptionInfo"]))
    assert handover == "dcapi" and set(parameters) == {"nonce", "recipientPublicKey"}
    assert len(parameters["nonce"]) == 32 and parameters["recipientPublicKey"][-1] == 1, "EC2 P-256 COSE_Key"
    docs = DeviceRequest.parse(b64url_decode(data["deviceRequest"])).doc_requests
    assert [(d.doctype, d.namespaces) for d in docs] == [
        ("uk.gov.dvla.age.1", {"uk.gov.dvla.age.1": {"age_over_18": False}}),
        ("org.iso.18013.5.1.mDL", {"org.iso.18013.5.1": {"age_over_18": False}})]
    assert all(d.reader_auth is not None for d in docs)
    parsed = parse_dc_api_request(PROTOCOL_MDOC, data, ORIGIN, reader_trust, now=NOW)
    assert parsed.asker == f"Example Shop ({ORIGIN})" and parsed.requested_claims() == ["age_over_18"]
    assert parsed.mdoc is not None and parsed.mdoc.transcript == request.iso_mdoc.transcript(ORIGIN)
    assert [q["id"] for q in parsed.claims["dcql_query"]["credentials"]] == ["doc0", "doc1"]
    unsigned = parse_dc_api_request(PROTOCOL_MDOC, ask()[1], ORIGIN, reader_trust, now=NOW)
    assert unsigned.reader is None and unsigned.asker == ORIGIN, "no readerAuth: the origin is who asks"


@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize("held", ["age", "licence", "both"])
def test_round_trip(website, reader_trust, trust, age_credential, licence, device_key, signed, held):
    request, data = ask(website if signed else None)
    mdocs = {"age": [(age_credential, device_key)], "licence": [(licence, device_key)],
             "both": [(licence, device_key), (age_credential, device_key)]}[held]
    parsed = parse_dc_api_request(PROTOCOL_MDOC, data, ORIGIN, reader_trust, now=NOW)
    sent = build_response(parsed, [], mdocs, now=LATER)
    assert set(sent.form) == {"response"} and "." not in sent.form["response"]
    handover, sealed = decode(b64url_decode(sent.form["response"]))
    assert handover == "dcapi" and set(sealed) == {"enc", "cipherText"}
    assert len(sealed["enc"]) == 65 and sealed["enc"][0] == 4, "the uncompressed ephemeral point"
    assert len(sent.used) == 1, "one document: the first the verifier asks for that the holder has"
    result = request.check(json.loads(json.dumps(sent.form)), trust=trust, now=LATER)
    assert result.valid, result.errors
    assert result.claims == {"age_over_18": True}
    assert result.credential_id == ("licence_mdoc" if held == "licence" else "age_mdoc")
    assert result.same_holder()


def test_saved_request_checks_the_answer_once(website, reader_trust, trust, age_credential, device_key):
    request, data = ask(website)
    saved = PresentationRequest.from_json(request.to_json())
    form = answer(data, reader_trust, [(age_credential, device_key)])
    assert saved.check(form, trust=trust, now=LATER).valid
    again = PresentationRequest.from_json(saved.to_json()).check(form, trust=trust, now=LATER)
    assert [p.code for p in again.errors] == ["replayed"]


def test_answer_made_for_another_origin_is_refused(website, reader_trust, trust, age_credential, device_key):
    """A phishing page relays the shop's request: the browser asserts the phishing origin, so the signed
    DeviceRequest does not verify there, and an answer to an unsigned one is sealed and signed for that origin."""
    _, signed_data = ask(website)
    with pytest.raises(ReaderNotAuthorised):
        parse_dc_api_request(PROTOCOL_MDOC, signed_data, "https://shop-example.evil", reader_trust, now=NOW)
    request, data = ask()
    form = answer(data, reader_trust, [(age_credential, device_key)], origin="https://shop-example.evil")
    result = request.check(form, trust=trust, now=LATER)
    assert [p.code for p in result.errors] == ["decryption_failed"] and not request.answered
    assert request.check(answer(data, reader_trust, [(age_credential, device_key)]), trust=trust, now=LATER).valid


def test_tampered_answers_are_refused(website, reader_trust, trust, age_credential, device_key):
    request, data = ask(website)
    form = answer(data, reader_trust, [(age_credential, device_key)])
    handover, sealed = decode(b64url_decode(form["response"]))
    for part, flip in (("cipherText", -1), ("cipherText", 0), ("enc", 40)):
        changed = bytearray(sealed[part])
        changed[flip] ^= 1
        bad = {"response": b64url_encode(encode([handover, {**sealed, part: bytes(changed)}]))}
        assert [p.code for p in request.check(bad, trust=trust, now=LATER).errors] == ["decryption_failed"], part
    assert not request.answered and request.check(form, trust=trust, now=LATER).valid


def test_answer_to_another_request_does_not_open(website, reader_trust, trust, age_credential, device_key):
    """Another request has another recipient key (and another transcript): its answer does not open here."""
    request, _ = ask(website)
    _, other = ask(website)
    result = request.check(answer(other, reader_trust, [(age_credential, device_key)]), trust=trust, now=LATER)
    assert [p.code for p in result.errors] == ["decryption_failed"]


def test_response_signed_over_another_transcript_is_refused(website, reader_trust, trust, age_credential,
                                                            device_key):
    """Sealed to this request, but device-authenticated over another transcript (a DeviceResponse made for
    another request and sealed again): device authentication fails."""
    request, _ = ask(website)
    transcript = request.iso_mdoc.transcript(ORIGIN)
    _, other = ask(website)
    elsewhere = iso_dc_api_transcript(other["encryptionInfo"], ORIGIN)
    response = present_elements(age_credential, device_key, ["age_over_18"], elsewhere)
    form = seal_response(response, request.iso_mdoc.key.public_key(), transcript)
    result = request.check(form, trust=trust, now=LATER)
    assert not result.valid and "device_auth_failed" in [p.code for p in result.errors], result.errors


def test_answers_the_query_does_not_allow_are_refused(website, trust, age_credential, licence, device_key):
    request, _ = ask(website)
    transcript, key = request.iso_mdoc.transcript(ORIGIN), request.iso_mdoc.key.public_key()
    ask_both = [*DeviceRequest.for_elements("uk.gov.dvla.age.1", {"uk.gov.dvla.age.1": {"age_over_18": False}})
                .doc_requests,
                *DeviceRequest.for_elements("org.iso.18013.5.1.mDL", {"org.iso.18013.5.1": {"age_over_18": False}})
                .doc_requests]
    both = present([(age_credential, device_key), (licence, device_key)], DeviceRequest(ask_both), transcript)
    result = request.check(seal_response(both, key, transcript), trust=trust, now=LATER)
    assert [p.code for p in result.errors] == ["wrong_credentials"], "two alternatives of one credential set"
    portrait = present_elements(age_credential, device_key, ["age_over_18", "portrait"], transcript)
    result = request.check(seal_response(portrait, key, transcript), trust=trust, now=LATER)
    assert [p.code for p in result.errors] == ["over_disclosure"]
    assert not request.check(seal_response(b"\xa0", key, transcript), trust=trust, now=LATER).valid


@pytest.mark.parametrize("response", [
    "", "!!!", "x" * 70_000, b64url_encode(b"\xff\x00"), b64url_encode(encode(["dcapi"])),
    b64url_encode(encode(["other", {"enc": b"\x04" * 65, "cipherText": b"x"}])),
    b64url_encode(encode(["dcapi", {"enc": b"\x04" * 64, "cipherText": b"x"}])),
    b64url_encode(encode(["dcapi", {"enc": b"\x04" * 65, "cipherText": "x"}])),
    b64url_encode(encode(["dcapi", {"enc": b"\x04" * 65, "cipherText": b"x" * 40_000}])),
    b64url_encode(encode(["dcapi", [[[[[[[[[]]]]]]]]]])),
])
def test_malformed_or_oversized_answers_are_refused(response, website):
    request, _ = ask(website)
    result = request.check({"response": response}, trust=None, now=LATER)
    assert not result.valid and result.errors[0].code in ("malformed", "decode_error", "decryption_failed"), \
        result.errors
    assert not request.answered


def _data(data, **change):
    return {k: v for k, v in {**data, **change}.items() if v is not None}


@pytest.mark.parametrize("change", [
    {"deviceRequest": None}, {"encryptionInfo": None}, {"deviceRequest": 5}, {"deviceRequest": "!!"},
    {"deviceRequest": b64url_encode(b"\xff")}, {"deviceRequest": "A" * 70_000},
    {"deviceRequest": b64url_encode(encode({"version": "1.0", "docRequests": []}))},
    {"encryptionInfo": "A" * 70_000}, {"encryptionInfo": b64url_encode(encode(["dcapi"]))},
    {"encryptionInfo": b64url_encode(encode(["ARFEncryptionv2", {}]))},
    {"encryptionInfo": make_encryption_info(b"short", ec.generate_private_key(ec.SECP256R1()).public_key())},
    {"encryptionInfo": make_encryption_info(b"n" * 32, ec.generate_private_key(ec.SECP384R1()).public_key())},
    {"encryptionInfo": b64url_encode(encode(["dcapi", {"nonce": b"n" * 32, "recipientPublicKey": {1: 2, -1: 1,
                                                                                                  -2: b"x" * 32,
                                                                                                  -3: b"y" * 32}}]))},
])
def test_malformed_or_oversized_requests_are_refused(reader_trust, change):
    _, data = ask()
    with pytest.raises(DecodeError):
        parse_dc_api_request(PROTOCOL_MDOC, _data(data, **change), ORIGIN, reader_trust, now=NOW)
    with pytest.raises(DecodeError):
        parse_dc_api_request(PROTOCOL_MDOC, [data], ORIGIN, reader_trust, now=NOW)


def test_partly_signed_requests_are_refused(website, reader_trust):
    _, signed = ask(website)
    _, unsigned = ask()
    docs = DeviceRequest.parse(b64url_decode(signed["deviceRequest"])).doc_requests
    plain = DeviceRequest.parse(b64url_decode(unsigned["deviceRequest"])).doc_requests
    mixed = b64url_encode(DeviceRequest([docs[0], plain[1]]).encode())
    with pytest.raises(ReaderNotAuthorised) as info:
        parse_dc_api_request(PROTOCOL_MDOC, {**signed, "deviceRequest": mixed}, ORIGIN, reader_trust, now=NOW)
    assert info.value.code == "reader_auth_missing"


def test_hpke_open_checks_key_and_info():
    """The suite as Annex C fixes it (cryptography's RFC 9180 HPKE): sealed to one key for one transcript, it
    opens with that key and transcript only."""
    key = ec.generate_private_key(ec.SECP256R1())
    form = seal_response(b"DeviceResponse", key.public_key(), b"transcript")
    assert open_response(form, key, b"transcript") == b"DeviceResponse"
    for other_key, info in ((ec.generate_private_key(ec.SECP256R1()), b"transcript"), (key, b"transcripT")):
        with pytest.raises(Exception) as error:
            open_response(form, other_key, info)
        assert getattr(error.value, "code", None) == "decryption_failed"
    assert SUITE.decrypt(SUITE.encrypt(b"x", key.public_key(), info=b"i"), key, info=b"i") == b"x"


def test_elements_beyond_the_readers_entitlement_are_never_sent(website, reader_trust, age_credential, device_key):
    """The shop's certificate grants age_over_NN only: a DeviceRequest it signs for the portrait is shown as asking
    beyond it, and the wallet refuses rather than send it (as for OpenID4VP)."""
    query = {"credentials": [{"id": "age_mdoc", "format": "mso_mdoc", "meta": {"doctype_value": "uk.gov.dvla.age.1"},
                              "claims": [{"path": ["uk.gov.dvla.age.1", "age_over_18"]},
                                         {"path": ["uk.gov.dvla.age.1", "portrait"], "intent_to_retain": True}]}]}
    request = PresentationRequest.create_dc_api(ORIGIN, query, host=HOST, now=NOW)
    (data,) = [e["data"] for e in request.dc_api_requests(website) if e["protocol"] == PROTOCOL_MDOC]
    parsed = parse_dc_api_request(PROTOCOL_MDOC, data, ORIGIN, reader_trust, now=NOW)
    assert parsed.beyond_entitlement == ["uk.gov.dvla.age.1.portrait"] and parsed.retained_claims() == ["portrait"]
    with pytest.raises(ReaderNotAuthorised) as info:
        build_response(parsed, [], [(age_credential, device_key)], now=LATER)
    assert info.value.code == "beyond_entitlement"
