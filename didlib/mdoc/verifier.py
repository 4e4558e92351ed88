"""Verifying a DeviceResponse (18013-5 9.3.1): every check, each one named in the result.

A document is valid only when all of these hold: the document signer chains to a trusted IACA at
``now`` and fits its profile; the MSO signature verifies; the MSO is for this docType and inside its
validity window; every disclosed element's IssuerSignedItemBytes hash to the MSO digest under its
namespace and ID; and the device key in the MSO authenticated this session's transcript. Elements are
returned only once their digest has matched.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography import x509

from didlib.cbor import DEFAULT_LIMITS, Embedded, Limits, decode
from didlib.cose import HDR_X5CHAIN
from didlib.errors import DecodeError, DidlibError, UntrustedIssuer, VerificationError
from didlib.keys import PrivateKey, PublicKey
from didlib.mdoc.device_auth import verify_device_auth
from didlib.mdoc.structures import IssuerSigned, MobileSecurityObject
from didlib.pki import Purpose, common_name_of, country_of, public_key_of, validity_of
from didlib.trust import TrustStore
from didlib.verification import Problem

__all__ = ["verify_response", "VerificationResult", "DocumentResult", "Problem"]

MAX_DOCUMENTS = 16
CHECKS = (
    "structure", "issuer_chain", "issuer_signature", "mso", "validity", "digests", "device_auth", "device_signed"
)


@dataclass
class DocumentResult:
    """What was learned about one document, and what was proven."""

    doctype: str | None = None
    elements: dict[str, dict[str, Any]] = field(default_factory=dict)  # issuer-signed, digests matched
    # device-signed (18013-5 8.3.2.1.2.2), authorised by the MSO's keyAuthorizations: the holder's own
    # statements, never the issuer's, so never merged into ``elements``
    device_signed: dict[str, dict[str, Any]] = field(default_factory=dict)
    issuer: str | None = None
    issuer_country: str | None = None
    device_auth: str | None = None
    valid_until: dt.datetime | None = None
    checks: dict[str, bool] = field(default_factory=dict)
    errors: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    not_returned: dict[str, list[str]] = field(default_factory=dict)
    status: Any = None  # a didlib.status.StatusResult when a status checker was given
    mso: MobileSecurityObject | None = field(default=None, repr=False)
    signer_certificate: x509.Certificate | None = field(default=None, repr=False)

    @property
    def valid(self) -> bool:
        return not self.errors and all(self.checks.get(name) for name in CHECKS)

    @property
    def device_key(self) -> PublicKey | None:
        """The holder's device key, proven present by device authentication (for same-holder checks)."""
        return self.mso.device_key if self.mso is not None and self.checks.get("device_auth") else None

    def fail(self, check: str, error: DidlibError) -> None:
        """Record a failed check and its problem: every check is reported, not just the first to fail."""
        self.checks[check] = False
        self.errors.append(Problem.of(error))


@dataclass
class VerificationResult:
    """What :func:`verify_response` found: ``valid`` only when every document passed every check;
    ``errors`` (stable codes) for the response and each document; ``status`` is the DeviceResponse's."""

    valid: bool
    documents: list[DocumentResult]
    errors: list[Problem]
    status: int | None = None


def verify_response(
    data: bytes,
    *,
    trust: TrustStore,
    session_transcript: bytes | None,
    reader_key: PrivateKey | None = None,
    now: dt.datetime | None = None,
    limits: Limits = DEFAULT_LIMITS,
    status_checker: Any = None,
) -> VerificationResult:
    """Verify a DeviceResponse for a session.

    ``session_transcript`` is the encoded SessionTranscript array the device must have authenticated;
    ``reader_key`` is the reader's ephemeral private key, needed only for deviceMac; ``now`` defaults to
    the current time (tests inject the time of the vectors). ``status_checker`` (a
    :class:`didlib.status.StatusChecker` over cached lists) resolves each MSO's ``status`` reference; a
    revoked or suspended credential is invalid, an unknown status is reported but does not fail it.
    """
    now = now or dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        raise VerificationError("now must be a timezone-aware datetime", code="usage")
    errors: list[Problem] = []
    try:
        response = decode(data, limits)
        documents, status = _response_parts(response)
    except DidlibError as exc:
        return VerificationResult(False, [], [Problem.of(exc)])
    if status != 0:
        errors.append(Problem("response_status", f"the device reported status {status}"))
    if not documents:
        errors.append(Problem("no_documents", "the response holds no documents"))
    if session_transcript is not None:
        try:
            _check_transcript(session_transcript)
        except DidlibError as exc:
            return VerificationResult(False, [], [Problem.of(exc)], status)
    results = [_verify_document(doc, trust, session_transcript, reader_key, now) for doc in documents]
    if status_checker is not None:
        for result in results:
            _check_status(result, status_checker, now)
    for index, result in enumerate(results):
        errors.extend(Problem(p.code, f"documents[{index}]: {p.message}") for p in result.errors)
    valid = not errors and all(r.valid for r in results)
    return VerificationResult(valid, results, errors, status)


