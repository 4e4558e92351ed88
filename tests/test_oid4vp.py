"""OpenID4VP 1.0 with DCQL: signed requests, SD-JWT VC and mdoc answers, direct_post(.jwt), and every refusal."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from conftest import NOW
from conftest import SHOP_HOST as HOST
from didlib import TrustStore
from didlib.errors import DecodeError, DidlibError, ReaderNotAuthorised
from didlib.jose import sign_jws, x5c_header
from didlib.keys import generate_key
from didlib.mdoc import DOCTYPE_AGE, DOCTYPE_MDL
from didlib.mdoc.registry import NS_AGE, NS_ISO, ONLINE_AGE_ENTITLEMENT
from didlib.oid4vp import PresentationRequest, age_query, build_response, check_dcql, parse_request, request_uri_parts
from didlib.samples import flat_claims, proof_of_age_data
from didlib.sdjwt.profiles import VCT, issue_credential_sd_jwt

RESPONSE_URI = f"https://{HOST}/response"
LATER = NOW + dt.timedelta(seconds=20)


def ask(website, *, encrypted=True, query=None):
    request = PresentationRequest.create(HOST, RESPONSE_URI, query or age_query(18), encrypted=encrypted, now=NOW)
    return request, request.request_object(*website)


def answer(request_object, reader_trust, sd_jwts=(), mdocs=()):
    parsed = parse_request(request_object, reader_trust, now=NOW)
    return build_response(parsed, sd_jwts, mdocs, now=LATER).form


@pytest.mark.parametrize("encrypted", [True, False])
def test_sd_jwt_answer_shows_only_the_asked_boolean(website, reader_trust, trust, age_sd_jwt, device_key, encrypted):
    request, request_object = ask(website, encrypted=encrypted)
    form = answer(request_object, reader_trust, [(age_sd_jwt, device_key)])
    assert ("response" in form) is encrypted and ("vp_token" in form) is not encrypted
    result = request.check(form, trust=trust, now=LATER)
    assert result.valid, result.errors
    assert result.claims == {"age_over_18": True}
    assert result.credential_id == "age_sd_jwt"


@pytest.mark.parametrize("which", ["age", "licence"])
def test_mdoc_answer_over_the_openid4vp_handover(website, reader_trust, trust, age_credential, licence, device_key,
                                                 which):
    request, request_object = ask(website)
    credential = age_credential if which == "age" else licence
    form = answer(request_object, reader_trust, mdocs=[(credential, device_key)])
    result = request.check(form, trust=trust, now=LATER)
    assert result.valid, result.errors
    assert result.claims == {"age_over_18": True}
    assert result.credential_id == f"{which}_mdoc"


def test_wallet_sees_the_verified_website(website, reader_trust):
    _, request_object = ask(website)
    parsed = parse_request(request_object, reader_trust, client_id=f"x509_san_dns:{HOST}", now=NOW)
    assert parsed.reader.name == "Example Shop" and parsed.reader.organisation == "Example Shop"
    assert parsed.client_id == f"x509_san_dns:{HOST}" and parsed.beyond_entitlement == []
    formats = parsed.claims["client_metadata"]["vp_formats_supported"]
    assert -7 in formats["mso_mdoc"]["deviceauth_alg_values"] and "ES256" in formats["dc+sd-jwt"]["kb-jwt_alg_values"]
    assert parsed.claims["response_mode"] == "direct_post.jwt" and parsed.enc == "A128GCM"


def test_link_round_trip(website):
    request, _ = ask(website)
    link = request.uri(f"https://{HOST}/request/abc")
    assert link.startswith("openid4vp://?")
    assert request_uri_parts(link) == (request.client_id, f"https://{HOST}/request/abc")
    with pytest.raises(DecodeError):
        request_uri_parts("https://elsewhere/?client_id=x")
    with pytest.raises(DecodeError):
        request_uri_parts("openid4vp://?client_id=x")
    with pytest.raises(ReaderNotAuthorised):
        request_uri_parts(request.uri(f"http://{HOST}/request/abc"))


def test_replayed_response_is_refused(website, reader_trust, trust, age_sd_jwt, device_key):
    request, request_object = ask(website)
    form = answer(request_object, reader_trust, [(age_sd_jwt, device_key)])
    assert request.check(form, trust=trust, now=LATER).valid
    again = request.check(form, trust=trust, now=LATER)
    assert not again.valid and [p.code for p in again.errors] == ["replayed"]


def test_response_for_another_state_is_refused(website, reader_trust, trust, age_sd_jwt, device_key):
    _first, first_object = ask(website, encrypted=False)
    second, _ = ask(website, encrypted=False)
    form = answer(first_object, reader_trust, [(age_sd_jwt, device_key)])
    result = second.check(form, trust=trust, now=LATER)
    assert not result.valid and [p.code for p in result.errors] == ["wrong_state"]


def test_wrong_nonce_is_refused(website, reader_trust, trust, age_sd_jwt, device_key, age_credential):
    """A presentation made for one transaction, moved into another with the state rewritten."""
    for sd_jwts, mdocs in (([(age_sd_jwt, device_key)], ()), ((), [(age_credential, device_key)])):
        _first, first_object = ask(website, encrypted=False)
        second, _ = ask(website, encrypted=False)
        form = answer(first_object, reader_trust, sd_jwts, mdocs) | {"state": second.state}
        result = second.check(form, trust=trust, now=LATER)
        assert not result.valid
        assert result.errors[0].code in {"kb_nonce_mismatch", "device_auth_failed"}, result.errors


def test_response_encrypted_to_another_key_is_refused(website, reader_trust, trust, age_sd_jwt, device_key):
    _first, first_object = ask(website)
    second, _ = ask(website)
    form = answer(first_object, reader_trust, [(age_sd_jwt, device_key)])
    result = second.check(form, trust=trust, now=LATER)
    assert not result.valid and result.errors[0].code == "decryption_failed"


def test_expired_request_is_refused(website, reader_trust, trust, age_sd_jwt, device_key):
    request, request_object = ask(website)
    form = answer(request_object, reader_trust, [(age_sd_jwt, device_key)])
    result = request.check(form, trust=trust, now=NOW + dt.timedelta(hours=1))
    assert not result.valid and result.errors[0].code == "request_expired"


def test_untrusted_issuer_is_refused(website, reader_trust, age_sd_jwt, device_key, tmp_path):
    from didlib.pkidir import PkiDir

    other = TrustStore.from_pem_files([PkiDir.create(tmp_path, now=NOW).folder / "iaca.pem"])
    request, request_object = ask(website)
    result = request.check(answer(request_object, reader_trust, [(age_sd_jwt, device_key)]), trust=other, now=LATER)
    assert not result.valid


def test_unsigned_request_is_refused(website, reader_trust):
    request, _ = ask(website)
    header = {"alg": "none", "typ": "oauth-authz-req+jwt"}
    import base64

    def part(value):
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    unsigned = f"{part(header)}.{part({'client_id': request.client_id})}."
    with pytest.raises(ReaderNotAuthorised):
        parse_request(unsigned, reader_trust, now=NOW)
    with pytest.raises(ReaderNotAuthorised):
        parse_request("not a jwt", reader_trust, now=NOW)


def test_request_signed_by_the_wrong_key_is_refused(website, reader_trust):
    request, _request_object = ask(website)
    forged = request.request_object(generate_key(), website[1])  # right certificate, wrong key
    with pytest.raises(ReaderNotAuthorised):
        parse_request(forged, reader_trust, now=NOW)


def test_request_from_an_unknown_reader_ca_is_refused(website, request_object_from_other_ca, reader_trust):
    with pytest.raises(ReaderNotAuthorised) as info:
        parse_request(request_object_from_other_ca, reader_trust, now=NOW)
    assert info.value.code != "client_id_mismatch"


@pytest.fixture
def request_object_from_other_ca(tmp_path):
    from didlib.pkidir import PkiDir

    other = PkiDir.create(tmp_path, now=NOW).website_reader(HOST, organisation="Impostor", now=NOW)
    return PresentationRequest.create(HOST, RESPONSE_URI, age_query(), now=NOW).request_object(*other)


def test_certificate_must_name_the_client(pki, reader_trust):
    other_site = pki.website_reader("other.example", organisation="Other", entitlement=ONLINE_AGE_ENTITLEMENT, now=NOW)
    request_object = PresentationRequest.create(HOST, RESPONSE_URI, age_query(), now=NOW).request_object(*other_site)
    with pytest.raises(ReaderNotAuthorised) as info:
        parse_request(request_object, reader_trust, now=NOW)
    assert info.value.code == "client_id_mismatch"


def test_link_and_request_must_agree(website, reader_trust):
    _, request_object = ask(website)
    with pytest.raises(ReaderNotAuthorised):
        parse_request(request_object, reader_trust, client_id="x509_san_dns:evil.example", now=NOW)


@pytest.mark.parametrize("response_uri", ["https://evil.example/response", f"http://{HOST}/response"])
def test_response_must_go_to_the_client_over_https(website, reader_trust, response_uri):
    request_object = PresentationRequest.create(HOST, response_uri, age_query(), now=NOW).request_object(*website)
    with pytest.raises(ReaderNotAuthorised):
        parse_request(request_object, reader_trust, now=NOW)


def test_request_beyond_entitlement_sends_nothing(website, reader_trust, licence, device_key):
    query = {"credentials": [{"id": "mdl", "format": "mso_mdoc", "meta": {"doctype_value": DOCTYPE_MDL},
                              "claims": [{"path": [NS_ISO, "age_over_18"]}, {"path": [NS_ISO, "family_name"]}]}]}
    _, request_object = ask(website, query=query)
    parsed = parse_request(request_object, reader_trust, now=NOW)
    assert parsed.beyond_entitlement == [f"{NS_ISO}.family_name"]
    with pytest.raises(ReaderNotAuthorised) as info:
        build_response(parsed, [], [(licence, device_key)], now=LATER)
    assert info.value.code == "beyond_entitlement"


def test_no_matching_credential(website, reader_trust):
    _, request_object = ask(website)
    with pytest.raises(DidlibError) as info:
        answer(request_object, reader_trust)
    assert info.value.code == "no_matching_credential"


@pytest.mark.parametrize("form", [
    {}, {"response": "x.y.z.a.b"}, {"response": 7}, {"response": "a" * 70_000},
])
def test_malformed_encrypted_responses(website, trust, form):
    request, _ = ask(website)
    result = request.check(form, trust=trust, now=LATER)
    assert not result.valid and result.errors


@pytest.mark.parametrize("token", [
    "[]", "{}", '{"age_sd_jwt": "x"}', '{"nope": ["x"]}', '{"age_sd_jwt": [1]}', '{"age_sd_jwt": ["a~b~"]}',
    '{"age_mdoc": ["!!"]}', '{"age_sd_jwt": ["x"], "age_mdoc": ["y"]}', "not json",
])
def test_malformed_vp_tokens(website, trust, token):
    request, _ = ask(website, encrypted=False)
    result = request.check({"vp_token": token, "state": request.state}, trust=trust, now=LATER)
    assert not result.valid and result.errors
    assert not request.answered


@pytest.mark.parametrize("dcql", [
    None, {}, {"credentials": []}, {"credentials": [{"id": "a", "format": "ldp_vc", "claims": [{"path": ["x"]}]}]},
    {"credentials": [{"id": "a", "format": "mso_mdoc", "meta": {}, "claims": [{"path": ["x"]}]}]},
    {"credentials": [{"id": "a", "format": "dc+sd-jwt", "meta": {"vct_values": []}, "claims": [{"path": [1]}]}]},
    {"credentials": [{"id": "a", "format": "dc+sd-jwt", "meta": {"vct_values": []}}],
     "credential_sets": [{"options": [["b"]]}]},
    {"credentials": [{"id": "a b", "format": "dc+sd-jwt", "meta": {"vct_values": ["v"]}}]},
    {"credentials": [{"id": "a", "format": "dc+sd-jwt", "meta": {"vct_values": ["v"]}, "multiple": "yes"}]},
    {"credentials": [{"id": "a", "format": "dc+sd-jwt", "meta": {"vct_values": ["v"]}, "claim_sets": [["x"]]}]},
    {"credentials": [{"id": "a", "format": "dc+sd-jwt", "meta": {"vct_values": ["v"]},
                      "claims": [{"path": ["x"]}], "claim_sets": [["x"]]}]},
    {"credentials": [{"id": "a", "format": "dc+sd-jwt", "meta": {"vct_values": ["v"]},
                      "claims": [{"path": ["x"], "values": [1.5]}]}]},
    {"credentials": [{"id": "a", "format": "dc+sd-jwt", "meta": {"vct_values": ["v"]},
                      "trusted_authorities": [{"type": "aki"}]}]},
    {"credentials": [{"id": "a", "format": "mso_mdoc", "meta": {"doctype_value": "d"}, "claims": [{"path": ["x"]}]}]},
    {"credentials": [{"id": "a", "format": "dc+sd-jwt", "meta": {"vct_values": ["v"]}}],
     "credential_sets": [{"options": [["a"]], "required": "no"}]},
])
def test_unsupported_dcql_is_refused(dcql):
    with pytest.raises(DecodeError):
        check_dcql(dcql)


def test_request_with_bad_dcql_is_refused_by_the_wallet(website, reader_trust):
    request, _ = ask(website)
    claims = json.loads(json.dumps({"client_id": request.client_id, "response_uri": RESPONSE_URI, "nonce": "n",
                                    "state": "s", "response_type": "vp_token", "response_mode": "direct_post",
                                    "dcql_query": {"credentials": "all"}}))
    token = sign_jws(claims, website[0], {"typ": "oauth-authz-req+jwt", "x5c": x5c_header(website[1])})
    with pytest.raises(DecodeError):
        parse_request(token, reader_trust, now=NOW)


@pytest.mark.parametrize("metadata", [
    None, {"jwks": {"keys": []}}, {"jwks": {"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]}},
    {"jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"}]}},
])
def test_wallet_refuses_an_unusable_response_key(website, reader_trust, metadata):
    request, _ = ask(website)
    claims = {"client_id": request.client_id, "response_uri": RESPONSE_URI, "nonce": "n", "state": "s",
              "response_type": "vp_token", "response_mode": "direct_post.jwt", "dcql_query": age_query()}
    if metadata is not None:
        claims["client_metadata"] = metadata
    token = sign_jws(claims, website[0], {"typ": "oauth-authz-req+jwt", "x5c": x5c_header(website[1])})
    with pytest.raises(DecodeError) as info:
        parse_request(token, reader_trust, now=NOW)
    assert info.value.code == "bad_encryption_key"


def test_verifier_refuses_other_jwe_algorithms(website, trust):
    """A response encrypted with a shared secret ("dir") instead of to the request's key is not opened."""
    from jwcrypto import jwe, jwk

    request, _ = ask(website)
    secret = jwk.JWK.generate(kty="oct", size=128)
    token = jwe.JWE(b'{"vp_token": {}, "state": "x"}', protected={"alg": "dir", "enc": "A128GCM"})
    token.add_recipient(secret)
    result = request.check({"response": token.serialize(compact=True)}, trust=trust, now=LATER)
    assert not result.valid and result.errors[0].code == "decryption_failed"


