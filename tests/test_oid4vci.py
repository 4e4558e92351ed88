"""The issuer's reading of a credential request body (OpenID4VCI 1.0 8.2, errors 8.3.1.2), without HTTP: the
function ``POST /credential`` uses, and the one the credential_request fuzzing harness drives."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from didlib.keys import generate_key
from didlib.oid4vci import MAX_CREDENTIAL_REQUEST, CredentialRequest, OID4VCIError, credential_request_json, make_proof

NOW = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
ISSUER = "https://issuer.example"
KNOWN = {"age.mdoc", "licence.mdoc"}
GRANTED = {"age.mdoc"}


def parse(body: object, max_proofs: int = 10) -> CredentialRequest:
    return CredentialRequest.parse(credential_request_json(json.dumps(body)), known=KNOWN, granted=GRANTED,
                                   max_proofs=max_proofs)


def request(*proofs: str) -> dict[str, object]:
    return {"credential_configuration_id": "age.mdoc", "proofs": {"jwt": list(proofs)}}


def test_a_batch_proves_its_keys_and_nonces() -> None:
    keys = [generate_key() for _ in range(3)]
    parsed = parse(request(*(make_proof(k, ISSUER, "n1" if i < 2 else "n2", now=NOW) for i, k in enumerate(keys))))
    assert parsed.configuration_id == "age.mdoc" and len(parsed.proofs) == 3
    proven, nonces = parsed.proven_keys(audience=ISSUER, now=NOW)
    assert [p.public_numbers() for p in proven] == [k.public_key().public_numbers() for k in keys]
    assert nonces == {"n1", "n2"}


@pytest.mark.parametrize(("body", "code"), [
    (b"{not json", "invalid_credential_request"),
    (b"[" * 200, "invalid_credential_request"),  # nested too deep: a typed error, not a RecursionError
    (b"\xff", "invalid_credential_request"),
    (b'{"a": 1, "a": 2}', "invalid_credential_request"),
    (b"x" * (MAX_CREDENTIAL_REQUEST + 1), "invalid_credential_request"),
])
def test_bodies_that_are_not_json_objects(body: bytes, code: str) -> None:
    with pytest.raises(OID4VCIError) as raised:
        credential_request_json(body)
    assert raised.value.code == code


@pytest.mark.parametrize(("body", "code"), [
    ([1, 2], "invalid_credential_request"),
    (request() | {"credential_response_encryption": {"enc": "A"}}, "invalid_encryption_parameters"),
    ({"credential_identifier": "x"}, "unknown_credential_identifier"),
    ({"credential_identifier": "x", "credential_configuration_id": "age.mdoc"}, "invalid_credential_request"),
    ({"proofs": {"jwt": ["x"]}}, "invalid_credential_request"),
    ({"credential_configuration_id": ["age.mdoc"]}, "invalid_credential_request"),
    # the configuration is checked before the proofs: none here
    ({"credential_configuration_id": "nothing.mdoc"}, "unknown_credential_configuration"),
    ({"credential_configuration_id": "licence.mdoc"}, "insufficient_scope"),
    ({"credential_configuration_id": "age.mdoc"}, "invalid_proof"),
    ({"credential_configuration_id": "age.mdoc", "proofs": {"ldp_vp": [{}]}}, "invalid_proof"),
    ({"credential_configuration_id": "age.mdoc", "proofs": {"jwt": [], "ldp_vp": []}}, "invalid_proof"),
    (request(), "invalid_proof"),
    ({"credential_configuration_id": "age.mdoc", "proofs": {"jwt": "x"}}, "invalid_proof"),
    ({"credential_configuration_id": "age.mdoc", "proofs": {"jwt": [1]}}, "invalid_proof"),
    (request("a", "b", "c"), "invalid_credential_request"),  # over max_proofs (2)
])
def test_request_shapes_refused_with_their_codes(body: object, code: str) -> None:
    with pytest.raises(OID4VCIError) as raised:
        parse(body, max_proofs=2)
    assert raised.value.code == code
    assert raised.value.status == (403 if code == "insufficient_scope" else 400)


def test_proofs_refused_with_their_codes() -> None:
    key, other = generate_key(), generate_key()
    cases = {
        "no nonce": request(make_proof(key, ISSUER, None, now=NOW)),
        "same key twice": request(make_proof(key, ISSUER, "n", now=NOW), make_proof(key, ISSUER, "m", now=NOW)),
        "another issuer": request(make_proof(key, "https://elsewhere.example", "n", now=NOW)),
        "not a JWT": request("x.y.z"),
        "too old": request(make_proof(key, ISSUER, "n", now=NOW - dt.timedelta(minutes=6))),
    }
    for what, body in cases.items():
        with pytest.raises(OID4VCIError) as raised:
            parse(body).proven_keys(audience=ISSUER, now=NOW)
        assert raised.value.code == "invalid_proof", what
    bound = parse(request(make_proof(key, ISSUER, "n", now=NOW)))
    assert bound.proven_keys(audience=ISSUER, bound=key.public_key(), now=NOW)[1] == {"n"}
    with pytest.raises(OID4VCIError) as raised:
        bound.proven_keys(audience=ISSUER, bound=other.public_key(), now=NOW)
    assert raised.value.code == "invalid_proof"
