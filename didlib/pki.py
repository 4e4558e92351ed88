"""X.509 certificates of the ISO/IEC 18013-5 Annex B profiles: create them, and check them.

Three kinds matter: the IACA root (one per issuing authority, long-lived, offline), the document
signer (DS, short-lived, signs MSOs) and the mdoc reader authentication certificate (held by a shop or a
youth organisation, issued by a reader CA). Chain building is deliberately narrow: 18013-5 puts the DS
directly under its IACA, so a leaf must be issued directly by a trust anchor. ``cryptography`` verifies
each signature; the profile rules are written here because no library knows them.
"""

from __future__ import annotations

import datetime as dt
import functools
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from didlib.errors import CertificateError, UntrustedIssuer
from didlib.keys import PrivateKey, PublicKey

__all__ = [
    "Purpose",
    "OID_MDL_DS",
    "OID_MDL_READER_AUTH",
    "ChainResult",
    "create_iaca",
    "create_document_signer",
    "create_reader_ca",
    "create_reader_certificate",
    "check_chain",
    "validity_of",
    "chain_cache",
    "ChainCache",
    "load_der_certificate",
    "der_of",
    "country_of",
    "common_name_in",
    "common_name_of",
]

OID_MDL_DS = ObjectIdentifier("1.0.18013.5.1.2")
"""The extended key usage of a document signer certificate (ISO 18013-5 B.1.4)."""
OID_MDL_READER_AUTH = ObjectIdentifier("1.0.18013.5.1.6")
"""The extended key usage of a reader authentication certificate (ISO 18013-5 B.1.7)."""

# What cryptography raises for certificates that do not parse (lazily, on first access to a field).
_E = TypeVar("_E", bound=x509.ExtensionType)

_PARSE_ERRORS = (
    ValueError,
    TypeError,
    UnsupportedAlgorithm,
    x509.InvalidVersion,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
)

DS_MAX_DAYS = 457
READER_MAX_DAYS = 1187


class Purpose(Enum):
    """What a leaf certificate is checked for; each has its Annex B profile and extended key usage."""

    DOCUMENT_SIGNER = OID_MDL_DS
    READER_AUTH = OID_MDL_READER_AUTH


@functools.lru_cache(maxsize=256)
def load_der_certificate(der: bytes) -> x509.Certificate:
    """Parse a DER certificate completely, now: ``cryptography`` parses fields lazily, and a certificate
    from outside must fail here with a :class:`CertificateError`, not later with a ``ValueError``.

    Cached by the exact bytes: a verifier sees the same few document signer certificates all day.
    """
    try:
        cert = x509.load_der_x509_certificate(der)
        _ = (
            cert.subject,
            cert.issuer,
            cert.not_valid_before_utc,
            cert.not_valid_after_utc,
            cert.extensions,
            cert.public_key(),
            cert.signature_algorithm_oid,
        )
    except _PARSE_ERRORS as exc:
        raise CertificateError(f"certificate does not parse: {exc}") from exc
    return cert


_R = TypeVar("_R")


def _per_certificate(func: Callable[[x509.Certificate], _R]) -> Callable[[x509.Certificate], _R]:
    """Memoise what is derived from a certificate, per certificate object. ``lru_cache`` would hash the
    certificate on every call, and ``cryptography`` re-encodes it for that (microseconds each, more than the
    rest of a cached chain check); certificates from outside come from :func:`load_der_certificate`, one
    object per DER. Entries hold the certificate, so its id is never another object's while they live."""
    memo: OrderedDict[int, tuple[x509.Certificate, _R]] = OrderedDict()
    lock = threading.Lock()

    @functools.wraps(func)
    def per_certificate(cert: x509.Certificate) -> _R:
        entry = memo.get(id(cert))
        if entry is not None and entry[0] is cert:
            return entry[1]
        value = func(cert)
        with lock:
            memo[id(cert)] = (cert, value)
            while len(memo) > 1024:
                memo.popitem(last=False)
        return value

    return per_certificate


