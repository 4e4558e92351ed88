"""Selective Disclosure for JWTs (RFC 9901): disclosures, digests, issuance, presentation, processing.

Written by hand because it is the one layer no maintained Python library offers in the shape needed here
(strict verification with stable error codes, digests over disclosures exactly as received); all JOSE
(signatures, JWK) goes through pyjwt in :mod:`didlib.jose`.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from didlib.errors import DecodeError, LimitExceeded, UnsupportedError, VerificationError
from didlib.jose import b64url_decode, b64url_encode, parse_json

__all__ = [
    "SD",
    "Disclosure",
    "HASHES",
    "build_sd_payload",
    "split_sd_jwt",
    "process_disclosures",
    "sd_hash",
    "MAX_DISCLOSURES",
]

HASHES: dict[str, Callable[[bytes], Any]] = {
    "sha-256": hashlib.sha256,
    "sha-384": hashlib.sha384,
    "sha-512": hashlib.sha512,
}
SALT_BYTES = 16
MAX_DISCLOSURES = 512
MAX_DISCLOSURE = 64 * 1024
RESERVED = ("_sd", "...")


class SD:
    """Marks a claim value (object property or array element) as selectively disclosable at issuance."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


@dataclass(frozen=True)
class Disclosure:
    """One disclosure: the base64url string as issued, and what it says."""

    encoded: str
    salt: str
    name: str | None  # None for an array element
    value: Any

    @classmethod
    def create(cls, name: str | None, value: Any) -> Disclosure:
        """A new disclosure with a fresh salt: ``name`` None for an array element (RFC 9901 4.2.2)."""
        salt = b64url_encode(secrets.token_bytes(SALT_BYTES))
        content = [salt, value] if name is None else [salt, name, value]
        encoded = b64url_encode(json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode())
        return cls(encoded, salt, name, value)

    @classmethod
    def parse(cls, encoded: str) -> Disclosure:
        """A disclosure as received, kept byte for byte: its digest is over the string as sent (RFC 9901 4.2.3)."""
        if len(encoded) > MAX_DISCLOSURE:
            raise LimitExceeded("a disclosure is larger than 64 KiB")
        content = parse_json(b64url_decode(encoded))
        if not isinstance(content, list) or len(content) not in (2, 3) or not isinstance(content[0], str):
            raise DecodeError("a disclosure must be [salt, value] or [salt, name, value]", code="bad_disclosure")
        if len(content) == 2:
            return cls(encoded, content[0], None, content[1])
        if not isinstance(content[1], str):
            raise DecodeError("a disclosure's claim name must be a string", code="bad_disclosure")
        if content[1] in RESERVED:
            raise VerificationError(
                f"a disclosure may not carry the claim name {content[1]!r}", code="reserved_claim_name"
            )
        return cls(encoded, content[0], content[1], content[2])

    def digest(self, alg: str) -> str:
        """base64url(hash(ASCII of the disclosure exactly as issued)) (RFC 9901 4.2.3)."""
        return b64url_encode(HASHES[alg](self.encoded.encode("ascii")).digest())


def _decoy(alg: str) -> str:
    return b64url_encode(HASHES[alg](secrets.token_bytes(32)).digest())


def build_sd_payload(claims: Any, alg: str = "sha-256", decoys: int = 0) -> tuple[Any, list[Disclosure]]:
    """Turn claims with :class:`SD` markers into an SD-JWT payload and its disclosures (recursively).

    ``decoys`` adds up to that many decoy digests to every ``_sd`` array and disclosable array.
    """
    disclosures: list[Disclosure] = []

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            digests: list[str] = []
            for name, item in value.items():
                if name in RESERVED:
                    raise DecodeError(f"claim name {name!r} is reserved by SD-JWT")
                if isinstance(item, SD):
                    disclosure = Disclosure.create(name, walk(item.value))
                    disclosures.append(disclosure)
                    digests.append(disclosure.digest(alg))
                else:
                    out[name] = walk(item)
            if digests:
                digests.extend(_decoy(alg) for _ in range(secrets.randbelow(decoys + 1) if decoys else 0))
                out["_sd"] = sorted(digests)
            return out
        if isinstance(value, list):
            items = []
            for item in value:
                if isinstance(item, SD):
                    disclosure = Disclosure.create(None, walk(item.value))
                    disclosures.append(disclosure)
                    items.append({"...": disclosure.digest(alg)})
                else:
                    items.append(walk(item))
            return items
        if isinstance(value, SD):
            raise DecodeError("SD marks a claim or array element, not a whole payload")
        return value

    if alg not in HASHES:
        raise UnsupportedError(f"_sd_alg {alg!r} is not supported")
    payload = walk(claims)
    if not isinstance(payload, dict):
        raise DecodeError("an SD-JWT payload must be a JSON object")
    if alg != "sha-256" or disclosures:
        payload["_sd_alg"] = alg
    return payload, disclosures