@pytest.mark.parametrize("size", [45_000_000, 100])
def test_verifier_refuses_compressed_responses_before_inflating(website, trust, size):
    """Issue 14 item 14: "zip": "DEF" turned a 61 KB answer into 45 MB before any check. Refused unopened."""
    import tracemalloc

    from jwcrypto import jwe, jwk

    request, _ = ask(website)
    payload = b'{"state": "%s", "vp_token": {"x": "%s"}}' % (request.state.encode(), b"0" * size)
    public = jwk.JWK(**json.loads(request.encryption_key.export_public()))
    token = jwe.JWE(payload, protected={"alg": "ECDH-ES", "enc": "A128GCM", "zip": "DEF"})
    token.add_recipient(public)
    compact = token.serialize(compact=True) if size > 100 else token.serialize()  # also the JSON serialization
    assert len(compact) < 64 * 1024, "small enough to pass the size limit"
    tracemalloc.start()
    try:
        result = request.check({"response": compact}, trust=trust, now=LATER)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert not result.valid and result.errors[0].code == "unsupported", result.errors
    assert peak < 5_000_000, f"inflated: {peak} bytes at the peak"


def test_answer_says_which_credential_answered(website, reader_trust, age_sd_jwt, age_credential, licence, device_key):
    """The wallet learns what it spent: the first option the verifier listed that it can satisfy."""
    _, request_object = ask(website)
    parsed = parse_request(request_object, reader_trust, now=NOW)
    both = build_response(parsed, [(age_sd_jwt, device_key)], [(licence, device_key)], now=LATER)
    assert both.used == [age_sd_jwt]
    mdoc_only = build_response(parsed, [], [(licence, device_key), (age_credential, device_key)], now=LATER)
    assert mdoc_only.used == [age_credential], "age_mdoc is listed before licence_mdoc"


