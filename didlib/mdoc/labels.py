"""What the registry's data elements are called in plain words, for people rather than parsers.

One place for both apps: the wallet's card details and consent screen, and anything else that shows an
element to a person, read their labels, values and consent phrases here, next to the element registry
(:mod:`didlib.mdoc.registry`) that defines the elements. Identifiers mean the same in every namespace of the
registry (``birth_date`` is a date of birth in the licence and in the DBS check), so labels go by identifier.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from didlib.mdoc.registry import PROFILES

__all__ = ["label", "phrase", "plain_value", "detail_lines", "plain_date"]

_AGE_OVER = re.compile(r"age_over_(\d\d)")

_LABELS = {
    "family_name": "Surname",
    "given_name": "First names",
    "birth_date": "Date of birth",
    "issue_date": "Issued",
    "expiry_date": "Valid until",
    "issuing_country": "Issuing country",
    "issuing_authority": "Issued by",
    "document_number": "Driver number",
    "portrait": "Photo",
    "driving_privileges": "Driving categories",
    "un_distinguishing_sign": "Country sign",
    "administrative_number": "Administrative number",
    "sex": "Sex",
    "height": "Height",
    "weight": "Weight",
    "eye_colour": "Eye colour",
    "hair_colour": "Hair colour",
    "birth_place": "Place of birth",
    "resident_address": "Address",
    "resident_city": "Town or city",
    "resident_postal_code": "Postcode",
    "resident_country": "Country of residence",
    "portrait_capture_date": "Photo taken",
    "age_in_years": "Age",
    "age_birth_year": "Year of birth",
    "issuing_jurisdiction": "Issuing region",
    "nationality": "Nationality",
    "signature_usual_mark": "Signature",
    "licence_type": "Licence type",
    "penalty_points": "Penalty points",
    "endorsements": "Endorsements",
    "title": "Title",
    "certificate_number": "Certificate number",
    "certificate_level": "Level of check",
    "workforce": "Workforce",
    "outcome": "Outcome",
    "barred_list_children": "Children's barred list",
    "barred_list_adults": "Adults' barred list",
    "update_service_subscribed": "On the DBS Update Service",
    "update_service_checked": "Update Service checked",
    "course": "Course",
    "level": "Level",
    "completion_date": "Completed",
    "renewal_date": "Renew by",
}

# What the holder agrees to give, as the end of "... wants to know: ..." (specs/wallet.md, consent).
_PHRASES = {
    "family_name": "your name",
    "given_name": "your name",
    "birth_date": "your date of birth",
    "portrait": "your photo",
    "issue_date": "when it was issued",
    "expiry_date": "when it expires",
    "issuing_country": "the country that issued it",
    "issuing_authority": "who issued it",
    "age_in_years": "your age",
    "age_birth_year": "your year of birth",
    "resident_address": "your address",
    "resident_city": "your town or city",
    "resident_postal_code": "your postcode",
    "signature_usual_mark": "your signature",
    "outcome": "the outcome of your check",
    "barred_list_children": "your children's barred list result",
    "barred_list_adults": "your adults' barred list result",
    "update_service_subscribed": "whether your certificate is on the DBS Update Service",
    "update_service_checked": "when the Update Service last checked it",
    "completion_date": "when you completed the course",
    "renewal_date": "when the training must be renewed",
}

_SEX = {0: "Not known", 1: "Male", 2: "Female", 9: "Not applicable"}  # ISO/IEC 5218 codes
_COUNTRIES = {"GB": "United Kingdom"}
_CHOICES = {  # elements whose value is one of a fixed list of words: written as words
    "licence_type", "certificate_level", "workforce", "outcome", "barred_list_children", "barred_list_adults",
    "level", "eye_colour", "hair_colour",
}
_WORDS = {"enhanced_barred_lists": "Enhanced with barred lists", "child_and_adult": "Children and adults",
          "child": "Children", "adult": "Adults", "designated_lead": "Designated lead"}
_UNITS = {"height": "cm", "weight": "kg", "penalty_points": ""}
_IMAGES = {"portrait", "signature_usual_mark"}


def label(element: str) -> str:
    """The element's name as a person says it: "Sex", "Driving categories", "Over 18"."""
    over = _AGE_OVER.fullmatch(element)
    if over:
        return f"Over {int(over.group(1))}"
    return _LABELS.get(element) or element.replace("_", " ").capitalize()


