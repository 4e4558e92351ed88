"""COSE_Sign1 and COSE_Mac0 (RFC 9052) as 18013-5 uses them.

Written on top of ``cryptography`` rather than a COSE library because 18013-5 verification must work on
the protected-header bytes exactly as received, with detached payloads and the ``x5chain`` header in
either of its two forms; the COSE structures themselves are four-element arrays and a few lines each.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import cbor2
from cryptography import x509
from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from didlib.cbor import DEFAULT_LIMITS, decode, encode
from didlib.errors import BadKey, CertificateError, DecodeError, InvalidMac, InvalidSignature, UnsupportedError
from didlib.keys import PrivateKey, PublicKey, key_kind, verify_ecdsa_raw
from didlib.pki import load_der_certificate

__all__ = ["Sign1", "Mac0", "ALG_ES256", "ALG_ES384", "ALG_ES512", "ALG_EDDSA", "ALG_HMAC256"]

TAG_SIGN1, TAG_MAC0 = 18, 17
HDR_ALG, HDR_X5CHAIN, HDR_X5T = 1, 33, 34
X5T_SHA256_64 = -15  # RFC 9360 x5t with SHA-256 truncated to 64 bits

ALG_ES256, ALG_ES384, ALG_ES512, ALG_EDDSA = -7, -35, -36, -8
ALG_HMAC256 = 5  # HMAC 256/256

_ECDSA = {
    ALG_ES256: ec.ECDSA(hashes.SHA256()),
    ALG_ES384: ec.ECDSA(hashes.SHA384()),
    ALG_ES512: ec.ECDSA(hashes.SHA512()),
}
# The curve each ECDSA algorithm is used with in 18013-5 (9.1.3.6 / Table 22 of the 2nd edition allows
# brainpool curves of the same sizes, matched here by key size).
_ECDSA_KEY_SIZES = {ALG_ES256: (256,), ALG_ES384: (384,), ALG_ES512: (521, 512)}
ALG_NAMES = {ALG_ES256: "ES256", ALG_ES384: "ES384", ALG_ES512: "ES512", ALG_EDDSA: "EdDSA", ALG_HMAC256: "HMAC256"}

MAX_CHAIN = 8


def alg_for_key(key: PrivateKey | PublicKey) -> int:
    """The COSE algorithm 18013-5 pairs with a key."""
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        size = key.curve.key_size
        for alg, sizes in _ECDSA_KEY_SIZES.items():
            if size in sizes:
                return alg
        raise UnsupportedError(f"no COSE algorithm for a {size}-bit EC key")
    return ALG_EDDSA


def _protected_header(raw: bytes) -> dict[Any, Any]:
    """The decoded protected header; a copy, so the cached parse is never shared."""
    return dict(_parse_protected(raw))


@functools.lru_cache(maxsize=64)
def _parse_protected(raw: bytes) -> tuple[tuple[Any, Any], ...]:
    """Protected headers repeat (``a1 01 26`` is every ES256 signature): parse each distinct one once."""
    if raw == b"":
        return ()
    value = decode(raw, DEFAULT_LIMITS)
    if not isinstance(value, dict):
        raise DecodeError("COSE protected header must encode a map")
    return tuple(value.items())


def _untag(obj: Any, tag: int, name: str) -> list[Any]:
    """Accept the structure tagged or untagged (18013-5 uses it untagged), and check its shape."""
    if isinstance(obj, cbor2.CBORTag):
        if obj.tag != tag:
            raise DecodeError(f"{name} has tag {obj.tag}, expected {tag}")
        obj = obj.value  # cbor2 decodes the content of unknown tags as tuples and frozendicts
    if not isinstance(obj, (list, tuple)) or len(obj) != 4:
        raise DecodeError(f"{name} must be an array of four elements")
    protected, unprotected, payload, last = obj
    if not isinstance(protected, bytes):
        raise DecodeError(f"{name} protected header must be a byte string")
    if not isinstance(unprotected, (dict, Mapping)):  # dict first: the common case skips the ABC check
        raise DecodeError(f"{name} unprotected header must be a map")
    if payload is not None and not isinstance(payload, bytes):
        raise DecodeError(f"{name} payload must be a byte string or null")
    if not isinstance(last, bytes):
        raise DecodeError(f"{name} signature or tag must be a byte string")
    return [protected, dict(unprotected), payload, last]


@dataclass(frozen=True, slots=True)
class _CoseMessage:
    protected_raw: bytes
    unprotected: dict[Any, Any]
    payload: bytes | None
    protected: dict[Any, Any] = field(repr=False)

    @property
    def alg(self) -> int:
        """The algorithm; 18013-5 requires it in the protected header."""
        alg = self.protected.get(HDR_ALG)
        if not isinstance(alg, int):
            raise UnsupportedError("COSE message has no integer algorithm in its protected header")
        return alg

    def header(self, label: int) -> Any:
        """A header parameter, protected taking precedence over unprotected."""
        if label in self.protected:
            return self.protected[label]
        return self.unprotected.get(label)

    def _payload(self, detached: bytes | None) -> bytes:
        if self.payload is not None:
            if detached is not None:
                raise DecodeError("COSE message carries a payload but a detached one was supplied")
            return self.payload
        if detached is None:
            raise DecodeError("COSE payload is detached and none was supplied")
        return detached


@dataclass(frozen=True, slots=True)
class Sign1(_CoseMessage):
    """COSE_Sign1 with the protected header kept as received."""

    signature: bytes = b""

    @classmethod
    def from_cbor(cls, obj: Any) -> Sign1:
        """From a decoded COSE_Sign1 (tagged 18 or untagged)."""
        protected_raw, unprotected, payload, signature = _untag(obj, TAG_SIGN1, "COSE_Sign1")
        return cls(protected_raw, unprotected, payload, _protected_header(protected_raw), signature)

    @classmethod
    def create(
        cls,
        key: PrivateKey,
        payload: bytes,
        *,
        unprotected: dict[Any, Any] | None = None,
        detached: bool = False,
        protected_extra: dict[Any, Any] | None = None,
    ) -> Sign1:
        """Sign ``payload``; with ``detached`` the payload is left out of the structure (nil).

        The protected header is ``{1: alg}`` plus ``protected_extra`` (a CWT's content type, say).
        """
        alg = alg_for_key(key)
        protected = {HDR_ALG: alg, **(protected_extra or {})}
        protected_raw = encode(protected)
        to_sign = _sig_structure(protected_raw, payload)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            r, s = decode_dss_signature(key.sign(to_sign, _ECDSA[alg]))
            size = (key.curve.key_size + 7) // 8
            signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
        else:
            signature = key.sign(to_sign)
        return cls(protected_raw, dict(unprotected or {}), None if detached else payload, protected, signature)

    def to_cbor(self) -> list[Any]:
        """The untagged array, ready to embed or :func:`didlib.cbor.encode`."""
        return [self.protected_raw, self.unprotected, self.payload, self.signature]

    def verify(self, key: PublicKey, *, detached_payload: bytes | None = None) -> None:
        """Raise :class:`InvalidSignature` unless the signature is good for ``key``."""
        alg = self.alg
        to_verify = _sig_structure(self.protected_raw, self._payload(detached_payload))
        if alg in _ECDSA:
            if key_kind(key) != "ec-public":
                raise BadKey(f"{ALG_NAMES[alg]} needs an EC key, got {type(key).__name__}")
            ec_key = cast(ec.EllipticCurvePublicKey, key)
            key_size = ec_key.key_size
            if key_size not in _ECDSA_KEY_SIZES[alg]:
                raise BadKey(f"{ALG_NAMES[alg]} does not match a {ec_key.curve.name} key")
            verify_ecdsa_raw(ec_key, self.signature, to_verify, _ECDSA[alg], "COSE_Sign1")
            return
        if alg == ALG_EDDSA:
            if key_kind(key) != "eddsa-public":
                raise BadKey(f"EdDSA needs an Ed25519 or Ed448 key, got {type(key).__name__}")
            try:
                cast(ed25519.Ed25519PublicKey | ed448.Ed448PublicKey, key).verify(self.signature, to_verify)
            except _CryptoInvalidSignature:
                raise InvalidSignature("COSE_Sign1 signature does not verify") from None
            return
        raise UnsupportedError(f"COSE algorithm {alg} is not supported for signatures")

    def x5t(self) -> bytes | None:
        """The ``x5t`` thumbprint (RFC 9360, label 34) if it uses SHA-256/64, the only one didlib reads."""
        value = self.header(HDR_X5T)
        if (
            isinstance(value, (list, tuple))
            and len(value) == 2
            and value[0] == X5T_SHA256_64
            and isinstance(value[1], bytes)
            and len(value[1]) == 8
        ):
            return value[1]
        return None

    def x5chain(self) -> list[x509.Certificate]:
        """Certificates of the ``x5chain`` header (label 33): one bstr, or an array of them, leaf first."""
        value = self.header(HDR_X5CHAIN)
        if value is None:
            raise CertificateError("COSE_Sign1 carries no x5chain certificate", code="missing_certificate")
        ders = [value] if isinstance(value, bytes) else value
        if not isinstance(ders, (list, tuple)) or not ders or len(ders) > MAX_CHAIN:
            raise CertificateError(f"x5chain must be a bstr or an array of 1..{MAX_CHAIN} bstr")
        certs = []
        for der in ders:
            if not isinstance(der, bytes):
                raise CertificateError("x5chain entries must be byte strings")
            certs.append(load_der_certificate(der))
        return certs


def x5chain_header(certs: list[bytes]) -> bytes | list[bytes]:
    """The ``x5chain`` value: a single bstr for one certificate (as 18013-5 emits), else an array."""
    return certs[0] if len(certs) == 1 else list(certs)


def _sig_structure(protected_raw: bytes, payload: bytes) -> bytes:
    return cbor2.dumps(["Signature1", protected_raw, b"", payload])


def _mac_structure(protected_raw: bytes, payload: bytes) -> bytes:
    return cbor2.dumps(["MAC0", protected_raw, b"", payload])


@dataclass(frozen=True, slots=True)
class Mac0(_CoseMessage):
    """COSE_Mac0 with HMAC 256/256, the only MAC 18013-5 uses."""

    tag: bytes = b""

    @classmethod
    def from_cbor(cls, obj: Any) -> Mac0:
        protected_raw, unprotected, payload, tag = _untag(obj, TAG_MAC0, "COSE_Mac0")
        return cls(protected_raw, unprotected, payload, _protected_header(protected_raw), tag)

    @classmethod
    def create(cls, key: bytes, payload: bytes, *, detached: bool = False) -> Mac0:
        protected_raw = encode({HDR_ALG: ALG_HMAC256})
        tag = hmac.new(key, _mac_structure(protected_raw, payload), hashlib.sha256).digest()
        return cls(protected_raw, {}, None if detached else payload, {HDR_ALG: ALG_HMAC256}, tag)

    def to_cbor(self) -> list[Any]:
        return [self.protected_raw, self.unprotected, self.payload, self.tag]

    def verify(self, key: bytes, *, detached_payload: bytes | None = None) -> None:
        if self.alg != ALG_HMAC256:
            raise UnsupportedError(f"COSE MAC algorithm {self.alg} is not supported (only HMAC 256/256)")
        expected = hmac.new(key, _mac_structure(self.protected_raw, self._payload(detached_payload)), hashlib.sha256)
        if not hmac.compare_digest(expected.digest(), self.tag):
            raise InvalidMac("COSE_Mac0 tag does not verify")
