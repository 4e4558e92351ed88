"""The wallet side of OpenID4VP 1.0: verify who asks (the signed request object), then answer with SD-JWT
VCs (key binding to ``nonce`` and ``client_id``) or mdocs (device-signed over the OpenID4VP handover).

Over the W3C Digital Credentials API (Appendix A, :func:`parse_dc_api_request`) the platform hands the wallet
the request and the calling page's origin; the answer is bound to that origin and goes back through the
browser (:func:`build_response` returns it as the ``data`` object)."""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from jwcrypto import jwe, jwk

from didlib.errors import DecodeError, DidlibError, ReaderNotAuthorised, UnsupportedError
from didlib.jose import CompactJws, b64url_encode, certificates_from_x5c
from didlib.keys import PrivateKey
from didlib.mdoc import Credential, present_elements
from didlib.oid4vp.common import (
    CLIENT_PREFIX,
    CLOCK_SKEW,
    CONTENT_ENCRYPTION,
    DC_API_MODES,
    DC_API_PROTOCOLS,
    ENC,
    MAX_REQUEST,
    MAX_REQUEST_AGE,
    PROTOCOL_MDOC,
    PROTOCOL_SIGNED,
    REQUEST_TYP,
    RESPONSE_MODES,
    SCHEME,
    check_origin,
    dc_api_audience,
    jwk_thumbprint,
)
from didlib.oid4vp.dc_api_mdoc import MdocWalletRequest, read_request
from didlib.oid4vp.dcql import MDOC, SD_JWT, Held, authority_key_ids, check_dcql, doctype_ns, select
from didlib.pki import Purpose, public_key_of
from didlib.sdjwt import present_sd_jwt
from didlib.sdjwt.core import process_disclosures, split_sd_jwt
from didlib.session.reader_auth import ReaderIdentity, reader_identity
from didlib.session.transcript import dc_api_transcript, openid4vp_transcript
from didlib.trust import TrustStore

__all__ = [
    "VpAnswer",
    "ParsedRequest",
    "parse_request",
    "parse_dc_api_request",
    "build_response",
    "error_response",
    "dc_api_error",
    "request_uri_parts",
]


@dataclass
class VpAnswer:
    """What the wallet sends (``form``, to POST to ``response_uri``) and the credentials it came from."""

    form: dict[str, Any]  # POST fields (strings); over the DC API the DigitalCredential's data object
    used: list[str | Credential]


@dataclass
class ParsedRequest:
    """A verified request: who asks (their reader certificate), for what, and where to answer.

    Over the DC API ``origin`` is the calling page's origin as the platform asserted it, for the holder to see;
    an unsigned request (``openid4vp-v1-unsigned``) has no ``reader`` and its ``client_id`` is ``origin:``
    and the origin. An ``org-iso-mdoc`` request (``mdoc``) is shown and answered through the DCQL query its
    DeviceRequest stands for (``claims["dcql_query"]``), its reader the one its ``readerAuth`` names."""

    client_id: str
    reader: ReaderIdentity | None  # None only for an unsigned DC API request: the origin is all that is known
    claims: dict[str, Any]  # the request object
    beyond_entitlement: list[str]
    encryption_key: jwk.JWK | None = field(default=None, repr=False)  # for direct_post.jwt and dc_api.jwt
    enc: str = ENC
    origin: str | None = None
    mdoc: MdocWalletRequest | None = field(default=None, repr=False)  # an org-iso-mdoc request (ISO 18013-7 C)

    @property
    def asker(self) -> str:
        """Who asks, as the consent screen names them: the certificate's name, and the origin over the DC API."""
        if self.reader is None:
            return self.origin or self.client_id
        return self.reader.name + (f" ({self.origin})" if self.origin else "")

    def requested_claims(self) -> list[str]:
        """Every claim name the query mentions, for the consent screen. With ``claim_sets`` or
        ``credential_sets`` the wallet sends one option of each, so usually fewer (:func:`build_response`)."""
        names = {
            str(next((p for p in reversed(c["path"]) if isinstance(p, str)), c["path"][-1]))
            for q in self.claims["dcql_query"]["credentials"]
            for c in q.get("claims", [])
        }
        return sorted(names)

    def retained_claims(self) -> list[str]:
        """The claims the verifier says it will keep (``intent_to_retain``, mdoc claims: OpenID4VP 1.0 B.3.1,
        ISO 18013-5 8.3.2.1.2.1), for the consent screen."""
        return sorted({
            str(c["path"][-1])
            for q in self.claims["dcql_query"]["credentials"]
            for c in q.get("claims", [])
            if c.get("intent_to_retain") is True
        })

    def purposes(self) -> list[str]:
        """Why the verifier asks, as its request says (``credential_sets[].purpose`` when a string): the
        verifier's own words, signed by its reader certificate, shown as such."""
        sets = self.claims["dcql_query"].get("credential_sets") or []
        return list(dict.fromkeys(s["purpose"][:300] for s in sets if isinstance(s.get("purpose"), str)))


