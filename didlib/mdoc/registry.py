"""The data elements of the three didlib credentials, and how issuer input becomes CBOR.

One table serves issuance (type checks, conversion from JSON), verifiers (what an element means) and, later,
the SD-JWT VC profiles, so the formats cannot drift apart. Element identifiers and CBOR types of the ISO
namespace follow ISO/IEC 18013-5 Table 5 and 7.2.4 (age attestation); the UK namespaces are this project's
and are described in ``specs/mdoc.md``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import cbor2

from didlib.cbor import full_date, tdate
from didlib.errors import IssuanceError, UsageError

__all__ = [
    "Element",
    "Profile",
    "PROFILES",
    "ONLINE_AGE_ENTITLEMENT",
    "VOLUNTEER_RETAINED",
    "MDL",
    "PROOF_OF_AGE",
    "DBS_CHECK",
    "profile_for",
    "register",
    "text",
    "uint",
    "boolean",
    "date_",
    "datetime_",
    "binary",
    "record",
    "array",
    "NS_ISO",
    "NS_DVLA",
    "NS_AGE",
    "NS_DBS",
    "DOCTYPE_MDL",
    "DOCTYPE_AGE",
    "DOCTYPE_DBS",
    "DOCTYPE_TRAINING",
    "NS_TRAINING",
]

DOCTYPE_MDL = "org.iso.18013.5.1.mDL"
"""The driving licence's docType (ISO 18013-5 7.1)."""
NS_ISO = "org.iso.18013.5.1"
"""The ISO namespace of the driving licence (ISO 18013-5 7.2.1): names, dates, privileges, age statements."""
NS_DVLA = "uk.gov.dvla.mdl.1"
"""The UK namespace of the driving licence: licence type, penalty points, endorsements (specs/mdoc.md)."""
DOCTYPE_AGE = NS_AGE = "uk.gov.dvla.age.1"
"""The proof of age's docType, which is also its only namespace."""
DOCTYPE_DBS = NS_DBS = "uk.gov.dbs.check.1"
"""The DBS check's docType, which is also its only namespace."""
DOCTYPE_TRAINING = NS_TRAINING = "uk.org.safeguarding.training.1"
"""The safeguarding training certificate's docType, which is also its only namespace."""

UK_AGE_THRESHOLDS = (16, 18, 21, 25)
MAX_TEXT = 150
MAX_PORTRAIT = 64 * 1024
MAX_LIST = 64

Converter = Callable[[Any, str], Any]


# ---------------------------------------------------------------------------------------------- types
def _fail(path: str, why: str) -> IssuanceError:
    return IssuanceError(f"{path}: {why}", code="invalid_element")


def text(max_len: int = MAX_TEXT, pattern: str | None = None, choices: tuple[str, ...] = ()) -> Converter:
    """A converter for non-empty text of at most ``max_len`` characters, matching ``pattern`` (the whole
    value) or one of ``choices`` when given."""
    compiled = re.compile(pattern) if pattern else None

    def convert(value: Any, path: str) -> str:
        if not isinstance(value, str) or not value:
            raise _fail(path, "expected non-empty text")
        if len(value) > max_len:
            raise _fail(path, f"longer than {max_len} characters")
        if choices and value not in choices:
            raise _fail(path, f"must be one of {', '.join(choices)}")
        if compiled and not compiled.fullmatch(value):
            raise _fail(path, f"does not match the required format {pattern}")
        return value

    convert.cddl = "tstr"  # type: ignore[attr-defined]
    return convert


