"""Holder presentation and verifier: round trips, selective disclosure, and every rejection path."""

from __future__ import annotations

import datetime as dt

import pytest

from conftest import NOW, issue
from didlib import TrustStore
from didlib.cbor import Embedded, decode, encode
from didlib.errors import UnsupportedError, UsageError
from didlib.keys import generate_key
from didlib.mdoc import DOCTYPE_AGE, DOCTYPE_DBS, DOCTYPE_MDL, Credential, DeviceRequest, present, present_elements
from didlib.mdoc import verify_response as _verify
from didlib.mdoc.registry import NS_AGE, NS_ISO
from didlib.mdoc.structures import IssuerSignedItem
from didlib.pki import chain_cache
from didlib.pkidir import PkiDir
from didlib.samples import mdl_data
from didlib.session.transcript import fresh_qr_transcript

UTC = dt.UTC


def verify(data, trust, transcript, **kw):
    kw.setdefault("now", NOW)
    return _verify(data, trust=trust, session_transcript=transcript, **kw)


def codes(result) -> set[str]:
    return {p.code for p in result.errors}


def test_age_check_round_trip_discloses_only_what_was_asked(licence, device_key, trust, session, portrait):
    transcript, _ = session
    response = present_elements(licence, device_key, ["age_over_18", "portrait"], transcript)
    result = verify(response, trust, transcript)
    assert result.valid, result.errors
    doc = result.documents[0]
    assert doc.elements == {NS_ISO: {"age_over_18": True, "portrait": portrait}}
    assert doc.device_auth == "signature"
    assert all(doc.checks.values()) and len(doc.checks) == 8
    for secret in (b"MORGAN", b"SARAH", b"1990", b"Swansea", b"birth_date", b"family_name"):
        assert secret not in response, f"{secret!r} must not leave the wallet"


def test_mac_round_trip(licence, device_key, trust, session):
    transcript, reader = session
    response = present_elements(licence, device_key, ["age_over_21"], transcript, mac=True)
    result = verify(response, trust, transcript, reader_key=reader)
    assert result.valid, result.errors
    assert result.documents[0].device_auth == "mac"
    wrong = verify(response, trust, transcript, reader_key=generate_key())
    assert codes(wrong) == {"device_auth_failed"}


@pytest.mark.parametrize("kind", ["Ed25519", "P-384"])
def test_other_device_key_types(pki, trust, session, kind):
    key = generate_key(kind)
    cred = issue(pki, DOCTYPE_MDL, mdl_data(today=NOW.date(), portrait=b"\xff\xd8\xff\xe0x"), key.public_key())
    transcript, _ = session
    result = verify(present_elements(cred, key, ["family_name"], transcript), trust, transcript)
    assert result.valid, result.errors


def test_eddsa_device_key_cannot_mac(pki, session):
    key = generate_key("Ed25519")
    cred = issue(pki, DOCTYPE_MDL, mdl_data(today=NOW.date(), portrait=b"\xff\xd8\xff\xe0x"), key.public_key())
    with pytest.raises(UnsupportedError):
        present_elements(cred, key, ["family_name"], session[0], mac=True)


def test_request_for_missing_elements_and_documents(licence, device_key, trust, session):
    transcript, _ = session
    request = DeviceRequest.parse(
        DeviceRequest.for_elements(DOCTYPE_MDL, {NS_ISO: {"age_over_18": False, "eye_colour": True}}).encode()
    )
    request.doc_requests.append(
        DeviceRequest.for_elements(DOCTYPE_DBS, {"uk.gov.dbs.check.1": {"outcome": False}}).doc_requests[0]
    )
    response = present([(licence, device_key)], request, transcript)
    decoded = decode(response)
    assert decoded["documentErrors"] == [{DOCTYPE_DBS: 0}]
    assert decoded["documents"][0]["errors"] == {NS_ISO: {"eye_colour": 0}}
    result = verify(response, trust, transcript)
    assert result.valid
    assert result.documents[0].not_returned == {NS_ISO: ["eye_colour"]}


