"""Issue 17: what verification remembers between calls (parsed JWS headers and x5c certificates by their exact
text, certificate validity per certificate, the chain cache, tag-24 spans found without re-encoding) never
lets a verification pass that should fail: after a cached success, the same bytes under another transcript,
nonce, time or trust store, and a single changed byte anywhere in what is signed or digested, still fail."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
from pathlib import Path

import pytest

from conftest import NOW
from didlib import TrustStore
from didlib.cbor import decode
from didlib.cose import Sign1
from didlib.jose import CompactJws, b64url_decode, b64url_encode, parse_json, x5c_header
from didlib.keys import generate_key
from didlib.mdoc import DOCTYPE_AGE, present_elements, verify_response
from didlib.pki import create_document_signer, create_iaca
from didlib.samples import flat_claims, proof_of_age_data
from didlib.sdjwt import present_sd_jwt, verify_sd_jwt_vc
from didlib.sdjwt.core import split_sd_jwt
from didlib.sdjwt.profiles import VCT, issue_credential_sd_jwt
from didlib.session.transcript import fresh_qr_transcript

NONCE, AUD = "n-17", "https://shop.example"


def _codes(result) -> set[str]:
    return {p.code for p in result.errors}


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes((data[index] ^ 0x01,)) + data[index + 1 :]


@pytest.fixture
def mdoc_presented(age_credential, device_key):
    transcript, _ = fresh_qr_transcript()
    return present_elements(age_credential, device_key, ["age_over_18", "portrait"], transcript), transcript


def _signed_regions(response: bytes) -> list[tuple[str, int, int]]:
    """Where, in the response bytes, lie the parts a signature or a digest covers (exact spans)."""
    doc = decode(response)["documents"][0]
    auth = Sign1.from_cbor(doc["issuerSigned"]["issuerAuth"])
    device = Sign1.from_cbor(doc["deviceSigned"]["deviceAuth"]["deviceSignature"])
    parts = {
        "MSO": auth.payload,
        "issuer signature": auth.signature,
        "DS certificate": auth.x5chain()[0].tbs_certificate_bytes,
        "device namespaces": doc["deviceSigned"]["nameSpaces"].raw,
        "device signature": device.signature,
        **{f"item {n}": item.raw for n, item in enumerate(doc["issuerSigned"]["nameSpaces"]["uk.gov.dvla.age.1"])},
    }
    regions = []
    for name, part in parts.items():
        start = response.find(part)
        assert start > 0 and response.count(part) == 1, name
        regions.append((name, start, start + len(part)))
    # the two protected headers (the same three bytes, a1 01 26, for issuer and device)
    assert auth.protected_raw == device.protected_raw
    start = -1
    for name in ("issuerAuth protected header", "deviceSignature protected header"):
        start = response.find(b"\x43" + auth.protected_raw, start + 1) + 1
        regions.append((name, start, start + len(auth.protected_raw)))
    return regions


def test_mdoc_after_a_cached_success_every_changed_byte_fails(mdoc_presented, trust):
    response, transcript = mdoc_presented
    assert verify_response(response, trust=trust, session_transcript=transcript, now=NOW).valid
    assert verify_response(response, trust=trust, session_transcript=transcript, now=NOW).valid
    for name, start, end in _signed_regions(response):
        # every byte of the small parts, every 7th of the large ones (the portrait, the MSO, the certificate)
        for index in range(start, end, 1 if end - start < 80 else 7):
            result = verify_response(_flip(response, index), trust=trust, session_transcript=transcript, now=NOW)
            assert not result.valid, f"{name}: byte {index - start} changed and the response still verified"


def test_mdoc_same_bytes_other_transcript_time_or_trust_store(mdoc_presented, trust, pki):
    response, transcript = mdoc_presented
    assert verify_response(response, trust=trust, session_transcript=transcript, now=NOW).valid
    other_transcript = fresh_qr_transcript()[0]
    assert _codes(verify_response(response, trust=trust, session_transcript=other_transcript, now=NOW)) == {
        "device_auth_failed"
    }
    after = pki.signer()[1].not_valid_after_utc + dt.timedelta(seconds=1)
    late = verify_response(response, trust=trust, session_transcript=transcript, now=after)
    assert not late.valid and "certificate_expired" in _codes(late)
    other_iaca = create_iaca(generate_key(), country="GB", common_name="Test IACA", not_before=NOW)
    assert _codes(verify_response(response, trust=TrustStore([other_iaca]), session_transcript=transcript,
                                  now=NOW)) == {"untrusted_issuer"}
    assert verify_response(response, trust=trust, session_transcript=transcript, now=NOW).valid


@pytest.fixture
def sd_jwt(pki, device_key, portrait):
    key, cert = pki.signer()
    credential = issue_credential_sd_jwt(
        VCT[DOCTYPE_AGE], flat_claims(proof_of_age_data(today=NOW.date(), portrait=portrait)), signer_key=key,
        signer_chain=[cert], holder_key=device_key.public_key(), now=NOW
    )
    return present_sd_jwt(credential, device_key, ["age_over_18", "portrait"], nonce=NONCE, aud=AUD, now=NOW)


def _verify_sd(presentation: str, **options):
    options.setdefault("nonce", NONCE)
    options.setdefault("aud", AUD)
    options.setdefault("now", NOW)
    return verify_sd_jwt_vc(presentation, **options)


def test_sd_jwt_after_a_cached_success_every_changed_character_fails(sd_jwt, trust, pki):
    """The issuer's header (with its x5c) is parsed once and its certificate loaded once; every other
    character of the presentation still counts. The last character of each signature is left alone: its
    low bits are padding, which base64url decoding ignores, as it always has."""
    issuer_key = pki.signer()[1].public_key()
    for options in ({"trust": trust}, {"issuer_key": issuer_key}):
        assert _verify_sd(sd_jwt, **options).valid
        assert _verify_sd(sd_jwt, **options).valid
    jwt_part = split_sd_jwt(sd_jwt)[0]
    padding = {len(jwt_part) - 1, len(sd_jwt) - 1}
    for index in range(0, len(sd_jwt), 3):
        if index in padding:
            continue
        char = sd_jwt[index]
        changed = sd_jwt[:index] + ("B" if char == "A" else "A") + sd_jwt[index + 1 :]
        for options in ({"trust": trust}, {"issuer_key": issuer_key}):
            assert not _verify_sd(changed, **options).valid, f"character {index} ({char!r}) changed, still valid"


def test_sd_jwt_same_text_other_nonce_time_trust_or_certificate(sd_jwt, trust, pki):
    assert _verify_sd(sd_jwt, trust=trust).valid
    assert _codes(_verify_sd(sd_jwt, trust=trust, nonce="other")) == {"kb_nonce_mismatch"}
    after = pki.signer()[1].not_valid_after_utc + dt.timedelta(seconds=1)
    assert "certificate_expired" in _codes(_verify_sd(sd_jwt, trust=trust, now=after))
    other_key = generate_key()
    other_iaca = create_iaca(other_key, country="GB", common_name="Test IACA", not_before=NOW)
    assert _codes(_verify_sd(sd_jwt, trust=TrustStore([other_iaca]))) == {"untrusted_issuer"}
    # the issuer header again, with x5c naming another certificate of the same subject: not the cached one
    jwt_part, _, _ = split_sd_jwt(sd_jwt)
    head, rest = jwt_part.split(".", 1)
    header = parse_json(b64url_decode(head))
    signer = pki.signer()[1]
    forged = create_document_signer(other_iaca, other_key, generate_key().public_key(),
                                     common_name=signer.subject.rfc4514_string().split("CN=")[-1].split(",")[0],
                                     not_before=NOW)
    header["x5c"] = x5c_header([forged])
    swapped = b64url_encode(json.dumps(header, separators=(",", ":")).encode()) + "." + rest
    assert not _verify_sd(sd_jwt.replace(jwt_part, swapped), trust=trust).valid
    assert _verify_sd(sd_jwt, trust=trust).valid


def test_cached_jws_header_is_a_copy(sd_jwt):
    """Each parse hands out its own header: a caller changing it changes nothing for the next one."""
    jwt_part, _, _ = split_sd_jwt(sd_jwt)
    first = CompactJws.parse(jwt_part)
    first.header["alg"] = "none"
    first.header.pop("x5c")
    second = CompactJws.parse(jwt_part)
    assert second.header["alg"] == "ES256" and "x5c" in second.header


def _bench_module():
    spec = importlib.util.spec_from_file_location("didlib_bench_run", Path(__file__).parents[1] / "bench" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_pymdoccbor_issued_response_verifies_and_its_tampering_does_not(pki, trust):
    """Interoperability: IssuerSigned as pyMDOC-CBOR issues it (canonical CBOR, pycose signature, its MSO),
    device-signed by didlib's holder (pyMDOC-CBOR has no holder side), verified with the IACA as anchor."""
    pytest.importorskip("pymdoccbor")
    made = _bench_module()._pymdoccbor_response(pki, trust)
    assert made is not None
    response, transcript, _ = made
    now = dt.datetime.now(dt.UTC)
    result = verify_response(response, trust=trust, session_transcript=transcript, now=now)
    assert result.valid and set(result.documents[0].elements["uk.gov.dvla.age.1"]) == {"age_over_18", "portrait"}
    assert _codes(verify_response(response, trust=trust, session_transcript=fresh_qr_transcript()[0], now=now)) == {
        "device_auth_failed"
    }
    for name, start, end in _signed_regions(response):
        for index in range(start, end, 1 if end - start < 80 else 11):
            flipped = verify_response(_flip(response, index), trust=trust, session_transcript=transcript, now=now)
            assert not flipped.valid, f"{name}: byte {index - start} changed and the response still verified"
