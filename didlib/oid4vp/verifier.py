"""The verifier (relying party) side of OpenID4VP 1.0: the signed request object and the check of the
wallet's answer."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from jwcrypto import jwe, jwk

from didlib.errors import DecodeError, DidlibError, VerificationError
from didlib.jose import b64url_decode, parse_json, sign_jws, x5c_header
from didlib.keys import PrivateKey
from didlib.mdoc import verify_response
from didlib.oid4vp.common import (
    CLIENT_PREFIX,
    CONTENT_ENCRYPTION,
    ENC,
    MAX_REQUEST,
    REQUEST_TYP,
    RESPONSE_MODES,
    SCHEME,
    VP_FORMATS,
    jwk_thumbprint,
)
from didlib.oid4vp.dcql import check_dcql
from didlib.sdjwt import verify_sd_jwt_vc
from didlib.session.transcript import openid4vp_transcript
from didlib.trust import TrustStore
from didlib.verification import Problem


@dataclass
class VpResult:
    """The verdict on a wallet's answer: ``claims`` holds only what the query asked for, never more."""

    valid: bool
    claims: dict[str, Any] = field(default_factory=dict)  # only the claims the query asked for
    credential_id: str | None = None
    errors: list[Problem] = field(default_factory=list)


@dataclass
class PresentationRequest:
    """One authorization request of a relying party (a transaction): what it asks and how to check the answer."""

    client_id: str
    response_uri: str
    dcql_query: dict[str, Any]
    nonce: str
    state: str
    response_mode: str
    encryption_key: jwk.JWK | None = field(default=None, repr=False)
    created: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    answered: bool = False

    @classmethod
    def create(
        cls,
        host: str,
        response_uri: str,
        dcql_query: Mapping[str, Any],
        *,
        encrypted: bool = True,
        now: dt.datetime | None = None,
    ) -> PresentationRequest:
        """A new transaction with fresh ``nonce`` and ``state``; ``encrypted`` asks for ``direct_post.jwt``."""
        check_dcql(dcql_query)
        key = jwk.JWK.generate(kty="EC", crv="P-256", use="enc") if encrypted else None
        return cls(
            CLIENT_PREFIX + host,
            response_uri,
            dict(dcql_query),
            secrets.token_urlsafe(24),
            secrets.token_urlsafe(16),
            "direct_post.jwt" if encrypted else "direct_post",
            key,
            now or dt.datetime.now(dt.UTC),
        )

    def request_object(self, key: PrivateKey, chain: Sequence[x509.Certificate]) -> str:
        """The signed request object the wallet fetches from ``request_uri``."""
        claims: dict[str, Any] = {
            "iss": self.client_id,
            "aud": "https://self-issued.me/v2",
            "client_id": self.client_id,
            "response_type": "vp_token",
            "response_mode": self.response_mode,
            "response_uri": self.response_uri,
            "nonce": self.nonce,
            "state": self.state,
            "dcql_query": self.dcql_query,
            "iat": int(self.created.timestamp()),
        }
        claims["client_metadata"] = {"vp_formats_supported": VP_FORMATS}
        if self.encryption_key is not None:
            public = json.loads(self.encryption_key.export_public())
            claims["client_metadata"] |= {
                "jwks": {"keys": [public | {"alg": "ECDH-ES", "use": "enc", "kid": self.encryption_key.thumbprint()}]},
                "encrypted_response_enc_values_supported": [ENC],
            }
        return sign_jws(claims, key, {"typ": REQUEST_TYP, "x5c": x5c_header(list(chain))})

    def to_json(self) -> str:
        """The transaction as a verifier keeps it between the request and the answer (private key included)."""
        return json.dumps(
            {
                "client_id": self.client_id,
                "response_uri": self.response_uri,
                "dcql_query": self.dcql_query,
                "nonce": self.nonce,
                "state": self.state,
                "response_mode": self.response_mode,
                "encryption_key": json.loads(self.encryption_key.export_private()) if self.encryption_key else None,
                "created": self.created.isoformat(),
                "answered": self.answered,
            }
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> PresentationRequest:
        data = parse_json(text)
        try:
            key = jwk.JWK(**data["encryption_key"]) if data["encryption_key"] else None
            request = cls(
                data["client_id"],
                data["response_uri"],
                data["dcql_query"],
                data["nonce"],
                data["state"],
                data["response_mode"],
                key,
                dt.datetime.fromisoformat(data["created"]),
                data["answered"],
            )
        except Exception as exc:  # missing fields, wrong types, a key jwcrypto refuses
            raise DecodeError(f"not a saved presentation request: {exc}") from exc
        fields = (request.client_id, request.response_uri, request.nonce, request.state, request.response_mode)
        if not all(isinstance(v, str) for v in fields) or request.response_mode not in RESPONSE_MODES \
                or request.created.tzinfo is None or not isinstance(request.answered, bool):
            raise DecodeError("not a saved presentation request: a field has the wrong type")
        check_dcql(request.dcql_query)
        return request

    def uri(self, request_uri: str) -> str:
        """``openid4vp://?client_id=...&request_uri=...``: the same-device link and the cross-device QR."""
        return SCHEME + "?" + urllib.parse.urlencode({"client_id": self.client_id, "request_uri": request_uri})

    def check(
        self,
        form: Mapping[str, str],
        *,
        trust: TrustStore,
        now: dt.datetime | None = None,
        status_checker: Any = None,
        max_age: dt.timedelta = dt.timedelta(minutes=10),
    ) -> VpResult:
        """Verify the wallet's POST to ``response_uri``; a request is answered once, within ``max_age``.

        Never raises for bad input. Not thread-safe: a server serialises the checks of one request.
        """
        now = now or dt.datetime.now(dt.UTC)
        try:
            params = self._open(form)
            if params.get("state") != self.state:
                raise VerificationError("the response is for another request", code="wrong_state")
            if self.answered:
                raise VerificationError("this request has already been answered", code="replayed")
            if now - self.created > max_age:
                raise VerificationError("the request has expired", code="request_expired")
            token = params.get("vp_token")
            token = parse_json(token) if isinstance(token, str) else token
            if not isinstance(token, dict) or not token:
                raise DecodeError("vp_token must be an object of presentations")
            result = self._verify_token(token, trust, now, status_checker)
        except DidlibError as exc:
            return VpResult(False, errors=[Problem.of(exc)])
        self.answered = self.answered or result.valid
        return result

    def _open(self, form: Mapping[str, str]) -> dict[str, Any]:
        if self.response_mode == "direct_post":
            return dict(form)
        response = form.get("response")
        if not isinstance(response, str) or len(response) > MAX_REQUEST or self.encryption_key is None:
            raise DecodeError("an encrypted response (direct_post.jwt) was expected")
        try:
            token = jwe.JWE()
            token.allowed_algs = ["ECDH-ES", *CONTENT_ENCRYPTION]
            token.deserialize(response, key=self.encryption_key)
        except Exception as exc:  # jwcrypto raises several unrelated types for bad input
            raise VerificationError(
                f"the response does not decrypt: {type(exc).__name__}", code="decryption_failed"
            ) from exc
        params = parse_json(token.payload)
        if not isinstance(params, dict):
            raise DecodeError("the decrypted response must be an object")
        return params

    def _verify_token(
        self, token: dict[str, Any], trust: TrustStore, now: dt.datetime, status_checker: Any
    ) -> VpResult:
        """Every entry must verify and the entries together must be one option of the credential sets."""
        queries = {q["id"]: q for q in self.dcql_query["credentials"]}
        options = [set(o) for s in self.dcql_query.get("credential_sets", []) for o in s["options"]] or [set(queries)]
        if set(token) not in options:
            raise DecodeError("vp_token does not answer the query", code="wrong_credentials")
        claims: dict[str, Any] = {}
        for query_id, presentations in token.items():
            if not isinstance(presentations, list) or len(presentations) != 1:
                raise DecodeError(f"vp_token entry {query_id!r} must hold one presentation")
            problems = self._verify_one(queries[query_id], presentations[0], trust, now, status_checker, claims)
            if problems:
                return VpResult(False, errors=problems)
        return VpResult(True, claims, ",".join(token))

    def _verify_one(
        self,
        query: Mapping[str, Any],
        presentation: Any,
        trust: TrustStore,
        now: dt.datetime,
        status_checker: Any,
        claims: dict[str, Any],
    ) -> list[Problem]:
        """Verify one presentation and add only the claims its query asked for to ``claims``."""
        if not isinstance(presentation, str):
            raise DecodeError("a presentation must be a string")
        names = [c["path"][-1] for c in query["claims"]]
        if query["format"] == "dc+sd-jwt":
            sd_jwt = verify_sd_jwt_vc(
                presentation,
                trust=trust,
                nonce=self.nonce,
                aud=self.client_id,
                now=now,
                expected_vct=query.get("meta", {}).get("vct_values"),
                status_checker=status_checker,
            )
            if not sd_jwt.valid:
                return sd_jwt.errors
            found = {name: sd_jwt.claims.get(name) for name in names}
        else:
            thumbprint = jwk_thumbprint(self.encryption_key) if self.encryption_key else None
            transcript = openid4vp_transcript(self.client_id, self.nonce, self.response_uri, thumbprint)
            mdoc = verify_response(
                b64url_decode(presentation),
                trust=trust,
                session_transcript=transcript,
                now=now,
                status_checker=status_checker,
            )
            if not mdoc.valid:
                return mdoc.errors
            doc = mdoc.documents[0]
            if doc.doctype != query["meta"]["doctype_value"]:
                return [Problem("wrong_document", f"asked for {query['meta']['doctype_value']}, got {doc.doctype}")]
            found = {c["path"][-1]: doc.elements.get(c["path"][0], {}).get(c["path"][-1]) for c in query["claims"]}
        if any(value is None for value in found.values()):
            raise VerificationError("the presentation lacks a claim that was asked for", code="claim_missing")
        claims.update(found)
        return []