def _check_transcript(transcript: bytes) -> None:
    """The caller's own SessionTranscript, checked for shape only: its tag-24 parts are spliced into
    DeviceAuthentication as they are, so plain cbor2 (no span tracking, a tenth of the cost) suffices."""
    try:
        value = cbor2.loads(transcript, max_depth=DEFAULT_LIMITS.max_depth)
    except cbor2.CBORError as exc:
        raise DecodeError(f"SessionTranscript is not CBOR: {exc}") from exc
    if not isinstance(value, list) or len(value) != 3:
        raise DecodeError("SessionTranscript must be an array of three elements", code="bad_transcript")


def _response_parts(response: Any) -> tuple[list[Any], int]:
    if not isinstance(response, dict):
        raise DecodeError("DeviceResponse must be a map")
    version = response.get("version")
    if not isinstance(version, str) or not version.startswith("1."):
        raise DecodeError(f"DeviceResponse version {version!r} is not supported", code="unsupported")
    status = response.get("status")
    if isinstance(status, bool) or not isinstance(status, int):
        raise DecodeError("DeviceResponse has no status")
    documents = response.get("documents", [])
    if not isinstance(documents, list) or len(documents) > MAX_DOCUMENTS:
        raise DecodeError(f"DeviceResponse documents must be an array of at most {MAX_DOCUMENTS}")
    return documents, status


def _verify_document(
    doc: Any,
    trust: TrustStore,
    transcript: bytes | None,
    reader_key: PrivateKey | None,
    now: dt.datetime,
) -> DocumentResult:
    result = DocumentResult()
    try:
        if not isinstance(doc, dict) or not isinstance(doc.get("docType"), str):
            raise DecodeError("document must be a map with a docType")
        result.doctype = doc["docType"]
        issuer_signed = IssuerSigned.parse(doc.get("issuerSigned"))
        device_signed = doc.get("deviceSigned")
        if not isinstance(device_signed, dict) or not isinstance(device_signed.get("nameSpaces"), Embedded):
            raise DecodeError("deviceSigned must hold nameSpaces as #6.24(bstr .cbor DeviceNameSpaces)")
        device_namespaces = device_signed["nameSpaces"]
        device_items = _device_items(device_namespaces.decode())
        result.not_returned = _not_returned(doc.get("errors"))
        mso = issuer_signed.mso()
        result.mso = mso
        chain = _issuer_chain(issuer_signed, trust)
    except DidlibError as exc:
        result.fail("structure", exc)
        return result
    result.checks["structure"] = True
    signer = chain[0]
    result.signer_certificate = signer
    result.issuer, result.issuer_country = common_name_of(signer), country_of(signer)

    try:
        chained = trust.check(chain, Purpose.DOCUMENT_SIGNER, now)
        result.warnings.extend(chained.warnings)
        result.issuer = common_name_of(chained.anchor)
        result.checks["issuer_chain"] = True
    except DidlibError as exc:
        result.fail("issuer_chain", exc)

    try:
        issuer_signed.issuer_auth.verify(public_key_of(signer))
        result.checks["issuer_signature"] = True
    except DidlibError as exc:
        result.fail("issuer_signature", exc)

    if mso.doctype != result.doctype:
        result.fail(
            "mso",
            VerificationError(
                f"the MSO is for {mso.doctype!r}, the document says {result.doctype!r}", code="doctype_mismatch"
            ),
        )
    else:
        result.checks["mso"] = True

    result.valid_until = mso.valid_until
    _check_validity(result, mso, signer, now)
    _check_digests(result, issuer_signed, mso)

    if transcript is None:
        result.fail(
            "device_auth",
            VerificationError(
                "no SessionTranscript was given, so device authentication cannot be checked", code="no_transcript"
            ),
        )
    else:
        try:
            result.device_auth = verify_device_auth(
                device_signed.get("deviceAuth"),
                mso.device_key,
                transcript,
                result.doctype,
                device_namespaces,
                reader_key,
            )
            result.checks["device_auth"] = True
        except DidlibError as exc:
            result.fail(
                "device_auth",
                exc
                if exc.code not in ("bad_signature", "bad_mac")
                else VerificationError(f"device authentication failed: {exc.message}", code="device_auth_failed"),
            )
    _check_device_signed(result, mso, device_items)
    return result


def _device_items(value: Any) -> dict[str, dict[str, Any]]:
    """DeviceNameSpaces = {* NameSpace => {+ DataElementIdentifier => DataElementValue}} (8.3.2.1.2.2)."""
    if not isinstance(value, dict) or not all(
        isinstance(ns, str) and isinstance(items, dict) and items and all(isinstance(e, str) for e in items)
        for ns, items in value.items()
    ):
        raise DecodeError("DeviceNameSpaces must map namespaces to non-empty maps of data elements")
    return value


