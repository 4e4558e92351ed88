"""OpenID4VP 1.0 over the W3C Digital Credentials API (Appendix A): unsigned and signed requests, answers
bound to the page's origin (B.2.6.2 for mdoc, A.4 for SD-JWT VC), dc_api and dc_api.jwt, and every refusal."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from jwcrypto import jwk

from conftest import NOW
from conftest import SHOP_HOST as HOST
from didlib import TrustStore
from didlib.errors import DecodeError, ReaderNotAuthorised, UnsupportedError, UsageError
from didlib.jose import CompactJws, b64url_decode
from didlib.oid4vp import (
    PROTOCOL_SIGNED,
    PROTOCOL_UNSIGNED,
    PresentationRequest,
    age_query,
    build_response,
    error_response,
    jwk_thumbprint,
    parse_dc_api_request,
)
from didlib.session.transcript import dc_api_handover_info, dc_api_transcript

ORIGIN = f"https://{HOST}"
LATER = NOW + dt.timedelta(seconds=20)


def test_dc_api_handover_known_answer():
    """OpenID4VP 1.0 Appendix B.2.6.2's example: OpenID4VPDCAPIHandoverInfo and the SessionTranscript."""
    key = jwk.JWK(kty="EC", crv="P-256", x="DxiH5Q4Yx3UrukE2lWCErq8N8bqC9CHLLrAwLz5BmE0",
                  y="XtLM4-3h5o3HUH0MHVJV0kyq0iBlrBwlh8qEDMZ4-Pc", use="enc", alg="ECDH-ES", kid="1")
    thumbprint = jwk_thumbprint(key)
    nonce = "exc7gBkxjx1rdc9udRrveKvSsJIq80avlXeLHhGwqtA"
    assert dc_api_handover_info("https://example.com", nonce, thumbprint).hex() == (
        "837368747470733a2f2f6578616d706c652e636f6d782b6578633767426b786a7831"
        "726463397564527276654b7653734a4971383061766c58654c486847777174415820"
        "4283ec927ae0f208daaa2d026a814f2b22dca52cf85ffa8f3f8626c6bd669047")
    assert dc_api_transcript("https://example.com", nonce, thumbprint).hex() == (
        "83f6f682764f70656e4944345650444341504948616e646f7665725820fbece366f4"
        "212f9762c74cfdbf83b8c69e371d5d68cea09cb4c48ca6daab761a")


def ask(website, *, encrypted=True, origin=ORIGIN):
    """A DC API request from the page at ``origin``: the request and its entries {protocol: data}."""
    request = PresentationRequest.create_dc_api(origin, age_query(18), host=HOST, encrypted=encrypted, now=NOW)
    return request, {e["protocol"]: e["data"] for e in request.dc_api_requests(website)}


def answer(entries, protocol, origin, reader_trust, *, sd_jwts=(), mdocs=()):
    parsed = parse_dc_api_request(protocol, entries[protocol], origin, reader_trust, now=NOW)
    return build_response(parsed, sd_jwts, mdocs, now=LATER).form


@pytest.mark.parametrize("protocol", [PROTOCOL_SIGNED, PROTOCOL_UNSIGNED])
@pytest.mark.parametrize("encrypted", [True, False])
@pytest.mark.parametrize("fmt", ["sd-jwt", "mdoc"])
def test_round_trip(website, reader_trust, trust, age_sd_jwt, age_credential, device_key, protocol, encrypted, fmt):
    request, entries = ask(website, encrypted=encrypted)
    held = {"sd_jwts": [(age_sd_jwt, device_key)]} if fmt == "sd-jwt" else {"mdocs": [(age_credential, device_key)]}
    data = answer(entries, protocol, ORIGIN, reader_trust, **held)
    assert set(data) == ({"response"} if encrypted else {"vp_token"}), "no state over the DC API"
    if not encrypted:
        assert isinstance(data["vp_token"], dict), "the data object carries vp_token as an object (A.4)"
    result = request.check(json.loads(json.dumps(data)), trust=trust, now=LATER)
    assert result.valid, result.errors
    assert result.claims == {"age_over_18": True}
    assert result.credential_id == ("age_sd_jwt" if fmt == "sd-jwt" else "age_mdoc")


