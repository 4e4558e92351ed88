"""Keys: generation, PEM files, and COSE_Key (RFC 9052 section 7) conversion.

18013-5 carries public keys as COSE_Key maps (the device key in the MSO, the ephemeral session keys);
the rest of the system handles them as ``cryptography`` key objects.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeAlias

from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from didlib.errors import BadKey, InvalidSignature, UnsupportedError
from didlib.files import read_limited

__all__ = [
    "PrivateKey",
    "PublicKey",
    "generate_key",
    "load_private_key",
    "load_public_key",
    "private_key_pem",
    "public_key_pem",
    "cose_key_from_public",
    "public_key_from_cose",
    "same_public_key",
    "public_key_der",
    "verify_ecdsa_raw",
]

PrivateKey: TypeAlias = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey
"""The private keys didlib signs with: P-256/384/521 (ES256/384/512) and Ed25519/Ed448 (EdDSA, which
GOV.UK Wallet uses for device signatures)."""
PublicKey: TypeAlias = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
"""The public halves of :data:`PrivateKey`."""

_KIND_CLASSES: tuple[tuple[str, tuple[type, ...]], ...] = (
    ("ec-public", (ec.EllipticCurvePublicKey,)),
    ("ec-private", (ec.EllipticCurvePrivateKey,)),
    ("eddsa-public", (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)),
    ("eddsa-private", (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)),
)
_KINDS: dict[type, str] = {}


def key_kind(key: object) -> str:
    """``"ec-public"``, ``"ec-private"``, ``"eddsa-public"``, ``"eddsa-private"``, or ``""`` for anything else.

    ``cryptography``'s key classes are abstract, so ``isinstance`` goes through ``ABCMeta`` each time (a few
    times per verification); the answer depends on the class alone and is worked out once per class.
    """
    kind = _KINDS.get(type(key))
    if kind is None:
        kind = next((name for name, classes in _KIND_CLASSES if isinstance(key, classes)), "")
        _KINDS[type(key)] = kind
    return kind


# COSE key labels and values (IANA COSE Key Common Parameters / Elliptic Curves registries).
KTY, CRV, X, Y = 1, -1, -2, -3
KTY_OKP, KTY_EC2 = 1, 2

EC2_CURVES: dict[int, ec.EllipticCurve] = {
    1: ec.SECP256R1(),
    2: ec.SECP384R1(),
    3: ec.SECP521R1(),
    8: ec.BrainpoolP256R1(),
    10: ec.BrainpoolP384R1(),
    11: ec.BrainpoolP512R1(),
}
_EC2_IDS = {curve.name: ident for ident, curve in EC2_CURVES.items()}
CRV_ED25519, CRV_ED448 = 6, 7

_GENERATORS: dict[str, Callable[[], PrivateKey]] = {
    "P-256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "P-384": lambda: ec.generate_private_key(ec.SECP384R1()),
    "P-521": lambda: ec.generate_private_key(ec.SECP521R1()),
    "Ed25519": ed25519.Ed25519PrivateKey.generate,
    "Ed448": ed448.Ed448PrivateKey.generate,
}

MAX_PEM_BYTES = 64 * 1024


def generate_key(kind: str = "P-256") -> PrivateKey:
    """A fresh private key: ``P-256`` (the default everywhere), ``P-384``, ``P-521``, ``Ed25519``, ``Ed448``."""
    try:
        return _GENERATORS[kind]()
    except KeyError:
        raise UnsupportedError(f"unknown key type {kind!r}; use one of {sorted(_GENERATORS)}") from None


def _read(source: str | Path | bytes) -> bytes:
    data = source if isinstance(source, bytes) else read_limited(source, MAX_PEM_BYTES, "key file", BadKey)
    if len(data) > MAX_PEM_BYTES:
        raise BadKey("key data is too large")
    return data


def load_private_key(source: str | Path | bytes) -> PrivateKey:
    """Load a PEM (PKCS#8 or SEC1) private key from a path or bytes."""
    try:
        key = serialization.load_pem_private_key(_read(source), password=None)
    except (ValueError, TypeError, UnsupportedError) as exc:
        raise BadKey(f"not a usable unencrypted PEM private key: {exc}") from exc
    if not isinstance(key, (ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)):
        raise BadKey(f"{type(key).__name__} keys are not used in 18013-5; use EC or EdDSA")
    return key


def load_public_key(source: str | Path | bytes) -> PublicKey:
    """Load a PEM public key, or the public half of a PEM private key or certificate."""
    data = _read(source)
    if b"PRIVATE KEY" in data:
        return load_private_key(data).public_key()
    key: object
    try:
        if b"CERTIFICATE" in data:
            from cryptography import x509

            key = x509.load_pem_x509_certificate(data).public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise BadKey(f"not a PEM public key or certificate: {exc}") from exc
    if not isinstance(key, (ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        raise BadKey(f"{type(key).__name__} keys are not used in 18013-5; use EC or EdDSA")
    return key


def private_key_pem(key: PrivateKey) -> bytes:
    """The key as unencrypted PKCS#8 PEM: for development key files (protect them; production issuer keys
    live in a PKCS#11 token)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_key_pem(key: PublicKey) -> bytes:
    """The key as SubjectPublicKeyInfo PEM, the form :func:`load_public_key` reads (a pinned operator key)."""
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def cose_key_from_public(key: PublicKey) -> dict[int, Any]:
    """COSE_Key for a public key: EC2 with x and y (uncompressed), or OKP with x."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        ident = _EC2_IDS.get(key.curve.name)
        if ident is None:
            raise UnsupportedError(f"curve {key.curve.name} has no COSE identifier here")
        numbers = key.public_numbers()
        size = (key.curve.key_size + 7) // 8
        return {
            KTY: KTY_EC2,
            CRV: ident,
            X: numbers.x.to_bytes(size, "big"),
            Y: numbers.y.to_bytes(size, "big"),
        }
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    crv = CRV_ED25519 if isinstance(key, ed25519.Ed25519PublicKey) else CRV_ED448
    return {KTY: KTY_OKP, CRV: crv, X: raw}


def public_key_from_cose(cose_key: Any) -> PublicKey:
    """Public key from a decoded COSE_Key map, checking every field it relies on."""
    if not isinstance(cose_key, dict):
        raise BadKey("COSE_Key must be a map")
    kty, crv, x = cose_key.get(KTY), cose_key.get(CRV), cose_key.get(X)
    if not isinstance(x, bytes):
        raise BadKey("COSE_Key has no x coordinate")
    try:
        if kty == KTY_EC2:
            curve = EC2_CURVES.get(crv) if isinstance(crv, int) else None
            if curve is None:
                raise UnsupportedError(f"COSE_Key curve {crv!r} is not supported for EC2")
            y = cose_key.get(Y)
            size = (curve.key_size + 7) // 8
            if not isinstance(y, bytes):
                raise BadKey("EC2 COSE_Key needs y as a byte string (compressed points are not accepted)")
            if len(x) != size or len(y) != size:
                raise BadKey("EC2 COSE_Key coordinates have the wrong length")
            return ec.EllipticCurvePublicKey.from_encoded_point(curve, b"\x04" + x + y)
        if kty == KTY_OKP and crv == CRV_ED25519:
            return ed25519.Ed25519PublicKey.from_public_bytes(x)
        if kty == KTY_OKP and crv == CRV_ED448:
            return ed448.Ed448PublicKey.from_public_bytes(x)
    except ValueError as exc:
        raise BadKey(f"COSE_Key is not a valid public key: {exc}") from exc
    raise UnsupportedError(f"COSE_Key type {kty!r} with curve {crv!r} is not supported")


def verify_ecdsa_raw(
    key: ec.EllipticCurvePublicKey, signature: bytes, message: bytes, algorithm: ec.ECDSA, what: str
) -> None:
    """Verify an ECDSA signature sent as R and S, each the curve's size, big-endian (COSE, RFC 9053 2.1; JWS,
    RFC 7518 3.4): cryptography verifies DER only. Raises :class:`InvalidSignature` naming ``what``."""
    size = (key.key_size + 7) // 8
    if len(signature) != 2 * size:
        raise InvalidSignature(f"{what} signature has the wrong length")
    der = encode_dss_signature(int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big"))
    try:
        key.verify(der, message, algorithm)
    except _CryptoInvalidSignature:
        raise InvalidSignature(f"{what} signature does not verify") from None


def public_key_der(key: PublicKey) -> bytes:
    """The key's SubjectPublicKeyInfo DER: equal keys, equal bytes (for sets and comparisons)."""
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def same_public_key(a: PublicKey, b: PublicKey) -> bool:
    """Compare two public keys by their encoded form."""
    return public_key_der(a) == public_key_der(b)