def test_revoked_credential_is_refused(website, reader_trust, trust, pki, device_key, portrait):
    """The verifier's cached status list says the proof of age was revoked: the website gets no answer."""
    from didlib.status import StatusChecker, StatusList, StatusListToken

    uri = "https://dvla.example/status/1"
    key, cert = pki.signer()
    claims = flat_claims(proof_of_age_data(today=NOW.date(), portrait=portrait))
    revoked = issue_credential_sd_jwt(VCT[DOCTYPE_AGE], claims, signer_key=key, signer_chain=[cert],
                                      holder_key=device_key.public_key(), now=NOW, status={"idx": 3, "uri": uri})
    statuses = StatusList(16)
    statuses.set(3, 1)
    checker = StatusChecker({uri: StatusListToken.create_jwt(uri, statuses, key, chain=[cert], now=NOW)}, trust=trust)
    request, request_object = ask(website)
    result = request.check(answer(request_object, reader_trust, [(revoked, device_key)]), trust=trust, now=LATER,
                           status_checker=checker)
    assert not result.valid and result.errors[0].code == "status_invalid"
    assert not request.answered


def test_openid4vp_handover_known_answer():
    """OpenID4VP 1.0 Appendix B.2.6.1's example: its encryption key's thumbprint and SessionTranscript."""
    from jwcrypto import jwk

    from didlib.oid4vp import jwk_thumbprint
    from didlib.session.transcript import openid4vp_transcript

    key = jwk.JWK(kty="EC", crv="P-256", x="DxiH5Q4Yx3UrukE2lWCErq8N8bqC9CHLLrAwLz5BmE0",
                  y="XtLM4-3h5o3HUH0MHVJV0kyq0iBlrBwlh8qEDMZ4-Pc", use="enc", alg="ECDH-ES", kid="1")
    thumbprint = jwk_thumbprint(key)
    assert thumbprint.hex() == "4283ec927ae0f208daaa2d026a814f2b22dca52cf85ffa8f3f8626c6bd669047"
    transcript = openid4vp_transcript("x509_san_dns:example.com", "exc7gBkxjx1rdc9udRrveKvSsJIq80avlXeLHhGwqtA",
                                      "https://example.com/response", thumbprint)
    assert transcript.hex() == ("83f6f682714f70656e494434565048616e646f7665725820"
                                "048bc053c00442af9b8eed494cefdd9d95240d254b046b11b68013722aad38ac")