def test_requests_as_appendix_a_says(website, reader_trust):
    request, entries = ask(website)
    assert list(entries) == [PROTOCOL_SIGNED, PROTOCOL_UNSIGNED, "org-iso-mdoc"]
    unsigned = entries[PROTOCOL_UNSIGNED]
    assert "client_id" not in unsigned and "expected_origins" not in unsigned and "response_uri" not in unsigned
    assert unsigned["response_mode"] == "dc_api.jwt" and unsigned["nonce"] == request.nonce
    assert set(entries[PROTOCOL_SIGNED]) == {"request"}
    signed = CompactJws.parse(entries[PROTOCOL_SIGNED]["request"])
    assert signed.header["typ"] == "oauth-authz-req+jwt"
    assert signed.payload["client_id"] == f"x509_san_dns:{HOST}" and signed.payload["expected_origins"] == [ORIGIN]
    assert "state" not in signed.payload and "response_uri" not in signed.payload
    plain, _ = ask(website, encrypted=False)
    assert plain.response_mode == "dc_api"
    parsed = parse_dc_api_request(PROTOCOL_SIGNED, entries[PROTOCOL_SIGNED], ORIGIN, reader_trust, now=NOW)
    assert parsed.origin == ORIGIN and parsed.reader.name == "Example Shop"
    assert parsed.asker == f"Example Shop ({ORIGIN})" and parsed.requested_claims() == ["age_over_18"]
    parsed = parse_dc_api_request(PROTOCOL_UNSIGNED, unsigned, ORIGIN, reader_trust, now=NOW)
    assert parsed.reader is None and parsed.asker == ORIGIN and parsed.client_id == f"origin:{ORIGIN}"


def test_sd_jwt_audience_is_the_origin_even_when_signed(website, reader_trust, age_sd_jwt, device_key):
    """OpenID4VP 1.0 A.4: ``origin:<origin>``, not the client id (earlier drafts used it for signed requests)."""
    _, entries = ask(website, encrypted=False)
    data = answer(entries, PROTOCOL_SIGNED, ORIGIN, reader_trust, sd_jwts=[(age_sd_jwt, device_key)])
    (presentation,) = data["vp_token"]["age_sd_jwt"]
    kb_jwt = CompactJws.parse(presentation.rsplit("~", 1)[1])
    assert kb_jwt.payload["aud"] == f"origin:{ORIGIN}"


def test_mdoc_is_signed_over_the_dc_api_handover(website, reader_trust, trust, age_credential, device_key):
    from didlib.cbor import decode
    from didlib.mdoc import verify_response

    request, entries = ask(website, encrypted=False)
    data = answer(entries, PROTOCOL_UNSIGNED, ORIGIN, reader_trust, mdocs=[(age_credential, device_key)])
    (presentation,) = data["vp_token"]["age_mdoc"]
    assert decode(request.session_transcript())[2][0] == "OpenID4VPDCAPIHandover"
    for origin, valid in ((ORIGIN, True), ("https://other.example", False)):
        checked = verify_response(b64url_decode(presentation), trust=trust, now=LATER,
                                  session_transcript=dc_api_transcript(origin, request.nonce, None))
        assert checked.valid is valid, checked.errors


@pytest.mark.parametrize("encrypted", [True, False])
@pytest.mark.parametrize("fmt", ["sd-jwt", "mdoc"])
def test_answer_made_for_another_origin_is_refused(website, reader_trust, trust, age_sd_jwt, age_credential,
                                                   device_key, encrypted, fmt):
    """A phishing page relays the shop's unsigned request: the wallet answers for the phishing page's origin (the
    one the browser asserts), and the shop refuses the answer that page hands on."""
    request, entries = ask(website, encrypted=encrypted)
    held = {"sd_jwts": [(age_sd_jwt, device_key)]} if fmt == "sd-jwt" else {"mdocs": [(age_credential, device_key)]}
    data = answer(entries, PROTOCOL_UNSIGNED, "https://shop-example.evil", reader_trust, **held)
    result = request.check(data, trust=trust, now=LATER)
    assert not result.valid
    assert result.errors[0].code == ("kb_audience_mismatch" if fmt == "sd-jwt" else "device_auth_failed"), result.errors
    assert not request.answered
    assert request.check(answer(entries, PROTOCOL_UNSIGNED, ORIGIN, reader_trust, **held), trust=trust,
                         now=LATER).valid, "the same request answered for the right origin"


def _unsigned(request):
    return next(e["data"] for e in request.dc_api_requests() if e["protocol"] == PROTOCOL_UNSIGNED)


def test_signed_request_for_another_origin_is_refused_by_the_wallet(website, reader_trust):
    _, entries = ask(website)
    with pytest.raises(ReaderNotAuthorised) as info:
        parse_dc_api_request(PROTOCOL_SIGNED, entries[PROTOCOL_SIGNED], "https://shop-example.evil", reader_trust,
                             now=NOW)
    assert info.value.code == "origin_mismatch"


