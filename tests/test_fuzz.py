"""Property tests: whatever bytes arrive, the verifier and parsers give a result or a didlib error.

``make test`` runs a short smoke of these (the "ci" hypothesis profile); ``make fuzz`` runs them long.
"""

from __future__ import annotations

import contextlib

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import NOW
from didlib import TrustStore
from didlib.cbor import Limits, decode
from didlib.errors import DidlibError
from didlib.jose import sign_jws, x5c_header
from didlib.keys import generate_key
from didlib.mdoc import Credential, DeviceRequest, present_elements, verify_response
from didlib.session.transcript import fresh_qr_transcript

TRANSCRIPT = fresh_qr_transcript()[0]


@pytest.fixture(scope="module")
def genuine(licence, device_key):
    response = present_elements(licence, device_key, ["age_over_18", "family_name", "portrait"], TRANSCRIPT)
    return response


def check(data: bytes, trust, original_elements=None) -> None:
    try:
        result = verify_response(data, trust=trust, session_transcript=TRANSCRIPT, now=NOW)
    except DidlibError:
        return
    if result.valid and original_elements is not None:
        # A changed response may still verify (an unsigned field, or an element dropped), but it can never
        # carry a value the issuer did not sign.
        for doc in result.documents:
            for ns, elements in doc.elements.items():
                for name, value in elements.items():
                    assert original_elements[ns][name] == value


cbor_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64)
    | st.binary(max_size=40)
    | st.text(max_size=20)
    | st.floats(allow_nan=False),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.text(max_size=12) | st.integers(-30, 30), children, max_size=5)
        | st.builds(lambda v: cbor2.CBORTag(24, cbor2.dumps(v)), children)
        | st.builds(lambda t, v: cbor2.CBORTag(t, v), st.sampled_from([0, 1, 18, 17, 1004, 99]), children)
    ),
    max_leaves=30,
)