def test_wallet_answers_a_request_without_state(website, reader_trust, age_sd_jwt, device_key):
    """state is optional in OpenID4VP 1.0: a verifier that keys its transactions by response_uri omits it."""
    request, _ = ask(website, encrypted=False)
    claims = {"client_id": request.client_id, "response_uri": RESPONSE_URI, "nonce": request.nonce,
              "response_type": "vp_token", "response_mode": "direct_post", "dcql_query": age_query()}
    token = sign_jws(claims, website[0], {"typ": "oauth-authz-req+jwt", "x5c": x5c_header(website[1])})
    form = build_response(parse_request(token, reader_trust, now=NOW), [(age_sd_jwt, device_key)], [], now=LATER).form
    assert set(form) == {"vp_token"}


# ---------------------------------------------------------------------------- DCQL (OpenID4VP 1.0 section 6)
def sd_query(claims, **extra):
    """One SD-JWT VC proof-of-age credential query."""
    return {"id": "age", "format": "dc+sd-jwt", "meta": {"vct_values": [VCT[DOCTYPE_AGE]]}, "claims": claims, **extra}


def mdoc_query(claims, **extra):
    return {"id": "age_mdoc", "format": "mso_mdoc", "meta": {"doctype_value": DOCTYPE_AGE},
            "claims": [{**c, "path": [NS_AGE, *c["path"]]} for c in claims], **extra}


ALTERNATIVES = [{"id": "a18", "path": ["age_over_18"]}, {"id": "a21", "path": ["age_over_21"]}]


def token_of(form):
    return json.loads(form["vp_token"])


def disclosed_names(presentation):
    from didlib.sdjwt.core import Disclosure, split_sd_jwt

    return {Disclosure.parse(d).name for d in split_sd_jwt(presentation)[1]}


def disclosed_elements(presentation):
    from didlib.cbor import decode
    from didlib.jose import b64url_decode

    doc = decode(b64url_decode(presentation))["documents"][0]
    return {ns: sorted(item.decode()["elementIdentifier"] for item in items)
            for ns, items in doc["issuerSigned"].get("nameSpaces", {}).items()}


def answer_with(website, reader_trust, query, sd_jwts=(), mdocs=()):
    request, request_object = ask(website, encrypted=False, query=query)
    return request, answer(request_object, reader_trust, sd_jwts, mdocs)


@pytest.mark.parametrize(("claim_sets", "expected"), [
    ([["a18"], ["a21"]], {"age_over_18"}),
    ([["a21"], ["a18"]], {"age_over_21"}),
    ([["a99"], ["a21"]], {"age_over_21"}),  # the first option the wallet cannot satisfy is skipped
    ([["a18", "a21"]], {"age_over_18", "age_over_21"}),
])
def test_claim_sets_disclose_one_option_only(website, reader_trust, trust, age_sd_jwt, device_key, claim_sets,
                                             expected):
    claims = [*ALTERNATIVES, {"id": "a99", "path": ["age_over_99"]}]
    request, form = answer_with(website, reader_trust, {"credentials": [sd_query(claims, claim_sets=claim_sets)]},
                                [(age_sd_jwt, device_key)])
    assert disclosed_names(token_of(form)["age"][0]) == expected
    result = request.check(form, trust=trust, now=LATER)
    assert result.valid, result.errors
    assert result.claims == dict.fromkeys(expected, True)


