"""Plain words for the registry's elements (issue 19, item 8): labels, values, consent phrases, card lines."""

from __future__ import annotations

import datetime as dt

import pytest

from didlib.mdoc.labels import detail_lines, label, phrase, plain_value
from didlib.mdoc.registry import DOCTYPE_AGE, DOCTYPE_DBS, DOCTYPE_MDL, NS_AGE, NS_DBS, NS_DVLA, NS_ISO, PROFILES


@pytest.mark.parametrize(("element", "value", "shown"), [
    ("sex", 2, ("Sex", "Female")),
    ("sex", 1, ("Sex", "Male")),
    ("driving_privileges", [{"vehicle_category_code": "B"}, {"vehicle_category_code": "AM",
                                                               "issue_date": dt.date(2020, 1, 2)}],
     ("Driving categories", "B, AM")),
    ("birth_date", dt.date(1990, 3, 3), ("Date of birth", "3 March 1990")),
    ("expiry_date", dt.date(2031, 3, 3), ("Valid until", "3 March 2031")),
    ("age_over_18", True, ("Over 18", "Yes")),
    ("age_over_21", False, ("Over 21", "No")),
    ("issuing_country", "GB", ("Issuing country", "United Kingdom")),
    ("certificate_level", "enhanced_barred_lists", ("Level of check", "Enhanced with barred lists")),
    ("licence_type", "full", ("Licence type", "Full")),
    ("height", 170, ("Height", "170 cm")),
    ("endorsements", [{"code": "SP30", "offence_date": dt.date(2024, 5, 1), "points": 3}],
     ("Endorsements", "SP30 on 1 May 2024 (3 points)")),
    ("portrait_capture_date", dt.datetime(2024, 5, 1, 9, 30, tzinfo=dt.UTC), ("Photo taken", "1 May 2024 at 09:30")),
    ("given_name", "SARAH JANE", ("First names", "SARAH JANE")),
])
def test_labels_and_values(element, value, shown):
    assert (label(element), plain_value(element, value)) == shown


def test_images_have_no_text_and_every_registry_element_has_a_label():
    assert label("portrait") == "Photo" and plain_value("portrait", b"\xff\xd8\xff") == ""
    for profile in PROFILES.values():
        for elements in profile.namespaces.values():
            for element in elements:
                assert label(element) and "_" not in label(element), element
                assert phrase(element).startswith(("your ", "that ", "when ", "who ", "the ", "whether ")), element


def test_consent_phrases():
    assert [phrase(e) for e in ("age_over_18", "portrait", "given_name", "family_name", "birth_date")] == [
        "that you are over 18", "your photo", "your name", "your name", "your date of birth"]
    assert phrase("driving_privileges") == "your driving categories"


def test_card_lines_of_a_licence():
    """One "Name" line, no photo, plain values and one "Valid until" line: the earlier of the document's own
    expiry and the credential's."""
    lines = detail_lines(DOCTYPE_MDL, {
        NS_ISO: {"family_name": "MORGAN", "given_name": "SARAH JANE", "birth_date": dt.date(1990, 3, 3),
                 "issue_date": dt.date(2021, 3, 3), "expiry_date": dt.date(2031, 3, 3), "portrait": b"\xff\xd8\xff",
                 "sex": 2, "driving_privileges": [{"vehicle_category_code": "B"}, {"vehicle_category_code": "AM"}],
                 "age_over_18": True},
        NS_DVLA: {"licence_type": "full"},
    }, valid_until=dt.datetime(2032, 1, 1, tzinfo=dt.UTC))
    assert lines == [
        ("Name", "SARAH JANE MORGAN"), ("Date of birth", "3 March 1990"), ("Issued", "3 March 2021"),
        ("Valid until", "3 March 2031"), ("Driving categories", "B, AM"), ("Sex", "Female"),
        ("Over 18", "Yes"), ("Licence type", "Full"),
    ]
    short = detail_lines(DOCTYPE_MDL, {NS_ISO: {"issue_date": dt.date(2021, 3, 3),
                                                "expiry_date": dt.date(2031, 3, 3)}},
                         valid_until=dt.datetime(2027, 1, 1, tzinfo=dt.UTC))
    assert short == [("Issued", "3 March 2021"), ("Valid until", "1 January 2027")]


def test_card_lines_of_a_proof_of_age_and_a_dbs_check():
    age = detail_lines(DOCTYPE_AGE, {NS_AGE: {"age_over_18": True, "age_over_25": False, "portrait": b"\xff\xd8",
                                              "issue_date": dt.date(2026, 1, 1), "expiry_date": dt.date(2026, 4, 1),
                                              "issuing_authority": "DVLA"}})
    assert age == [("Over 18", "Yes"), ("Over 25", "No"), ("Issued", "1 January 2026"),
                   ("Valid until", "1 April 2026"), ("Issued by", "DVLA")]
    dbs = detail_lines(DOCTYPE_DBS, {NS_DBS: {"outcome": "clear", "workforce": "child_and_adult",
                                              "update_service_subscribed": True}, "x.unknown": {"shoe_size": 9}})
    assert dbs == [("Workforce", "Children and adults"), ("Outcome", "Clear"),
                   ("On the DBS Update Service", "Yes"), ("Shoe size", "9")]
