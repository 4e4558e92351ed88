"""The verifier (relying party) side of OpenID4VP 1.0: the signed request object and the check of the
wallet's answer."""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from jwcrypto import jwe, jwk

from didlib.errors import DecodeError, DidlibError, UnsupportedError, UsageError, VerificationError
from didlib.jose import CompactJws, b64url_decode, certificates_from_x5c, parse_json, sign_jws, x5c_header
from didlib.keys import PrivateKey, PublicKey, same_public_key
from didlib.mdoc import verify_response
from didlib.mdoc.verifier import DocumentResult
from didlib.oid4vp.common import (
    CLIENT_PREFIX,
    CONTENT_ENCRYPTION,
    DC_API_MODES,
    ENC,
    MAX_REQUEST,
    PROTOCOL_MDOC,
    PROTOCOL_SIGNED,
    PROTOCOL_UNSIGNED,
    REQUEST_LIFETIME,
    REQUEST_TYP,
    RESPONSE_MODES,
    SCHEME,
    VP_FORMATS,
    check_origin,
    dc_api_audience,
    jwk_thumbprint,
)
from didlib.oid4vp.dc_api_mdoc import MdocRequestKey
from didlib.oid4vp.dcql import (
    MDOC,
    SD_JWT,
    Held,
    answers_sets,
    authority_key_ids,
    check_dcql,
    claim_values,
    credential_matches,
    selected_claims,
)
from didlib.sdjwt import verify_sd_jwt_vc
from didlib.sdjwt.core import Disclosure, split_sd_jwt
from didlib.session.transcript import dc_api_transcript, openid4vp_transcript
from didlib.trust import TrustStore
from didlib.verification import Problem

__all__ = ["Binding", "VpResult", "PresentationRequest", "MAX_PRESENTATIONS"]


@dataclass(frozen=True)
class Binding:
    """What a verified presentation proves besides its claims: the holder's key (proven by the mdoc's device
    authentication or the SD-JWT's key binding JWT), the issuer's status reference (the MSO's ``status``,
    ISO 18013-5 second edition; the SD-JWT VC ``status`` claim, Token Status List 6.1) as given, never
    assumed, and the credential's end of validity: what a verifier that keeps a record needs to keep it
    current."""

    holder_key: PublicKey | None = field(repr=False)
    status: dict[str, Any] | None
    valid_until: dt.datetime | None


@dataclass
class VpResult:
    """The verdict on a wallet's answer: ``claims`` holds only what the query asked for, never more."""

    valid: bool
    claims: dict[str, Any] = field(default_factory=dict)  # only the claims the query asked for
    credential_id: str | None = None  # the answered credential query ids, comma-separated
    errors: list[Problem] = field(default_factory=list)
    # per credential query id, the claims of each presentation (several when the query allows ``multiple``)
    presented: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    bindings: dict[str, list[Binding]] = field(default_factory=dict)  # per credential query id, as ``presented``

    def same_holder(self) -> bool:
        """Whether every presentation is bound to one and the same proven holder key: credentials from several
        issuers then belong to one person (the DBS and training issuers bind to the driving licence's key)."""
        keys = [b.holder_key for entries in self.bindings.values() for b in entries]
        first = keys[0] if keys else None
        return first is not None and all(k is not None and same_public_key(first, k) for k in keys)


