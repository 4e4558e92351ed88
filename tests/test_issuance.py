"""Issuance: profile checks, age derivation, validity capping, digests and salts."""

from __future__ import annotations

import datetime as dt

import pytest

from conftest import NOW, issue
from didlib.errors import IssuanceError
from didlib.keys import generate_key
from didlib.mdoc import (
    DOCTYPE_AGE,
    DOCTYPE_DBS,
    DOCTYPE_MDL,
    Credential,
    issue_mdoc,
    issue_mdocs,
    present_elements,
    verify_response,
)
from didlib.mdoc.issuer import birthday
from didlib.mdoc.registry import NS_AGE, NS_DBS, NS_DVLA, NS_ISO
from didlib.pkidir import PkiDir
from didlib.samples import Person, dbs_data, mdl_data, proof_of_age_data
from didlib.session.transcript import fresh_qr_transcript

UTC = dt.UTC


def person_born(born: dt.date) -> Person:
    return Person("SMITH", "ALEX", born, 1, "2 Test Road", "Leeds", "LS1 1AA")


def test_mdl_derives_age_elements(licence):
    iso = licence.elements()[NS_ISO]
    born = dt.date(1990, 7, 14)
    assert iso["age_in_years"] == 35  # on 2026-06-01
    assert iso["age_birth_year"] == 1990
    assert iso["age_over_16"] and iso["age_over_18"] and iso["age_over_21"] and iso["age_over_25"]
    assert iso["birth_date"] == born
    assert licence.elements()[NS_DVLA]["licence_type"] == "full"
    # age_in_years stays true only until the next birthday
    assert licence.mso.valid_until == dt.datetime(2026, 7, 14, tzinfo=UTC)


def test_minor_credential_expires_at_the_birthday(pki, device_key, portrait):
    born = dt.date(2008, 7, 10)  # 17 on NOW, 18 on 2026-07-10 (before the 90-day default validity ends)
    cred = issue(pki, DOCTYPE_AGE, proof_of_age_data(person_born(born), NOW.date(), portrait), device_key.public_key())
    ages = cred.elements()[NS_AGE]
    assert ages == {**ages, "age_over_16": True, "age_over_18": False, "age_over_21": False, "age_over_25": False}
    assert "birth_date" not in ages, "proof of age does not carry the birth date"
    assert cred.mso.valid_until == dt.datetime(2026, 7, 10, tzinfo=UTC)


def test_leap_day_birthday():
    assert birthday(dt.date(2008, 2, 29), 18) == dt.date(2026, 3, 1)
    assert birthday(dt.date(2008, 2, 29), 16) == dt.date(2024, 2, 29)


def test_leap_day_minor(tmp_path, device_key, portrait):
    pki = PkiDir.create(tmp_path, now=dt.datetime(2026, 1, 1, tzinfo=UTC))
    born = dt.date(2008, 2, 29)
    data = proof_of_age_data(person_born(born), dt.date(2026, 2, 28), portrait)
    cred = issue(pki, DOCTYPE_AGE, data, device_key.public_key(), now=dt.datetime(2026, 2, 28, 9, tzinfo=UTC))
    assert cred.elements()[NS_AGE]["age_over_18"] is False
    assert cred.mso.valid_until == dt.datetime(2026, 3, 1, tzinfo=UTC)


def test_dbs_credential(pki, device_key):
    cred = issue(pki, DOCTYPE_DBS, dbs_data(today=NOW.date()), device_key.public_key())
    assert cred.elements()[NS_DBS]["certificate_level"] == "enhanced_barred_lists"


def test_salts_and_digest_ids(licence):
    for items in licence.issuer_signed.namespaces.values():
        ids = [i.digest_id for i in items]
        assert sorted(ids) == list(range(len(ids))), "a permutation of 0..n-1 within each namespace"
    iso_ids = [i.digest_id for i in licence.issuer_signed.namespaces[NS_ISO]]
    assert iso_ids != list(range(len(iso_ids))), "digest IDs must not follow the element order"
    items = [i for items in licence.issuer_signed.namespaces.values() for i in items]
    assert all(len(i.random) == 32 for i in items)
    assert len({i.random for i in items}) == len(items)


