"""Trust anchors: the IACA roots a verifier accepts document signers from, and the reader CAs a
wallet accepts reader certificates from.

A trust store is just a set of anchor certificates; later the signed trust list fills it. Loading checks
that each anchor is a CA, so a mistaken leaf file fails at start-up rather than at a shop counter.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from didlib.errors import CertificateError
from didlib.files import read_limited
from didlib.pki import ChainResult, Purpose, check_anchor_profile, check_chain, is_document_signer

__all__ = ["TrustStore", "thumbprint"]

MAX_PEM_FILE = 1 << 20


class TrustStore:
    """A set of trust anchors (IACA roots, reader CA roots)."""

    def __init__(
        self, anchors: Iterable[x509.Certificate] = (), document_signers: Iterable[x509.Certificate] = ()
    ) -> None:
        self._anchors: list[x509.Certificate] = []
        self._by_thumbprint: dict[bytes, x509.Certificate] = {}
        for cert in anchors:
            self.add(cert)
        for cert in document_signers:
            self.add_document_signer(cert)

    def add(self, cert: x509.Certificate) -> None:
        """Add a trust anchor; refused unless it fits the root profile (a CA), so a leaf cannot be made an anchor."""
        check_anchor_profile(cert)
        if cert not in self._anchors:
            self._anchors.append(cert)

    def add_document_signer(self, cert: x509.Certificate) -> None:
        """Remember a document signer certificate (from a trust list) so compact presentations that name it
        by thumbprint (``x5t``) instead of carrying it can be checked. It is still chained at use."""
        self._by_thumbprint[thumbprint(cert)] = cert

    def document_signer(self, x5t: bytes) -> x509.Certificate | None:
        """The remembered document signer whose :func:`thumbprint` is ``x5t``, for compact presentations that
        name their signer instead of carrying it (the chain is still checked at use)."""
        return self._by_thumbprint.get(x5t)

    @property
    def document_signers(self) -> tuple[x509.Certificate, ...]:
        return tuple(self._by_thumbprint.values())

    @property
    def anchors(self) -> tuple[x509.Certificate, ...]:
        return tuple(self._anchors)

    def __len__(self) -> int:
        return len(self._anchors)

    @classmethod
    def from_pem_files(cls, paths: Iterable[str | Path]) -> TrustStore:
        """Load PEM files (each may hold several certificates) or folders of ``*.pem`` files.

        CA certificates become anchors; document signer certificates (EKU mdlDS) are remembered for
        compact presentations; anything else is refused. Give one role's anchors per store: an issuer
        store must not hold reader CAs.
        """
        store = cls()
        for path in map(Path, paths):
            for file in sorted(path.glob("*.pem")) if path.is_dir() else [path]:
                for cert in _read_pem(file):
                    store._add_any(cert, file)
        return store

    def _add_any(self, cert: x509.Certificate, source: Path) -> None:
        if is_document_signer(cert):
            self.add_document_signer(cert)
            return
        try:
            self.add(cert)
        except CertificateError as exc:
            raise CertificateError(f"{source}: {exc.message}") from exc

    @classmethod
    def from_pem_dir(cls, folder: str | Path) -> TrustStore:
        """Every ``*.pem`` file of a folder: :meth:`from_pem_files` of that one folder."""
        return cls.from_pem_files([folder])

    def check(self, chain: list[x509.Certificate], purpose: Purpose, now: dt.datetime) -> ChainResult:
        """Check a leaf-first chain against these anchors (see :func:`didlib.pki.check_chain`)."""
        return check_chain(chain, self._anchors, purpose, now)


def thumbprint(cert: x509.Certificate) -> bytes:
    """SHA-256/64 of the DER certificate: the RFC 9360 ``x5t`` didlib's compact presentations carry."""
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).digest()[:8]


def _read_pem(path: Path) -> list[x509.Certificate]:
    data = read_limited(path, MAX_PEM_FILE, "trust anchor file")
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise CertificateError(f"{path} holds no readable PEM certificate: {exc}") from exc
    return certs