@dataclass
class PresentationRequest:
    """One authorization request of a relying party (a transaction): what it asks and how to check the answer.

    Over the Digital Credentials API (OpenID4VP 1.0 Appendix A, :meth:`create_dc_api`) ``origin`` is the page's
    origin: the answer comes back through the browser, bound to that origin instead of ``client_id`` (which is
    empty for a verifier that only sends unsigned requests), and there is no ``response_uri`` or ``state``.
    When the query asks for an mdoc it is also offered as ``org-iso-mdoc`` (ISO/IEC 18013-7 Annex C), with its
    own HPKE recipient key (``iso_mdoc``).
    """

    client_id: str
    response_uri: str
    dcql_query: dict[str, Any]
    nonce: str
    state: str
    response_mode: str
    encryption_key: jwk.JWK | None = field(default=None, repr=False)
    created: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    answered: bool = False
    origin: str | None = None  # the page's origin, for a request over the Digital Credentials API
    iso_mdoc: MdocRequestKey | None = field(default=None, repr=False)  # its org-iso-mdoc form (Annex C)

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

    @classmethod
    def create_dc_api(
        cls,
        origin: str,
        dcql_query: Mapping[str, Any],
        *,
        host: str | None = None,
        encrypted: bool = True,
        now: dt.datetime | None = None,
    ) -> PresentationRequest:
        """A request for the W3C Digital Credentials API from the page at ``origin``; with ``host`` (the DNS name
        of the reader certificate) it can also be sent signed (:meth:`dc_api_requests`). ``encrypted`` asks for
        ``dc_api.jwt``."""
        check_dcql(dcql_query)
        key = jwk.JWK.generate(kty="EC", crv="P-256", use="enc") if encrypted else None
        return cls(
            CLIENT_PREFIX + host if host else "",
            "",
            dict(dcql_query),
            secrets.token_urlsafe(24),
            "",
            "dc_api.jwt" if encrypted else "dc_api",
            key,
            now or dt.datetime.now(dt.UTC),
            origin=check_origin(origin),
            iso_mdoc=MdocRequestKey.create() if any(q["format"] == MDOC for q in dcql_query["credentials"]) else None,
        )

    def _parameters(self) -> dict[str, Any]:
        """The authorization request parameters (OpenID4VP 1.0 5.1) both transports share."""
        metadata: dict[str, Any] = {"vp_formats_supported": VP_FORMATS}
        if self.encryption_key is not None:
            public = json.loads(self.encryption_key.export_public())
            metadata |= {
                "jwks": {"keys": [public | {"alg": "ECDH-ES", "use": "enc", "kid": self.encryption_key.thumbprint()}]},
                "encrypted_response_enc_values_supported": [ENC],
            }
        return {
            "response_type": "vp_token",
            "response_mode": self.response_mode,
            "nonce": self.nonce,
            "dcql_query": self.dcql_query,
            "client_metadata": metadata,
        }

    def _sign(self, claims: dict[str, Any], key: PrivateKey, chain: Sequence[x509.Certificate]) -> str:
        claims |= {"iat": int(self.created.timestamp()), "exp": int((self.created + REQUEST_LIFETIME).timestamp())}
        return sign_jws(claims, key, {"typ": REQUEST_TYP, "x5c": x5c_header(list(chain))})

    def request_object(self, key: PrivateKey, chain: Sequence[x509.Certificate]) -> str:
        """The signed request object the wallet fetches from ``request_uri``."""
        if self.origin is not None:
            raise UsageError("a Digital Credentials API request is sent with dc_api_requests()")
        claims = {"iss": self.client_id, "aud": "https://self-issued.me/v2", "client_id": self.client_id,
                  **self._parameters(), "response_uri": self.response_uri, "state": self.state}
        return self._sign(claims, key, chain)

    def dc_api_requests(self, signer: tuple[PrivateKey, Sequence[x509.Certificate]] | None = None
                        ) -> list[dict[str, Any]]:
        """The ``digital.requests`` entries for ``navigator.credentials.get`` (OpenID4VP 1.0 A.1-A.3): with
        ``signer`` first a signed request object carrying ``client_id`` and ``expected_origins``
        (``openid4vp-v1-signed``), then always the unsigned parameters without ``client_id``
        (``openid4vp-v1-unsigned``), then for a query that asks for an mdoc its DeviceRequest (reader-authenticated
        with ``signer``) and EncryptionInfo (``org-iso-mdoc``). All are answered alike: bound to the origin."""
        if self.origin is None:
            raise UsageError("not a Digital Credentials API request (see create_dc_api)")
        entries = []
        if signer is not None:
            if not self.client_id:
                raise UsageError("a signed request needs the host its reader certificate names (create_dc_api)")
            claims = {"client_id": self.client_id, "expected_origins": [self.origin], **self._parameters()}
            entries.append({"protocol": PROTOCOL_SIGNED, "data": {"request": self._sign(claims, *signer)}})
        entries.append({"protocol": PROTOCOL_UNSIGNED, "data": self._parameters()})
        mdoc = self.iso_mdoc.request_data(self.origin, self.dcql_query, signer) if self.iso_mdoc else None
        if mdoc is not None:
            entries.append({"protocol": PROTOCOL_MDOC, "data": mdoc})
        return entries

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
                "origin": self.origin,
                "iso_mdoc": self.iso_mdoc.to_dict() if self.iso_mdoc else None,
            }
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> PresentationRequest:
        """A request saved with :meth:`to_json` (by a server between the request and the answer), its
        decryption key included."""
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
                data.get("origin"),
                MdocRequestKey.from_dict(data["iso_mdoc"]) if data.get("iso_mdoc") else None,
            )
        except Exception as exc:  # missing fields, wrong types, a key jwcrypto refuses
            raise DecodeError(f"not a saved presentation request: {exc}") from exc
        fields = (request.client_id, request.response_uri, request.nonce, request.state, request.response_mode)
        modes = RESPONSE_MODES if request.origin is None else DC_API_MODES
        if not all(isinstance(v, str) for v in fields) or request.response_mode not in modes \
                or request.created.tzinfo is None or not isinstance(request.answered, bool):
            raise DecodeError("not a saved presentation request: a field has the wrong type")
        if request.origin is not None:
            check_origin(request.origin)
        check_dcql(request.dcql_query)
        return request

    @property
    def audience(self) -> str:
        """The KB-JWT ``aud`` an answer must carry: the client identifier, or over the DC API the origin (A.4)."""
        return self.client_id if self.origin is None else dc_api_audience(self.origin)

    def session_transcript(self) -> bytes:
        """The SessionTranscript an mdoc answer is device-signed over: the OpenID4VP handover (B.2.6.1), or over
        the DC API the handover with the origin (B.2.6.2); both bind the response key's thumbprint."""
        thumbprint = jwk_thumbprint(self.encryption_key) if self.encryption_key else None
        if self.origin is not None:
            return dc_api_transcript(self.origin, self.nonce, thumbprint)
        return openid4vp_transcript(self.client_id, self.nonce, self.response_uri, thumbprint)

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
        max_age: dt.timedelta = REQUEST_LIFETIME,
    ) -> VpResult:
        """Verify the wallet's POST to ``response_uri`` (or, over the DC API, the ``data`` of the browser's
        ``DigitalCredential``); a request is answered once, within ``max_age``. Both encrypted DC API answers
        come as ``{"response": ...}``: a JWE (compact, dot-separated) for ``dc_api.jwt``, base64url of an
        EncryptedResponse (no dots) for ``org-iso-mdoc``, opened with that form's own key.

        Never raises for bad input. Not thread-safe: a server serialises the checks of one request.
        """
        now = now or dt.datetime.now(dt.UTC)
        try:
            sealed = self._open_iso_mdoc(form)
            params = {} if sealed is not None else self._open(form)
            if self.origin is None and params.get("state") != self.state:  # no state over the DC API (A.2)
                raise VerificationError("the response is for another request", code="wrong_state")
            if self.answered:
                raise VerificationError("this request has already been answered", code="replayed")
            if now - self.created > max_age:
                raise VerificationError("the request has expired", code="request_expired")
            if sealed is not None:
                result = self._verify_iso_mdoc(sealed, trust, now, status_checker)
            elif "error" in params:
                return VpResult(False, errors=[_wallet_error(params)])
            else:
                token = params.get("vp_token")
                token = parse_json(token) if isinstance(token, str) else token
                if not isinstance(token, dict) or not token:
                    raise DecodeError("vp_token must be an object of presentations")
                result = self._verify_token(token, trust, now, status_checker)
        except DidlibError as exc:
            return VpResult(False, errors=[Problem.of(exc)])
        self.answered = self.answered or result.valid
        return result

    def _open_iso_mdoc(self, form: Mapping[str, Any]) -> bytes | None:
        """The DeviceResponse of an ``org-iso-mdoc`` answer (ISO 18013-7 Annex C), or None for another form."""
        response = form.get("response")
        if self.iso_mdoc is None or self.origin is None or not isinstance(response, str) or "." in response:
            return None
        return self.iso_mdoc.open(form, self.origin)

    def _verify_iso_mdoc(self, plaintext: bytes, trust: TrustStore, now: dt.datetime, status_checker: Any
                         ) -> VpResult:
        """An opened ``org-iso-mdoc`` DeviceResponse, device-authenticated over this request's dcapi transcript
        and judged by the DCQL query its DeviceRequest was made from: each document answers the first mdoc
        query of its docType, and the documents together must be what the credential sets allow."""
        assert self.iso_mdoc is not None and self.origin is not None
        mdoc = verify_response(plaintext, trust=trust, session_transcript=self.iso_mdoc.transcript(self.origin),
                               now=now, status_checker=status_checker)
        if not mdoc.valid:
            return VpResult(False, errors=mdoc.errors)
        queries = [q for q in self.dcql_query["credentials"] if q["format"] == MDOC]
        verified: dict[str, list[tuple[Any, _Presented]]] = {}
        for index, doc in enumerate(mdoc.documents):
            query = next((q for q in queries if q["meta"]["doctype_value"] == doc.doctype and q["id"] not in verified),
                         None)
            if query is None:
                raise DecodeError(f"the answer holds a {doc.doctype} document the request did not ask for",
                                  code="wrong_credentials")
            verified[query["id"]] = [(index, _mdoc_presented(doc))]
        if not answers_sets(self.dcql_query, verified):
            raise DecodeError("the documents are not what the request's credential sets allow",
                              code="wrong_credentials")
        return self._judge(verified)

    def _open(self, form: Mapping[str, str]) -> dict[str, Any]:
        if self.response_mode in ("direct_post", "dc_api") or ("error" in form and "response" not in form):
            return dict(form)  # a wallet that cannot encrypt may send its error in the clear (8.3.1)
        response = form.get("response")
        if not isinstance(response, str) or len(response) > MAX_REQUEST or self.encryption_key is None:
            raise DecodeError(f"an encrypted response ({self.response_mode}) was expected")
        try:
            token = jwe.JWE()
            token.allowed_algs = ["ECDH-ES", *CONTENT_ENCRYPTION]
            token.deserialize(response)  # parse only: look at the header before decrypting anything
            headers = token.jose_header  # one per recipient in the JSON serialization
            if any("zip" in header for header in (headers if isinstance(headers, list) else [headers])):
                # RFC 7516 4.1.3: inflating would come before any check; 61 KB made 45 MB
                raise UnsupportedError("compressed responses (JWE zip) are refused")
            token.decrypt(self.encryption_key, max_plaintext=MAX_REQUEST)
        except UnsupportedError:
            raise
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
        """OpenID4VP 1.0 8.6: every presentation verifies and meets its credential query, the query ids are what
        the credential sets allow, and no presentation discloses a claim the query did not select (6.4)."""
        dcql = self.dcql_query
        queries = {q["id"]: q for q in dcql["credentials"]}
        if not set(token) <= set(queries) or not answers_sets(dcql, token):
            raise DecodeError("vp_token does not answer the query", code="wrong_credentials")
        verified: dict[str, list[tuple[Any, _Presented]]] = {}
        for query_id, presentations in token.items():
            query = queries[query_id]
            limit = MAX_PRESENTATIONS if query.get("multiple", False) else 1
            if not isinstance(presentations, list) or not 1 <= len(presentations) <= limit:
                raise DecodeError(f"vp_token entry {query_id!r} must hold {limit if limit == 1 else 'some'} "
                                  "presentation(s)")
            for presentation in presentations:
                if not isinstance(presentation, str):
                    raise DecodeError("a presentation must be a string")
                one = self._verify_one(query, presentation, trust, now, status_checker)
                if isinstance(one, list):
                    return VpResult(False, errors=one)
                verified.setdefault(query_id, []).append((presentation, one))
        return self._judge(verified)

    def _judge(self, verified: Mapping[str, list[tuple[Any, _Presented]]]) -> VpResult:
        """Verified presentations per credential query id (each under a key naming it: the same key for one
        presentation that answers several queries) against the query: every one meets its query (6.4.1) and none
        discloses a claim the query did not select (6.4)."""
        queries = {q["id"]: q for q in self.dcql_query["credentials"]}
        allowed: dict[Any, set[Any]] = {}  # presentation -> the claims selected for it by every query it answers
        presented: dict[str, list[dict[str, Any]]] = {}
        bindings: dict[str, list[Binding]] = {}
        for query_id, entries in verified.items():
            for key, one in entries:
                claims = _meets(queries[query_id], one)
                allowed.setdefault(key, set()).update(_selectable(one, claims))
                presented.setdefault(query_id, []).append(
                    {_claim_name(one.held, c["path"]): claim_values(one.held, c["path"])[0] for c in claims}
                )
                bindings.setdefault(query_id, []).append(one.binding)
        for entries in verified.values():
            for key, one in entries:
                extra = sorted(str(d) for d in one.disclosed - allowed[key])
                if extra:
                    raise VerificationError(
                        f"the presentation discloses claims the query did not select: {', '.join(extra)}",
                        code="over_disclosure",
                    )
        merged = {name: value for entries in presented.values() for entry in entries for name, value in entry.items()}
        return VpResult(True, merged, ",".join(verified), presented=presented, bindings=bindings)

    def _verify_one(
        self, query: Mapping[str, Any], presentation: str, trust: TrustStore, now: dt.datetime, status_checker: Any
    ) -> _Presented | list[Problem]:
        """Verify one presentation (signature, chain, holder binding, validity, status); its problems if not."""
        if query["format"] == SD_JWT:
            sd_jwt = verify_sd_jwt_vc(
                presentation,
                trust=trust,
                nonce=self.nonce,
                aud=self.audience,
                now=now,
                expected_vct=query["meta"]["vct_values"],
                status_checker=status_checker,
            )
            if not sd_jwt.valid:
                return sd_jwt.errors
            jwt_part, encoded, _ = split_sd_jwt(presentation)
            chain = certificates_from_x5c(CompactJws.parse(jwt_part).header.get("x5c"))
            held = Held(SD_JWT, sd_jwt.vct or "", sd_jwt.claims, authority_key_ids(chain))
            named = {Disclosure.parse(d).name for d in encoded}
            status = sd_jwt.claims.get("status")
            expires = sd_jwt.claims.get("exp")
            binding = Binding(sd_jwt.holder_key, status if isinstance(status, dict) else None,
                              dt.datetime.fromtimestamp(expires, dt.UTC) if isinstance(expires, int) else None)
            return _Presented(held, {name for name in named if name is not None}, binding)
        if query["format"] != MDOC:
            return [Problem("wrong_credentials", f"this verifier does not check {query['format']!r} presentations")]
        mdoc = verify_response(
            b64url_decode(presentation),
            trust=trust,
            session_transcript=self.session_transcript(),
            now=now,
            status_checker=status_checker,
        )
        if not mdoc.valid:
            return mdoc.errors
        if len(mdoc.documents) != 1:
            return [Problem("wrong_document", "an mdoc presentation must hold one document")]
        doc = mdoc.documents[0]
        if doc.doctype != query["meta"]["doctype_value"]:
            return [Problem("wrong_document", f"asked for {query['meta']['doctype_value']}, got {doc.doctype}")]
        return _mdoc_presented(doc)