def _check_device_signed(
    result: DocumentResult, mso: MobileSecurityObject, items: dict[str, dict[str, Any]]
) -> None:
    """18013-5 9.1.2.4: the device key may sign only what the MSO's keyAuthorizations grant (whole namespaces
    in ``nameSpaces``, single elements in ``dataElements``). An element it signed without authorisation
    fails the document; authorised ones are reported apart, once device authentication has proven them."""
    granted = mso.key_authorizations or {}
    spaces = granted.get("nameSpaces")
    elements = granted.get("dataElements")
    spaces = spaces if isinstance(spaces, list) else []
    elements = elements if isinstance(elements, dict) else {}
    unauthorised = [
        f"{ns}/{element}"
        for ns, values in items.items()
        for element in values
        if ns not in spaces and not (isinstance(elements.get(ns), list) and element in elements[ns])
    ]
    if unauthorised:
        result.fail(
            "device_signed",
            VerificationError(
                f"the device key is not authorised to sign {', '.join(unauthorised)}", code="device_signed_unauthorised"
            ),
        )
        return
    result.checks["device_signed"] = True
    result.device_signed = items if result.checks.get("device_auth") else {}


def _issuer_chain(issuer_signed: IssuerSigned, trust: TrustStore) -> list[x509.Certificate]:
    """x5chain, or for a compact presentation the document signer its ``x5t`` names in the trust store."""
    auth = issuer_signed.issuer_auth
    x5t = auth.x5t() if auth.header(HDR_X5CHAIN) is None else None
    if x5t is not None:
        cert = trust.document_signer(x5t)
        if cert is None:
            raise UntrustedIssuer(
                "the presentation names a document signer the trust list does not know", code="unknown_document_signer"
            )
        return [cert]
    return auth.x5chain()


def _check_status(result: DocumentResult, checker: Any, now: dt.datetime) -> None:
    if result.mso is None or result.mso.status is None:
        return
    result.status = checker.check_reference(result.mso.status, now)
    if result.status.state in ("invalid", "suspended"):
        word = "revoked" if result.status.state == "invalid" else "suspended"
        result.errors.append(Problem(f"status_{result.status.state}", f"the issuer has {word} this credential"))


def _not_returned(errors: Any) -> dict[str, list[str]]:
    if errors is None:
        return {}
    if not isinstance(errors, dict) or not all(isinstance(v, dict) for v in errors.values()):
        raise DecodeError("document errors must map namespaces to maps of element error codes")
    return {str(ns): [str(e) for e in items] for ns, items in errors.items()}


def _check_validity(
    result: DocumentResult, mso: MobileSecurityObject, signer: x509.Certificate, now: dt.datetime
) -> None:
    for moment in (mso.signed, mso.valid_from, mso.valid_until):
        if moment.tzinfo is None:
            result.fail("validity", DecodeError("MSO validity times must carry a time zone"))
            return
    not_before, not_after = validity_of(signer)
    if mso.valid_until < mso.valid_from:
        result.fail("validity", VerificationError("MSO validUntil is before validFrom", code="mso_invalid_window"))
    elif now < mso.valid_from:
        result.fail(
            "validity",
            VerificationError(
                f"the credential is not valid before {mso.valid_from:%Y-%m-%dT%H:%M:%SZ}", code="mso_not_yet_valid"
            ),
        )
    elif now > mso.valid_until:
        result.fail(
            "validity",
            VerificationError(f"the credential expired at {mso.valid_until:%Y-%m-%dT%H:%M:%SZ}", code="mso_expired"),
        )
    elif not not_before <= mso.signed <= not_after:
        result.fail(
            "validity",
            VerificationError(
                "the MSO was signed outside the document signer certificate's validity",
                code="signed_outside_certificate",
            ),
        )
    else:
        result.checks["validity"] = True


def _check_digests(result: DocumentResult, issuer_signed: IssuerSigned, mso: MobileSecurityObject) -> None:
    problems: list[DidlibError] = []
    verified: dict[str, dict[str, Any]] = {}
    for ns, items in issuer_signed.namespaces.items():
        digests = mso.value_digests.get(ns)
        seen_ids: set[int] = set()
        for item in items:
            where = f"{ns}/{item.identifier}"
            if item.digest_id in seen_ids or item.identifier in verified.get(ns, {}):
                problems.append(VerificationError(f"{where} appears twice", code="duplicate_element"))
                continue
            seen_ids.add(item.digest_id)
            expected = digests.get(item.digest_id) if digests else None
            if expected is None:
                problems.append(
                    VerificationError(f"{where} has digest ID {item.digest_id} not in the MSO", code="unknown_digest")
                )
            elif item.digest(mso.digest_algorithm) != expected:
                problems.append(
                    VerificationError(f"{where} does not match its digest in the MSO", code="digest_mismatch")
                )
            else:
                verified.setdefault(ns, {})[item.identifier] = item.value
    if problems:
        result.checks["digests"] = False
        result.errors.extend(Problem.of(p) for p in problems)
    else:
        result.checks["digests"] = True
    # Values are handed out only when they are proven to come from a trusted issuer.
    trusted = result.checks.get("issuer_chain") and result.checks.get("issuer_signature")
    result.elements = verified if trusted else {}