def uint(maximum: int = 2**32 - 1, choices: tuple[int, ...] = ()) -> Converter:
    """A converter for a whole number from 0 to ``maximum``, one of ``choices`` when given."""
    def convert(value: Any, path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value > maximum:
            raise _fail(path, f"expected a whole number from 0 to {maximum}")
        if choices and value not in choices:
            raise _fail(path, f"must be one of {', '.join(map(str, choices))}")
        return value

    convert.cddl = "uint"  # type: ignore[attr-defined]
    return convert


def boolean(value: Any, path: str) -> bool:
    """The converter for a boolean: JSON true or false, nothing truthy."""
    if not isinstance(value, bool):
        raise _fail(path, "expected true or false")
    return value


boolean.cddl = "bool"  # type: ignore[attr-defined]


def date_(value: Any, path: str) -> cbor2.CBORTag:
    """full-date: a ``date`` or ``YYYY-MM-DD``."""
    if isinstance(value, dt.datetime):
        raise _fail(path, "expected a date without a time")
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            raise _fail(path, "expected a date as YYYY-MM-DD") from None
        if len(value.isoformat()) != 10:
            raise _fail(path, "expected a date as YYYY-MM-DD")
    if not isinstance(value, dt.date):
        raise _fail(path, "expected a date as YYYY-MM-DD")
    return full_date(value)


date_.cddl = "full-date"  # type: ignore[attr-defined]


def datetime_(value: Any, path: str) -> cbor2.CBORTag:
    """tdate: an aware ``datetime`` or an RFC 3339 string with a zone."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise _fail(path, "expected a date-time such as 2024-01-31T09:00:00Z") from None
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise _fail(path, "expected a date-time with a time zone")
    return tdate(value)


datetime_.cddl = "tdate"  # type: ignore[attr-defined]


def binary(max_len: int, magic: tuple[bytes, ...] = ()) -> Converter:
    """A converter for binary data (bytes, or base64 from JSON input) of at most ``max_len`` bytes, starting
    with one of ``magic`` when given (a portrait must be a JPEG or JPEG 2000)."""
    def convert(value: Any, path: str) -> bytes:
        if isinstance(value, str):
            try:
                standard = value.replace("-", "+").replace("_", "/")  # accept base64url too
                value = base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
            except (binascii.Error, ValueError):
                raise _fail(path, "expected binary data as base64") from None
        if not isinstance(value, (bytes, bytearray)) or not value:
            raise _fail(path, "expected binary data")
        if len(value) > max_len:
            raise _fail(path, f"larger than {max_len} bytes")
        if magic and not bytes(value).startswith(magic):
            raise _fail(path, "is not a JPEG or JPEG 2000 image")
        return bytes(value)

    convert.cddl = "bstr"  # type: ignore[attr-defined]
    return convert


def record(fields: Mapping[str, tuple[Converter, bool]]) -> Converter:
    """A map with known keys; ``fields`` maps key -> (converter, required)."""

    def convert(value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise _fail(path, "expected an object")
        unknown = set(value) - set(fields)
        if unknown:
            raise _fail(path, f"unknown fields {', '.join(sorted(map(str, unknown)))}")
        out = {}
        for key, (conv, required) in fields.items():
            if key in value:
                out[key] = conv(value[key], f"{path}.{key}")
            elif required:
                raise _fail(path, f"missing {key}")
        return out

    convert.cddl = "{ " + ", ".join(f"{'' if r else '? '}{k}" for k, (_, r) in fields.items()) + " }"  # type: ignore[attr-defined]
    return convert


def array(item: Converter, max_items: int = MAX_LIST, min_items: int = 0) -> Converter:
    """A converter for a list of ``item`` (``min_items`` to ``max_items`` entries), each converted by ``item``."""
    def convert(value: Any, path: str) -> list[Any]:
        if not isinstance(value, (list, tuple)) or not min_items <= len(value) <= max_items:
            raise _fail(path, f"expected a list of {min_items} to {max_items} entries")
        return [item(v, f"{path}[{i}]") for i, v in enumerate(value)]

    convert.cddl = f"[* {getattr(item, 'cddl', 'any')}]"  # type: ignore[attr-defined]
    return convert


COUNTRY = text(2, pattern=r"[A-Z]{2}")
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x00\x00\x00\x0cjP  ")
PORTRAIT = binary(MAX_PORTRAIT, magic=_IMAGE_MAGIC)
# The proof of age is built to fit QR codes: its portrait (96x120 is enough for a face check at a till)
# is at most 900 bytes, which keeps a one-way presentation within two version-25 codes at level M.
MAX_QR_PORTRAIT = 900
QR_PORTRAIT = binary(MAX_QR_PORTRAIT, magic=_IMAGE_MAGIC)
# UK driver number: 5 surname characters (9-padded), decade digit, month (+50 for women), day, year digit,
# 2 initials (9-padded), a computer digit, 2 check letters.
UK_DRIVER_NUMBER = text(16, pattern=r"[A-Z9]{5}\d[0156]\d[0-3]\d\d[A-Z9]{2}\d[A-Z]{2}")

DRIVING_PRIVILEGE = record(
    {
        "vehicle_category_code": (text(8), True),
        "issue_date": (date_, False),
        "expiry_date": (date_, False),
        "codes": (
            array(record({"code": (text(8), True), "sign": (text(8), False), "value": (text(32), False)})),
            False,
        ),
    }
)
ENDORSEMENT = record(
    {
        "code": (text(8, pattern=r"[A-Z]{2}\d{2}"), True),
        "offence_date": (date_, True),
        "points": (uint(12), True),
        "expiry_date": (date_, False),
    }
)


# ------------------------------------------------------------------------------------------ elements
@dataclass(frozen=True)
class Element:
    """One data element: identifier, how to convert and check its value, and whether it must be there."""

    identifier: str
    convert: Converter
    required: bool = False
    description: str = ""
    derived: bool = False  # computed from birth_date when not given

    @property
    def cddl(self) -> str:
        return getattr(self.convert, "cddl", "any")


@dataclass(frozen=True)
class Profile:
    """A credential type: its docType, its namespaces and elements, and the age rules it follows."""

    doctype: str
    title: str
    namespaces: dict[str, dict[str, Element]]
    age_namespace: str | None = None
    age_thresholds: tuple[int, ...] = ()
    input_only: frozenset[str] = field(default_factory=frozenset)  # used for derivation, never issued
    default_validity_days: int = 365

    def element(self, namespace: str, identifier: str) -> Element | None:
        """The element ``identifier`` of ``namespace``, or None if this credential type has no such element."""
        return self.namespaces.get(namespace, {}).get(identifier)


def _elements(*items: Element) -> dict[str, Element]:
    return {e.identifier: e for e in items}


def _person(source: str = "") -> list[Element]:
    """The name and birth date every credential of a person starts with (``source``: where the name comes from)."""
    return [
        Element("family_name", text(), True, f"last name{source}"),
        Element("given_name", text(), True, f"first names{source}"),
        Element("birth_date", date_, True, "date of birth"),
    ]


def _age_elements(thresholds: tuple[int, ...], required: bool) -> list[Element]:
    return [
        Element(f"age_over_{n:02d}", boolean, required, f"holder is at least {n} years old", derived=True)
        for n in thresholds
    ]


_SEX = uint(9, choices=(0, 1, 2, 9))  # ISO/IEC 5218
_COLOURS_EYE = ("black", "blue", "brown", "dichromatic", "grey", "green", "hazel", "maroon", "pink", "unknown")
_COLOURS_HAIR = ("bald", "black", "blond", "brown", "grey", "red", "auburn", "sandy", "white", "unknown")

MDL = Profile(
    doctype=DOCTYPE_MDL,
    title="Driving licence",
    namespaces={
        NS_ISO: _elements(
            *_person(),
            Element("issue_date", date_, True, "date the licence was issued"),
            Element("expiry_date", date_, True, "date the licence expires"),
            Element("issuing_country", COUNTRY, True, "ISO 3166-1 alpha-2 code of the issuing country"),
            Element("issuing_authority", text(), True, "issuing authority"),
            Element("document_number", UK_DRIVER_NUMBER, True, "UK driver number"),
            Element("portrait", PORTRAIT, True, "portrait (JPEG)"),
            Element("driving_privileges", array(DRIVING_PRIVILEGE, min_items=1), True, "vehicle categories"),
            Element("un_distinguishing_sign", text(3, pattern=r"[A-Z]{1,3}"), True, "UN distinguishing sign"),
            Element("administrative_number", text(), False, "administrative number"),
            Element("sex", _SEX, False, "sex (ISO/IEC 5218)"),
            Element("height", uint(300), False, "height in cm"),
            Element("weight", uint(500), False, "weight in kg"),
            Element("eye_colour", text(choices=_COLOURS_EYE), False, "eye colour"),
            Element("hair_colour", text(choices=_COLOURS_HAIR), False, "hair colour"),
            Element("birth_place", text(), False, "place of birth"),
            Element("resident_address", text(), False, "address"),
            Element("resident_city", text(), False, "town or city"),
            Element("resident_postal_code", text(10), False, "postcode"),
            Element("resident_country", COUNTRY, False, "country of residence"),
            Element("portrait_capture_date", datetime_, False, "when the portrait was taken"),
            Element("age_in_years", uint(150), False, "age in years", derived=True),
            Element("age_birth_year", uint(9999), False, "year of birth", derived=True),
            *_age_elements(UK_AGE_THRESHOLDS, False),
            Element("issuing_jurisdiction", text(), False, "issuing jurisdiction (ISO 3166-2)"),
            Element("nationality", COUNTRY, False, "nationality"),
            Element("signature_usual_mark", binary(MAX_PORTRAIT), False, "signature image"),
        ),
        NS_DVLA: _elements(
            Element("licence_type", text(choices=("full", "provisional")), True, "full or provisional licence"),
            Element("penalty_points", uint(99), False, "current penalty points"),
            Element("endorsements", array(ENDORSEMENT), False, "endorsements"),
            Element("title", text(20), False, "title (Mr, Ms, Dr ...)"),
        ),
    },
    age_namespace=NS_ISO,
    age_thresholds=UK_AGE_THRESHOLDS,
    default_validity_days=365,
)
"""The UK driving licence: the ISO namespace and the DVLA's (specs/mdoc.md has the element tables)."""

PROOF_OF_AGE = Profile(
    doctype=DOCTYPE_AGE,
    title="Proof of age",
    namespaces={
        NS_AGE: _elements(
            *_age_elements(UK_AGE_THRESHOLDS, True),
            Element("portrait", QR_PORTRAIT, True, "portrait (JPEG, at most 900 bytes: made for QR codes)"),
            Element("issue_date", date_, True, "date of issue"),
            Element("expiry_date", date_, True, "date of expiry"),
            Element("issuing_country", COUNTRY, True, "issuing country"),
            Element("issuing_authority", text(), True, "issuing authority"),
        ),
    },
    age_namespace=NS_AGE,
    age_thresholds=UK_AGE_THRESHOLDS,
    input_only=frozenset({"birth_date"}),
    default_validity_days=90,
)
"""The proof of age: age_over_NN for the UK thresholds and a small portrait, sized for a QR code."""

_BARRED_LIST = text(choices=("not_barred", "barred", "not_checked"))

DBS_CHECK = Profile(
    doctype=DOCTYPE_DBS,
    title="DBS check",
    namespaces={
        NS_DBS: _elements(
            *_person(", as on the certificate"),
            Element("certificate_number", text(12, pattern=r"\d{12}"), True, "DBS certificate number"),
            Element(
                "certificate_level",
                text(choices=("basic", "standard", "enhanced", "enhanced_barred_lists")),
                True,
                "level of check",
            ),
            Element("workforce", text(choices=("child", "adult", "child_and_adult", "other")), True, "workforce"),
            Element("issue_date", date_, True, "date the certificate was issued"),
            Element("outcome", text(choices=("clear", "information_disclosed")), True, "certificate outcome"),
            Element("barred_list_children", _BARRED_LIST, False, "children's barred list result"),
            Element("barred_list_adults", _BARRED_LIST, False, "adults' barred list result"),
            Element("update_service_subscribed", boolean, True, "certificate is on the DBS Update Service"),
            Element("update_service_checked", date_, False, "last Update Service status check"),
            Element("issuing_country", COUNTRY, True, "issuing country"),
            Element("issuing_authority", text(), True, "issuing authority"),
        ),
    },
    default_validity_days=365,
)
"""The DBS check: certificate level, workforce, number, outcome, barred lists, Update Service status."""

SAFEGUARDING_TRAINING = Profile(
    doctype=DOCTYPE_TRAINING,
    title="Safeguarding training",
    namespaces={
        NS_TRAINING: _elements(
            *_person(),
            Element("course", text(), True, "course title"),
            Element("level", text(choices=("basic", "intermediate", "advanced", "designated_lead")), True,
                    "safeguarding level"),
            Element("completion_date", date_, True, "date the course was completed"),
            Element("renewal_date", date_, True, "date the training must be renewed"),
            Element("issuing_country", COUNTRY, True, "issuing country"),
            Element("issuing_authority", text(), True, "training body"),
        ),
    },
    default_validity_days=365,
)

PROFILES: dict[str, Profile] = {p.doctype: p for p in (MDL, PROOF_OF_AGE, DBS_CHECK, SAFEGUARDING_TRAINING)}
"""Every registered credential type by docType: what :func:`didlib.mdoc.issue_mdoc` accepts
(:func:`register` adds one)."""

_AGE_CHECK = [f"age_over_{n:02d}" for n in UK_AGE_THRESHOLDS] + ["portrait"]
# What a shop's reader needs for an age check, and no more (the default reader entitlement).
AGE_CHECK_ENTITLEMENT: dict[str, dict[str, list[str]]] = {
    DOCTYPE_MDL: {NS_ISO: _AGE_CHECK},
    DOCTYPE_AGE: {NS_AGE: _AGE_CHECK},
}


# What a website asking "over NN?" needs: the age statements only, no portrait (nobody compares a face online).
ONLINE_AGE_ENTITLEMENT: dict[str, dict[str, list[str]]] = {
    DOCTYPE_MDL: {NS_ISO: _AGE_CHECK[:-1]},
    DOCTYPE_AGE: {NS_AGE: _AGE_CHECK[:-1]},
}
"""What a website asking "over NN?" may ask for: the age statements only, no portrait (nobody
compares a face online). A website's reader certificate carries this."""

# What a youth organisation's volunteer register keeps of each credential (``intent_to_retain`` true in its
# requests), per docType and namespace; everything else it asks for is only looked at (specs/volunteers.md).
VOLUNTEER_RETAINED: dict[str, dict[str, list[str]]] = {
    DOCTYPE_MDL: {NS_ISO: ["given_name", "family_name", "birth_date"]},
    DOCTYPE_DBS: {NS_DBS: ["certificate_level", "workforce", "certificate_number", "issue_date"]},
    DOCTYPE_TRAINING: {NS_TRAINING: ["level", "renewal_date"]},
}
"""What a youth organisation's volunteer register keeps of each credential (``intent_to_retain``);
everything else it asks for is only looked at (specs/volunteers.md)."""


def profile_for(doctype: str) -> Profile:
    """The profile of ``doctype``; an :class:`IssuanceError` (``unknown_doctype``) for one nobody registered."""
    try:
        return PROFILES[doctype]
    except KeyError:
        raise IssuanceError(
            f"unknown docType {doctype!r}; known: {', '.join(PROFILES)}", code="unknown_doctype"
        ) from None


def register(profile: Profile) -> Profile:
    """Add a credential type of your own: from then on :func:`didlib.mdoc.issue_mdoc` issues it and checks
    the issuer's input against its elements, as it does for the built-in ones. A docType names one profile:
    registering one that is taken (a built-in one included) is a :class:`UsageError` (``doctype_taken``),
    never a silent replacement."""
    if profile.doctype in PROFILES:
        raise UsageError(f"docType {profile.doctype!r} is already registered", code="doctype_taken")
    PROFILES[profile.doctype] = profile
    return profile


def markdown_tables() -> str:
    """The element tables of ``specs/mdoc.md``, generated from this registry (a test keeps them equal)."""
    lines: list[str] = []
    for profile in PROFILES.values():
        lines.append(f"### {profile.title}: `{profile.doctype}`\n")
        for ns, elements in profile.namespaces.items():
            lines.append(f"Namespace `{ns}`:\n")
            lines.append("| element | CBOR type | required | meaning |")
            lines.append("|---|---|---|---|")
            for element in elements.values():
                required = "yes" if element.required else "no"
                if element.derived:
                    required += ", derived from `birth_date`"
                lines.append(f"| `{element.identifier}` | `{element.cddl}` | {required} | {element.description} |")
            lines.append("")
    return "\n".join(lines)


def update_spec(path: str) -> None:
    """Rewrite the generated tables between the registry-tables markers of a spec file."""
    import re
    from pathlib import Path

    spec = Path(path)
    text = spec.read_text()
    pattern = re.compile(r"(<!-- registry-tables:start -->\n).*(\n<!-- registry-tables:end -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"{path} has no registry-tables markers")
    spec.write_text(pattern.sub(lambda m: m.group(1) + markdown_tables() + m.group(2), text))


if __name__ == "__main__":  # pragma: no cover
    import sys

    if sys.argv[1:2] == ["--update"]:
        update_spec(sys.argv[2])
    else:
        print(markdown_tables())
