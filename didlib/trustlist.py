"""The signed trust list verifiers download when online and rely on offline.

A JWS (``typ: trustlist+jwt``) signed by the trust list operator, whose public key verifiers pin. It
names, per organisation and role, the certificates to trust: issuers' IACA roots with their current
document signers (so compact presentations can name them by thumbprint) and status list URIs, and the
reader CAs wallets accept. Verifiers keep it with the time they fetched it and show its age.

Payload: ``{"iss", "iat", "exp", "entries": [{"name", "role": "issuer" | "reader_ca",
"certificates": [base64 DER], "document_signers": [base64 DER], "status_lists": [uri]}]}``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from didlib.errors import DecodeError, VerificationError
from didlib.jose import CompactJws, sign_jws
from didlib.keys import PrivateKey, PublicKey
from didlib.pki import load_der_certificate
from didlib.trust import TrustStore

__all__ = ["TrustList", "TrustListEntry", "TYP", "ISSUER", "READER_CA"]

TYP = "trustlist+jwt"
"""The ``typ`` of a trust list JWT."""
ISSUER, READER_CA = "issuer", "reader_ca"
MAX_ENTRIES = 256
MAX_CERTS = 32


def _ders(certs: Iterable[x509.Certificate]) -> list[str]:
    return [base64.b64encode(c.public_bytes(Encoding.DER)).decode() for c in certs]


def _certs(value: Any, what: str) -> list[x509.Certificate]:
    if not isinstance(value, list) or len(value) > MAX_CERTS or not all(isinstance(v, str) for v in value):
        raise DecodeError(f"trust list {what} must be a list of base64 certificates")
    try:
        return [load_der_certificate(base64.b64decode(v, validate=True)) for v in value]
    except (binascii.Error, ValueError) as exc:
        raise DecodeError(f"trust list {what} holds bad base64: {exc}") from exc


@dataclass
class TrustListEntry:
    """One party of the trust list: an issuer (IACA, document signers, status lists) or a reader CA."""

    name: str
    role: str
    certificates: list[x509.Certificate]
    document_signers: list[x509.Certificate] = field(default_factory=list)
    status_lists: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The entry as JSON, certificates as base64 DER."""
        return {
            "name": self.name,
            "role": self.role,
            "certificates": _ders(self.certificates),
            "document_signers": _ders(self.document_signers),
            "status_lists": list(self.status_lists),
        }

    @classmethod
    def from_json(cls, value: Any) -> TrustListEntry:
        """Read an entry, refusing unknown roles and malformed certificates."""
        if not isinstance(value, dict) or not isinstance(value.get("name"), str):
            raise DecodeError("trust list entries need a name")
        role = value.get("role")
        if role not in (ISSUER, READER_CA):
            raise DecodeError(f"trust list role {role!r} is not known")
        status_lists = value.get("status_lists", [])
        if not isinstance(status_lists, list) or not all(isinstance(u, str) for u in status_lists):
            raise DecodeError("trust list status_lists must be a list of URIs")
        return cls(
            value["name"],
            role,
            _certs(value.get("certificates", []), "certificates"),
            _certs(value.get("document_signers", []), "document_signers"),
            status_lists,
        )


@dataclass
class TrustList:
    """The scheme operator's signed list of issuers and reader CAs: what verifiers and wallets trust, learnt
    from one pinned key rather than loose files."""

    operator: str
    issued_at: dt.datetime
    expires: dt.datetime
    entries: list[TrustListEntry]

    def sign(self, key: PrivateKey) -> str:
        """The list as a JWT signed by the operator's key."""
        payload = {
            "iss": self.operator,
            "iat": int(self.issued_at.timestamp()),
            "exp": int(self.expires.timestamp()),
            "entries": [e.to_json() for e in self.entries],
        }
        return sign_jws(payload, key, {"typ": TYP})

    @classmethod
    def verify(cls, token: str, operator_key: PublicKey, now: dt.datetime | None = None) -> TrustList:
        """Check the operator's signature and the list's lifetime; an expired list is refused."""
        now = now or dt.datetime.now(dt.UTC)
        jws = CompactJws.parse(token)
        if jws.header.get("typ") != TYP:
            raise VerificationError("not a trust list (typ trustlist+jwt)", code="wrong_type")
        jws.verify(operator_key)
        payload = jws.payload
        if not isinstance(payload, dict) or not isinstance(payload.get("entries"), list):
            raise DecodeError("trust list payload needs entries")
        if len(payload["entries"]) > MAX_ENTRIES:
            raise DecodeError("trust list has too many entries")
        iat, exp = payload.get("iat"), payload.get("exp")
        if not (isinstance(iat, int) and isinstance(exp, int)) or isinstance(iat, bool) or isinstance(exp, bool):
            raise DecodeError("trust list needs iat and exp")
        expires = dt.datetime.fromtimestamp(exp, dt.UTC)
        if now > expires:
            raise VerificationError(f"the trust list expired on {expires:%Y-%m-%d}", code="trust_list_expired")
        return cls(
            str(payload.get("iss", "")),
            dt.datetime.fromtimestamp(iat, dt.UTC),
            expires,
            [TrustListEntry.from_json(e) for e in payload["entries"]],
        )

    def issuer_store(self) -> TrustStore:
        """Anchors and document signers of the issuers (for verifying credentials)."""
        entries = [e for e in self.entries if e.role == ISSUER]
        return TrustStore(
            [c for e in entries for c in e.certificates], [d for e in entries for d in e.document_signers]
        )

    def reader_store(self) -> TrustStore:
        """The reader CAs (for wallets checking who asks)."""
        return TrustStore([c for e in self.entries if e.role == READER_CA for c in e.certificates])

    def status_list_uris(self) -> list[str]:
        """Every status list the issuers named, for a verifier to fetch while online."""
        return [u for e in self.entries for u in e.status_lists]
