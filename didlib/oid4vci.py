"""OpenID for Verifiable Credential Issuance 1.0: the protocol pieces both ends need, without HTTP.

The issuer service and the wallet are thin shells around these: credential offers and their URI, the
pre-authorized code grant's transaction code, key proofs (``openid4vci-proof+jwt``), and the error codes
of the specification. Transport (FastAPI on one side, httpx on the other) stays in the apps.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import urllib.parse
from collections.abc import Container
from dataclasses import dataclass
from typing import Any

from didlib.cbor import encode
from didlib.errors import DidlibError
from didlib.jose import CompactJws, jwk_from_public, parse_json, public_from_jwk, sign_jws
from didlib.keys import PrivateKey, PublicKey, public_key_der

__all__ = [
    "OFFER_SCHEME",
    "PRE_AUTHORIZED_GRANT",
    "PROOF_TYP",
    "FORMAT_MDOC",
    "FORMAT_SD_JWT",
    "OID4VCIError",
    "CredentialOffer",
    "CredentialRequest",
    "MAX_CREDENTIAL_REQUEST",
    "credential_request_json",
    "make_proof",
    "verify_proof",
    "new_tx_code",
    "binding_transcript",
]

OFFER_SCHEME = "openid-credential-offer://"
"""The scheme of a credential offer link or QR code (OpenID4VCI 1.0 4.1)."""
PRE_AUTHORIZED_GRANT = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
"""The grant type a wallet redeems an offer's pre-authorized code with (OpenID4VCI 1.0 3.5)."""
PROOF_TYP = "openid4vci-proof+jwt"
"""The ``typ`` of a key proof JWT (OpenID4VCI 1.0, Appendix F)."""
FORMAT_MDOC, FORMAT_SD_JWT = "mso_mdoc", "dc+sd-jwt"
MAX_OFFER = 8 * 1024
MAX_CREDENTIAL_REQUEST = 64 * 1024
"""The largest credential request body an issuer reads, in bytes: a batch of key proofs fits many times over."""


class OID4VCIError(DidlibError):
    """An error with the ``error`` code OpenID4VCI / OAuth 2.0 defines for it, and its HTTP status."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description, code=error)
        self.status = status

    def body(self) -> dict[str, str]:
        """``error`` and ``error_description``; the description keeps to the characters OpenID4VCI 1.0
        section 8.3.1.2 and RFC 6749 section 5.2 allow (printable ASCII without ``"`` and ``\\``)."""
        text = "".join(c if " " <= c <= "~" and c not in '"\\' else "?" for c in self.message)
        return {"error": self.code, "error_description": text}


def binding_transcript(credential_issuer: str, nonce: str) -> bytes:
    """The SessionTranscript of a presentation made *to an issuer* so it binds a new credential to the same
    device key (the DBS and training issuers ask for the driving licence this way):
    ``[null, null, ["DidlibIssuerBinding", credential_issuer, nonce]]`` with the issuer's fresh nonce."""
    return encode([None, None, ["DidlibIssuerBinding", credential_issuer, nonce]])


def new_tx_code(length: int = 6) -> str:
    """A numeric transaction code, delivered to the citizen out of band (RFC-style: digits only)."""
    return "".join(secrets.choice("0123456789") for _ in range(length))


@dataclass(frozen=True)
class CredentialOffer:
    """A credential offer with the pre-authorized code grant (OpenID4VCI 1.0 section 4.1)."""

    credential_issuer: str
    credential_configuration_ids: list[str]
    pre_authorized_code: str
    tx_code_length: int | None = 6
    tx_code_description: str = "the code we showed you (demo) or sent to you"

    def to_json(self) -> dict[str, Any]:
        """The offer object (OpenID4VCI 1.0 4.1.1), pre-authorized code grant with its ``tx_code`` description."""
        grant: dict[str, Any] = {"pre-authorized_code": self.pre_authorized_code}
        if self.tx_code_length:
            grant["tx_code"] = {"input_mode": "numeric", "length": self.tx_code_length,
                                "description": self.tx_code_description}
        return {"credential_issuer": self.credential_issuer,
                "credential_configuration_ids": list(self.credential_configuration_ids),
                "grants": {PRE_AUTHORIZED_GRANT: grant}}

    def uri(self) -> str:
        """``openid-credential-offer://?credential_offer=<JSON>`` (by value)."""
        return OFFER_SCHEME + "?" + urllib.parse.urlencode({"credential_offer": json.dumps(self.to_json(),
                                                                                           separators=(",", ":"))})

    @classmethod
    def from_uri(cls, uri: str) -> CredentialOffer:
        """Read an offer URI (by value); a wallet calls this on what it scanned or was handed."""
        if not isinstance(uri, str) or len(uri) > MAX_OFFER or not uri.startswith(OFFER_SCHEME):
            raise OID4VCIError("invalid_request", "not a credential offer URI")
        try:
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(uri).query)
        except ValueError as exc:  # urlsplit: "Invalid IPv6 URL" for an unbalanced bracket
            raise OID4VCIError("invalid_request", f"malformed credential offer URI: {exc}") from exc
        if "credential_offer" not in query:
            raise OID4VCIError("invalid_request", "only offers by value are supported (credential_offer)")
        try:
            offer = json.loads(query["credential_offer"][0])
            grant = offer["grants"][PRE_AUTHORIZED_GRANT]
            tx = grant.get("tx_code")
            return cls(str(offer["credential_issuer"]), [str(c) for c in offer["credential_configuration_ids"]],
                       str(grant["pre-authorized_code"]), int(tx["length"]) if tx and "length" in tx else None,
                       str(tx.get("description", "")) if tx else "")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise OID4VCIError("invalid_request", f"malformed credential offer: {exc}") from exc