MAX_PRESENTATIONS = 16  # per credential query with ``multiple``


@dataclass(frozen=True)
class _Presented:
    """A verified presentation: what DCQL sees of it, and what it disclosed selectively (names, or
    (namespace, element) pairs for an mdoc)."""

    held: Held
    disclosed: set[Any]
    binding: Binding


def _mdoc_presented(doc: DocumentResult) -> _Presented:
    """What DCQL sees of a verified mdoc document, what it disclosed, and what it proves besides."""
    chain = [doc.signer_certificate] if doc.signer_certificate is not None else []
    held = Held(MDOC, doc.doctype or "", doc.elements, authority_key_ids(chain))
    status = doc.mso.status if doc.mso is not None else None
    binding = Binding(doc.device_key, status if isinstance(status, dict) else None, doc.valid_until)
    return _Presented(held, {(ns, e) for ns, elements in doc.elements.items() for e in elements}, binding)


def _meets(query: Mapping[str, Any], one: _Presented) -> list[Mapping[str, Any]]:
    """The claims a verified presentation answers its query with (6.4.1); raises when it does not."""
    if not credential_matches(query, one.held):
        raise VerificationError(
            "the credential's issuer is not one of the query's trusted authorities", code="untrusted_authority"
        )
    claims = selected_claims(query, one.held)
    if claims is None:
        present = all(claim_values(one.held, c["path"]) for c in query["claims"]) if "claim_sets" not in query else \
            any(all(claim_values(one.held, c["path"]) for c in query["claims"] if c["id"] in o)
                for o in query["claim_sets"])
        if present:
            raise VerificationError("a claim does not have a value the query accepts", code="value_mismatch")
        raise VerificationError("the presentation lacks a claim that was asked for", code="claim_missing")
    return claims


