"""SD-JWT VC for the didlib credentials: round trips, key binding, and every rejection path."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest

from conftest import NOW
from didlib.errors import IssuanceError, UsageError
from didlib.jose import b64url_encode, sign_jws
from didlib.keys import generate_key
from didlib.mdoc import DOCTYPE_AGE, DOCTYPE_MDL
from didlib.samples import flat_claims, mdl_data, proof_of_age_data
from didlib.sdjwt import SD, issue_sd_jwt_vc, present_sd_jwt, verify_sd_jwt_vc
from didlib.sdjwt.core import Disclosure, split_sd_jwt
from didlib.sdjwt.profiles import VCT, issue_credential_sd_jwt

NONCE, AUD = "n-0S6_WzA2Mj", "https://shop.example"
LATER = NOW + dt.timedelta(seconds=30)


@pytest.fixture(scope="module")
def holder():
    return generate_key()


@pytest.fixture(scope="module")
def licence_sd(pki, holder, portrait):
    key, cert = pki.signer()
    return issue_credential_sd_jwt(VCT[DOCTYPE_MDL], flat_claims(mdl_data(today=NOW.date(), portrait=portrait)),
                                   signer_key=key, signer_chain=[cert], holder_key=holder.public_key(), now=NOW)


def verify(presentation, trust, **kw):
    kw.setdefault("nonce", NONCE)
    kw.setdefault("aud", AUD)
    kw.setdefault("now", LATER)
    return verify_sd_jwt_vc(presentation, trust=trust, **kw)


def codes(result):
    return [p.code for p in result.errors]


def test_age_check_discloses_only_what_was_asked(licence_sd, holder, trust, portrait):
    presentation = present_sd_jwt(licence_sd, holder, ["age_over_18", "portrait"], nonce=NONCE, aud=AUD, now=LATER)
    result = verify(presentation, trust, expected_vct=VCT[DOCTYPE_MDL])
    assert result.valid, result.errors
    assert result.vct == VCT[DOCTYPE_MDL] and result.issuer == "DVLA IACA"
    disclosed = {k: v for k, v in result.claims.items() if k not in ("iss", "iat", "exp", "vct")}
    assert disclosed == {"age_over_18": True,
                         "portrait": "data:image/jpeg;base64," + base64.b64encode(portrait).decode()}
    assert "MORGAN" not in presentation and "1990" not in str(
        [Disclosure.parse(d).value for d in split_sd_jwt(presentation)[1]])


def test_array_entries_are_disclosable_one_by_one(licence_sd, holder, trust):
    presentation = present_sd_jwt(licence_sd, holder, ["driving_privileges"], nonce=NONCE, aud=AUD, now=LATER)
    result = verify(presentation, trust)
    assert [p["vehicle_category_code"] for p in result.claims["driving_privileges"]] == ["B", "AM"]
    assert result.claims["driving_privileges"][0]["issue_date"] == "2008-09-01"


def test_registry_rules_apply_to_sd_jwt_too(pki, holder, portrait):
    key, cert = pki.signer()
    minor = proof_of_age_data(today=NOW.date(), portrait=portrait)
    minor["uk.gov.dvla.age.1"]["birth_date"] = "2008-07-10"
    sd = issue_credential_sd_jwt(VCT[DOCTYPE_AGE], flat_claims(minor), signer_key=key, signer_chain=[cert],
                                 holder_key=holder.public_key(), now=NOW)
    payload = json.loads(base64.urlsafe_b64decode(sd.split(".")[1] + "=="))
    assert payload["exp"] == int(dt.datetime(2026, 7, 10, tzinfo=dt.UTC).timestamp()), "ends at the 18th birthday"
    claims = {Disclosure.parse(d).name: Disclosure.parse(d).value for d in split_sd_jwt(sd)[1]}
    assert claims["age_over_18"] is False and "birth_date" not in claims
    bad = flat_claims(minor) | {"portrait": "R0lGODlh"}
    with pytest.raises(IssuanceError):
        issue_credential_sd_jwt(VCT[DOCTYPE_AGE], bad, signer_key=key, signer_chain=[cert],
                                holder_key=holder.public_key(), now=NOW)
    with pytest.raises(IssuanceError) as info:
        issue_credential_sd_jwt("urn:example:unknown", {}, signer_key=key, signer_chain=[cert],
                                holder_key=holder.public_key(), now=NOW)
    assert info.value.code == "unknown_vct"


def test_explicit_issuer_key_and_recursive_disclosures(holder):
    issuer = generate_key()
    sd = issue_sd_jwt_vc("urn:example:vc", {"address": SD({"street": SD("1 High St"), "city": "Leeds"}),
                                            "tags": [SD("a"), "b"]},
                         issuer="https://issuer.example", signer_key=issuer, signer_chain=None,
                         holder_key=holder.public_key(), now=NOW, sd_alg="sha-384", decoys=3)
    presentation = present_sd_jwt(sd, holder, ["address.street"], nonce=NONCE, aud=AUD, now=LATER)
    result = verify(presentation, None, issuer_key=issuer.public_key())
    assert result.valid, result.errors
    assert result.claims["address"] == {"street": "1 High St", "city": "Leeds"}
    assert result.claims["tags"] == ["b"]
    wrong = verify(presentation, None, issuer_key=generate_key().public_key())
    assert codes(wrong) == ["bad_signature"]
    with pytest.raises(UsageError):
        present_sd_jwt(sd, holder, ["address.country"], nonce=NONCE, aud=AUD)


# ----------------------------------------------------------------------------------------- rejections
@pytest.fixture(scope="module")
def presented(licence_sd, holder):
    return present_sd_jwt(licence_sd, holder, ["age_over_18", "family_name"], nonce=NONCE, aud=AUD, now=LATER)


def test_key_binding_checks(presented, trust, licence_sd, holder):
    assert codes(verify(presented, trust, nonce="other")) == ["kb_nonce_mismatch"]
    assert codes(verify(presented, trust, aud="https://other.example")) == ["kb_audience_mismatch"]
    assert codes(verify(presented, trust, now=LATER + dt.timedelta(minutes=10))) == ["kb_stale"]
    ahead = present_sd_jwt(licence_sd, holder, ["age_over_18"], nonce=NONCE, aud=AUD,
                           now=LATER + dt.timedelta(minutes=10))
    assert codes(verify(ahead, trust)) == ["kb_future"]
    without_kb = presented[: presented.rindex("~") + 1]
    assert codes(verify(without_kb, trust)) == ["kb_missing"]
    assert verify(without_kb, trust, require_key_binding=False).valid
    with pytest.raises(UsageError):
        verify_sd_jwt_vc(presented, trust=trust, nonce=None, aud=None)


def test_wrong_sd_hash_and_wrong_holder(presented, trust, licence_sd, holder):
    jwt_part, disclosures, kb = split_sd_jwt(presented)
    fewer = jwt_part + "~" + disclosures[0] + "~" + kb  # a disclosure dropped after signing the KB-JWT
    assert codes(verify(fewer, trust)) == ["kb_sd_hash_mismatch"]
    thief = present_sd_jwt(licence_sd, generate_key(), ["age_over_18"], nonce=NONCE, aud=AUD, now=LATER)
    assert codes(verify(thief, trust)) == ["kb_bad_signature"]


def test_disclosure_problems(presented, trust, licence_sd, holder):
    jwt_part, disclosures, _kb = split_sd_jwt(presented)

    def rebuilt(parts):
        base = jwt_part + "~" + "".join(p + "~" for p in parts)
        return base  # without KB: these checks come before key binding

    options = {"require_key_binding": False}
    assert codes(verify(rebuilt([*disclosures, disclosures[0]]), trust, **options)) == ["duplicate_disclosure"]
    stray = Disclosure.create("nickname", "Sal").encoded
    assert codes(verify(rebuilt([*disclosures, stray]), trust, **options)) == ["unreferenced_disclosure"]
    reserved = b64url_encode(json.dumps(["salt", "_sd", ["x"]]).encode())
    assert codes(verify(rebuilt([reserved]), trust, **options)) == ["reserved_claim_name"]
    tampered = Disclosure.parse(disclosures[0])
    forged = b64url_encode(json.dumps([tampered.salt, tampered.name, not tampered.value]).encode())
    assert codes(verify(rebuilt([forged]), trust, **options)) == ["unreferenced_disclosure"]
    assert codes(verify(rebuilt(["%%%"]), trust, **options)) == ["malformed"]


def _resign(payload_changes, pki, holder, header=None):
    key, cert = pki.signer()
    from didlib.jose import jwk_from_public, x5c_header

    payload = {"iss": "https://dvla.example.invalid", "iat": int(NOW.timestamp()),
               "exp": int((NOW + dt.timedelta(days=1)).timestamp()), "vct": VCT[DOCTYPE_MDL],
               "cnf": {"jwk": jwk_from_public(holder.public_key())}, **payload_changes}
    return sign_jws(payload, key, header or {"typ": "dc+sd-jwt", "x5c": x5c_header([cert])}) + "~"


def test_issuer_side_rejections(pki, holder, trust):
    options = {"require_key_binding": False}
    assert codes(verify(_resign({"_sd_alg": "SHA-256"}, pki, holder), trust, **options)) == ["sd_alg_unsupported"]
    assert codes(verify(_resign({"exp": int(NOW.timestamp()) - 3600}, pki, holder), trust, **options)) == [
        "credential_expired"]
    assert codes(verify(_resign({"nbf": int(NOW.timestamp()) + 3600}, pki, holder), trust, **options)) == [
        "credential_not_yet_valid"]
    clash = Disclosure.create("vct", "urn:forged")
    token = _resign({"_sd": [clash.digest("sha-256")]}, pki, holder) + clash.encoded + "~"
    assert codes(verify(token, trust, **options)) == ["claim_name_clash"]
    assert codes(verify(_resign({}, pki, holder), trust, expected_vct="urn:other", **options)) == ["vct_mismatch"]
    assert codes(verify(_resign({}, pki, holder, {"typ": "JWT"}), trust, **options)) == ["wrong_type"]
    no_chain = _resign({}, pki, holder, {"typ": "dc+sd-jwt"})
    assert codes(verify(no_chain, trust, **options)) == ["missing_certificate"]


def test_untrusted_and_expired_issuer(presented, tmp_path):
    from didlib import TrustStore
    from didlib.pkidir import PkiDir

    other = TrustStore.from_pem_files([PkiDir.create(tmp_path, now=NOW - dt.timedelta(days=1)).folder / "iaca.pem"])
    assert codes(verify(presented, other)) == ["untrusted_issuer"]


@pytest.mark.parametrize("text", ["", "abc", "a.b.c", "~", "a.b.c~~", "x" * 300_000, "eyJhbGciOiJub25lIn0.e30.~"])
def test_malformed_presentations(trust, text):
    result = verify(text, trust, require_key_binding=False)
    assert not result.valid and result.errors[0].code in {"malformed", "limit_exceeded", "unsupported"}