def make_proof(key: PrivateKey, audience: str, nonce: str | None, now: dt.datetime | None = None,
               client_id: str | None = None) -> str:
    """The wallet's key proof: a JWT signed by the key to bind, carrying its public JWK in the header."""
    payload: dict[str, Any] = {"aud": audience, "iat": int((now or dt.datetime.now(dt.UTC)).timestamp())}
    if nonce is not None:
        payload["nonce"] = nonce
    if client_id:
        payload["iss"] = client_id
    return sign_jws(payload, key, {"typ": PROOF_TYP, "jwk": jwk_from_public(key.public_key())})


def verify_proof(proof: str, *, audience: str, now: dt.datetime | None = None,
                 max_age: dt.timedelta = dt.timedelta(minutes=5)) -> tuple[PublicKey, str | None]:
    """Check a key proof (OpenID4VCI 1.0 appendix F.1); return the key it proves and the nonce it carries.

    The caller checks the nonce against those it handed out (``invalid_nonce`` when it is not one).
    Raises :class:`OID4VCIError` ``invalid_proof``.
    """
    now = now or dt.datetime.now(dt.UTC)
    try:
        jws = CompactJws.parse(proof)
        if jws.header.get("typ") != PROOF_TYP:
            raise OID4VCIError("invalid_proof", "proof typ must be openid4vci-proof+jwt")
        if "x5c" in jws.header or "kid" in jws.header:
            raise OID4VCIError("invalid_proof", "this issuer takes proofs with a jwk header only")
        key = public_from_jwk(jws.header.get("jwk"))
        jws.verify(key)
    except OID4VCIError:
        raise
    except DidlibError as exc:
        raise OID4VCIError("invalid_proof", f"proof does not verify: {exc.message}") from exc
    claims = jws.payload
    if not isinstance(claims, dict):
        raise OID4VCIError("invalid_proof", "proof payload must be an object")
    if claims.get("aud") != audience:
        raise OID4VCIError("invalid_proof", "proof is for another credential issuer")
    iat = claims.get("iat")
    if isinstance(iat, bool) or not isinstance(iat, (int, float)):
        raise OID4VCIError("invalid_proof", "proof has no iat")
    if not now.timestamp() - max_age.total_seconds() <= iat <= now.timestamp() + 60:
        raise OID4VCIError("invalid_proof", "proof iat is outside the accepted window")
    nonce = claims.get("nonce")
    return key, nonce if isinstance(nonce, str) else None