def test_unsigned_request_client_id_and_expected_origins_are_ignored(website, reader_trust, trust, age_sd_jwt,
                                                                     device_key):
    request, entries = ask(website)
    data = dict(entries[PROTOCOL_UNSIGNED], client_id="x509_san_dns:elsewhere.example",
                expected_origins=["https://elsewhere.example"])
    parsed = parse_dc_api_request(PROTOCOL_UNSIGNED, data, ORIGIN, reader_trust, now=NOW)
    assert parsed.client_id == f"origin:{ORIGIN}" and "client_id" not in parsed.claims
    result = request.check(build_response(parsed, [(age_sd_jwt, device_key)], [], now=LATER).form, trust=trust,
                           now=LATER)
    assert result.valid, result.errors


def test_replayed_answer_is_refused(website, reader_trust, trust, age_sd_jwt, device_key):
    request, entries = ask(website)
    data = answer(entries, PROTOCOL_SIGNED, ORIGIN, reader_trust, sd_jwts=[(age_sd_jwt, device_key)])
    assert request.check(data, trust=trust, now=LATER).valid
    again = request.check(data, trust=trust, now=LATER)
    assert not again.valid and [p.code for p in again.errors] == ["replayed"]
    saved = PresentationRequest.from_json(request.to_json())
    assert saved.origin == ORIGIN and saved.answered
    assert [p.code for p in saved.check(data, trust=trust, now=LATER).errors] == ["replayed"]


def test_answer_to_another_request_is_refused(website, reader_trust, trust, age_sd_jwt, device_key):
    _first, entries = ask(website, encrypted=False)
    second, _ = ask(website, encrypted=False)
    data = answer(entries, PROTOCOL_SIGNED, ORIGIN, reader_trust, sd_jwts=[(age_sd_jwt, device_key)])
    result = second.check(data, trust=trust, now=LATER)
    assert not result.valid and result.errors[0].code == "kb_nonce_mismatch", result.errors


def test_encrypted_answer_must_be_encrypted_to_the_request_key(website, reader_trust, trust, age_sd_jwt, device_key):
    request, _entries = ask(website)
    _other, other_entries = ask(website)
    data = answer(other_entries, PROTOCOL_UNSIGNED, ORIGIN, reader_trust, sd_jwts=[(age_sd_jwt, device_key)])
    result = request.check(data, trust=trust, now=LATER)
    assert not result.valid and result.errors[0].code == "decryption_failed"
    plain = request.check({"vp_token": {}}, trust=trust, now=LATER)
    assert not plain.valid and plain.errors[0].code == "malformed"


def test_wallet_error_over_the_dc_api(website, reader_trust, trust):
    request, entries = ask(website)
    parsed = parse_dc_api_request(PROTOCOL_UNSIGNED, entries[PROTOCOL_UNSIGNED], ORIGIN, reader_trust, now=NOW)
    data = error_response(parsed, "access_denied", "the holder declined")
    assert data == {"error": "access_denied"}, "only error over the DC API (A.4)"
    result = request.check(data, trust=trust, now=LATER)
    assert not result.valid and result.errors[0].code == "access_denied"


@pytest.mark.parametrize("origin", ["http://shop.example", "https://shop.example/", "https://shop.example/path",
                                    "https://user@shop.example", "android:apk-key-hash:abc", "", "x" * 600, None])
def test_bad_origins_are_refused(website, reader_trust, origin):
    with pytest.raises(DecodeError):
        PresentationRequest.create_dc_api(origin, age_query(18))
    _, entries = ask(website)
    with pytest.raises(DecodeError):
        parse_dc_api_request(PROTOCOL_UNSIGNED, entries[PROTOCOL_UNSIGNED], origin, reader_trust, now=NOW)


@pytest.mark.parametrize("change", [
    {"response_mode": "direct_post"}, {"response_mode": None}, {"response_type": "code"}, {"nonce": ""},
    {"nonce": None}, {"dcql_query": {"credentials": []}}, {"client_metadata": {"jwks": {"keys": []}}},
])
def test_malformed_unsigned_requests_are_refused(website, reader_trust, change):
    _, entries = ask(website)
    data = {k: v for k, v in {**entries[PROTOCOL_UNSIGNED], **change}.items() if v is not None}
    with pytest.raises(DecodeError):
        parse_dc_api_request(PROTOCOL_UNSIGNED, data, ORIGIN, reader_trust, now=NOW)


