"""JOSE for SD-JWT, KB-JWT and status list tokens, through pyjwt.

pyjwt signs and verifies compact JWS and converts JWKs. What is added here is what verifiers of outside
input need around it: size limits, strict JSON (no duplicate member names, bounded nesting), the
algorithm taken from the key rather than from the token, and didlib's typed errors.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519
from cryptography.hazmat.primitives.serialization import Encoding
from jwt.exceptions import InvalidKeyError, PyJWKError, PyJWTError

from didlib.errors import BadKey, CertificateError, DecodeError, InvalidSignature, LimitExceeded, UnsupportedError
from didlib.keys import PrivateKey, PublicKey
from didlib.pki import load_der_certificate

__all__ = [
    "b64url_decode",
    "b64url_encode",
    "jws_alg",
    "sign_jws",
    "CompactJws",
    "jwk_from_public",
    "public_from_jwk",
    "parse_json",
    "MAX_TOKEN",
    "x5c_header",
    "certificates_from_x5c",
]

MAX_TOKEN = 256 * 1024
MAX_JSON_DEPTH = 24
ALLOWED_ALGS = ("ES256", "ES384", "ES512", "EdDSA")
MAX_X5C = 8


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    """base64url without padding, strictly (padding, '+' and '/' are refused)."""
    if not isinstance(text, str) or "=" in text or "+" in text or "/" in text:
        raise DecodeError("expected base64url without padding")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise DecodeError(f"not base64url: {exc}") from exc


def jws_alg(key: PrivateKey | PublicKey) -> str:
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return {256: "ES256", 384: "ES384", 521: "ES512"}.get(key.curve.key_size) or _unsupported(key)
    if isinstance(
        key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey, ed448.Ed448PrivateKey, ed448.Ed448PublicKey)
    ):
        return "EdDSA"
    return _unsupported(key)


def _unsupported(key: Any) -> str:
    raise UnsupportedError(f"no JWS algorithm for a {type(key).__name__}")


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in pairs:
        if name in out:
            raise DecodeError(f"JSON member {name!r} appears twice")
        out[name] = value
    return out


def _depth(value: Any, limit: int) -> None:
    """Refuse nesting beyond ``limit`` (json.loads itself only stops at the interpreter's recursion limit)."""
    stack = [(value, 1)] if isinstance(value, (dict, list)) else []
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise LimitExceeded(f"JSON nested deeper than {limit}")
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))