def test_claim_sets_disclose_one_mdoc_element_only(website, reader_trust, trust, age_credential, device_key):
    query = {"credentials": [mdoc_query(ALTERNATIVES, claim_sets=[["a18"], ["a21"]])]}
    request, form = answer_with(website, reader_trust, query, mdocs=[(age_credential, device_key)])
    assert disclosed_elements(token_of(form)["age_mdoc"][0]) == {NS_AGE: ["age_over_18"]}
    assert request.check(form, trust=trust, now=LATER).claims == {"age_over_18": True}


def test_claim_sets_no_option_satisfied_sends_nothing(website, reader_trust, age_sd_jwt, device_key):
    claims = [{**c, "values": [False]} for c in ALTERNATIVES]  # the holder is over 21
    query = {"credentials": [sd_query(claims, claim_sets=[["a18"], ["a21"]])]}
    with pytest.raises(DidlibError) as info:
        answer_with(website, reader_trust, query, [(age_sd_jwt, device_key)])
    assert info.value.code == "no_matching_credential"


def crafted(request, entries):
    """A direct_post form carrying presentations made by hand (another wallet's answer, not build_response's)."""
    return {"vp_token": json.dumps(entries), "state": request.state}


def sd_presentation(request, credential, key, names):
    from didlib.sdjwt import present_sd_jwt

    return present_sd_jwt(credential, key, names, nonce=request.nonce, aud=request.client_id, now=LATER)


def mdoc_presentation(request, credential, key, elements):
    from didlib.jose import b64url_encode
    from didlib.mdoc import present_elements
    from didlib.session.transcript import openid4vp_transcript

    transcript = openid4vp_transcript(request.client_id, request.nonce, request.response_uri, None)
    return b64url_encode(present_elements(credential, key, elements, transcript))


def test_verifier_refuses_an_answer_with_every_claim_set_option(website, trust, age_sd_jwt, age_credential,
                                                                device_key):
    """The interoperability failure of issue 15: both options disclosed where one was asked for."""
    query = {"credentials": [sd_query(ALTERNATIVES, claim_sets=[["a18"], ["a21"]])]}
    request, _ = ask(website, encrypted=False, query=query)
    both = sd_presentation(request, age_sd_jwt, device_key, ["age_over_18", "age_over_21"])
    result = request.check(crafted(request, {"age": [both]}), trust=trust, now=LATER)
    assert not result.valid and [p.code for p in result.errors] == ["over_disclosure"]
    assert not request.answered and result.claims == {}

    query = {"credentials": [mdoc_query(ALTERNATIVES, claim_sets=[["a18"], ["a21"]])]}
    request, _ = ask(website, encrypted=False, query=query)
    both = mdoc_presentation(request, age_credential, device_key, [f"{NS_AGE}:age_over_18", f"{NS_AGE}:age_over_21"])
    result = request.check(crafted(request, {"age_mdoc": [both]}), trust=trust, now=LATER)
    assert not result.valid and [p.code for p in result.errors] == ["over_disclosure"]


def test_verifier_accepts_a_later_option_and_refuses_a_claim_not_asked(website, trust, age_sd_jwt, device_key):
    """A wallet may answer another option than the first (6.4.1), but nothing outside the query."""
    query = {"credentials": [sd_query(ALTERNATIVES, claim_sets=[["a18"], ["a21"]])]}
    request, _ = ask(website, encrypted=False, query=query)
    second = sd_presentation(request, age_sd_jwt, device_key, ["age_over_21"])
    result = request.check(crafted(request, {"age": [second]}), trust=trust, now=LATER)
    assert result.valid and result.claims == {"age_over_21": True}

    request, _ = ask(website, encrypted=False, query={"credentials": [sd_query([{"path": ["age_over_18"]}])]})
    extra = sd_presentation(request, age_sd_jwt, device_key, ["age_over_18", "portrait"])
    result = request.check(crafted(request, {"age": [extra]}), trust=trust, now=LATER)
    assert not result.valid and [p.code for p in result.errors] == ["over_disclosure"]


@pytest.fixture(scope="module")
def minor_sd_jwt(pki, device_key):
    """A proof of age of a holder under 18 (age_over_16 true, the others false)."""
    import dataclasses

    from didlib.samples import SAMPLE_DRIVER

    key, cert = pki.signer()
    minor = dataclasses.replace(SAMPLE_DRIVER, birth_date=NOW.date().replace(year=NOW.year - 17))
    claims = flat_claims(proof_of_age_data(minor, today=NOW.date()))  # age_over_NN are derived from birth_date
    return issue_credential_sd_jwt(VCT[DOCTYPE_AGE], claims, signer_key=key, signer_chain=[cert],
                                   holder_key=device_key.public_key(), now=NOW)


def aki(pem_path) -> str:
    from cryptography import x509

    from didlib.jose import b64url_encode

    cert = x509.load_pem_x509_certificate(pem_path.read_bytes())
    return b64url_encode(cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest)


