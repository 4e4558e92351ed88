"""OpenID for Verifiable Presentations 1.0 with DCQL: a website asks, a wallet answers. No HTTP here.

Verifier side: :class:`PresentationRequest` makes a signed request object (``oauth-authz-req+jwt``, client
identifier ``x509_san_dns:<host>`` backed by a reader certificate from the PKI) and checks the answer:
``direct_post`` (form ``vp_token`` + ``state``) or ``direct_post.jwt`` (the same, encrypted to the
request's ephemeral key with ECDH-ES and AES-GCM through jwcrypto). Wallet side: :func:`parse_request`
verifies the request object against the reader CAs the wallet trusts and checks the certificate names the
client, and :func:`build_response` presents SD-JWT VCs (key binding to ``nonce`` and ``client_id``) or mdocs
(device-signed over the OpenID4VP handover SessionTranscript of ISO 18013-7 / OpenID4VP B.2.6.1).
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from jwcrypto import jwe, jwk

from didlib.errors import DecodeError, DidlibError, ReaderNotAuthorised, UnsupportedError, VerificationError
from didlib.jose import (
    CompactJws,
    b64url_decode,
    b64url_encode,
    certificates_from_x5c,
    parse_json,
    sign_jws,
    x5c_header,
)
from didlib.keys import PrivateKey
from didlib.mdoc import Credential, present_elements, verify_response
from didlib.mdoc.registry import DOCTYPE_AGE, DOCTYPE_MDL, NS_AGE, NS_ISO, PROFILES
from didlib.pki import Purpose, public_key_of
from didlib.sdjwt import present_sd_jwt, verify_sd_jwt_vc
from didlib.sdjwt.profiles import DOCTYPE_FOR_VCT, VCT
from didlib.session.reader_auth import ReaderIdentity, reader_identity
from didlib.session.transcript import openid4vp_transcript
from didlib.trust import TrustStore
from didlib.verification import Problem

__all__ = [
    "SCHEME",
    "age_query",
    "PresentationRequest",
    "ParsedRequest",
    "parse_request",
    "check_dcql",
    "build_response",
    "VpResult",
    "VpAnswer",
    "request_uri_parts",
    "jwk_thumbprint",
]

SCHEME = "openid4vp://"
REQUEST_TYP = "oauth-authz-req+jwt"
CLIENT_PREFIX = "x509_san_dns:"
MAX_REQUEST = 64 * 1024
ENC = "A128GCM"
RESPONSE_MODES = ("direct_post", "direct_post.jwt")
CONTENT_ENCRYPTION = ("A128GCM", "A256GCM")
# What this verifier checks (OpenID4VP 1.0 client metadata): JOSE names for SD-JWT, COSE numbers for mdoc.
_JWS_ALGS = ["ES256", "ES384", "ES512", "EdDSA"]
VP_FORMATS = {
    "dc+sd-jwt": {"sd-jwt_alg_values": _JWS_ALGS, "kb-jwt_alg_values": _JWS_ALGS},
    "mso_mdoc": {"issuerauth_alg_values": [-7, -35, -36, -8], "deviceauth_alg_values": [-7, -35, -36, -8]},
}


def age_query(threshold: int = 18) -> dict[str, Any]:
    """DCQL for "over NN", from a proof of age or a driving licence, as SD-JWT VC or mdoc; nothing else."""
    element = f"age_over_{threshold:02d}"
    return {
        "credentials": [
            {
                "id": "age_sd_jwt",
                "format": "dc+sd-jwt",
                "meta": {"vct_values": [VCT[DOCTYPE_AGE], VCT[DOCTYPE_MDL]]},
                "claims": [{"path": [element]}],
            },
            {
                "id": "age_mdoc",
                "format": "mso_mdoc",
                "meta": {"doctype_value": DOCTYPE_AGE},
                "claims": [{"path": [NS_AGE, element], "intent_to_retain": False}],
            },
            {
                "id": "licence_mdoc",
                "format": "mso_mdoc",
                "meta": {"doctype_value": DOCTYPE_MDL},
                "claims": [{"path": [NS_ISO, element], "intent_to_retain": False}],
            },
        ],
        "credential_sets": [{"options": [["age_sd_jwt"], ["age_mdoc"], ["licence_mdoc"]], "required": True}],
    }


def jwk_thumbprint(key: jwk.JWK) -> bytes:
    """The RFC 7638 SHA-256 thumbprint as bytes: what the OpenID4VP handover binds the mdoc answer to."""
    return b64url_decode(key.thumbprint())


# -------------------------------------------------------------------------------------------- verifier
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


# ----------------------------------------------------------------------------------------------- wallet
@dataclass
class VpAnswer:
    """What the wallet sends (``form``, to POST to ``response_uri``) and the credentials it came from."""

    form: dict[str, str]
    used: list[str | Credential]


@dataclass
class ParsedRequest:
    """A verified request: who asks (their reader certificate), for what, and where to answer."""

    client_id: str
    reader: ReaderIdentity
    claims: dict[str, Any]  # the request object
    beyond_entitlement: list[str]
    encryption_key: jwk.JWK | None = field(default=None, repr=False)  # for direct_post.jwt
    enc: str = ENC

    def requested_claims(self) -> list[str]:
        """The claim names asked for, for the consent screen (any one option is answered, and they agree)."""
        names = {c["path"][-1] for q in self.claims["dcql_query"]["credentials"] for c in q.get("claims", [])}
        return sorted(names)


def parse_request(
    request_object: str, reader_trust: TrustStore, *, client_id: str | None = None, now: dt.datetime | None = None
) -> ParsedRequest:
    """Verify a request object: signed by a reader certificate from a trusted reader CA whose DNS name is the
    client identifier (and the ``client_id`` of the link that led here); the answer may only go to that host,
    over https (plain http only for ``localhost`` demos). Reports what it asks beyond the entitlement."""
    now = now or dt.datetime.now(dt.UTC)
    try:
        jws = CompactJws.parse(request_object)
        if jws.header.get("typ") != REQUEST_TYP:
            raise ReaderNotAuthorised("not a signed authorization request", code="unsigned_request")
        chain = certificates_from_x5c(jws.header.get("x5c"))
        checked = reader_trust.check(chain, Purpose.READER_AUTH, now)
        jws.verify(public_key_of(chain[0]))
    except ReaderNotAuthorised:
        raise
    except DidlibError as exc:
        raise ReaderNotAuthorised(
            f"the request is not signed by a trusted verifier: {exc.message}", code=exc.code
        ) from exc
    claims = jws.payload
    if not isinstance(claims, dict):
        raise DecodeError("the request object must be a JSON object")
    signed_client = claims.get("client_id")
    if not isinstance(signed_client, str) or not signed_client.startswith(CLIENT_PREFIX):
        raise ReaderNotAuthorised("only x509_san_dns client identifiers are accepted", code="client_id")
    if client_id is not None and client_id != signed_client:
        raise ReaderNotAuthorised("the link and the signed request name different clients", code="client_id_mismatch")
    host = signed_client[len(CLIENT_PREFIX) :]
    if host not in _dns_names(chain[0]):
        raise ReaderNotAuthorised("the certificate does not name this client", code="client_id_mismatch")
    for key in ("response_uri", "nonce"):
        if not isinstance(claims.get(key), str) or not claims[key]:
            raise DecodeError(f"the request has no {key}")
    if not isinstance(claims.get("state", ""), str):  # optional in OpenID4VP 1.0; returned when given
        raise DecodeError("the request's state must be a string")
    if claims.get("response_type") != "vp_token" or claims.get("response_mode") not in RESPONSE_MODES:
        raise DecodeError("only response_type vp_token with direct_post or direct_post.jwt is supported")
    check_dcql(claims.get("dcql_query"))
    response = urllib.parse.urlsplit(claims["response_uri"])
    if response.hostname != host:
        raise ReaderNotAuthorised("the response would go to another host than the client's", code="client_id_mismatch")
    if not _secure(response):
        raise ReaderNotAuthorised("the response must go over https", code="insecure_response_uri")
    reader = reader_identity(chain[0], checked.warnings)
    parsed = ParsedRequest(signed_client, reader, claims, _beyond(claims["dcql_query"], reader))
    if claims["response_mode"] == "direct_post.jwt":
        parsed.encryption_key, parsed.enc = _response_key(claims.get("client_metadata"))
    return parsed


def _response_key(metadata: Any) -> tuple[jwk.JWK, str]:
    """The verifier's P-256 ECDH-ES key from ``client_metadata.jwks``, and a content encryption we support."""
    try:
        keys = metadata["jwks"]["keys"]
        usable = [
            k
            for k in keys
            if k.get("kty") == "EC"
            and k.get("crv") == "P-256"
            and k.get("use", "enc") == "enc"
            and k.get("alg", "ECDH-ES") == "ECDH-ES"
        ]
        key = jwk.JWK(**{name: usable[0][name] for name in ("kty", "crv", "x", "y", "kid") if name in usable[0]})
        key.get_op_key("wrapKey")  # loads the point: fails for one that is not on the curve
        offered = metadata.get("encrypted_response_enc_values_supported") or [ENC]
        enc = next(e for e in offered if e in CONTENT_ENCRYPTION)
    except Exception as exc:  # jwcrypto and bad shapes raise several unrelated types
        raise DecodeError(
            "direct_post.jwt without a usable P-256 encryption key and A128GCM/A256GCM", code="bad_encryption_key"
        ) from exc
    return key, enc