@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")
@given(data=st.data())
def test_mutated_responses(genuine, trust, licence, data):
    original = verify_response(genuine, trust=trust, session_transcript=TRANSCRIPT, now=NOW).documents[0].elements
    buf = bytearray(genuine)
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "cut", "insert", "set"]))
        pos = data.draw(st.integers(0, len(buf) - 1))
        if op == "flip":
            buf[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "set":
            buf[pos] = data.draw(st.integers(0, 255))
        elif op == "cut":
            del buf[pos : pos + data.draw(st.integers(1, 64))]
        else:
            buf[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
        if not buf:
            buf = bytearray(b"\x00")
    check(bytes(buf), trust, original)


@given(st.binary(max_size=512))
def test_random_bytes(trust, blob):
    check(blob, trust)
    for parser in (lambda b: decode(b, Limits(max_size=256)), Credential.from_bytes, DeviceRequest.parse):
        with contextlib.suppress(DidlibError):
            parser(blob)


@given(cbor_values)
def test_random_cbor_structures(trust, value):
    blob = cbor2.dumps(value)
    check(blob, trust)
    check(cbor2.dumps({"version": "1.0", "status": 0, "documents": [value]}), trust)
    check(
        cbor2.dumps(
            {
                "version": "1.0",
                "status": 0,
                "documents": [
                    {
                        "docType": "x",
                        "issuerSigned": {"nameSpaces": {"a": [value]}, "issuerAuth": value},
                        "deviceSigned": {"nameSpaces": cbor2.CBORTag(24, cbor2.dumps(value)), "deviceAuth": value},
                    }
                ],
            }
        ),
        trust,
    )
    for parser in (Credential.from_bytes, DeviceRequest.parse):
        with contextlib.suppress(DidlibError):
            parser(blob)


def test_annex_d_response_mutations_smoke(annex_d, trust):
    blob = annex_d["DEVICE_RESPONSE"]
    for pos in range(0, len(blob), 7):
        check(blob[:pos] + bytes([blob[pos] ^ 0x55]) + blob[pos + 1 :], trust)


@given(st.binary(max_size=300), st.text(max_size=200))
def test_session_parsers(blob, text):
    from didlib.session import DeviceEngagement
    from didlib.session.messages import SessionData, parse_establishment

    for parser in (DeviceEngagement.parse, SessionData.parse, parse_establishment):
        with contextlib.suppress(DidlibError):
            parser(blob)
    for uri in (text, "mdoc:" + text):
        with contextlib.suppress(DidlibError):
            DeviceEngagement.from_uri(uri)


@given(st.binary(max_size=400))
def test_holder_session_survives_any_first_message(licence, device_key, blob):
    from didlib.session import HolderSession

    holder = HolderSession([(licence, device_key)], require_reader_auth=False)
    with contextlib.suppress(DidlibError):
        holder.receive(blob)


@given(st.text(max_size=600))
def test_sd_jwt_verifier_takes_any_text(trust, text):
    from didlib.sdjwt import verify_sd_jwt_vc

    for candidate in (text, text + "~", "eyJhbGciOiJFUzI1NiJ9." + text + "~"):
        result = verify_sd_jwt_vc(candidate, trust=trust, nonce="n", aud="a", now=NOW)
        assert not result.valid and result.errors


@given(st.binary(max_size=600), st.text(max_size=300))
def test_status_tokens_take_anything(trust, blob, text):
    from didlib.status import StatusChecker, StatusList

    for token in (blob, text):
        checker = StatusChecker.from_tokens([token], trust=trust)
        assert checker.check("https://x.example/1", 0, NOW).state == "unknown"
    with contextlib.suppress(DidlibError):
        StatusList.from_compressed(1, blob)


@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")
@given(data=st.data())
def test_mutated_sd_jwt_presentations(trust, licence_sd_presentation, data):
    text = licence_sd_presentation
    pos = data.draw(st.integers(0, len(text) - 1))
    char = data.draw(st.sampled_from("AZaz09-_~.=+/ {}"))
    mutated = text[:pos] + char + text[pos + 1 :]
    from didlib.sdjwt import verify_sd_jwt_vc

    result = verify_sd_jwt_vc(mutated, trust=trust, nonce="n", aud="a", now=NOW)
    if result.valid:  # a change the signatures do not cover may pass, a changed claim never
        assert result.claims.get("age_over_18") is True
        assert set(result.claims) <= {"iss", "iat", "exp", "vct", "status", "age_over_18"}


@pytest.fixture(scope="module")
def licence_sd_presentation(pki):
    from didlib.samples import flat_claims, proof_of_age_data
    from didlib.sdjwt import present_sd_jwt
    from didlib.sdjwt.profiles import VCT, issue_credential_sd_jwt

    key, cert = pki.signer()
    holder = generate_key()
    sd = issue_credential_sd_jwt(VCT["uk.gov.dvla.age.1"],
                                 flat_claims(proof_of_age_data(today=NOW.date(), portrait=b"\xff\xd8\xff\xe0x")),
                                 signer_key=key, signer_chain=[cert], holder_key=holder.public_key(), now=NOW)
    return present_sd_jwt(sd, holder, ["age_over_18"], nonce="n", aud="a", now=NOW)



JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=20)


@pytest.fixture(scope="module")
def website(pki):
    return pki.website_reader("shop.example", organisation="Shop", now=NOW)


@given(form=st.dictionaries(st.sampled_from(["response", "vp_token", "x"]), st.text(max_size=200), max_size=3),
       token=JSON, claims=st.dictionaries(st.sampled_from(["dcql_query", "client_metadata", "response_mode", "nonce",
                                                           "state", "response_uri", "client_id"]), JSON, max_size=3))
def test_openid4vp_both_sides_take_anything(trust, pki, website, form, token, claims):
    """A website's response handler and a wallet's request parser: a result or a didlib error, whatever arrives."""
    import json

    from didlib.oid4vp import PresentationRequest, age_query, parse_request

    for encrypted in (True, False):
        request = PresentationRequest.create("shop.example", "https://shop.example/r", age_query(), encrypted=encrypted,
                                             now=NOW)
        answer = form | {"state": request.state, "vp_token": json.dumps(token)} if not encrypted else form
        assert not request.check(answer, trust=trust, now=NOW).valid
        request_object = sign_jws(_request_claims(request) | claims, website[0],
                                  {"typ": "oauth-authz-req+jwt", "x5c": x5c_header(website[1])})
        with contextlib.suppress(DidlibError):
            parse_request(request_object, TrustStore.from_pem_files([pki.folder / "reader-ca.pem"]), now=NOW)


def _request_claims(request) -> dict:
    return {"client_id": request.client_id, "response_uri": request.response_uri, "nonce": request.nonce,
            "state": request.state, "response_type": "vp_token", "response_mode": request.response_mode,
            "dcql_query": request.dcql_query}


@given(st.lists(st.binary(max_size=40), max_size=30), st.binary(max_size=3000), st.integers(23, 600))
def test_ble_chunks_take_anything_and_round_trip(chunks, message, mtu):
    """ISO 18013-5 BLE framing: any chunk sequence gives messages or a didlib error, never more than the
    limit; and every message survives splitting at any MTU."""
    from didlib.session.ble import Reassembler, split

    joiner = Reassembler(max_size=200)
    for chunk in chunks:
        with contextlib.suppress(DidlibError):
            out = joiner.feed(chunk)
            assert out is None or len(out) <= 200
    whole = Reassembler(max_size=len(message))
    assert [whole.feed(c) for c in split(message, mtu)][-1] == message


@given(cbor_values)
def test_engagement_retrieval_options_take_anything(options):
    """Any options map under a BLE or local-network method: a parsed engagement or a didlib error."""
    from didlib.cbor import Embedded, encode
    from didlib.keys import cose_key_from_public
    from didlib.session import DeviceEngagement

    key = Embedded.wrap(cose_key_from_public(generate_key().public_key()))
    for method in (2, 100):
        with contextlib.suppress(DidlibError):
            engagement = DeviceEngagement.parse(encode({0: "1.0", 1: [1, key], 2: [[method, 1, options]]}))
            (parsed,) = engagement.retrieval_methods
            parsed.ble_options, parsed.address()


@given(cbor_values, cbor_values, cbor_values)
def test_org_iso_mdoc_takes_any_cbor(reader_trust, info, request_value, response):
    """ISO 18013-7 Annex C: any CBOR as the EncryptionInfo, the DeviceRequest (beside a valid EncryptionInfo) or
    the EncryptionParameters of an answer gives a request, an opened answer, or a didlib error."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from didlib.cbor import encode
    from didlib.jose import b64url_encode
    from didlib.oid4vp.dc_api_mdoc import make_encryption_info, open_response, read_request

    key = ec.derive_private_key(7, ec.SECP256R1())
    valid_info = make_encryption_info(b"n" * 16, key.public_key())
    for data in ({"deviceRequest": b64url_encode(encode(request_value)), "encryptionInfo": b64url_encode(encode(info))},
                 {"deviceRequest": b64url_encode(encode(request_value)), "encryptionInfo": valid_info}):
        with contextlib.suppress(DidlibError):
            read_request(data, "https://shop.example", reader_trust, now=NOW)
    for sealed in (response, ["dcapi", response], ["dcapi", {"enc": b"\x04" + b"\x01" * 64, "cipherText": response}]):
        with contextlib.suppress(DidlibError):
            open_response({"response": b64url_encode(encode(sealed))}, key, b"transcript")