@_per_certificate
def der_of(cert: x509.Certificate) -> bytes:
    """The exact DER bytes of ``cert``."""
    return cert.public_bytes(Encoding.DER)


def _hash_for(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384 | hashes.SHA512 | None:
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)):
        return None
    size = key.curve.key_size
    return hashes.SHA256() if size <= 256 else hashes.SHA384() if size <= 384 else hashes.SHA512()


def _serial() -> int:
    """Positive, non-sequential, at least 71 random bits, at most 20 octets (Annex B)."""
    return secrets.randbits(152) | (1 << 151)


def _name(common_name: str, country: str | None = None, organisation: str | None = None) -> x509.Name:
    attrs = []
    if country:
        attrs.append(x509.NameAttribute(NameOID.COUNTRY_NAME, country))
    if organisation:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _ca(
    subject: x509.Name,
    key: PrivateKey,
    not_before: dt.datetime,
    days: int,
    issuer_alt_uri: str | None,
    crl_uri: str | None,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(_serial())
        .not_valid_before(not_before)
        .not_valid_after(not_before + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    builder = _add_informational(builder, issuer_alt_uri, crl_uri)
    return builder.sign(key, _hash_for(key))


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _add_informational(
    builder: x509.CertificateBuilder, issuer_alt_uri: str | None, crl_uri: str | None
) -> x509.CertificateBuilder:
    if issuer_alt_uri:
        builder = builder.add_extension(
            x509.IssuerAlternativeName([x509.UniformResourceIdentifier(issuer_alt_uri)]), critical=False
        )
    if crl_uri:
        point = x509.DistributionPoint([x509.UniformResourceIdentifier(crl_uri)], None, None, None)
        builder = builder.add_extension(x509.CRLDistributionPoints([point]), critical=False)
    return builder


def create_iaca(
    key: PrivateKey,
    *,
    country: str,
    common_name: str,
    not_before: dt.datetime | None = None,
    days: int = 9 * 365,
    issuer_alt_uri: str | None = "https://example.invalid/iaca",
    crl_uri: str | None = "https://example.invalid/iaca.crl",
) -> x509.Certificate:
    """Self-signed IACA root (Annex B.1.2): CA with path length 0, keyCertSign + cRLSign, country set."""
    return _ca(_name(common_name, country), key, not_before or _now(), days, issuer_alt_uri, crl_uri)


def create_reader_ca(
    key: PrivateKey,
    *,
    common_name: str,
    country: str | None = None,
    not_before: dt.datetime | None = None,
    days: int = 9 * 365,
) -> x509.Certificate:
    """Root that issues reader authentication certificates (shops, youth organisations)."""
    return _ca(_name(common_name, country), key, not_before or _now(), days, None, None)


def _leaf(
    issuer_cert: x509.Certificate,
    issuer_key: PrivateKey,
    subject: x509.Name,
    public_key: PublicKey,
    purpose: Purpose,
    not_before: dt.datetime,
    days: int,
    issuer_alt_uri: str | None,
    crl_uri: str | None,
    extra: list[x509.ExtensionType] | None = None,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject)
        .public_key(public_key)
        .serial_number(_serial())
        .not_valid_before(not_before)
        .not_valid_after(not_before + dt.timedelta(days=days))
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([purpose.value]), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    )
    builder = _add_informational(builder, issuer_alt_uri, crl_uri)
    for ext in extra or []:
        builder = builder.add_extension(ext, critical=False)
    return builder.sign(issuer_key, _hash_for(issuer_key))


def create_document_signer(
    iaca_cert: x509.Certificate,
    iaca_key: PrivateKey,
    public_key: PublicKey,
    *,
    common_name: str,
    not_before: dt.datetime | None = None,
    days: int = 365,
    issuer_alt_uri: str | None = "https://example.invalid/iaca",
    crl_uri: str | None = "https://example.invalid/iaca.crl",
) -> x509.Certificate:
    """Document signer (Annex B.1.4): digitalSignature, EKU mdlDS, same country as its IACA."""
    if days > DS_MAX_DAYS:
        raise CertificateError(f"a document signer may be valid for at most {DS_MAX_DAYS} days")
    subject = _name(common_name, country_of(iaca_cert))
    return _leaf(
        iaca_cert,
        iaca_key,
        subject,
        public_key,
        Purpose.DOCUMENT_SIGNER,
        not_before or _now(),
        days,
        issuer_alt_uri,
        crl_uri,
    )


def create_reader_certificate(
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    public_key: PublicKey,
    *,
    common_name: str,
    organisation: str | None = None,
    not_before: dt.datetime | None = None,
    days: int = 365,
    extra_extensions: list[x509.ExtensionType] | None = None,
) -> x509.Certificate:
    """Reader authentication certificate (Annex B.1.7): digitalSignature, EKU mdlReaderAuth."""
    if days > READER_MAX_DAYS:
        raise CertificateError(f"a reader certificate may be valid for at most {READER_MAX_DAYS} days")
    subject = _name(common_name, None, organisation)
    return _leaf(
        ca_cert,
        ca_key,
        subject,
        public_key,
        Purpose.READER_AUTH,
        not_before or _now(),
        days,
        None,
        None,
        extra_extensions,
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


@_per_certificate
def country_of(cert: x509.Certificate) -> str | None:
    """The certificate's subject country, which Annex B requires of an IACA and its document signers."""
    attrs = cert.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)
    return str(attrs[0].value) if attrs else None


@_per_certificate
def common_name_of(cert: x509.Certificate) -> str:
    """The certificate's subject common name (the whole subject when it has none): the name shown to people."""
    return common_name_in(cert.subject)


def common_name_in(name: x509.Name) -> str:
    """The CN of a name (a certificate's issuer, say), or the whole name when it has none."""
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else name.rfc4514_string()


@dataclass
class ChainResult:
    """A leaf certificate that chained to a trust anchor, with profile remarks that did not fail it."""

    leaf: x509.Certificate
    anchor: x509.Certificate
    warnings: list[str] = field(default_factory=list)


def _ext(cert: x509.Certificate, ext_type: type[_E]) -> x509.Extension[_E] | None:
    try:
        return cert.extensions.get_extension_for_class(ext_type)
    except x509.ExtensionNotFound:
        return None
    except _PARSE_ERRORS as exc:
        raise CertificateError(f"certificate extensions do not parse: {exc}") from exc


@_per_certificate
def validity_of(cert: x509.Certificate) -> tuple[dt.datetime, dt.datetime]:
    """notBefore and notAfter in UTC (cached: ``cryptography`` builds new datetimes on every access)."""
    return cert.not_valid_before_utc, cert.not_valid_after_utc


def _check_time(cert: x509.Certificate, now: dt.datetime, what: str) -> None:
    not_before, not_after = validity_of(cert)
    if now < not_before:
        raise CertificateError(
            f"{what} certificate is not valid before {not_before:%Y-%m-%d}", code="certificate_not_yet_valid"
        )
    if now > not_after:
        raise CertificateError(f"{what} certificate expired on {not_after:%Y-%m-%d}", code="certificate_expired")


def is_document_signer(cert: x509.Certificate) -> bool:
    """Whether a certificate claims the mdlDS extended key usage (it is checked in full when used)."""
    eku = _ext(cert, x509.ExtendedKeyUsage)
    return eku is not None and OID_MDL_DS in eku.value


def check_anchor_profile(cert: x509.Certificate) -> None:
    """A trust anchor must be a CA allowed to sign certificates (IACA / reader CA)."""
    bc = _ext(cert, x509.BasicConstraints)
    if bc is None or not bc.value.ca:
        raise CertificateError(f"{common_name_of(cert)} is not a CA certificate (basicConstraints cA missing)")
    ku = _ext(cert, x509.KeyUsage)
    if ku is None or not ku.value.key_cert_sign:
        raise CertificateError(f"{common_name_of(cert)} may not sign certificates (keyUsage keyCertSign missing)")


def _check_leaf_profile(cert: x509.Certificate, purpose: Purpose, warnings: list[str]) -> None:
    name = "document signer" if purpose is Purpose.DOCUMENT_SIGNER else "reader"
    bc = _ext(cert, x509.BasicConstraints)
    if bc is not None and bc.value.ca:
        raise CertificateError(f"{name} certificate must not be a CA")
    ku = _ext(cert, x509.KeyUsage)
    if ku is None or not ku.value.digital_signature or ku.value.key_cert_sign:
        raise CertificateError(f"{name} certificate keyUsage must be digitalSignature only")
    if not ku.critical:
        warnings.append(f"{name} certificate keyUsage is not marked critical")
    eku = _ext(cert, x509.ExtendedKeyUsage)
    if eku is None or purpose.value not in eku.value:
        raise CertificateError(
            f"{name} certificate lacks extended key usage {purpose.value.dotted_string}", code="wrong_key_purpose"
        )
    if ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in eku.value:
        raise CertificateError(f"{name} certificate must not carry anyExtendedKeyUsage", code="wrong_key_purpose")
    days = (cert.not_valid_after_utc - cert.not_valid_before_utc).days
    limit = DS_MAX_DAYS if purpose is Purpose.DOCUMENT_SIGNER else READER_MAX_DAYS
    if days > limit:
        raise CertificateError(f"{name} certificate is valid for {days} days; Annex B allows {limit}")
    if purpose is Purpose.DOCUMENT_SIGNER:
        for ext_type, label in (
            (x509.IssuerAlternativeName, "issuerAltName"),
            (x509.CRLDistributionPoints, "cRLDistributionPoints"),
        ):
            if _ext(cert, ext_type) is None:
                warnings.append(f"document signer certificate has no {label} extension")


class ChainCache:
    """Bounded memory of certificate pairs that passed the time-independent half of :func:`check_chain`.

    A verifier sees the same few document signers all day, and the signature on a certificate is the
    dearest step of checking it. An entry says "this exact leaf (DER) is signed by this exact anchor (DER)
    and fits the profile for this purpose, with these warnings"; it is keyed by both certificates' exact
    bytes, so a different certificate with the same subject, or the same leaf under another anchor, never
    hits. It holds no verdict that depends on time or on the trust store: the anchor must still be among
    the anchors given on each call, and both validity periods are checked against ``now`` every time.
    Failures are not remembered. Least recently used entries go first once ``maxsize`` is reached.
    """

    def __init__(self, maxsize: int = 1024) -> None:
        self.maxsize = maxsize
        self._entries: OrderedDict[tuple[bytes, bytes, Purpose], tuple[str, ...]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, leaf: bytes, anchor: bytes, purpose: Purpose) -> tuple[str, ...] | None:
        """The profile warnings of a (leaf, anchor, purpose) checked before, or None if it was not."""
        key = (leaf, anchor, purpose)
        with self._lock:
            warnings = self._entries.get(key)
            if warnings is not None:
                self._entries.move_to_end(key)
            return warnings

    def put(self, leaf: bytes, anchor: bytes, purpose: Purpose, warnings: tuple[str, ...]) -> None:
        """Remember that a pair passed the signature and profile checks, dropping the least recently used."""
        with self._lock:
            self._entries[(leaf, anchor, purpose)] = warnings
            self._entries.move_to_end((leaf, anchor, purpose))
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)

    def count(self, hit: bool) -> None:
        """Count a look-up as a hit or a miss, for :meth:`stats`."""
        with self._lock:
            if hit:
                self.hits += 1
            else:
                self.misses += 1

    def stats(self) -> dict[str, int]:
        """Hits and misses (one per :func:`check_chain` call that found an anchor or none), size, bound."""
        with self._lock:
            return {"hits": self.hits, "misses": self.misses, "size": len(self._entries), "maxsize": self.maxsize}

    def clear(self) -> None:
        """Forget every pair and reset the counters (tests, benchmarks)."""
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = 0