def test_holder_consent_narrows_the_request(licence, device_key, trust, session):
    transcript, _ = session
    request = DeviceRequest.for_elements(DOCTYPE_MDL, {NS_ISO: {"age_over_18": False, "family_name": False}})
    response = present([(licence, device_key)], request, transcript, consent={DOCTYPE_MDL: {NS_ISO: ["age_over_18"]}})
    result = verify(response, trust, transcript)
    assert result.valid
    assert result.documents[0].elements == {NS_ISO: {"age_over_18": True}}
    assert result.documents[0].not_returned == {NS_ISO: ["family_name"]}


def test_resolve_names(licence):
    assert licence.resolve(["uk.gov.dvla.mdl.1:licence_type", "portrait"]) == {
        "uk.gov.dvla.mdl.1": ["licence_type"],
        NS_ISO: ["portrait"],
    }
    with pytest.raises(UsageError):
        licence.resolve(["shoe_size"])


def test_credential_survives_storage(licence):
    again = Credential.from_bytes(licence.to_bytes())
    assert again.to_bytes() == licence.to_bytes()
    assert again.elements() == licence.elements()


# ----------------------------------------------------------------------------------- rejection paths
@pytest.fixture
def presented(age_credential, device_key, session):
    transcript, _ = session
    return present_elements(age_credential, device_key, ["age_over_18", "portrait"], transcript), transcript


def rebuild(response: bytes, change) -> bytes:
    """Decode a response, let ``change`` edit the first document, encode it again."""
    decoded = decode(response)
    change(decoded["documents"][0])
    return encode(decoded)


def _replace_item(doc, identifier, **fields):
    items = doc["issuerSigned"]["nameSpaces"][NS_AGE]
    for index, embedded in enumerate(items):
        item = IssuerSignedItem.parse(embedded, "item")
        if item.identifier == identifier:
            values = {
                "digestID": item.digest_id,
                "random": item.random,
                "elementIdentifier": item.identifier,
                "elementValue": item.value,
                **fields,
            }
            items[index] = Embedded.wrap(values)


def test_tampered_value(presented, trust):
    response, transcript = presented
    forged = rebuild(response, lambda d: _replace_item(d, "age_over_18", elementValue=False))
    result = verify(forged, trust, transcript)
    assert not result.valid and codes(result) == {"digest_mismatch"}
    assert "age_over_18" not in result.documents[0].elements.get(NS_AGE, {})


def test_unknown_digest_id(presented, trust):
    response, transcript = presented
    result = verify(rebuild(response, lambda d: _replace_item(d, "portrait", digestID=2**31 + 5)), trust, transcript)
    assert codes(result) == {"unknown_digest"}


def test_element_renamed(presented, trust):
    response, transcript = presented
    result = verify(
        rebuild(response, lambda d: _replace_item(d, "age_over_18", elementIdentifier="age_over_25")), trust, transcript
    )
    assert codes(result) == {"digest_mismatch"}


def test_duplicate_element(presented, trust):
    response, transcript = presented

    def duplicate(doc):
        items = doc["issuerSigned"]["nameSpaces"][NS_AGE]
        items.append(items[0])

    assert codes(verify(rebuild(response, duplicate), trust, transcript)) == {"duplicate_element"}


def test_issuer_signature_tampered(presented, trust):
    response, transcript = presented

    def flip(doc):
        auth = doc["issuerSigned"]["issuerAuth"]
        auth[3] = bytes([auth[3][0] ^ 1]) + auth[3][1:]

    result = verify(rebuild(response, flip), trust, transcript)
    assert codes(result) == {"bad_signature"}
    assert result.documents[0].elements == {}