def _selectable(one: _Presented, claims: list[Mapping[str, Any]]) -> set[Any]:
    """What a presentation may disclose for these selected claims: their names, and for an SD-JWT everything
    nested in their values (disclosing an object discloses its members)."""
    if one.held.format == MDOC:
        return {(c["path"][0], c["path"][1]) for c in claims}
    names: set[Any] = set()
    for claim in claims:
        names.update(p for p in claim["path"] if isinstance(p, str))
        for value in claim_values(one.held, claim["path"]):
            names.update(_nested_names(value))
    return names


def _nested_names(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value).union(*(_nested_names(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_nested_names(v) for v in value))
    return set()


def _claim_name(held: Held, path: Sequence[Any]) -> str:
    """How a claim is named in :attr:`VpResult.claims`: the element for an mdoc, the dotted path for JSON."""
    return str(path[-1]) if held.format == MDOC else ".".join(str(p) for p in path)


def _wallet_error(params: Mapping[str, Any]) -> Problem:
    """The wallet's error response (8.5) as a problem with its code (``access_denied`` ...), kept short."""
    error, description = params.get("error"), params.get("error_description")
    code = error if isinstance(error, str) and re.fullmatch(r"[a-z_]{1,64}", error) else "wallet_error"
    text = description[:200] if isinstance(description, str) else "the wallet sent no presentation"
    return Problem(code, f"the wallet answered {code}: {text}")