def _dns_names(cert: x509.Certificate) -> list[str]:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.DNSName
        )
    except x509.ExtensionNotFound:
        return []


def check_dcql(dcql: Any) -> None:
    """The subset of DCQL this wallet answers: credential queries by id with format, meta and claim paths,
    optionally grouped into credential sets of options naming those ids."""
    if not isinstance(dcql, dict) or not isinstance(dcql.get("credentials"), list) or not dcql["credentials"]:
        raise DecodeError("dcql_query needs a non-empty credentials array", code="bad_dcql")
    ids = set()
    for query in dcql["credentials"]:
        if not isinstance(query, dict) or not isinstance(query.get("id"), str) or query["id"] in ids:
            raise DecodeError("each DCQL credential query needs a unique id", code="bad_dcql")
        ids.add(query["id"])
        meta = query.get("meta")
        if query.get("format") == "dc+sd-jwt":
            ok = isinstance(meta, dict) and isinstance(meta.get("vct_values"), list)
        elif query.get("format") == "mso_mdoc":
            ok = isinstance(meta, dict) and isinstance(meta.get("doctype_value"), str)
        else:
            ok = False
        paths = [c.get("path") if isinstance(c, dict) else None for c in query.get("claims") or [None]]
        if not ok or not all(isinstance(p, list) and p and all(isinstance(x, str) for x in p) for p in paths):
            raise DecodeError(f"DCQL query {query['id']!r} is not a supported shape", code="bad_dcql")
    for credential_set in dcql.get("credential_sets", []):
        options = credential_set.get("options") if isinstance(credential_set, dict) else None
        if not isinstance(options, list) or not all(isinstance(o, list) and set(o) <= ids for o in options):
            raise DecodeError("DCQL credential_sets must name the credential queries", code="bad_dcql")


