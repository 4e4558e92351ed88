"""A development PKI in a folder of PEM files, as ``didlib pki init`` writes it.

Production issuers keep the IACA key offline and the document signer key in an HSM; this layout is
for development, demos and tests, and for verifiers that only need the public ``*.pem`` files.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from didlib.errors import UsageError
from didlib.files import write_private
from didlib.keys import PrivateKey, generate_key, load_private_key, private_key_pem
from didlib.mdoc.registry import AGE_CHECK_ENTITLEMENT
from didlib.pki import create_document_signer, create_iaca, create_reader_ca, create_reader_certificate
from didlib.session.reader_auth import entitlement_extension
from didlib.times import day_start

__all__ = ["PkiDir", "FILES"]

FILES = ("iaca.pem", "iaca.key", "ds.pem", "ds.key", "reader-ca.pem", "reader-ca.key", "reader.pem", "reader.key")
"""The files of a PKI folder: each certificate and its private key."""


@dataclass(frozen=True)
class PkiDir:
    """A development PKI in a folder: an IACA and a document signer, a reader CA and a reader, as PEM files
    (what ``didlib pki init`` writes). Production keys belong in a PKCS#11 token."""

    folder: Path

    @classmethod
    def create(
        cls,
        folder: str | Path,
        *,
        country: str = "GB",
        issuer: str = "DVLA",
        reader: str = "Example Shop",
        reader_entitlement: Mapping[str, Mapping[str, list[str] | str]] | None = None,
        now: dt.datetime | None = None,
        overwrite: bool = False,
    ) -> PkiDir:
        """Write a fresh IACA + document signer and reader CA + reader certificate into ``folder``.

        The reader certificate is entitled to ``reader_entitlement`` (default: what an age check needs).
        """
        path = Path(folder)
        existing = [f for f in FILES if (path / f).exists()]
        if existing and not overwrite:
            raise UsageError(f"{path} already holds {', '.join(existing)}; refusing to overwrite keys")
        path.mkdir(parents=True, exist_ok=True)
        # From the start of the day (five minutes' skew allowed), so day-rounded credential times (didlib.times)
        # issued today still fall inside the document signer's validity.
        now = day_start((now or dt.datetime.now(dt.UTC)) - dt.timedelta(minutes=5))
        iaca_key, ds_key, rca_key, reader_key = (generate_key() for _ in range(4))
        iaca = create_iaca(iaca_key, country=country, common_name=f"{issuer} IACA", not_before=now)
        ds = create_document_signer(
            iaca, iaca_key, ds_key.public_key(), common_name=f"{issuer} Document Signer", not_before=now
        )
        rca = create_reader_ca(rca_key, common_name=f"{issuer} Reader CA", country=country, not_before=now)
        rdr = create_reader_certificate(
            rca,
            rca_key,
            reader_key.public_key(),
            common_name=reader,
            organisation=reader,
            not_before=now,
            extra_extensions=[entitlement_extension(reader_entitlement or AGE_CHECK_ENTITLEMENT)],
        )
        pki = cls(path)
        for name, cert, key in (
            ("iaca", iaca, iaca_key),
            ("ds", ds, ds_key),
            ("reader-ca", rca, rca_key),
            ("reader", rdr, reader_key),
        ):
            (path / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
            write_private(path / f"{name}.key", private_key_pem(key))
        return pki

    def certificate(self, name: str) -> x509.Certificate:
        """The certificate ``name`` (``iaca``, ``ds``, ``reader-ca``, ``reader``); a :class:`UsageError` if missing."""
        file = self.folder / f"{name}.pem"
        try:
            return x509.load_pem_x509_certificate(file.read_bytes())
        except OSError as exc:
            raise UsageError(f"cannot read {file}: {exc.strerror}") from exc
        except ValueError as exc:
            raise UsageError(f"{file} is not a PEM certificate") from exc

    def key(self, name: str) -> PrivateKey:
        """The private key ``name`` (``iaca``, ``ds``, ``reader-ca``, ``reader``)."""
        return load_private_key(self.folder / f"{name}.key")

    def website_reader(
        self,
        dns_name: str,
        *,
        organisation: str,
        entitlement: Mapping[str, Mapping[str, list[str] | str]] | None = None,
        now: dt.datetime | None = None,
    ) -> tuple[PrivateKey, list[x509.Certificate]]:
        """A new reader key and certificate chain for a website (OpenID4VP ``x509_san_dns:<dns_name>``), from
        this folder's reader CA: the DNS name goes in subjectAltName, the entitlement in its extension."""
        key = generate_key()
        ca = self.certificate("reader-ca")
        cert = create_reader_certificate(
            ca,
            self.key("reader-ca"),
            key.public_key(),
            common_name=organisation,
            organisation=organisation,
            not_before=(now or dt.datetime.now(dt.UTC)).replace(microsecond=0) - dt.timedelta(minutes=5),
            extra_extensions=[
                x509.SubjectAlternativeName([x509.DNSName(dns_name)]),
                entitlement_extension(entitlement or AGE_CHECK_ENTITLEMENT),
            ],
        )
        return key, [cert]

    def signer(self) -> tuple[PrivateKey, x509.Certificate]:
        """The document signer key and certificate."""
        return self.key("ds"), self.certificate("ds")

