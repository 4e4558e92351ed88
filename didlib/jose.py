"""JOSE for SD-JWT, KB-JWT and status list tokens.

pyjwt signs compact JWS and converts JWKs. Verification is didlib's own strict parse (size limits, strict
JSON: no duplicate member names, bounded nesting; ``alg`` from an allow-list, no ``crit``; the algorithm
taken from the key rather than from the token) followed by the one ``cryptography`` call pyjwt would make
(RFC 7518 3.4 / RFC 8037): a verifier checks two of these per presentation, and pyjwt's layers around that
call cost more than the rest of the parse. Headers and ``x5c`` certificates repeat from one presentation to
the next and are parsed once per exact text; errors are didlib's typed ones.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography import x509
from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519
from cryptography.hazmat.primitives.serialization import Encoding
from jwt.exceptions import InvalidKeyError, PyJWKError, PyJWTError

from didlib.errors import BadKey, CertificateError, DecodeError, InvalidSignature, LimitExceeded, UnsupportedError
from didlib.keys import PrivateKey, PublicKey, key_kind, verify_ecdsa_raw
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
    return binascii.b2a_base64(data, newline=False).translate(_TO_URLSAFE).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    """base64url without padding, strictly (padding, '+' and '/' are refused).

    What ``base64.urlsafe_b64decode`` does, without its layers of conversions (a verifier decodes a dozen
    of these per presentation): ASCII, the URL-safe alphabet mapped back, binascii's non-strict decoding.
    """
    if not isinstance(text, str) or "=" in text or "+" in text or "/" in text:
        raise DecodeError("expected base64url without padding")
    try:
        data = text.encode("ascii").translate(_FROM_URLSAFE)
        return binascii.a2b_base64(data + b"=" * (-len(data) % 4))
    except (binascii.Error, ValueError) as exc:
        raise DecodeError(f"not base64url: {exc}") from exc


_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")


def jws_alg(key: PrivateKey | PublicKey) -> str:
    kind = key_kind(key)
    if kind.startswith("ec-"):
        return {256: "ES256", 384: "ES384", 521: "ES512"}.get(key.key_size) or _unsupported(key)  # type: ignore[union-attr]
    return "EdDSA" if kind else _unsupported(key)


def _unsupported(key: Any) -> str:
    raise UnsupportedError(f"no JWS algorithm for a {type(key).__name__}")


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        name = next(name for name, _ in pairs if name in seen or seen.add(name))  # type: ignore[func-returns-value]
        raise DecodeError(f"JSON member {name!r} appears twice")
    return out


def _depth(value: Any, limit: int) -> None:
    """Refuse nesting beyond ``limit`` (json.loads itself only stops at the interpreter's recursion limit);
    walked level by level, the containers of each level only."""
    level = [value] if isinstance(value, (dict, list)) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            raise LimitExceeded(f"JSON nested deeper than {limit}")
        level = [
            child
            for item in level
            for child in (item.values() if isinstance(item, dict) else item)
            if isinstance(child, (dict, list))
        ]


def parse_json(data: bytes | str, *, max_size: int = MAX_TOKEN, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Strict JSON (RFC 8259 UTF-8 text): size and depth limits, no duplicate member names, no NaN or Infinity."""
    if len(data) > max_size:
        raise LimitExceeded(f"JSON of {len(data)} bytes exceeds the limit of {max_size}")
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        try:  # JSONDecoder.decode without its two whitespace regexes when there is no whitespace around
            value, end = _SCAN_ONCE(text, 0)
        except StopIteration:
            end = -1
        if end != len(text):
            value = _DECODER.decode(text)  # whitespace around the value, extra data, or no value: decode decides
    except DecodeError:
        raise
    except (ValueError, RecursionError, TypeError, AttributeError) as exc:
        raise DecodeError(f"invalid JSON: {exc}") from exc
    # Every level of nesting opens with its own '{' or '[': text with no more of them than the limit allows
    # cannot nest deeper, and most tokens have a handful (strings may hold some too; then the walk decides).
    if text.count("{") + text.count("[") > max_depth:
        _depth(value, max_depth)
    return value


def _no_constants(name: str) -> Any:
    raise DecodeError(f"JSON constant {name} is not allowed")


# One strict decoder, built once (json.loads with hooks builds a new one on every call).
_DECODER = json.JSONDecoder(object_pairs_hook=_reject_duplicates, parse_constant=_no_constants)
_SCAN_ONCE: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]


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
        if token.count(".") != 2:
            raise DecodeError("a compact JWS has three dot-separated parts")
        signed, _, signature = token.rpartition(".")
        head, _, body = signed.partition(".")
        header = dict(_parse_header(head))
        payload = parse_json(b64url_decode(body))
        return cls(header, payload, signed.encode("ascii"), b64url_decode(signature))

    def verify(self, key: PublicKey) -> None:
        """Check the signature with ``key``; the token's ``alg`` must be the key's (no algorithm confusion).

        ``cryptography`` directly, as pyjwt would (RFC 7518 3.4: ECDSA's R and S each the curve's size,
        big-endian; 3.1: EdDSA per RFC 8037), without pyjwt's layers around the one call that matters.
        """
        alg = jws_alg(key)
        if self.header.get("alg") != alg:
            raise InvalidSignature(f"JWS algorithm {self.header.get('alg')!r} does not fit the key")
        if alg in _ECDSA:  # jws_alg gave the key's own algorithm, so the key is an EC key of its curve
            verify_ecdsa_raw(key, self.signature, self.signing_input, _ECDSA[alg], "JWS")  # type: ignore[arg-type]
            return
        try:
            key.verify(self.signature, self.signing_input)  # type: ignore[call-arg]
        except _CryptoInvalidSignature:
            raise InvalidSignature("JWS signature does not verify") from None