def credential_request_json(body: bytes | str, *, max_size: int = MAX_CREDENTIAL_REQUEST) -> Any:
    """The JSON of a credential request body, strict and with size and depth limits (deep nesting is an
    error, not a RecursionError); anything else is ``invalid_credential_request`` (OpenID4VCI 1.0 8.3.1.2)."""
    try:
        return parse_json(body, max_size=max_size)
    except DidlibError as exc:
        raise OID4VCIError("invalid_credential_request", "the body must be a JSON object") from exc


@dataclass(frozen=True)
class CredentialRequest:
    """An issuer's reading of a credential request (OpenID4VCI 1.0 section 8.2): the configuration asked for
    and its ``jwt`` key proofs (section 8.2.1.1, appendix F.1), one credential per proof."""

    configuration_id: str
    proofs: tuple[str, ...]

    @classmethod
    def parse(cls, body: Any, *, known: Container[str], granted: Container[str], max_proofs: int) -> CredentialRequest:
        """Check the request's shape against the issuer's configurations (``known``) and those the access
        token covers (``granted``). The codes are section 8.3.1.2's, the configuration's checked before the
        proofs': a configuration this issuer lacks is ``unknown_credential_configuration`` whatever the
        proofs. No response encryption and no credential identifiers are offered, so asking for either is
        refused."""
        if not isinstance(body, dict):
            raise OID4VCIError("invalid_credential_request", "the request must be a JSON object")
        if "credential_response_encryption" in body:
            raise OID4VCIError("invalid_encryption_parameters", "this issuer does not encrypt credential responses")
        config_id = body.get("credential_configuration_id")
        if "credential_identifier" in body:
            if config_id is not None:
                raise OID4VCIError("invalid_credential_request", "send credential_identifier or "
                                   "credential_configuration_id, not both")
            raise OID4VCIError("unknown_credential_identifier", "this issuer gives no credential identifiers")
        if not isinstance(config_id, str):
            raise OID4VCIError("invalid_credential_request", "credential_configuration_id (a string) is required")
        if config_id not in known:
            raise OID4VCIError("unknown_credential_configuration", "no such credential configuration")
        if config_id not in granted:  # RFC 6750 section 3.1
            raise OID4VCIError("insufficient_scope", "the access token does not cover this credential", 403)
        proofs = body.get("proofs")
        if not isinstance(proofs, dict) or set(proofs) != {"jwt"}:
            raise OID4VCIError("invalid_proof", "proofs must hold jwt key proofs (the only proof type supported)")
        jwts = proofs["jwt"]
        if not isinstance(jwts, list) or not jwts or not all(isinstance(p, str) for p in jwts):
            raise OID4VCIError("invalid_proof", "proofs.jwt must be a non-empty list of key proofs")
        if len(jwts) > max_proofs:
            raise OID4VCIError("invalid_credential_request", f"at most {max_proofs} proofs in one request")
        return cls(config_id, tuple(jwts))

    def proven_keys(self, *, audience: str, bound: PublicKey | None = None,
                    now: dt.datetime | None = None) -> tuple[list[PublicKey], set[str]]:
        """The keys the proofs prove, one per credential and each different, and the distinct nonces they
        carry; the caller spends those (``invalid_nonce`` when one was not handed out). A proof without a
        nonce is ``invalid_proof`` (section 8.3.1.2). ``bound``: the one key the credential may be bound to."""
        keys: list[PublicKey] = []
        nonces: set[str] = set()
        seen: set[bytes] = set()
        bound_der = public_key_der(bound) if bound is not None else None
        for proof in self.proofs:
            key, nonce = verify_proof(proof, audience=audience, now=now)
            if nonce is None:
                raise OID4VCIError("invalid_proof", "a key proof must carry the c_nonce from the nonce endpoint")
            der = public_key_der(key)
            if der in seen:
                raise OID4VCIError("invalid_proof", "each credential of a batch needs its own key")
            if bound_der is not None and der != bound_der:
                raise OID4VCIError("invalid_proof", "this credential must be bound to the key its offer is bound to")
            keys.append(key)
            seen.add(der)
            nonces.add(nonce)
        return keys, nonces