def test_values_the_holder_does_not_match_get_no_credential(website, reader_trust, trust, minor_sd_jwt,
                                                            age_sd_jwt, device_key):
    """Asked for age_over_18 with values [true], a holder under 18 sends nothing (6.3, 6.4.1)."""
    query = {"credentials": [sd_query([{"path": ["age_over_18"], "values": [True]}])]}
    with pytest.raises(DidlibError) as info:
        answer_with(website, reader_trust, query, [(minor_sd_jwt, device_key)])
    assert info.value.code == "no_matching_credential"
    request, form = answer_with(website, reader_trust, query, [(minor_sd_jwt, device_key), (age_sd_jwt, device_key)])
    assert request.check(form, trust=trust, now=LATER).claims == {"age_over_18": True}
    # type and value must both match: 1 is not true, "true" is not true
    for values in ([1], ["true"]):
        query = {"credentials": [sd_query([{"path": ["age_over_18"], "values": values}])]}
        with pytest.raises(DidlibError):
            answer_with(website, reader_trust, query, [(age_sd_jwt, device_key)])


def test_verifier_refuses_a_value_outside_the_query(website, trust, minor_sd_jwt, device_key):
    request, _ = ask(website, encrypted=False,
                     query={"credentials": [sd_query([{"path": ["age_over_18"], "values": [True]}])]})
    false = sd_presentation(request, minor_sd_jwt, device_key, ["age_over_18"])
    result = request.check(crafted(request, {"age": [false]}), trust=trust, now=LATER)
    assert not result.valid and [p.code for p in result.errors] == ["value_mismatch"]


def test_mdoc_values_match_after_conversion_to_json(website, reader_trust, age_credential, device_key):
    query = {"credentials": [mdoc_query([{"path": ["age_over_18"], "values": [False]}])]}
    with pytest.raises(DidlibError):
        answer_with(website, reader_trust, query, mdocs=[(age_credential, device_key)])
    query = {"credentials": [mdoc_query([{"path": ["age_over_18"], "values": [True]}])]}
    assert answer_with(website, reader_trust, query, mdocs=[(age_credential, device_key)])[1]


def test_trusted_authorities_aki(website, reader_trust, trust, pki, age_sd_jwt, age_credential, device_key, tmp_path):
    """A query naming another CA gets no credential from this one; naming ours, it does (6.1.1)."""
    from didlib.pkidir import PkiDir

    ours, theirs = aki(pki.folder / "iaca.pem"), aki(PkiDir.create(tmp_path, now=NOW).folder / "iaca.pem")
    for value, answers in ((ours, True), (theirs, False)):
        authorities = [{"type": "aki", "values": [value]}]
        query = {"credentials": [sd_query([{"path": ["age_over_18"]}], trusted_authorities=authorities),
                                 mdoc_query([{"path": ["age_over_18"]}], trusted_authorities=authorities)],
                 "credential_sets": [{"options": [["age"], ["age_mdoc"]]}]}
        if answers:
            request, form = answer_with(website, reader_trust, query, [(age_sd_jwt, device_key)],
                                        [(age_credential, device_key)])
            assert request.check(form, trust=trust, now=LATER).valid
        else:
            with pytest.raises(DidlibError) as info:
                answer_with(website, reader_trust, query, [(age_sd_jwt, device_key)], [(age_credential, device_key)])
            assert info.value.code == "no_matching_credential"
    # a type this wallet cannot evaluate matches nothing
    query = {"credentials": [sd_query([{"path": ["age_over_18"]}],
                                      trusted_authorities=[{"type": "etsi_tl", "values": ["https://lotl.example"]}])]}
    with pytest.raises(DidlibError):
        answer_with(website, reader_trust, query, [(age_sd_jwt, device_key)])
    # the verifier checks it too
    request, _ = ask(website, encrypted=False, query={"credentials": [
        sd_query([{"path": ["age_over_18"]}], trusted_authorities=[{"type": "aki", "values": [theirs]}])]})
    form = crafted(request, {"age": [sd_presentation(request, age_sd_jwt, device_key, ["age_over_18"])]})
    result = request.check(form, trust=trust, now=LATER)
    assert not result.valid and [p.code for p in result.errors] == ["untrusted_authority"]


def two_credentials(required_second):
    return {"credentials": [sd_query([{"path": ["age_over_18"]}]),
                            {"id": "licence", "format": "mso_mdoc", "meta": {"doctype_value": DOCTYPE_MDL},
                             "claims": [{"path": [NS_ISO, "age_over_18"]}]}],
            "credential_sets": [{"options": [["age"]]}, {"options": [["licence"]], "required": required_second}]}


def test_credential_sets_required_and_optional(website, reader_trust, trust, age_sd_jwt, licence, device_key):
    request, form = answer_with(website, reader_trust, two_credentials(False), [(age_sd_jwt, device_key)])
    assert set(token_of(form)) == {"age"} and request.check(form, trust=trust, now=LATER).valid
    request, form = answer_with(website, reader_trust, two_credentials(False), [(age_sd_jwt, device_key)],
                                [(licence, device_key)])
    assert set(token_of(form)) == {"age", "licence"} and request.check(form, trust=trust, now=LATER).valid
    with pytest.raises(DidlibError) as info:  # a required set it cannot meet: nothing at all
        answer_with(website, reader_trust, two_credentials(True), [(age_sd_jwt, device_key)])
    assert info.value.code == "no_matching_credential"


def test_without_credential_sets_every_query_is_required(website, reader_trust, age_sd_jwt, device_key):
    query = two_credentials(True)
    del query["credential_sets"]
    with pytest.raises(DidlibError) as info:
        answer_with(website, reader_trust, query, [(age_sd_jwt, device_key)])
    assert info.value.code == "no_matching_credential"


