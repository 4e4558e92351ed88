"""Known-answer tests on the RFC 9901 examples (tests/vectors/sd-jwt-examples.json)."""

from __future__ import annotations

import datetime as dt

import pytest

from conftest import load_vectors
from didlib.jose import public_from_jwk
from didlib.sdjwt.core import Disclosure, process_disclosures, sd_hash, split_sd_jwt
from didlib.sdjwt.vc import verify_sd_jwt, verify_sd_jwt_vc

VECTORS = load_vectors("sd-jwt-examples.json")
EXAMPLES = VECTORS["examples"]
ISSUER_KEY = public_from_jwk(VECTORS["keys"]["issuer_public_jwk"])
NONCE = VECTORS["settings"]["key_binding_nonce"]
AUD = VECTORS["settings"]["identifiers"]["verifier"]


def kb_time(example) -> dt.datetime:
    iat = (example.get("kb_jwt_payload") or {}).get("iat", VECTORS["settings"]["iat"])
    return dt.datetime.fromtimestamp(iat, dt.UTC)


@pytest.mark.parametrize("example", EXAMPLES, ids=[e["name"] for e in EXAMPLES])
def test_every_disclosure_digest(example):
    for item in example["disclosures"]:
        disclosure = Disclosure.parse(item["disclosure"])
        assert disclosure.digest("sha-256") == item["sha256_digest_b64url"]
        assert disclosure.salt == item["salt"]
        assert disclosure.value == item["claim_value"]
        assert disclosure.name == item.get("claim_name")


@pytest.mark.parametrize("example", EXAMPLES, ids=[e["name"] for e in EXAMPLES])
def test_presentation_verifies_to_the_processed_payload(example):
    kb = example.get("kb_jwt") is not None
    result = verify_sd_jwt(example["sd_jwt_presentation"], issuer_key=ISSUER_KEY, nonce=NONCE if kb else None,
                           aud=AUD if kb else None, require_key_binding=kb, now=kb_time(example))
    assert result.valid, result.errors
    expected = {k: v for k, v in example["processed_payload_after_verification"].items() if k != "cnf"}
    assert result.claims == expected


@pytest.mark.parametrize("example", EXAMPLES, ids=[e["name"] for e in EXAMPLES])
def test_issuance_form_processes_every_claim(example):
    jwt_part, disclosures, kb = split_sd_jwt(example["sd_jwt_issuance"])
    assert kb is None and jwt_part == example["issuer_signed_jwt"]
    claims, _ = process_disclosures(example["sd_jwt_payload"], disclosures)
    for name, value in example["input_user_claims"].items():  # all disclosed: the issuer's input comes back
        assert claims[name] == value


@pytest.mark.parametrize("example", [e for e in EXAMPLES if e.get("kb_jwt")], ids=lambda e: e["name"])
def test_sd_hash(example):
    presentation = example["sd_jwt_presentation"]
    without_kb = presentation[: presentation.rindex("~") + 1]
    assert sd_hash(without_kb, "sha-256") == example["expected_sd_hash"] == example["kb_jwt_payload"]["sd_hash"]


def test_arf_pid_is_an_sd_jwt_vc():
    example = next(e for e in EXAMPLES if e["name"] == "arf-pid")
    result = verify_sd_jwt_vc(example["sd_jwt_presentation"], issuer_key=ISSUER_KEY, nonce=NONCE, aud=AUD,
                              now=kb_time(example), expected_vct=example["sd_jwt_payload"]["vct"])
    assert result.valid, result.errors
    assert result.vct == example["sd_jwt_payload"]["vct"]
    other = verify_sd_jwt_vc(example["sd_jwt_presentation"], issuer_key=ISSUER_KEY, nonce=NONCE, aud=AUD,
                             now=kb_time(example), expected_vct="urn:example:other")
    assert [p.code for p in other.errors] == ["vct_mismatch"]
    # the RFC's other examples use typ example+sd-jwt: not an SD-JWT VC
    simple = EXAMPLES[0]
    wrong = verify_sd_jwt_vc(simple["sd_jwt_presentation"], issuer_key=ISSUER_KEY, nonce=NONCE, aud=AUD,
                             now=kb_time(simple))
    assert [p.code for p in wrong.errors] == ["wrong_type"]


def test_decoys_are_ignored():
    example = next(e for e in EXAMPLES if e.get("decoy_digests"))
    _, disclosures, _ = split_sd_jwt(example["sd_jwt_issuance"])
    claims, _ = process_disclosures(example["sd_jwt_payload"], disclosures)
    payload_text = str(example["sd_jwt_payload"])
    assert all(d in payload_text for d in example["decoy_digests"])
    assert {k: claims[k] for k in example["input_user_claims"]} == example["input_user_claims"]


def test_encoding_traps():
    vectors = VECTORS["disclosure_encoding_vectors"]
    moebius = vectors["family_name_moebius"]
    disclosure = Disclosure.parse(moebius["disclosure"])
    assert disclosure.value == "Möbius"
    assert disclosure.digest("sha-256") == moebius["expected_sha256_digest_b64url"]
    for variant, encoded in moebius["equivalent_encodings"].items():
        other = Disclosure.parse(encoded)
        assert other.value == disclosure.value
        assert other.digest("sha-256") == moebius["variant_sha256_digests_b64url"][variant] != disclosure.digest(
            "sha-256"), "a re-encoded disclosure has another digest"
    element = vectors["array_element_FR"]
    fr = Disclosure.parse(element["disclosure"])
    assert (fr.name, fr.value, fr.digest("sha-256")) == (None, "FR", element["sha256_digest_b64url"])


def test_spec_text_disclosures():
    for item in VECTORS["spec_text_disclosures_all"]:
        assert Disclosure.parse(item["disclosure"]).digest("sha-256") == item["hash"]