def test_doctype_swapped(presented, trust):
    response, transcript = presented
    result = verify(rebuild(response, lambda d: d.__setitem__("docType", DOCTYPE_MDL)), trust, transcript)
    assert "doctype_mismatch" in codes(result)


def test_issuer_signed_from_another_holder(presented, trust, pki, portrait):
    """Genuine issuer data spliced under another device's signature fails device authentication."""
    _, transcript = presented
    thief = generate_key()
    stolen = issue(
        pki,
        DOCTYPE_AGE,
        {
            NS_AGE: {
                "birth_date": "1990-01-01",
                "portrait": portrait,
                "issue_date": "2026-06-01",
                "expiry_date": "2026-09-01",
                "issuing_country": "GB",
                "issuing_authority": "DVLA",
            }
        },
        generate_key().public_key(),
    )
    forged = present_elements(stolen, thief, ["age_over_18"], transcript)
    assert codes(verify(forged, trust, transcript)) == {"device_auth_failed"}


def test_replayed_in_another_session(presented, trust):
    response, _ = presented
    other_transcript = fresh_qr_transcript()[0]
    assert codes(verify(response, trust, other_transcript)) == {"device_auth_failed"}


def test_expired_and_not_yet_valid(presented, trust, age_credential):
    response, transcript = presented
    late = age_credential.mso.valid_until + dt.timedelta(seconds=1)
    assert codes(verify(response, trust, transcript, now=late)) == {"mso_expired"}
    early = age_credential.mso.valid_from - dt.timedelta(seconds=1)
    assert codes(verify(response, trust, transcript, now=early)) == {"mso_not_yet_valid"}


def test_untrusted_issuer(presented, tmp_path):
    response, transcript = presented
    other = TrustStore.from_pem_files([PkiDir.create(tmp_path, now=NOW - dt.timedelta(days=1)).folder / "iaca.pem"])
    result = verify(response, other, transcript)
    assert codes(result) == {"untrusted_issuer"}
    assert result.documents[0].elements == {}


def test_cached_chain_still_refuses_expiry_and_removed_issuer(presented, trust, pki):
    """Issue 17: once the document signer chain is in the chain cache, an expired document signer and an
    issuer taken off the trust store are still refused, and the hit is counted."""
    response, transcript = presented
    assert verify(response, trust, transcript).valid
    hits = chain_cache.stats()["hits"]
    assert verify(response, trust, transcript).valid
    assert chain_cache.stats()["hits"] == hits + 1
    signer = pki.signer()[1]
    after = signer.not_valid_after_utc + dt.timedelta(seconds=1)
    assert "certificate_expired" in codes(verify(response, trust, transcript, now=after))
    result = verify(response, TrustStore(), transcript)
    assert codes(result) == {"untrusted_issuer"} and result.documents[0].elements == {}


def test_missing_or_malformed_transcript(presented, trust):
    response, _ = presented
    assert codes(verify(response, trust, None)) == {"no_transcript"}
    assert codes(verify(response, trust, encode([1, 2]))) == {"bad_transcript"}
    assert codes(verify(response, trust, b"\xff")) == {"malformed"}


def test_response_status_and_shape(presented, trust):
    response, transcript = presented
    decoded = decode(response)
    decoded["status"] = 10
    assert "response_status" in codes(verify(encode(decoded), trust, transcript))
    assert codes(verify(encode({"version": "1.0", "status": 0}), trust, transcript)) == {"no_documents"}
    assert codes(verify(encode({"version": "2.0", "status": 0}), trust, transcript)) == {"unsupported"}
    assert codes(verify(encode([1]), trust, transcript)) == {"malformed"}
    assert codes(verify(response[:-5], trust, transcript)) == {"malformed"}


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.pop("deviceSigned"),
        lambda d: d["deviceSigned"].__setitem__("deviceAuth", {}),
        lambda d: d["deviceSigned"].__setitem__("nameSpaces", {}),
        lambda d: d["issuerSigned"].pop("issuerAuth"),
        lambda d: d["issuerSigned"]["issuerAuth"].__setitem__(2, None),
        lambda d: d["issuerSigned"]["issuerAuth"][1].clear(),
        lambda d: d["issuerSigned"]["nameSpaces"].__setitem__(NS_AGE, [b"not embedded"]),
        lambda d: d.__setitem__("errors", [1]),
    ],
)
def test_structural_damage_is_reported(presented, trust, change):
    response, transcript = presented
    result = verify(rebuild(response, change), trust, transcript)
    assert not result.valid
    assert result.errors and all(p.code and p.message for p in result.errors)