def test_verifier_checks_the_credential_sets(website, trust, age_sd_jwt, licence, device_key):
    for required, entries, valid in ((True, {"age"}, False), (True, {"licence"}, False), (False, {"licence"}, False),
                                     (False, {"age"}, True), (True, {"age", "licence"}, True)):
        request, _ = ask(website, encrypted=False, query=two_credentials(required))
        token = {}
        if "age" in entries:
            token["age"] = [sd_presentation(request, age_sd_jwt, device_key, ["age_over_18"])]
        if "licence" in entries:
            token["licence"] = [mdoc_presentation(request, licence, device_key, [f"{NS_ISO}:age_over_18"])]
        result = request.check(crafted(request, token), trust=trust, now=LATER)
        assert result.valid is valid, (required, entries, result.errors)
        if not valid:
            assert [p.code for p in result.errors] == ["wrong_credentials"]


def test_alternatives_are_answered_in_the_verifiers_order(website, reader_trust, trust, age_sd_jwt, licence,
                                                          device_key):
    """age_query lists three alternatives: two of them in one answer is not one option."""
    request, _ = ask(website, encrypted=False)
    token = {"age_sd_jwt": [sd_presentation(request, age_sd_jwt, device_key, ["age_over_18"])],
             "licence_mdoc": [mdoc_presentation(request, licence, device_key, [f"{NS_ISO}:age_over_18"])]}
    result = request.check(crafted(request, token), trust=trust, now=LATER)
    assert not result.valid and [p.code for p in result.errors] == ["wrong_credentials"]


def test_multiple(website, reader_trust, trust, age_sd_jwt, minor_sd_jwt, device_key):
    """multiple: every matching credential may be returned; without it exactly one (8.1)."""
    query = {"credentials": [sd_query([{"path": ["age_over_16"]}], multiple=True)]}
    request, form = answer_with(website, reader_trust, query, [(age_sd_jwt, device_key), (minor_sd_jwt, device_key)])
    assert len(token_of(form)["age"]) == 2
    result = request.check(form, trust=trust, now=LATER)
    assert result.valid and result.presented == {"age": [{"age_over_16": True}, {"age_over_16": True}]}

    query = {"credentials": [sd_query([{"path": ["age_over_16"]}])]}
    request, form = answer_with(website, reader_trust, query, [(age_sd_jwt, device_key), (minor_sd_jwt, device_key)])
    assert len(token_of(form)["age"]) == 1
    two = [sd_presentation(request, c, device_key, ["age_over_16"]) for c in (age_sd_jwt, minor_sd_jwt)]
    result = request.check(crafted(request, {"age": two}), trust=trust, now=LATER)
    assert not result.valid and [p.code for p in result.errors] == ["malformed"]


@pytest.mark.parametrize("encrypted", [True, False])
def test_verifier_sees_access_denied(website, reader_trust, trust, encrypted):
    """A wallet that cannot satisfy the query answers with the standard error (8.5), in the response mode asked."""
    from didlib.oid4vp import error_response

    request, request_object = ask(website, encrypted=encrypted)
    form = error_response(parse_request(request_object, reader_trust, now=NOW), "access_denied", "no credential")
    assert ("response" in form) is encrypted
    result = request.check(form, trust=trust, now=LATER)
    assert not result.valid and [p.code for p in result.errors] == ["access_denied"] and not request.answered
    # a plain error is accepted in direct_post.jwt too (a wallet unable to encrypt, 8.3.1); it must name the state
    result = request.check({"error": "access_denied", "state": "another"}, trust=trust, now=LATER)
    assert [p.code for p in result.errors] == ["wrong_state"]
    result = request.check({"error": "<script>", "state": request.state}, trust=trust, now=LATER)
    assert [p.code for p in result.errors] == ["wallet_error"]


def test_unknown_dcql_members_are_ignored(website, reader_trust, trust, age_sd_jwt, device_key):
    """OpenID4VP 1.0 6: implementations MUST ignore unknown properties."""
    query = {"credentials": [sd_query([{"path": ["age_over_18"], "future": 1}], future={"x": 1})], "future": []}
    check_dcql(query)
    request, form = answer_with(website, reader_trust, query, [(age_sd_jwt, device_key)])
    assert request.check(form, trust=trust, now=LATER).valid


# ---------------------------------------------------------------------------- request object lifetime (RFC 9101)
def signed_request(website, request, **times):
    claims = {"client_id": request.client_id, "response_uri": RESPONSE_URI, "nonce": request.nonce,
              "state": request.state, "response_type": "vp_token", "response_mode": "direct_post",
              "dcql_query": age_query(), **times}
    return sign_jws(claims, website[0], {"typ": "oauth-authz-req+jwt", "x5c": x5c_header(website[1])})


@pytest.mark.parametrize(("times", "code"), [
    ({"exp": int(NOW.timestamp()) - 60}, "request_expired"),  # issue 15: 60 s past exp was answered
    ({"nbf": int(NOW.timestamp()) + 300}, "request_not_yet_valid"),
    ({"iat": int(NOW.timestamp()) + 3600}, "request_not_yet_valid"),
    ({"iat": int(NOW.timestamp()) - 2 * 3600}, "request_expired"),
])
def test_request_object_outside_its_lifetime_is_refused(website, reader_trust, times, code):
    request, _ = ask(website, encrypted=False)
    with pytest.raises(ReaderNotAuthorised) as info:
        parse_request(signed_request(website, request, **times), reader_trust, now=NOW)
    assert info.value.code == code


