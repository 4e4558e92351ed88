"""The wallet side of OpenID4VP 1.0: verify who asks (the signed request object), then answer with SD-JWT
VCs (key binding to ``nonce`` and ``client_id``) or mdocs (device-signed over the OpenID4VP handover)."""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from jwcrypto import jwe, jwk

from didlib.errors import DecodeError, DidlibError, ReaderNotAuthorised
from didlib.jose import CompactJws, b64url_encode, certificates_from_x5c
from didlib.keys import PrivateKey
from didlib.mdoc import Credential, present_elements
from didlib.oid4vp.common import (
    CLIENT_PREFIX,
    CLOCK_SKEW,
    CONTENT_ENCRYPTION,
    ENC,
    MAX_REQUEST,
    MAX_REQUEST_AGE,
    REQUEST_TYP,
    RESPONSE_MODES,
    SCHEME,
    jwk_thumbprint,
)
from didlib.oid4vp.dcql import MDOC, SD_JWT, Held, authority_key_ids, check_dcql, doctype_ns, select
from didlib.pki import Purpose, public_key_of
from didlib.sdjwt import present_sd_jwt
from didlib.sdjwt.core import process_disclosures, split_sd_jwt
from didlib.session.reader_auth import ReaderIdentity, reader_identity
from didlib.session.transcript import openid4vp_transcript
from didlib.trust import TrustStore


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
    if require_entitlement:
        reader.require_entitlement()
    parsed = ParsedRequest(signed_client, reader, claims, _beyond(claims["dcql_query"], reader))
    if claims["response_mode"] == "direct_post.jwt":
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



def _beyond(dcql: Any, reader: ReaderIdentity) -> list[str]:
    """The claims asked for (dotted paths) that the reader certificate's entitlement does not grant (none
    when it states no entitlement: the holder decides)."""
    beyond: list[str] = []
    if not reader.entitlement_stated:
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
    token: dict[str, list[str]] = {}
    used: list[str | Credential] = []
    for query_id, picks in selection.items():
        token[query_id] = [_present(*sources[index], claims, request, now) for index, claims in picks]
        used += [sources[index][0] for index, _ in picks if not any(sources[index][0] is u for u in used)]
    return VpAnswer(_response_form(request, {"vp_token": token, **_state(request)}), used)


def error_response(request: ParsedRequest, error: str = "access_denied", description: str = "") -> dict[str, str]:
    """The error response form (OpenID4VP 1.0 8.5, RFC 6749 4.1.2.1): ``access_denied`` when the wallet holds
    nothing that satisfies the query or the holder declined."""
    params = {"error": error, **({"error_description": description} if description else {}), **_state(request)}
    return _response_form(request, params)


def _state(request: ParsedRequest) -> dict[str, str]:
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
    if isinstance(credential, str):
        return present_sd_jwt(credential, key, [".".join(p) for p in paths], nonce=nonce, aud=request.client_id,
                              now=now)
    thumbprint = jwk_thumbprint(request.encryption_key) if request.encryption_key else None
    transcript = openid4vp_transcript(request.client_id, nonce, request.claims["response_uri"], thumbprint)
    return b64url_encode(present_elements(credential, key, [f"{p[0]}:{p[1]}" for p in paths], transcript))


def _response_form(request: ParsedRequest, params: dict[str, Any]) -> dict[str, str]:
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
