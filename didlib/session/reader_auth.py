"""Reader authentication (ISO/IEC 18013-5 9.1.4) and the reader entitlement extension (didlib's own).

A reader signs ReaderAuthenticationBytes = #6.24(["ReaderAuthentication", SessionTranscript,
ItemsRequestBytes]) with the key of its reader authentication certificate. The wallet checks the chain
against its reader trust anchors and shows the holder who is asking.

18013-5 does not say what a reader may ask for. didlib defines a non-critical certificate extension for it
(OID ``2.25.48341912647673214303003009811925578086``, a UUID-based OID): its extnValue is a DER OCTET STRING
holding a CBOR map ``{docType: {namespace: [element, ...] or "*"}}``. A wallet discloses nothing outside it.
A reader certificate without the extension (any reader not built on didlib) states no permissions: the
holder is warned and decides, unless the wallet is strict and refuses such readers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from didlib.cbor import Embedded, Limits, decode, encode, tag24_bytes
from didlib.cose import HDR_X5CHAIN, Sign1, x5chain_header
from didlib.errors import CertificateError, DecodeError, DidlibError, ReaderNotAuthorised
from didlib.keys import PrivateKey
from didlib.pki import Purpose, common_name_of, public_key_of
from didlib.trust import TrustStore

__all__ = [
    "OID_READER_ENTITLEMENT",
    "UNSTATED_WARNING",
    "Entitlement",
    "ReaderIdentity",
    "entitlement_extension",
    "reader_authentication_bytes",
    "sign_reader_auth",
    "verify_reader_auth",
]

OID_READER_ENTITLEMENT = x509.ObjectIdentifier("2.25.48341912647673214303003009811925578086")
ALL = "*"
ENTITLEMENT_LIMITS = Limits(max_size=16 * 1024, max_depth=6, max_items=2048)
UNSTATED_WARNING = (
    "This verifier's certificate does not say what it may ask for. Share only what you are happy for it to have."
)

Entitlement = dict[str, dict[str, list[str] | str]]


def _der_octet_string(content: bytes) -> bytes:
    """DER OCTET STRING; written here because cryptography has no public DER encoder for bare values."""
    n = len(content)
    if n < 0x80:
        return b"\x04" + bytes([n]) + content
    size = (n.bit_length() + 7) // 8
    return b"\x04" + bytes([0x80 | size]) + n.to_bytes(size, "big") + content


def _der_octet_string_content(der: bytes) -> bytes:
    if len(der) < 2 or der[0] != 0x04:
        raise DecodeError("entitlement extension must hold a DER OCTET STRING")
    first = der[1]
    if first < 0x80:
        length, start = first, 2
    else:
        size = first & 0x7F
        if size == 0 or size > 4 or len(der) < 2 + size:
            raise DecodeError("entitlement extension has a bad DER length")
        length, start = int.from_bytes(der[2 : 2 + size], "big"), 2 + size
    if start + length != len(der):
        raise DecodeError("entitlement extension length does not match its content")
    return der[start:]


def entitlement_extension(entitlement: Mapping[str, Mapping[str, list[str] | str]]) -> x509.UnrecognizedExtension:
    """The certificate extension granting ``entitlement`` (pass to ``create_reader_certificate``)."""
    normalised = {
        doctype: {ns: (ALL if els == ALL else sorted(els)) for ns, els in spaces.items()}
        for doctype, spaces in entitlement.items()
    }
    return x509.UnrecognizedExtension(OID_READER_ENTITLEMENT, _der_octet_string(encode(normalised)))


def entitlement_of(cert: x509.Certificate) -> Entitlement | None:
    """The entitlement a reader certificate grants, or None if it carries no entitlement extension."""
    try:
        ext = cert.extensions.get_extension_for_oid(OID_READER_ENTITLEMENT)
    except x509.ExtensionNotFound:
        return None
    raw = ext.value.value if isinstance(ext.value, x509.UnrecognizedExtension) else b""
    value = decode(_der_octet_string_content(raw), ENTITLEMENT_LIMITS)
    if not isinstance(value, dict):
        raise DecodeError("reader entitlement must be a map of document types")
    for doctype, spaces in value.items():
        if not isinstance(doctype, str) or not isinstance(spaces, dict):
            raise DecodeError("reader entitlement must map document types to namespaces")
        for ns, elements in spaces.items():
            if not isinstance(ns, str) or not (
                elements == ALL or (isinstance(elements, list) and all(isinstance(e, str) for e in elements))
            ):
                raise DecodeError("reader entitlement namespaces must list element names or be '*'")
    return value


@dataclass
class ReaderIdentity:
    """Who is asking, as proven by reader authentication; what the holder's screen shows."""

    name: str
    organisation: str | None
    certificate: x509.Certificate
    entitlement: Entitlement | None
    warnings: list[str] = field(default_factory=list)

    @property
    def entitlement_stated(self) -> bool:
        """Whether the certificate carries didlib's entitlement extension (the strongest case)."""
        return self.entitlement is not None

    def consent_warnings(self) -> list[str]:
        """What the consent screen must show besides who asks: certificate warnings, and that a reader without
        the entitlement extension has not stated its permissions."""
        return [*self.warnings, *([] if self.entitlement_stated else [UNSTATED_WARNING])]

    def require_entitlement(self) -> None:
        """The strict setting: refuse a reader whose certificate states no entitlement."""
        if not self.entitlement_stated:
            raise ReaderNotAuthorised(
                f"{self.name}'s certificate does not say what it may ask for", code="entitlement_missing"
            )

    def beyond_entitlement(self, doctype: str, namespaces: Mapping[str, Any]) -> dict[str, list[str]]:
        """The requested elements this reader is not entitled to. A certificate with the entitlement extension
        grants only what it lists; one without states nothing, so nothing is beyond it and the holder decides
        (shown with :data:`UNSTATED_WARNING`)."""
        if self.entitlement is None:
            return {}
        granted = self.entitlement.get(doctype, {})
        beyond: dict[str, list[str]] = {}
        for ns, elements in namespaces.items():
            allowed = granted.get(ns)
            for element in elements:
                if allowed != ALL and (allowed is None or element not in allowed):
                    beyond.setdefault(ns, []).append(element)
        return beyond