def parse_request(
    request_object: str,
    reader_trust: TrustStore,
    *,
    client_id: str | None = None,
    now: dt.datetime | None = None,
    require_entitlement: bool = False,
) -> ParsedRequest:
    """Verify a request object: signed by a reader certificate from a trusted reader CA whose DNS name is the
    client identifier (and the ``client_id`` of the link that led here); the answer may only go to that host,
    over https (plain http only for ``localhost`` demos). Reports what it asks beyond the entitlement; a
    certificate without one is shown with a warning (``reader.consent_warnings()``), or refused when
    ``require_entitlement`` (strict)."""
    now = now or dt.datetime.now(dt.UTC)
    claims, reader = _verified_request_object(request_object, reader_trust, now, require_entitlement)
    signed_client = claims["client_id"]
    if client_id is not None and client_id != signed_client:
        raise ReaderNotAuthorised("the link and the signed request name different clients", code="client_id_mismatch")
    for key in ("response_uri", "nonce"):
        if not isinstance(claims.get(key), str) or not claims[key]:
            raise DecodeError(f"the request has no {key}")
    if not isinstance(claims.get("state", ""), str):  # optional in OpenID4VP 1.0; returned when given
        raise DecodeError("the request's state must be a string")
    if claims.get("response_type") != "vp_token" or claims.get("response_mode") not in RESPONSE_MODES:
        raise DecodeError("only response_type vp_token with direct_post or direct_post.jwt is supported")
    check_dcql(claims.get("dcql_query"))
    response = _split(claims["response_uri"])
    if response.hostname != signed_client[len(CLIENT_PREFIX) :]:
        raise ReaderNotAuthorised("the response would go to another host than the client's", code="client_id_mismatch")
    if not _secure(response):
        raise ReaderNotAuthorised("the response must go over https", code="insecure_response_uri")
    parsed = ParsedRequest(signed_client, reader, claims, _beyond(claims["dcql_query"], reader))
    if claims["response_mode"] == "direct_post.jwt":
        parsed.encryption_key, parsed.enc = _response_key(claims.get("client_metadata"))
    return parsed


def _verified_request_object(
    request_object: str, reader_trust: TrustStore, now: dt.datetime, require_entitlement: bool
) -> tuple[dict[str, Any], ReaderIdentity]:
    """A request object's claims after the checks both transports share: signed by a reader certificate from a
    trusted reader CA, within its lifetime, its ``x509_san_dns`` client identifier named by the certificate."""
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
    _check_request_times(claims, now)
    signed_client = claims.get("client_id")
    if not isinstance(signed_client, str) or not signed_client.startswith(CLIENT_PREFIX):
        raise ReaderNotAuthorised("only x509_san_dns client identifiers are accepted", code="client_id")
    if signed_client[len(CLIENT_PREFIX) :] not in _dns_names(chain[0]):
        raise ReaderNotAuthorised("the certificate does not name this client", code="client_id_mismatch")
    reader = reader_identity(chain[0], checked.warnings)
    if require_entitlement:
        reader.require_entitlement()
    return claims, reader