def test_device_auth_signature_on_wrong_data(presented, trust):
    response, transcript = presented

    def other_namespaces(doc):
        doc["deviceSigned"]["nameSpaces"] = Embedded.wrap({"x": {"y": 1}})

    # the signature no longer covers them, and the MSO does not authorise the device key to sign them either
    assert codes(verify(rebuild(response, other_namespaces), trust, transcript)) == {
        "device_auth_failed", "device_signed_unauthorised"}


# ------------------------------------------------------------- device-signed elements (18013-5 9.1.2.4)
@pytest.fixture(scope="module")
def authorised_credential(pki, device_key, portrait):
    """A proof of age whose MSO lets the device key sign age_over_25 itself, and nothing else."""
    from didlib.samples import proof_of_age_data

    return issue(pki, DOCTYPE_AGE, proof_of_age_data(today=NOW.date(), portrait=portrait), device_key.public_key(),
                 key_authorizations={"dataElements": {NS_AGE: ["age_over_25"]}, "nameSpaces": ["uk.example.notes"]})


def device_signed_response(credential, device_key, transcript, device_items):
    """A response that also carries device-signed elements, validly signed by the device key."""
    from didlib.mdoc.device_auth import create_device_auth

    def sign(doc):
        namespaces = Embedded.wrap(device_items)
        doc["deviceSigned"] = {"nameSpaces": namespaces, "deviceAuth": create_device_auth(
            device_key, transcript, doc["docType"], namespaces, mac=False)}

    return rebuild(present_elements(credential, device_key, ["age_over_18"], transcript), sign)


@pytest.mark.parametrize("credential", ["age_credential", "authorised_credential"])
def test_unauthorised_device_signed_element_is_refused(request, device_key, trust, session, credential):
    """Issue 15: age_over_21 signed by the device key, which no keyAuthorizations allow, was accepted."""
    transcript, _ = session
    credential = request.getfixturevalue(credential)
    result = verify(device_signed_response(credential, device_key, transcript, {NS_AGE: {"age_over_21": True}}),
                    trust, transcript)
    assert not result.valid and codes(result) == {"device_signed_unauthorised"}
    doc = result.documents[0]
    assert doc.checks["device_auth"] and doc.checks["device_signed"] is False
    assert doc.device_signed == {} and "age_over_21" not in doc.elements.get(NS_AGE, {})


def test_authorised_device_signed_elements_are_reported_apart(authorised_credential, device_key, trust, session):
    transcript, _ = session
    items = {NS_AGE: {"age_over_25": True}, "uk.example.notes": {"note": "hello"}}
    result = verify(device_signed_response(authorised_credential, device_key, transcript, items), trust, transcript)
    assert result.valid, result.errors
    doc = result.documents[0]
    assert doc.device_signed == items
    assert doc.elements == {NS_AGE: {"age_over_18": True}}, "issuer-signed data only, never merged"


@pytest.mark.parametrize("items", [{NS_AGE: {}}, {NS_AGE: [1]}, {1: {"a": 1}}, [1]])
def test_malformed_device_namespaces(age_credential, device_key, trust, session, items):
    transcript, _ = session
    result = verify(device_signed_response(age_credential, device_key, transcript, items), trust, transcript)
    assert not result.valid and codes(result) == {"malformed"}