def reader_authentication_bytes(transcript: bytes, items_request: Embedded) -> bytes:
    """ReaderAuthenticationBytes, with the SessionTranscript and ItemsRequestBytes spliced in as given."""
    content = b"".join((_READER_AUTHENTICATION_HEAD, transcript, items_request.raw))
    return tag24_bytes(content)


_READER_AUTHENTICATION_HEAD = b"\x83" + encode("ReaderAuthentication")


def sign_reader_auth(
    key: PrivateKey, chain: list[x509.Certificate], transcript: bytes, items_request: Embedded
) -> list[Any]:
    """readerAuth: COSE_Sign1 with detached payload and the reader certificate in x5chain."""
    ders = [c.public_bytes(Encoding.DER) for c in chain]
    signed = Sign1.create(
        key,
        reader_authentication_bytes(transcript, items_request),
        unprotected={HDR_X5CHAIN: x5chain_header(ders)},
        detached=True,
    )
    return signed.to_cbor()


def verify_reader_auth(
    reader_auth: Any, transcript: bytes, items_request: Embedded, trust: TrustStore, now: dt.datetime
) -> ReaderIdentity:
    """Check readerAuth; raises :class:`ReaderNotAuthorised` (with the underlying code in the message)."""
    try:
        signed = Sign1.from_cbor(reader_auth)
        chain = signed.x5chain()
        checked = trust.check(chain, Purpose.READER_AUTH, now)
        signed.verify(public_key_of(chain[0]), detached_payload=reader_authentication_bytes(transcript, items_request))
        reader = reader_identity(chain[0], checked.warnings)
    except CertificateError as exc:
        raise ReaderNotAuthorised(f"reader certificate not accepted: {exc.message}", code=exc.code) from exc
    except DidlibError as exc:
        raise ReaderNotAuthorised(f"reader authentication failed: {exc.message}", code="reader_auth_failed") from exc
    return reader


def reader_identity(leaf: x509.Certificate, warnings: list[str]) -> ReaderIdentity:
    """What the holder is shown about an authenticated reader certificate (ISO session or OpenID4VP)."""
    organisations = leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return ReaderIdentity(
        common_name_of(leaf),
        str(organisations[0].value) if organisations else None,
        leaf,
        entitlement_of(leaf),
        warnings,
    )