def parse_dc_api_request(
    protocol: str,
    data: Any,
    origin: str,
    reader_trust: TrustStore,
    *,
    now: dt.datetime | None = None,
    require_entitlement: bool = False,
) -> ParsedRequest:
    """A request that came through the Digital Credentials API (OpenID4VP 1.0 Appendix A) as the platform hands
    it to the wallet (Android Credential Manager: the request's ``protocol`` and ``data``, and the calling
    ``origin``).

    ``openid4vp-v1-signed``: the request object is checked as :func:`parse_request` checks one, and refused
    (``origin_mismatch``, sent back as ``invalid_request``) unless ``origin`` is one of its ``expected_origins``
    (A.2). ``openid4vp-v1-unsigned``: nobody is authenticated but the origin; ``client_id`` and
    ``expected_origins`` are ignored (A.2). Either way the answer is bound to ``origin``. ``org-iso-mdoc``
    (ISO/IEC 18013-7 Annex C): :func:`didlib.oid4vp.dc_api_mdoc.read_request`.
    """
    now = now or dt.datetime.now(dt.UTC)
    origin = check_origin(origin)
    if protocol == PROTOCOL_MDOC:
        mdoc = read_request(data, origin, reader_trust, now=now, require_entitlement=require_entitlement)
        return ParsedRequest(dc_api_audience(origin), mdoc.reader, {"dcql_query": mdoc.dcql},
                             _beyond(mdoc.dcql, mdoc.reader), origin=origin, mdoc=mdoc)
    if protocol not in DC_API_PROTOCOLS:
        raise UnsupportedError(f"unsupported Digital Credentials API protocol {str(protocol)[:64]!r}",
                               code="unsupported_protocol")
    if not isinstance(data, dict):
        raise DecodeError("the request data must be an object")
    reader: ReaderIdentity | None = None
    if protocol == PROTOCOL_SIGNED:
        if not isinstance(data.get("request"), str) or len(data["request"]) > MAX_REQUEST:
            raise DecodeError("a signed request carries its request object in data.request")
        claims, reader = _verified_request_object(data["request"], reader_trust, now, require_entitlement)
        expected = claims.get("expected_origins")
        if not isinstance(expected, list) or not expected or not all(isinstance(o, str) for o in expected):
            raise DecodeError("a signed request must list its expected_origins", code="no_expected_origins")
        if origin not in expected:
            raise ReaderNotAuthorised(f"the request was made for another website than {origin}",
                                      code="origin_mismatch")
        client_id = claims["client_id"]
    else:
        if len(json.dumps(data)) > MAX_REQUEST:
            raise DecodeError("the request is too large")
        claims = {k: v for k, v in data.items() if k not in ("client_id", "expected_origins")}
        client_id = dc_api_audience(origin)
    if claims.get("response_type") != "vp_token" or claims.get("response_mode") not in DC_API_MODES:
        raise DecodeError("only response_type vp_token with dc_api or dc_api.jwt is supported over the DC API")
    if not isinstance(claims.get("nonce"), str) or not claims["nonce"]:
        raise DecodeError("the request has no nonce")
    check_dcql(claims.get("dcql_query"))
    parsed = ParsedRequest(client_id, reader, claims, _beyond(claims["dcql_query"], reader), origin=origin)
    if claims["response_mode"] == "dc_api.jwt":
        parsed.encryption_key, parsed.enc = _response_key(claims.get("client_metadata"))
    return parsed


def _check_request_times(claims: Mapping[str, Any], now: dt.datetime) -> None:
    """A request object is a JWT (RFC 9101 4, RFC 7519 4.1.4-4.1.6): refuse it after ``exp``, before ``nbf``,
    issued in the future, or issued more than :data:`MAX_REQUEST_AGE` ago; :data:`CLOCK_SKEW` either way."""
    stamps = {}
    for name in ("exp", "nbf", "iat"):
        value = claims.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise DecodeError(f"the request object's {name} must be a NumericDate")
        stamps[name] = value
    moment, skew = now.timestamp(), CLOCK_SKEW.total_seconds()
    if stamps["exp"] is not None and moment > stamps["exp"] + skew:
        raise ReaderNotAuthorised("the request has expired: ask the website for a new one", code="request_expired")
    if stamps["nbf"] is not None and moment < stamps["nbf"] - skew:
        raise ReaderNotAuthorised("the request is not valid yet (check the phone's clock)",
                                  code="request_not_yet_valid")
    if stamps["iat"] is not None and stamps["iat"] > moment + skew:
        raise ReaderNotAuthorised("the request is issued in the future (check the phone's clock)",
                                  code="request_not_yet_valid")
    if stamps["iat"] is not None and moment - stamps["iat"] > MAX_REQUEST_AGE.total_seconds() + skew:
        raise ReaderNotAuthorised("the request is too old: ask the website for a new one", code="request_expired")


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