def split_sd_jwt(text: str) -> tuple[str, list[str], str | None]:
    """``<issuer JWT>~<disclosure>~...~<KB-JWT or empty>`` -> (JWT, disclosures, KB-JWT or None)."""
    if not isinstance(text, str):
        raise DecodeError("an SD-JWT is text")
    text = text.strip()
    if "~" not in text:
        raise DecodeError("an SD-JWT has at least one '~'")
    parts = text.split("~")
    if len(parts) - 2 > MAX_DISCLOSURES:
        raise LimitExceeded(f"more than {MAX_DISCLOSURES} disclosures")
    jwt_part, disclosures, last = parts[0], parts[1:-1], parts[-1]
    if not jwt_part or "" in disclosures:
        raise DecodeError("an SD-JWT has an empty component")
    return jwt_part, disclosures, last or None


def sd_hash(presentation_without_kb: str, alg: str) -> str:
    """``sd_hash``: hash of everything up to and including the last '~' (RFC 9901 4.3.1)."""
    return b64url_encode(HASHES[alg](presentation_without_kb.encode("ascii")).digest())


def process_disclosures(payload: dict[str, Any], encoded: list[str]) -> tuple[dict[str, Any], list[Disclosure]]:
    """Verify and apply disclosures to a verified issuer payload (RFC 9901 7.1 steps 3-5).

    Returns the processed claims (``_sd``, ``_sd_alg`` and undisclosed digests removed) and the disclosures in
    the order given. Raises :class:`VerificationError` with a stable code on any violation.
    """
    alg = payload.get("_sd_alg", "sha-256")
    if alg not in HASHES:
        raise VerificationError(f"_sd_alg {alg!r} is not supported", code="sd_alg_unsupported")
    disclosures = [Disclosure.parse(d) for d in encoded]
    by_digest: dict[str, Disclosure] = {}
    for disclosure in disclosures:
        digest = disclosure.digest(alg)
        if digest in by_digest:
            raise VerificationError("the same disclosure is presented twice", code="duplicate_disclosure")
        by_digest[digest] = disclosure
    used: set[str] = set()

    def use(digest: Any) -> Disclosure | None:
        if not isinstance(digest, str):
            raise VerificationError("digests must be strings", code="malformed")
        if digest in used:
            raise VerificationError("a digest appears more than once", code="duplicate_digest")
        used.add(digest)
        return by_digest.get(digest)

    def walk(value: Any, depth: int) -> Any:
        if depth > 32:
            raise LimitExceeded("SD-JWT claims are nested too deeply")
        # A scalar is its own result; walking it only checks the depth, so only near the limit is it walked.
        deep = depth >= 32

        def step(child: Any) -> Any:
            return walk(child, depth + 1) if deep or isinstance(child, (dict, list)) else child

        if isinstance(value, dict):
            out = {k: step(v) for k, v in value.items() if k != "_sd"}
            digests = value.get("_sd", [])
            if not isinstance(digests, list):
                raise VerificationError("_sd must be an array", code="malformed")
            for digest in digests:
                disclosure = use(digest)
                if disclosure is None:
                    continue  # undisclosed or decoy
                if disclosure.name is None:
                    raise VerificationError("an array-element disclosure is referenced from _sd", code="bad_disclosure")
                if disclosure.name in out:
                    raise VerificationError(
                        f"claim {disclosure.name!r} is disclosed and also present", code="claim_name_clash"
                    )
                out[disclosure.name] = step(disclosure.value)
            return out
        if isinstance(value, list):
            items = []
            for item in value:
                if isinstance(item, dict) and "..." in item:
                    if len(item) != 1:
                        raise VerificationError("an array digest object has only the key '...'", code="malformed")
                    disclosure = use(item["..."])
                    if disclosure is None:
                        continue
                    if disclosure.name is not None:
                        raise VerificationError(
                            "an object-property disclosure is referenced from an array", code="bad_disclosure"
                        )
                    items.append(step(disclosure.value))
                else:
                    items.append(step(item))
            return items
        return value

    claims = walk(payload, 0)
    claims.pop("_sd_alg", None)
    unreferenced = [d for digest, d in by_digest.items() if digest not in used]
    if unreferenced:
        raise VerificationError(
            f"{len(unreferenced)} disclosure(s) are not referenced by any digest", code="unreferenced_disclosure"
        )
    return claims, disclosures


def disclosures_within(payload: Any, disclosures: list[Disclosure], alg: str) -> dict[str, Disclosure]:
    """Map digest -> disclosure for every disclosure reachable from ``payload`` (for holders choosing)."""
    by_digest = {d.digest(alg): d for d in disclosures}
    reached: dict[str, Disclosure] = {}

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for digest in value.get("_sd", []) if isinstance(value.get("_sd"), list) else []:
                if digest in by_digest:
                    reached[digest] = by_digest[digest]
                    walk(by_digest[digest].value)
            for key, item in value.items():
                if key != "_sd":
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict) and set(item) == {"..."} and item["..."] in by_digest:
                    reached[item["..."]] = by_digest[item["..."]]
                    walk(by_digest[item["..."]].value)
                else:
                    walk(item)

    walk(payload)
    return reached