def phrase(element: str) -> str:
    """What the holder gives when they agree to share the element, as the end of "They want to know: ...":
    "that you are over 18", "your photo", "your name" (given and family name alike)."""
    over = _AGE_OVER.fullmatch(element)
    if over:
        return f"that you are over {int(over.group(1))}"
    return _PHRASES.get(element) or f"your {label(element).lower()}"


def plain_date(value: dt.date) -> str:
    """A date as people write it: "3 March 2031" (a time, when there is one, after it: "at 09:30")."""
    day = f"{value.day} {value:%B %Y}"
    return f"{day} at {value:%H:%M}" if isinstance(value, dt.datetime) else day


def plain_value(element: str, value: Any) -> str:
    """The value as a person reads it: "Female" for ISO/IEC 5218 code 2, "B, AM" for driving privileges,
    "Yes"/"No", "3 March 2031". Images have no text (""): a screen shows them as pictures."""
    if element in _IMAGES or isinstance(value, (bytes, bytearray)):
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, dt.date):
        return plain_date(value)
    if element == "sex" and isinstance(value, int):
        return _SEX.get(value, str(value))
    if element == "driving_privileges" and isinstance(value, list):
        return ", ".join(str(p.get("vehicle_category_code", "?")) for p in value if isinstance(p, Mapping))
    if element == "endorsements" and isinstance(value, list):
        return "; ".join(_endorsement(e) for e in value if isinstance(e, Mapping)) or "None"
    if element in ("issuing_country", "resident_country", "nationality") and isinstance(value, str):
        return _COUNTRIES.get(value, value)
    if element in _CHOICES and isinstance(value, str):
        return _WORDS.get(value) or value.replace("_", " ").capitalize()
    if element in _UNITS and isinstance(value, int):
        return f"{value} {_UNITS[element]}".strip()
    return str(value)


def _endorsement(entry: Mapping[str, Any]) -> str:
    points = entry.get("points")
    when = entry.get("offence_date")
    return " ".join(filter(None, [
        str(entry.get("code", "?")),
        f"on {plain_date(when)}" if isinstance(when, dt.date) else "",
        f"({points} point{'s' if points != 1 else ''})" if isinstance(points, int) else "",
    ]))


def detail_lines(doctype: str, namespaces: Mapping[str, Mapping[str, Any]],
                 valid_until: dt.date | None = None) -> list[tuple[str, str]]:
    """A credential's details as ``(label, value)`` lines, in the registry's order: the name on one line,
    no images, and one "Valid until" line, the earlier of the document's own expiry and ``valid_until`` (the
    credential's: after it the card no longer presents), so a card never shows two expiry dates. Elements
    outside the registry follow, in the order given."""
    profile = PROFILES.get(doctype)
    known = [(ns, e) for ns, elements in (profile.namespaces.items() if profile else ()) for e in elements]
    order = [*known, *((ns, e) for ns, values in namespaces.items() for e in values if (ns, e) not in known)]
    lines: list[tuple[str, str]] = []
    expiry = valid_until.date() if isinstance(valid_until, dt.datetime) else valid_until
    for ns, element in order:
        values = namespaces.get(ns, {})
        if element == "expiry_date" or element not in values:
            continue
        value = values[element]
        if element in ("given_name", "family_name"):
            name = " ".join(str(values[e]) for e in ("given_name", "family_name") if e in values)
            if ("Name", name) not in lines:
                lines.append(("Name", name))
            continue
        text = plain_value(element, value)
        if text:
            lines.append((label(element), text))
    for values in namespaces.values():
        own = values.get("expiry_date")
        if isinstance(own, dt.datetime):
            own = own.date()
        if isinstance(own, dt.date) and (expiry is None or own < expiry):
            expiry = own
    if expiry is not None:
        issued = next((i for i, (name, _) in enumerate(lines) if name == "Issued"), len(lines) - 1)
        lines.insert(issued + 1, ("Valid until", plain_date(expiry)))
    return lines