def parse_json(data: bytes | str, *, max_size: int = MAX_TOKEN, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Strict JSON: size and depth limits, no duplicate member names, no NaN or Infinity."""
    if len(data) > max_size:
        raise LimitExceeded(f"JSON of {len(data)} bytes exceeds the limit of {max_size}")
    try:
        value = json.loads(data, object_pairs_hook=_reject_duplicates, parse_constant=_no_constants)
    except DecodeError:
        raise
    except (ValueError, RecursionError, TypeError) as exc:
        raise DecodeError(f"invalid JSON: {exc}") from exc
    _depth(value, max_depth)
    return value


def _no_constants(name: str) -> Any:
    raise DecodeError(f"JSON constant {name} is not allowed")


def sign_jws(payload: dict[str, Any], key: PrivateKey, headers: dict[str, Any]) -> str:
    """Compact JWS over the JSON of ``payload`` (UTF-8, no whitespace)."""
    try:
        return jwt.encode(payload, key, algorithm=jws_alg(key), headers=headers, sort_headers=False)
    except (PyJWTError, TypeError, ValueError) as exc:
        raise BadKey(f"cannot sign: {exc}") from exc


@dataclass(frozen=True)
class CompactJws:
    """A compact JWS parsed once: header and payload as strict JSON, and what the signature covers."""

    header: dict[str, Any]
    payload: Any
    signing_input: bytes
    signature: bytes

    @classmethod
    def parse(cls, token: str) -> CompactJws:
        if not isinstance(token, str) or len(token) > MAX_TOKEN:
            raise DecodeError("a JWS must be text of at most 256 KiB")
        parts = token.split(".")
        if len(parts) != 3:
            raise DecodeError("a compact JWS has three dot-separated parts")
        header = parse_json(b64url_decode(parts[0]))
        if not isinstance(header, dict):
            raise DecodeError("JWS header must be a JSON object")
        if header.get("alg") not in ALLOWED_ALGS:
            raise UnsupportedError(f"JWS algorithm {header.get('alg')!r} is not accepted")
        if "crit" in header:
            raise UnsupportedError("JWS critical header parameters are not supported")
        payload = parse_json(b64url_decode(parts[1]))
        return cls(header, payload, f"{parts[0]}.{parts[1]}".encode("ascii"), b64url_decode(parts[2]))

    def verify(self, key: PublicKey) -> None:
        """Check the signature with ``key``; the token's ``alg`` must be the key's (no algorithm confusion)."""
        alg = jws_alg(key)
        if self.header.get("alg") != alg:
            raise InvalidSignature(f"JWS algorithm {self.header.get('alg')!r} does not fit the key")
        try:
            good = _ALGORITHMS[alg].verify(self.signing_input, key, self.signature)
        except (PyJWTError, ValueError, TypeError) as exc:
            raise InvalidSignature(f"JWS signature cannot be checked: {exc}") from exc
        if not good:
            raise InvalidSignature("JWS signature does not verify")


# pyjwt's signature algorithms, built once (its registry is rebuilt on every call otherwise).
_ALGORITHMS = jwt.algorithms.get_default_algorithms()


def x5c_header(chain: list[x509.Certificate]) -> list[str]:
    """The ``x5c`` JOSE header: standard base64 (not base64url) DER, leaf first (RFC 7515 4.1.6)."""
    return [base64.b64encode(c.public_bytes(Encoding.DER)).decode() for c in chain]


def certificates_from_x5c(value: Any) -> list[x509.Certificate]:
    if not isinstance(value, list) or not value or len(value) > MAX_X5C or not all(isinstance(c, str) for c in value):
        raise CertificateError("the JWS carries no usable x5c certificate chain", code="missing_certificate")
    try:
        return [load_der_certificate(base64.b64decode(c, validate=True)) for c in value]
    except (binascii.Error, ValueError) as exc:
        raise CertificateError(f"x5c is not base64: {exc}") from exc


def jwk_from_public(key: PublicKey) -> dict[str, str]:
    """Public JWK (RFC 7517) of a key."""
    try:
        data = (
            jwt.algorithms.ECAlgorithm.to_jwk(key, as_dict=True)
            if isinstance(key, ec.EllipticCurvePublicKey)
            else jwt.algorithms.OKPAlgorithm.to_jwk(key, as_dict=True)
        )
    except (InvalidKeyError, TypeError, ValueError) as exc:
        raise BadKey(f"cannot express the key as a JWK: {exc}") from exc
    return {k: v for k, v in data.items() if k in ("kty", "crv", "x", "y")}


def public_from_jwk(jwk_data: Any) -> PublicKey:
    """A public key from a JWK; private members are refused (a holder key in a credential is public)."""
    if not isinstance(jwk_data, dict) or "d" in jwk_data:
        raise BadKey("expected a public JWK object")
    kty = jwk_data.get("kty")
    if kty not in ("EC", "OKP"):
        raise BadKey(f"JWK key type {kty!r} is not accepted (EC or OKP)")
    try:
        key = (
            jwt.algorithms.ECAlgorithm.from_jwk(jwk_data)
            if kty == "EC"
            else jwt.algorithms.OKPAlgorithm.from_jwk(jwk_data)
        )
    except (PyJWKError, InvalidKeyError, ValueError, TypeError, KeyError) as exc:
        raise BadKey(f"not a usable JWK: {exc}") from exc
    if not isinstance(key, (ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        raise BadKey(f"JWK key type {type(key).__name__} is not accepted")
    return key