def _doctype_ns(query: Mapping[str, Any], path: Sequence[str]) -> tuple[str, str, str] | None:
    """(docType, namespace, element) a DCQL claim path means, for entitlement checks and mdoc requests."""
    if query.get("format") == "mso_mdoc":
        return (query["meta"]["doctype_value"], path[0], path[-1]) if len(path) == 2 else None
    for vct in query.get("meta", {}).get("vct_values", []):
        doctype = DOCTYPE_FOR_VCT.get(vct)
        if doctype:
            for ns, elements in PROFILES[doctype].namespaces.items():
                if path[-1] in elements:
                    return doctype, ns, path[-1]
    return None


def _beyond(dcql: Any, reader: ReaderIdentity) -> list[str]:
    beyond = []
    for query in dcql.get("credentials", []) if isinstance(dcql, dict) else []:
        for claim in query.get("claims", []):
            place = _doctype_ns(query, claim.get("path", []))
            if place is None or reader.beyond_entitlement(place[0], {place[1]: [place[2]]}):
                beyond.append(".".join(claim.get("path", [])))
    return beyond


def build_response(
    request: ParsedRequest,
    sd_jwts: Iterable[tuple[str, PrivateKey]],
    mdocs: Iterable[tuple[Credential, PrivateKey]],
    now: dt.datetime | None = None,
) -> VpAnswer:
    """The form to POST to ``response_uri``, from the first credential-set option the wallet can satisfy
    (in the order the verifier listed them), and which credentials it used (a wallet spends single-use ones).

    Refuses when the request asks beyond the verifier's entitlement: nothing is sent then.
    """
    if request.beyond_entitlement:
        raise ReaderNotAuthorised(
            f"the verifier may not ask for {', '.join(request.beyond_entitlement)}", code="beyond_entitlement"
        )
    claims = request.claims
    queries = {q["id"]: q for q in claims["dcql_query"]["credentials"]}
    options = [o for s in claims["dcql_query"].get("credential_sets", []) for o in s["options"]] or [
        [q] for q in queries
    ]
    sd_jwts, mdocs = list(sd_jwts), list(mdocs)
    for option in options:
        token, used = {}, []
        for query_id in option:
            answer = _answer(queries[query_id], request, claims, sd_jwts, mdocs, now)
            if answer is None:
                break
            token[query_id] = [answer[0]]
            used.append(answer[1])
        else:
            state = {"state": claims["state"]} if "state" in claims else {}
            return VpAnswer(_response_form(request, {"vp_token": token, **state}), used)
    raise DidlibError("no credential in the wallet answers this request", code="no_matching_credential")