def _beyond(dcql: Any, reader: ReaderIdentity | None) -> list[str]:
    """The claims asked for (dotted paths) that the reader certificate's entitlement does not grant (none
    when it states no entitlement or there is no certificate: the holder decides)."""
    beyond: list[str] = []
    if reader is None or not reader.entitlement_stated:
        return beyond
    for query in dcql.get("credentials", []) if isinstance(dcql, dict) else []:
        for claim in query.get("claims", []):
            place = doctype_ns(query, claim.get("path", []))
            if place is None or reader.beyond_entitlement(place[0], {place[1]: [place[2]]}):
                beyond.append(".".join(str(p) for p in claim.get("path", [])))
    return beyond


def build_response(
    request: ParsedRequest,
    sd_jwts: Iterable[tuple[str, PrivateKey]],
    mdocs: Iterable[tuple[Credential, PrivateKey]],
    now: dt.datetime | None = None,
) -> VpAnswer:
    """The form to POST to ``response_uri`` (OpenID4VP 1.0 8.1): what :func:`didlib.oid4vp.dcql.select` picks
    from the wallet's credentials, each disclosing only its selected claims; and which credentials it used
    (a wallet spends single-use ones).

    A claim beyond the verifier's entitlement is never disclosed: a ``claim_sets`` option that needs one is
    skipped, and a query that cannot be answered without one is refused (``beyond_entitlement``). A query
    the wallet cannot satisfy raises ``no_matching_credential``. Nothing is sent then (:func:`error_response`
    tells the verifier).
    """
    offered: list[tuple[str | Credential, PrivateKey]] = [*sd_jwts, *mdocs]
    sources: list[tuple[str | Credential, PrivateKey]] = []
    held: list[Held] = []
    for credential, key in offered:
        view = _held(credential)
        if view is not None:
            sources.append((credential, key))
            held.append(view)
    def disclosable(query: Mapping[str, Any], path: Sequence[Any]) -> bool:
        """Names only (the wallet's credentials are flat objects and mdoc elements), within the entitlement."""
        return all(isinstance(p, str) for p in path) and ".".join(path) not in beyond

    beyond = set(request.beyond_entitlement)
    try:
        selection = select(request.claims["dcql_query"], held, disclosable)
    except DidlibError:
        if beyond:
            raise ReaderNotAuthorised(
                f"the verifier may not ask for {', '.join(sorted(beyond))}", code="beyond_entitlement"
            ) from None
        raise
    used: list[str | Credential] = []
    for picks in selection.values():
        used += [sources[index][0] for index, _ in picks if not any(sources[index][0] is u for u in used)]
    if request.mdoc is not None:  # one DeviceResponse for every pick, sealed to the page (ISO 18013-7 Annex C)
        chosen = [(sources[index][0], sources[index][1], [c["path"] for c in claims])
                  for picks in selection.values() for index, claims in picks]
        return VpAnswer(request.mdoc.answer([(c, k, p) for c, k, p in chosen if isinstance(c, Credential)]), used)
    token: dict[str, list[str]] = {}
    for query_id, picks in selection.items():
        token[query_id] = [_present(*sources[index], claims, request, now) for index, claims in picks]
    return VpAnswer(_response_form(request, {"vp_token": token, **_state(request)}), used)


def error_response(request: ParsedRequest, error: str = "access_denied", description: str = "") -> dict[str, str]:
    """The error response form (OpenID4VP 1.0 8.5, RFC 6749 4.1.2.1): ``access_denied`` when the wallet holds
    nothing that satisfies the query or the holder declined. Over the DC API only ``error``, in the clear
    (A.4: the page learns no more than it must, 15.9.2)."""
    if request.origin is not None:
        return dc_api_error(error)
    params = {"error": error, **({"error_description": description} if description else {}), **_state(request)}
    return _response_form(request, params)