# ES256/384/512 (RFC 7518 3.4): the signature scheme of each.
_ECDSA = {"ES256": ec.ECDSA(hashes.SHA256()), "ES384": ec.ECDSA(hashes.SHA384()), "ES512": ec.ECDSA(hashes.SHA512())}


@functools.lru_cache(maxsize=64)
def _parse_header(segment: str) -> tuple[tuple[str, Any], ...]:
    """A JWS protected header, checked; cached by its exact base64url text, because headers repeat (an
    issuer's, with its x5c, is the same on every credential it signs; every KB-JWT's is alike). The
    caller gets a new dict from the items each time (a shallow copy: nested values such as ``x5c`` are
    shared, and nothing in didlib changes them)."""
    header = parse_json(b64url_decode(segment))
    if not isinstance(header, dict):
        raise DecodeError("JWS header must be a JSON object")
    if header.get("alg") not in ALLOWED_ALGS:
        raise UnsupportedError(f"JWS algorithm {header.get('alg')!r} is not accepted")
    if "crit" in header:
        raise UnsupportedError("JWS critical header parameters are not supported")
    return tuple(header.items())


def x5c_header(chain: list[x509.Certificate]) -> list[str]:
    """The ``x5c`` JOSE header: standard base64 (not base64url) DER, leaf first (RFC 7515 4.1.6)."""
    return [base64.b64encode(c.public_bytes(Encoding.DER)).decode() for c in chain]


def certificates_from_x5c(value: Any) -> list[x509.Certificate]:
    if not isinstance(value, list) or not value or len(value) > MAX_X5C or not all(isinstance(c, str) for c in value):
        raise CertificateError("the JWS carries no usable x5c certificate chain", code="missing_certificate")
    return [_certificate_from_x5c(c) for c in value]


@functools.lru_cache(maxsize=256)
def _certificate_from_x5c(text: str) -> x509.Certificate:
    """One x5c entry (standard base64 DER), cached by its text: verifiers see the same few issuers all day."""
    try:
        return load_der_certificate(base64.b64decode(text, validate=True))
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
        if kty == "EC":  # an EC public key by construction
            return _ec_from_jwk(jwk_data)
        key = jwt.algorithms.OKPAlgorithm.from_jwk(jwk_data)
    except (PyJWKError, InvalidKeyError, ValueError, TypeError, KeyError) as exc:
        raise BadKey(f"not a usable JWK: {exc}") from exc
    if not isinstance(key, (ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        raise BadKey(f"JWK key type {type(key).__name__} is not accepted")
    return key


_CURVES: dict[str, tuple[ec.EllipticCurve, int]] = {
    "P-256": (ec.SECP256R1(), 32),
    "P-384": (ec.SECP384R1(), 48),
    "P-521": (ec.SECP521R1(), 66),
}


def _ec_from_jwk(jwk_data: dict[str, Any]) -> ec.EllipticCurvePublicKey:
    """An EC JWK (RFC 7518 6.2.1) as an uncompressed SEC 1 point: each coordinate exactly the curve's size,
    the point checked to be on the curve by ``cryptography`` (a verifier reads one per presentation, and
    this costs half of pyjwt's way through EllipticCurvePublicNumbers)."""
    curve = _CURVES.get(jwk_data.get("crv"))  # type: ignore[arg-type]
    x, y = jwk_data.get("x"), jwk_data.get("y")
    if curve is None or not isinstance(x, str) or not isinstance(y, str):
        raise ValueError("an EC JWK needs crv (P-256, P-384 or P-521), x and y")
    try:
        xb, yb = b64url_decode(x), b64url_decode(y)
    except DecodeError as exc:
        raise ValueError(exc.message) from exc
    if len(xb) != curve[1] or len(yb) != curve[1]:
        raise ValueError(f"EC JWK coordinates must be {curve[1]} bytes for {jwk_data['crv']}")
    return ec.EllipticCurvePublicKey.from_encoded_point(curve[0], b"\x04" + xb + yb)