chain_cache = ChainCache()
"""The process's chain cache, used by :func:`check_chain` unless told otherwise."""


def check_chain(
    chain: list[x509.Certificate],
    anchors: list[x509.Certificate],
    purpose: Purpose,
    now: dt.datetime,
    cache: ChainCache | None = chain_cache,
) -> ChainResult:
    """Check that ``chain[0]`` is issued directly by one of ``anchors`` and fits its Annex B profile.

    Other certificates in ``chain`` are accepted only if they are the anchor itself (some issuers send
    the IACA along); 18013-5 has no intermediate CAs under an IACA. ``cache`` (the process-wide
    :data:`chain_cache` unless ``None``) saves the signature and profile checks of a pair seen before;
    the validity periods are checked against ``now`` on every call.
    """
    if not chain:
        raise CertificateError("no certificate to check", code="missing_certificate")
    leaf = chain[0]
    for extra in chain[1:]:
        if extra not in anchors:
            raise UntrustedIssuer("certificate chain contains a CA that is not a trust anchor")
    leaf_der = der_of(leaf)
    anchor, warnings = None, None
    for candidate in anchors:
        warnings = cache.get(leaf_der, der_of(candidate), purpose) if cache is not None else None
        if warnings is not None or (_names_issuer(leaf, candidate) and _signed_by(leaf, candidate)):
            anchor = candidate
            break
    if cache is not None:
        cache.count(warnings is not None)
    if anchor is None:
        raise UntrustedIssuer(f"{common_name_of(leaf)} is not issued by a trusted authority")
    _check_time(anchor, now, "root")
    _check_time(leaf, now, "document signer" if purpose is Purpose.DOCUMENT_SIGNER else "reader")
    if warnings is None:
        warnings = _static_checks(leaf, anchor, purpose)
        if cache is not None:
            cache.put(leaf_der, der_of(anchor), purpose, warnings)
    return ChainResult(leaf=leaf, anchor=anchor, warnings=list(warnings))