def _mutate(data: dict, ns: str, **changes) -> dict:
    out = {k: dict(v) for k, v in data.items()}
    for key, value in changes.items():
        if value is None:
            out[ns].pop(key, None)
        else:
            out[ns][key] = value
    return out


BASE = mdl_data(today=NOW.date(), portrait=b"\xff\xd8\xff\xe0fake-jpeg")


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (_mutate(BASE, NS_ISO, family_name=None), "missing_element"),
        (_mutate(BASE, NS_ISO, favourite_colour="blue"), "unknown_element"),
        ({**BASE, "org.example": {"x": 1}}, "unknown_namespace"),
        (_mutate(BASE, NS_ISO, portrait="aGVsbG8="), "invalid_element"),  # not a JPEG
        (_mutate(BASE, NS_ISO, portrait="***"), "invalid_element"),
        (_mutate(BASE, NS_ISO, document_number="ABC"), "invalid_element"),
        (_mutate(BASE, NS_ISO, birth_date="14/07/1990"), "invalid_element"),
        (_mutate(BASE, NS_ISO, birth_date="2999-01-01"), "invalid_element"),
        (_mutate(BASE, NS_ISO, family_name="x" * 151), "invalid_element"),
        (_mutate(BASE, NS_ISO, sex=3), "invalid_element"),
        (_mutate(BASE, NS_ISO, height=-1), "invalid_element"),
        (_mutate(BASE, NS_ISO, height=True), "invalid_element"),
        (_mutate(BASE, NS_ISO, age_over_18="yes"), "invalid_element"),
        (_mutate(BASE, NS_ISO, age_over_18=False), "inconsistent_age"),
        (_mutate(BASE, NS_ISO, age_in_years=12), "inconsistent_age"),
        (_mutate(BASE, NS_ISO, issuing_country="gb"), "invalid_element"),
        (_mutate(BASE, NS_ISO, driving_privileges=[]), "invalid_element"),
        (_mutate(BASE, NS_ISO, driving_privileges=[{"issue_date": "2020-01-01"}]), "invalid_element"),
        (
            _mutate(BASE, NS_ISO, driving_privileges=[{"vehicle_category_code": "B", "colour": "red"}]),
            "invalid_element",
        ),
        (_mutate(BASE, NS_DVLA, licence_type="learner"), "invalid_element"),
        (
            _mutate(BASE, NS_DVLA, endorsements=[{"code": "SP30", "offence_date": "2025-01-01", "points": 13}]),
            "invalid_element",
        ),
        ("not an object", "invalid_data"),
    ],
)
def test_bad_data_is_refused_with_a_clear_error(pki, device_key, data, code):
    with pytest.raises(IssuanceError) as info:
        issue(pki, DOCTYPE_MDL, data, device_key.public_key())
    assert info.value.code == code
    assert info.value.message


def test_unknown_doctype(pki, device_key):
    with pytest.raises(IssuanceError) as info:
        issue(pki, "org.example.card", {}, device_key.public_key())
    assert info.value.code == "unknown_doctype"


def test_endorsements_accepted(pki, device_key):
    data = _mutate(
        BASE, NS_DVLA, penalty_points=3, endorsements=[{"code": "SP30", "offence_date": "2025-01-01", "points": 3}]
    )
    cred = issue(pki, DOCTYPE_MDL, data, device_key.public_key())
    assert cred.elements()[NS_DVLA]["endorsements"][0]["points"] == 3


def test_signer_must_match_and_be_current(pki, device_key):
    signer_key, signer_cert = pki.signer()
    with pytest.raises(IssuanceError) as info:
        issue_mdoc(
            DOCTYPE_MDL,
            BASE,
            signer_key=generate_key(),
            signer_chain=[signer_cert],
            device_key=device_key.public_key(),
            now=NOW,
        )
    assert info.value.code == "signer_mismatch"
    with pytest.raises(IssuanceError) as info:
        issue_mdoc(
            DOCTYPE_MDL,
            BASE,
            signer_key=signer_key,
            signer_chain=[signer_cert],
            device_key=device_key.public_key(),
            now=NOW + dt.timedelta(days=800),
        )
    assert info.value.code == "signer_expired"