@pytest.mark.parametrize("times", [
    {"exp": int(NOW.timestamp()) - 10}, {"nbf": int(NOW.timestamp()) + 10}, {"iat": int(NOW.timestamp()) + 10},
    {"iat": int(NOW.timestamp()) - 600, "exp": int(NOW.timestamp()) + 60}, {},
])
def test_request_object_within_its_lifetime_and_the_clock_skew(website, reader_trust, times):
    request, _ = ask(website, encrypted=False)
    assert parse_request(signed_request(website, request, **times), reader_trust, now=NOW).claims["nonce"]


@pytest.mark.parametrize("times", [{"exp": "tomorrow"}, {"iat": True}, {"nbf": [1]}])
def test_request_object_times_must_be_numbers(website, reader_trust, times):
    request, _ = ask(website, encrypted=False)
    with pytest.raises(DecodeError):
        parse_request(signed_request(website, request, **times), reader_trust, now=NOW)


def test_didlib_request_objects_carry_exp(website, reader_trust):
    from didlib.jose import CompactJws

    _, request_object = ask(website)
    payload = CompactJws.parse(request_object).payload
    assert payload["exp"] - payload["iat"] == 600
    parse_request(request_object, reader_trust, now=NOW + dt.timedelta(minutes=10))
    with pytest.raises(ReaderNotAuthorised) as info:
        parse_request(request_object, reader_trust, now=NOW + dt.timedelta(minutes=11))
    assert info.value.code == "request_expired"


# ------------------------------------------------------------- verifiers without didlib's entitlement extension
@pytest.fixture(scope="module")
def ordinary_website(pki):
    """A website's reader certificate with its DNS name and no entitlement extension (any other verifier)."""
    from cryptography import x509

    from didlib.pki import create_reader_certificate

    key = generate_key()
    cert = create_reader_certificate(pki.certificate("reader-ca"), pki.key("reader-ca"), key.public_key(),
                                     common_name="Ordinary Shop", not_before=NOW - dt.timedelta(days=1),
                                     extra_extensions=[x509.SubjectAlternativeName([x509.DNSName(HOST)])])
    return key, [cert]


def test_verifier_without_entitlement_is_answered_after_a_warning(ordinary_website, reader_trust, trust, age_sd_jwt,
                                                                   device_key):
    """Issue 15: such a verifier used to be refused outright; now the holder sees a warning and decides."""
    from didlib.session.reader_auth import UNSTATED_WARNING

    request, request_object = ask(ordinary_website)
    parsed = parse_request(request_object, reader_trust, now=NOW)
    assert parsed.reader.name == "Ordinary Shop" and parsed.beyond_entitlement == []
    assert parsed.reader.consent_warnings() == [UNSTATED_WARNING]
    result = request.check(build_response(parsed, [(age_sd_jwt, device_key)], [], now=LATER).form, trust=trust,
                           now=LATER)
    assert result.valid and result.claims == {"age_over_18": True}


def test_strict_wallet_refuses_a_verifier_without_entitlement(ordinary_website, website, reader_trust):
    _, request_object = ask(ordinary_website)
    with pytest.raises(ReaderNotAuthorised) as info:
        parse_request(request_object, reader_trust, now=NOW, require_entitlement=True)
    assert info.value.code == "entitlement_missing"
    _, request_object = ask(website)
    assert parse_request(request_object, reader_trust, now=NOW, require_entitlement=True).reader.entitlement_stated


@pytest.mark.parametrize("fmt", ["sd-jwt", "mdoc"])
def test_query_without_claims_discloses_nothing_selectively(website, reader_trust, trust, age_sd_jwt, age_credential,
                                                            device_key, fmt):
    """claims absent: only what is mandatory to present (6.4.1), e.g. that the holder has a proof of age."""
    query = {"credentials": [sd_query(None) if fmt == "sd-jwt" else mdoc_query([])]}
    del query["credentials"][0]["claims"]
    request, form = answer_with(website, reader_trust, query, [(age_sd_jwt, device_key)],
                                [(age_credential, device_key)])
    (presentation,) = next(iter(token_of(form).values()))
    if fmt == "sd-jwt":
        assert disclosed_names(presentation) == set()
    else:
        assert disclosed_elements(presentation) == {}
    result = request.check(form, trust=trust, now=LATER)
    assert result.valid and result.claims == {}, result.errors


def test_claim_set_option_beyond_the_entitlement_is_skipped(website, reader_trust, trust, licence, device_key):
    """The shop may not ask for a name: an option that needs one is passed over, never disclosed."""
    claims = [{"id": "name", "path": [NS_ISO, "family_name"]}, {"id": "a18", "path": [NS_ISO, "age_over_18"]}]
    query = {"credentials": [{"id": "mdl", "format": "mso_mdoc", "meta": {"doctype_value": DOCTYPE_MDL},
                              "claims": claims, "claim_sets": [["name"], ["a18"]]}]}
    request, form = answer_with(website, reader_trust, query, mdocs=[(licence, device_key)])
    assert disclosed_elements(token_of(form)["mdl"][0]) == {NS_ISO: ["age_over_18"]}
    assert request.check(form, trust=trust, now=LATER).claims == {"age_over_18": True}
    query["credentials"][0]["claim_sets"] = [["name"]]
    with pytest.raises(ReaderNotAuthorised) as info:
        answer_with(website, reader_trust, query, mdocs=[(licence, device_key)])
    assert info.value.code == "beyond_entitlement"


def test_consent_names_for_paths_with_indexes(website, reader_trust):
    """Claims path pointers may hold nulls and indexes (7); the consent screen still gets names."""
    query = {"credentials": [sd_query([{"path": ["nationalities", None]}, {"path": ["degrees", 0, "type"]}])]}
    _, request_object = ask(website, query=query)
    assert parse_request(request_object, reader_trust, now=NOW).requested_claims() == ["nationalities", "type"]
