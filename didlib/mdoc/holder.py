"""The holder's side: keep an issued credential, and present chosen elements of it.

Only the elements asked for (and held) leave the wallet; everything else stays behind its digest in the
MSO. Elements asked for but not held are reported back per 18013-5 8.3.2.1.2.2 as errors.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from didlib.cbor import DEFAULT_LIMITS, Embedded, Limits, decode, encode
from didlib.cose import HDR_X5CHAIN, HDR_X5T, X5T_SHA256_64
from didlib.errors import UsageError
from didlib.keys import PrivateKey
from didlib.mdoc.device_auth import create_device_auth
from didlib.mdoc.request import DeviceRequest
from didlib.mdoc.structures import IssuerSigned, IssuerSignedItem, MobileSecurityObject

__all__ = ["Credential", "present", "present_elements", "ERROR_NOT_RETURNED"]

ERROR_NOT_RETURNED = 0
STATUS_OK = 0


@dataclass(frozen=True)
class Credential:
    """An issued mdoc as the wallet stores it: the IssuerSigned structure, with its MSO parsed."""

    issuer_signed: IssuerSigned
    mso: MobileSecurityObject

    @property
    def doctype(self) -> str:
        return self.mso.doctype

    @classmethod
    def from_issuer_signed(cls, issuer_signed: IssuerSigned) -> Credential:
        """The credential as the issuer signed it, with its MSO parsed once for presenting."""
        return cls(issuer_signed, issuer_signed.mso())

    @classmethod
    def from_bytes(cls, data: bytes, limits: Limits = DEFAULT_LIMITS) -> Credential:
        """Parse a stored credential: the CBOR IssuerSigned (as in OpenID4VCI's ``mso_mdoc`` format)."""
        return cls.from_issuer_signed(IssuerSigned.parse(decode(data, limits)))

    def to_bytes(self) -> bytes:
        """The CBOR a wallet stores: the IssuerSigned bytes exactly as issued, since digests cover the
        issued bytes of each item (ISO 18013-5 9.1.2.4)."""
        return self.issuer_signed.to_bytes()

    def compact(self) -> Credential:
        """The same credential naming its document signer by ``x5t`` instead of carrying the certificate.

        For QR codes, where the ~500-byte certificate is a third of the payload; verifiers resolve it from
        their trust list. The certificate sits in the unprotected header, so the signature is unaffected.
        """
        auth = list(self.issuer_signed.issuer_auth_raw)
        header = dict(auth[1])
        ders = header.pop(HDR_X5CHAIN, None)
        if ders is None:
            return self
        der = ders if isinstance(ders, bytes) else ders[0]
        header[HDR_X5T] = [X5T_SHA256_64, hashlib.sha256(der).digest()[:8]]
        auth[1] = header
        return Credential.from_issuer_signed(IssuerSigned.parse({**self.issuer_signed.to_cbor(), "issuerAuth": auth}))

    def elements(self) -> dict[str, dict[str, Any]]:
        """Every issued element by namespace (what the holder could disclose), decoded."""
        return {ns: {i.identifier: i.value for i in items} for ns, items in self.issuer_signed.namespaces.items()}

    def select(
        self, wanted: Mapping[str, Iterable[str]]
    ) -> tuple[dict[str, list[IssuerSignedItem]], dict[str, dict[str, int]]]:
        """Split a request into the items held and the errors for those not held."""
        chosen: dict[str, list[IssuerSignedItem]] = {}
        errors: dict[str, dict[str, int]] = {}
        for ns, names in wanted.items():
            held = {i.identifier: i for i in self.issuer_signed.namespaces.get(ns, [])}
            for name in names:
                if name in held:
                    chosen.setdefault(ns, []).append(held[name])
                else:
                    errors.setdefault(ns, {})[name] = ERROR_NOT_RETURNED
        return chosen, errors

    def resolve(self, disclose: Iterable[str]) -> dict[str, list[str]]:
        """Turn ``element`` or ``namespace:element`` names into a request on this credential."""
        wanted: dict[str, list[str]] = {}
        for name in disclose:
            if ":" in name:
                ns, _, element = name.rpartition(":")
            else:
                matches = [
                    ns
                    for ns, items in self.issuer_signed.namespaces.items()
                    if any(i.identifier == name for i in items)
                ]
                if not matches:
                    raise UsageError(f"this credential holds no element {name!r}", code="unknown_element")
                if len(matches) > 1:
                    raise UsageError(f"{name!r} is in several namespaces; write namespace:{name}")
                ns, element = matches[0], name
            wanted.setdefault(ns, []).append(element)
        return wanted


def _document(
    credential: Credential,
    device_key: PrivateKey,
    requested: dict[str, list[str]],
    allowed: dict[str, Iterable[str]] | None,
    transcript: bytes,
    mac: bool,
) -> dict[str, Any]:
    if allowed is None:
        wanted = requested
    else:
        permitted = {ns: set(els) for ns, els in allowed.items()}
        wanted = {ns: [e for e in els if e in permitted.get(ns, ())] for ns, els in requested.items()}
    chosen, errors = credential.select(wanted)
    for ns, els in requested.items():  # asked for but withheld by the holder: reported as not returned
        for name in els:
            if name not in wanted.get(ns, ()):
                errors.setdefault(ns, {})[name] = ERROR_NOT_RETURNED
    device_namespaces = Embedded.wrap({})
    doc: dict[str, Any] = {
        "docType": credential.doctype,
        "issuerSigned": credential.issuer_signed.to_cbor(chosen),
        "deviceSigned": {
            "nameSpaces": device_namespaces,
            "deviceAuth": create_device_auth(device_key, transcript, credential.doctype, device_namespaces, mac=mac),
        },
    }
    if errors:
        doc["errors"] = errors
    return doc


def present(
    holdings: Sequence[tuple[Credential, PrivateKey]],
    request: DeviceRequest,
    transcript: bytes,
    *,
    mac: bool = False,
    consent: dict[str, dict[str, Iterable[str]]] | None = None,
) -> bytes:
    """Answer a DeviceRequest with a DeviceResponse.

    ``consent`` optionally narrows each docType's request to what the holder agreed to share; anything
    requested but not shared is reported as not returned. ``transcript`` is the encoded SessionTranscript
    array; with ``mac`` the response uses deviceMac instead of deviceSignature.
    """
    by_type = {credential.doctype: (credential, key) for credential, key in holdings}
    documents, document_errors = [], []
    for doc_request in request.doc_requests:
        if doc_request.doctype not in by_type:
            document_errors.append({doc_request.doctype: ERROR_NOT_RETURNED})
            continue
        credential, key = by_type[doc_request.doctype]
        requested = {ns: list(els) for ns, els in doc_request.namespaces.items()}
        allowed = None if consent is None else consent.get(doc_request.doctype, {})
        documents.append(_document(credential, key, requested, allowed, transcript, mac))
    response: dict[str, Any] = {"version": "1.0"}
    if documents:
        response["documents"] = documents
    if document_errors:
        response["documentErrors"] = document_errors
    response["status"] = STATUS_OK
    return encode(response)


def present_elements(
    credential: Credential, device_key: PrivateKey, disclose: Iterable[str], transcript: bytes, *, mac: bool = False
) -> bytes:
    """Present named elements of one credential without a DeviceRequest (CLI, QR one-way flow)."""
    wanted = credential.resolve(disclose)
    request = DeviceRequest.for_elements(
        credential.doctype, {ns: dict.fromkeys(els, False) for ns, els in wanted.items()}
    )
    return present([(credential, device_key)], request, transcript, mac=mac)
