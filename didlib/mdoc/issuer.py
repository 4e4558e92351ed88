"""Issuing an mdoc: check the data against its profile, derive the age elements, sign the MSO.

Each element gets a fresh 32-byte salt and a random, unique digest ID, so neither the digests nor their
order say anything about undisclosed elements (18013-5 9.1.2.5 and its privacy annex).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from didlib.cbor import Embedded, tdate
from didlib.cose import HDR_X5CHAIN, Sign1, x5chain_header
from didlib.errors import IssuanceError
from didlib.keys import PrivateKey, PublicKey, cose_key_from_public, same_public_key
from didlib.mdoc.registry import Profile, date_, profile_for
from didlib.mdoc.structures import IssuerSigned, IssuerSignedItem
from didlib.times import day_start

__all__ = ["issue_mdoc", "issue_mdocs", "prepare_elements", "prepare_issuance", "birthday"]

SALT_BYTES = 32


def birthday(born: dt.date, years: int) -> dt.date:
    """The day someone born on ``born`` turns ``years`` (29 February counts from 1 March, as in UK law)."""
    try:
        return born.replace(year=born.year + years)
    except ValueError:
        return dt.date(born.year + years, 3, 1)


def _age_on(born: dt.date, day: dt.date) -> int:
    age = day.year - born.year
    return age if birthday(born, age) <= day else age - 1


def _as_date(value: Any) -> dt.date:
    tagged = value if isinstance(value, cbor2.CBORTag) else None
    return dt.date.fromisoformat(tagged.value) if tagged else value


def prepare_elements(
    profile: Profile, data: Mapping[str, Mapping[str, Any]], today: dt.date
) -> tuple[dict[str, dict[str, Any]], dt.date | None]:
    """Validate and convert issuer input; derive age elements.

    Returns the CBOR-ready elements per namespace and the last day on which every issued age statement is
    still true (the credential must not be valid beyond it), or None when no such limit applies.
    """
    if not isinstance(data, Mapping):
        raise IssuanceError("credential data must be an object of namespaces")
    out: dict[str, dict[str, Any]] = {}
    birth: dt.date | None = None
    for ns, elements in data.items():
        if ns not in profile.namespaces:
            raise IssuanceError(f"namespace {ns!r} is not part of {profile.doctype}", code="unknown_namespace")
        if not isinstance(elements, Mapping):
            raise IssuanceError(f"{ns} must be an object of elements")
        converted: dict[str, Any] = {}
        for name, value in elements.items():
            if ns == profile.age_namespace and name in profile.input_only:
                birth = _as_date(date_(value, f"{ns}.{name}"))
                continue
            element = profile.element(ns, name)
            if element is None:
                raise IssuanceError(f"{ns}.{name} is not an element of {profile.doctype}", code="unknown_element")
            converted[name] = element.convert(value, f"{ns}.{name}")
        out[ns] = converted
    limit = None
    if profile.age_namespace:
        age_ns = out.setdefault(profile.age_namespace, {})
        if "birth_date" in age_ns:
            birth = _as_date(age_ns["birth_date"])
        if birth is not None:
            limit = _derive_ages(profile, age_ns, birth, today)
    for ns, elements in profile.namespaces.items():
        for name, element in elements.items():
            if element.required and name not in out.get(ns, {}):
                hint = " (or give birth_date to derive it)" if element.derived else ""
                raise IssuanceError(f"{ns}.{name} is required{hint}", code="missing_element")
    return {ns: els for ns, els in out.items() if els}, limit


def _derive_ages(profile: Profile, age_ns: dict[str, Any], birth: dt.date, today: dt.date) -> dt.date | None:
    if birth > today:
        raise IssuanceError("birth_date is in the future", code="invalid_element")
    age = _age_on(birth, today)
    last_true: list[dt.date] = []
    for threshold in profile.age_thresholds:
        name = f"age_over_{threshold:02d}"
        over = age >= threshold
        if name in age_ns and age_ns[name] != over:
            raise IssuanceError(f"{name} contradicts birth_date", code="inconsistent_age")
        age_ns.setdefault(name, over)
        if not age_ns[name]:
            last_true.append(birthday(birth, threshold) - dt.timedelta(days=1))
    ns_elements = profile.namespaces[profile.age_namespace or ""]
    if "age_in_years" in ns_elements:
        if age_ns.setdefault("age_in_years", age) != age:
            raise IssuanceError("age_in_years contradicts birth_date", code="inconsistent_age")
        last_true.append(birthday(birth, age + 1) - dt.timedelta(days=1))
    if "age_birth_year" in ns_elements and age_ns.setdefault("age_birth_year", birth.year) != birth.year:
        raise IssuanceError("age_birth_year contradicts birth_date", code="inconsistent_age")
    return min(last_true) if last_true else None


def prepare_issuance(
    profile: Profile,
    data: Mapping[str, Mapping[str, Any]],
    now: dt.datetime | None,
    valid_for: dt.timedelta | None,
    signer_key: PrivateKey,
    signer_chain: list[x509.Certificate],
) -> tuple[dt.datetime, dict[str, dict[str, Any]], dt.datetime]:
    """What every format issues alike: the checked elements, the time of signing and the end of validity.

    Times are coarse (see :mod:`didlib.times`): signing is dated at the start of the UTC day, or at the signer
    certificate's start if that is later the same day (18013-5 9.3.1 has the reader check that ``signed`` lies
    within the certificate's validity), and validity is rounded down to a day's start, so no credential is valid
    longer than the rules allow. It ends at the earliest of signing + ``valid_for`` (default: the profile's), the
    day an issued age statement stops being true, and the signer certificate's end. The signer must be current
    and match.
    """
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0)
    elements, last_true_day = prepare_elements(profile, data, now.date())
    signer_cert = signer_chain[0]
    if not (signer_cert.not_valid_before_utc <= now <= signer_cert.not_valid_after_utc):
        raise IssuanceError("the document signer certificate is not valid now", code="signer_expired")
    if not same_public_key(signer_cert.public_key(), signer_key.public_key()):  # type: ignore[arg-type]
        raise IssuanceError("signer key does not match the document signer certificate", code="signer_mismatch")
    signed = max(day_start(now), signer_cert.not_valid_before_utc)
    ends = [
        signed + (valid_for or dt.timedelta(days=profile.default_validity_days)),
        signer_cert.not_valid_after_utc,
    ]
    if last_true_day is not None:
        ends.append(dt.datetime.combine(last_true_day + dt.timedelta(days=1), dt.time(), dt.UTC))
    valid_until = day_start(min(ends))
    if valid_until <= now:
        raise IssuanceError("the credential would already be invalid", code="invalid_validity")
    return signed, elements, valid_until


def _salted_items(values: Mapping[str, Any]) -> list[IssuerSignedItem]:
    """One namespace's items, each with a fresh salt and a digest ID from a random permutation of 0..n-1, so
    an ID says nothing about which element it is or in which order elements were issued, and small IDs keep
    QR payloads short (the MSO shows n anyway). The permutation sorts by 8 random bytes per element and the
    salts follow them: one read of the system's random source per namespace instead of two per element."""
    n = len(values)
    drawn = secrets.token_bytes((8 + SALT_BYTES) * n)
    ids = sorted(range(n), key=lambda i: drawn[8 * i : 8 * i + 8])
    salts = [drawn[8 * n + SALT_BYTES * i : 8 * n + SALT_BYTES * (i + 1)] for i in range(n)]
    return [
        IssuerSignedItem.create(digest_id, salt, name, value)
        for digest_id, salt, (name, value) in zip(ids, salts, values.items(), strict=True)
    ]


def issue_mdoc(
    doctype: str,
    data: Mapping[str, Mapping[str, Any]],
    *,
    signer_key: PrivateKey,
    signer_chain: list[x509.Certificate],
    device_key: PublicKey,
    now: dt.datetime | None = None,
    valid_for: dt.timedelta | None = None,
    status: Mapping[str, Any] | None = None,
    digest_algorithm: str = "SHA-256",
    key_authorizations: Mapping[str, Any] | None = None,
) -> IssuerSigned:
    """Issue a credential of ``doctype`` for the holder's ``device_key``.

    ``signer_chain`` is the document signer certificate (optionally followed by more) for ``x5chain``.
    ``status`` is the MSO ``status`` map (Token Status List reference) when revocation is used.
    ``key_authorizations`` is the MSO's KeyAuthorizations (9.1.2.4): what the device key may sign itself.
    """
    return issue_mdocs(
        doctype, data, signer_key=signer_key, signer_chain=signer_chain, device_keys=[device_key], now=now,
        valid_for=valid_for, statuses=[status], digest_algorithm=digest_algorithm,
        key_authorizations=key_authorizations,
    )[0]


def issue_mdocs(
    doctype: str,
    data: Mapping[str, Mapping[str, Any]],
    *,
    signer_key: PrivateKey,
    signer_chain: list[x509.Certificate],
    device_keys: Sequence[PublicKey],
    now: dt.datetime | None = None,
    valid_for: dt.timedelta | None = None,
    statuses: Sequence[Mapping[str, Any] | None] | None = None,
    digest_algorithm: str = "SHA-256",
    key_authorizations: Mapping[str, Any] | None = None,
) -> list[IssuerSigned]:
    """A batch of credentials with the same data, one for each of ``device_keys`` (and the status reference
    at the same place in ``statuses``): a wallet's single-use proofs of age. The data and the signer are
    checked once; each credential still gets salts, digest IDs and a signature of its own, so no two can be
    linked by anything but the values they disclose."""
    if statuses is not None and len(statuses) != len(device_keys):
        raise IssuanceError("one status reference per device key", code="invalid_data")
    profile = profile_for(doctype)
    now, elements, valid_until = prepare_issuance(profile, data, now, valid_for, signer_key, signer_chain)
    x5chain = {HDR_X5CHAIN: x5chain_header([c.public_bytes(serialization.Encoding.DER) for c in signer_chain])}
    validity = {"signed": tdate(now), "validFrom": tdate(now), "validUntil": tdate(valid_until)}
    issued = []
    for device_key, status in zip(device_keys, statuses or [None] * len(device_keys), strict=True):
        namespaces = {ns: _salted_items(values) for ns, values in elements.items()}
        digests = {ns: {i.digest_id: i.digest(digest_algorithm) for i in items} for ns, items in namespaces.items()}
        mso: dict[str, Any] = {
            "version": "1.0",
            "digestAlgorithm": digest_algorithm,
            "valueDigests": digests,
            "deviceKeyInfo": {"deviceKey": cose_key_from_public(device_key)}
            | ({"keyAuthorizations": dict(key_authorizations)} if key_authorizations else {}),
            "docType": doctype,
            "validityInfo": validity,
        }
        if status:
            mso["status"] = dict(status)
        auth = Sign1.create(signer_key, Embedded.wrap(mso).raw, unprotected=x5chain)
        issued.append(IssuerSigned(namespaces, auth, auth.to_cbor()))
    return issued