def dc_api_error(error: str = "invalid_request") -> dict[str, str]:
    """The ``data`` of an error answer over the DC API (A.4): a single ``error`` member. For a request the wallet
    could not even parse, or one for another origin (``invalid_request``, A.2)."""
    return {"error": error}


def _state(request: ParsedRequest) -> dict[str, str]:
    if request.origin is not None:  # state is not defined over the DC API (A.2)
        return {}
    return {"state": request.claims["state"]} if "state" in request.claims else {}


def _held(credential: str | Credential) -> Held | None:
    """How DCQL sees one of the wallet's credentials; None for one it cannot read (it is never offered)."""
    try:
        if isinstance(credential, Credential):
            chain = credential.issuer_signed.issuer_auth.x5chain()
            return Held(MDOC, credential.doctype, credential.elements(), authority_key_ids(chain))
        jwt_part, encoded, _ = split_sd_jwt(credential)
        issuer_jwt = CompactJws.parse(jwt_part)
        if not isinstance(issuer_jwt.payload, dict):
            return None
        claims, _ = process_disclosures(issuer_jwt.payload, encoded)
        chain = certificates_from_x5c(issuer_jwt.header.get("x5c"))
        return Held(SD_JWT, str(issuer_jwt.payload.get("vct")), claims, authority_key_ids(chain))
    except DidlibError:
        return None


def _present(
    credential: str | Credential,
    key: PrivateKey,
    claims: list[Mapping[str, Any]],
    request: ParsedRequest,
    now: dt.datetime | None,
) -> str:
    """One presentation disclosing exactly ``claims``: an SD-JWT with a KB-JWT, or an mdoc DeviceResponse."""
    paths = [c["path"] for c in claims]
    nonce = request.claims["nonce"]
    if isinstance(credential, str):  # A.4: over the DC API the audience is the origin, for signed requests too
        aud = request.client_id if request.origin is None else dc_api_audience(request.origin)
        return present_sd_jwt(credential, key, [".".join(p) for p in paths], nonce=nonce, aud=aud, now=now)
    thumbprint = jwk_thumbprint(request.encryption_key) if request.encryption_key else None
    if request.origin is not None:
        transcript = dc_api_transcript(request.origin, nonce, thumbprint)
    else:
        transcript = openid4vp_transcript(request.client_id, nonce, request.claims["response_uri"], thumbprint)
    return b64url_encode(present_elements(credential, key, [f"{p[0]}:{p[1]}" for p in paths], transcript))


def _response_form(request: ParsedRequest, params: dict[str, Any]) -> dict[str, Any]:
    """Form fields for ``direct_post`` (objects as JSON text), the ``data`` object itself for ``dc_api``, or
    for the encrypted modes the one ``response`` field (OpenID4VP 1.0 8.3)."""
    if request.encryption_key is None and request.origin is not None:
        return params
    if request.encryption_key is None:
        return {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
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
    query = urllib.parse.parse_qs(_split(uri).query)
    try:
        client_id, request_uri = query["client_id"][0], query["request_uri"][0]
    except (KeyError, IndexError) as exc:
        raise DecodeError("the request link needs client_id and request_uri") from exc
    if not _secure(_split(request_uri)):
        raise ReaderNotAuthorised("the request must be fetched over https", code="insecure_request_uri")
    return client_id, request_uri


def _split(url: str) -> urllib.parse.SplitResult:
    try:
        return urllib.parse.urlsplit(url)
    except ValueError as exc:  # "Invalid IPv6 URL" for an unbalanced bracket (found by tests/fuzz)
        raise DecodeError(f"malformed URL: {exc}") from exc


def _secure(url: urllib.parse.SplitResult) -> bool:
    """https, or plain http to ``localhost`` only (demos and tests on one machine)."""
    return url.scheme == "https" or (url.scheme == "http" and url.hostname == "localhost")