def _answer(
    query: Mapping[str, Any],
    request: ParsedRequest,
    claims: Mapping[str, Any],
    sd_jwts: list[tuple[str, PrivateKey]],
    mdocs: list[tuple[Credential, PrivateKey]],
    now: dt.datetime | None,
) -> tuple[str, str | Credential] | None:
    """(presentation, the credential it came from) for one credential query, or None."""
    paths = [c["path"] for c in query.get("claims", [])]
    if query["format"] == "dc+sd-jwt":
        wanted = set(query.get("meta", {}).get("vct_values", []))
        for credential, key in sd_jwts:
            payload = CompactJws.parse(credential.split("~", 1)[0]).payload
            if payload.get("vct") in wanted:
                try:
                    disclose = [p[-1] for p in paths]
                    return present_sd_jwt(
                        credential, key, disclose, nonce=claims["nonce"], aud=request.client_id, now=now
                    ), credential
                except DidlibError:
                    continue
        return None
    doctype = query["meta"]["doctype_value"]
    for mdoc, key in mdocs:
        if mdoc.doctype == doctype:
            thumbprint = jwk_thumbprint(request.encryption_key) if request.encryption_key else None
            transcript = openid4vp_transcript(request.client_id, claims["nonce"], claims["response_uri"], thumbprint)
            try:
                response = present_elements(mdoc, key, [f"{p[0]}:{p[1]}" for p in paths], transcript)
            except DidlibError:
                continue
            return b64url_encode(response), mdoc
    return None


def _response_form(request: ParsedRequest, params: dict[str, Any]) -> dict[str, str]:
    if request.encryption_key is None:
        return {**params, "vp_token": json.dumps(params["vp_token"])}
    token = jwe.JWE(
        json.dumps(params).encode(),
        protected=json.dumps(
            {"alg": "ECDH-ES", "enc": request.enc}
            | ({"kid": request.encryption_key["kid"]} if request.encryption_key.get("kid") else {})
        ),
    )
    token.add_recipient(request.encryption_key)
    return {"response": token.serialize(compact=True)}


def request_uri_parts(uri: str) -> tuple[str, str]:
    """(client_id, request_uri) of an ``openid4vp://`` link; the request is only fetched over https."""
    if not isinstance(uri, str) or not uri.startswith(SCHEME) or len(uri) > MAX_REQUEST:
        raise DecodeError("not an openid4vp:// request")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(uri).query)
    try:
        client_id, request_uri = query["client_id"][0], query["request_uri"][0]
    except (KeyError, IndexError) as exc:
        raise DecodeError("the request link needs client_id and request_uri") from exc
    if not _secure(urllib.parse.urlsplit(request_uri)):
        raise ReaderNotAuthorised("the request must be fetched over https", code="insecure_request_uri")
    return client_id, request_uri


def _secure(url: urllib.parse.SplitResult) -> bool:
    """https, or plain http to ``localhost`` only (demos and tests on one machine)."""
    return url.scheme == "https" or (url.scheme == "http" and url.hostname == "localhost")