def test_a_credential_type_of_ones_own(pki, device_key, trust, monkeypatch):
    """registry.register adds a profile that issue_mdoc checks input against; it never replaces one."""
    from didlib.errors import UsageError
    from didlib.mdoc import Credential, present_elements, verify_response
    from didlib.mdoc.registry import MDL, PROFILES, Element, Profile, register, text
    from didlib.session.transcript import fresh_qr_transcript

    monkeypatch.setattr("didlib.mdoc.registry.PROFILES", dict(PROFILES))
    from didlib.mdoc import registry

    card = Profile("org.example.library.1", "Library card",
                   {"org.example.library.1": {"card_number": Element("card_number", text(8, r"\d{8}"), True)}})
    assert register(card) is card and registry.PROFILES[card.doctype] is card
    signer_key, signer_cert = pki.signer()
    with pytest.raises(IssuanceError) as bad:
        issue_mdoc(card.doctype, {"org.example.library.1": {"card_number": "12ab"}}, signer_key=signer_key,
                   signer_chain=[signer_cert], device_key=device_key.public_key())
    assert "card_number" in str(bad.value)
    issued = issue_mdoc(card.doctype, {"org.example.library.1": {"card_number": "12345678"}}, signer_key=signer_key,
                        signer_chain=[signer_cert], device_key=device_key.public_key())
    transcript, _ = fresh_qr_transcript()
    response = present_elements(Credential.from_issuer_signed(issued), device_key, ["card_number"], transcript)
    result = verify_response(response, trust=trust, session_transcript=transcript)
    assert result.valid and result.documents[0].elements == {"org.example.library.1": {"card_number": "12345678"}}
    for clash in (card, MDL):
        with pytest.raises(UsageError) as taken:
            register(clash)
        assert taken.value.code == "doctype_taken"
    assert registry.PROFILES[MDL.doctype] is MDL


def test_a_batch_is_unlinkable_and_each_credential_verifies(pki, trust):
    """issue_mdocs checks data and signer once, but each credential of the batch has its own salts, digest
    IDs, device key, status reference and signature, and verifies on its own."""
    signer_key, signer_cert = pki.signer()
    keys = [generate_key() for _ in range(4)]
    statuses = [{"status_list": {"idx": i, "uri": "https://issuer.example/status/1"}} for i in range(4)]
    batch = issue_mdocs(DOCTYPE_AGE, proof_of_age_data(), signer_key=signer_key, signer_chain=[signer_cert],
                        device_keys=[k.public_key() for k in keys], statuses=statuses, now=NOW)
    credentials = [Credential.from_issuer_signed(issued) for issued in batch]
    salts = [{i.random for items in c.issuer_signed.namespaces.values() for i in items} for c in credentials]
    assert all(not (a & b) for n, a in enumerate(salts) for b in salts[n + 1:]), "no salt is shared"
    orders = {tuple(i.digest_id for i in c.issuer_signed.namespaces[NS_AGE]) for c in credentials}
    assert len(orders) > 1, "digest IDs are drawn per credential"
    assert [c.mso.status for c in credentials] == statuses
    assert len({c.issuer_signed.issuer_auth.signature for c in credentials}) == 4
    transcript = fresh_qr_transcript()[0]
    for key, credential in zip(keys, credentials, strict=True):
        response = present_elements(credential, key, ["age_over_18"], transcript)
        assert verify_response(response, trust=trust, session_transcript=transcript, now=NOW).valid
    wrong = present_elements(credentials[0], keys[1], ["age_over_18"], transcript)
    assert not verify_response(wrong, trust=trust, session_transcript=transcript, now=NOW).valid


def test_a_batch_needs_one_status_per_key(pki):
    signer_key, signer_cert = pki.signer()
    with pytest.raises(IssuanceError) as info:
        issue_mdocs(DOCTYPE_AGE, proof_of_age_data(), signer_key=signer_key, signer_chain=[signer_cert],
                    device_keys=[generate_key().public_key()] * 2, statuses=[None], now=NOW)
    assert info.value.code == "invalid_data"