@pytest.mark.parametrize("protocol, data, error", [
    ("org-iso-mdoc", {}, DecodeError), ("openid4vp", {}, UnsupportedError), ("org.iso.mdoc", {}, UnsupportedError),
    (PROTOCOL_SIGNED, {"request": 5}, DecodeError), (PROTOCOL_SIGNED, {}, DecodeError),
    (PROTOCOL_SIGNED, {"request": "x" * 70_000}, DecodeError), (PROTOCOL_UNSIGNED, [], DecodeError),
    (PROTOCOL_UNSIGNED, {"x": "y" * 70_000}, DecodeError), (PROTOCOL_SIGNED, {"request": "a.b.c"}, ReaderNotAuthorised),
])
def test_malformed_dc_api_requests_are_refused(reader_trust, protocol, data, error):
    with pytest.raises(error):
        parse_dc_api_request(protocol, data, ORIGIN, reader_trust, now=NOW)


def test_signed_request_needs_expected_origins_and_a_trusted_signer(website, reader_trust, pki):
    from didlib.jose import sign_jws, x5c_header

    request, _ = ask(website)
    key, chain = website
    claims = {"client_id": request.client_id, **_unsigned(request)}
    token = sign_jws(claims, key, {"typ": "oauth-authz-req+jwt", "x5c": x5c_header(list(chain))})
    with pytest.raises(DecodeError) as info:
        parse_dc_api_request(PROTOCOL_SIGNED, {"request": token}, ORIGIN, reader_trust, now=NOW)
    assert info.value.code == "no_expected_origins"
    stranger = TrustStore.from_pem_files([pki.folder / "iaca.pem"]) if (pki.folder / "iaca.pem").exists() else None
    if stranger is not None:
        _, entries = ask(website)
        with pytest.raises(ReaderNotAuthorised):
            parse_dc_api_request(PROTOCOL_SIGNED, entries[PROTOCOL_SIGNED], ORIGIN, stranger, now=NOW)


def test_dc_api_and_redirect_requests_are_not_mixed(website):
    request, _ = ask(website)
    with pytest.raises(UsageError):
        request.request_object(*website)
    redirect = PresentationRequest.create(HOST, f"{ORIGIN}/response", age_query(18), now=NOW)
    with pytest.raises(UsageError):
        redirect.dc_api_requests()
    unsigned_only = PresentationRequest.create_dc_api(ORIGIN, age_query(18), now=NOW)
    assert [e["protocol"] for e in unsigned_only.dc_api_requests()] == [PROTOCOL_UNSIGNED, "org-iso-mdoc"]
    with pytest.raises(UsageError):
        unsigned_only.dc_api_requests(website)


def test_wallet_chooses_the_signed_request_and_refuses_what_it_cannot_read(website):
    from didlib.oid4vp.dc_api import choose_request, navigator_options

    request, entries = ask(website)
    options = json.loads(json.dumps(navigator_options(request, website)))
    assert options["mediation"] == "required" and [e["protocol"] for e in options["digital"]["requests"]] == [
        PROTOCOL_SIGNED, PROTOCOL_UNSIGNED, "org-iso-mdoc"]
    reordered = {"requests": list(reversed(options["digital"]["requests"]))}
    assert choose_request(json.dumps(reordered)) == (PROTOCOL_SIGNED, options["digital"]["requests"][0]["data"])
    assert choose_request({"protocol": PROTOCOL_UNSIGNED, "data": entries[PROTOCOL_UNSIGNED]})[0] == PROTOCOL_UNSIGNED
    with pytest.raises(UnsupportedError) as info:
        choose_request({"requests": [{"protocol": "openid4vp-v1-multisigned", "data": {}}]})
    assert info.value.code == "unsupported_protocol"
    for bad in ("not json", "[]", json.dumps({"requests": "x"}), json.dumps({"requests": [{}] * 17}),
                json.dumps({"protocol": PROTOCOL_UNSIGNED, "data": "x"}), "x" * 70_000):
        with pytest.raises(DecodeError):
            choose_request(bad)


def test_server_reads_the_posted_digital_credential():
    from didlib.oid4vp.dc_api import read_answer

    assert read_answer(json.dumps({"protocol": PROTOCOL_UNSIGNED, "data": {"vp_token": {}}}).encode()) == {
        "vp_token": {}}
    for bad in (b"{", b"[]", json.dumps({"protocol": "openid4vp", "data": {}}).encode(),
                json.dumps({"protocol": PROTOCOL_SIGNED, "data": "x"}).encode(), b"{" + b" " * 70_000 + b"}"):
        with pytest.raises(DecodeError):
            read_answer(bad)


def test_browser_script_is_shipped():
    from didlib.oid4vp.dc_api import browser_script

    script = browser_script()
    assert "navigator.credentials.get" in script and "DigitalCredential" in script and "data-dc-api-request" in script