def _names_issuer(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    # Not lru_cache'd: hashing a certificate re-encodes it, dearer than comparing the two names (and this
    # runs only when the chain cache misses).
    return cert.issuer == issuer.subject


def _static_checks(leaf: x509.Certificate, anchor: x509.Certificate, purpose: Purpose) -> tuple[str, ...]:
    """The checks of a leaf and its anchor that do not depend on time or on signatures.

    Returns the profile warnings; raises on a profile or country error.
    """
    warnings: list[str] = []
    _check_leaf_profile(leaf, purpose, warnings)
    if purpose is Purpose.DOCUMENT_SIGNER:
        anchor_country, leaf_country = country_of(anchor), country_of(leaf)
        if not leaf_country or leaf_country != anchor_country:
            raise CertificateError(
                f"document signer country {leaf_country!r} differs from its IACA's {anchor_country!r}",
                code="country_mismatch",
            )
    return tuple(warnings)


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether ``issuer``'s key made ``cert``'s signature (the one cryptographic step of chain checking)."""
    key = public_key_of(issuer)
    signature, tbs, hash_alg = _signature_parts(cert)
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            if hash_alg is None:
                return False
            key.verify(signature, tbs, ec.ECDSA(hash_alg))
        else:
            key.verify(signature, tbs)
    except (_CryptoInvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        return False
    return True


@_per_certificate
def _signature_parts(cert: x509.Certificate) -> tuple[bytes, bytes, hashes.HashAlgorithm | None]:
    try:
        hash_alg = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        hash_alg = None
    return cert.signature, cert.tbs_certificate_bytes, hash_alg


@_per_certificate
def public_key_of(cert: x509.Certificate) -> PublicKey:
    """The certificate's key (cached: parsing an EC point costs as much as hashing a message)."""
    key = cert.public_key()
    if not isinstance(key, (ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        raise CertificateError(f"certificate key type {type(key).__name__} is not allowed in 18013-5")
    return key
