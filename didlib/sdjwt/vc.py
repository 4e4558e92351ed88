"""SD-JWT VC: issue, present with key binding, and verify, with issuers trusted through the same PKI as mdoc.

Header ``typ`` is ``dc+sd-jwt`` (``vc+sd-jwt`` is read too); the payload carries ``iss``, ``iat``, ``exp``,
``vct``, ``cnf.jwk`` (the holder key) and optionally ``status.status_list``. The issuer's certificate
chain travels in ``x5c`` and is checked against a :class:`~didlib.trust.TrustStore` like a document signer;
an explicit issuer key may be given instead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

from didlib.errors import DecodeError, DidlibError, UsageError, VerificationError
from didlib.jose import (
    CompactJws,
    certificates_from_x5c,
    jwk_from_public,
    public_from_jwk,
    sign_jws,
    x5c_header,
)
from didlib.keys import PrivateKey, PublicKey
from didlib.pki import Purpose, common_name_of, public_key_of
from didlib.sdjwt.core import (
    HASHES,
    build_sd_payload,
    disclosures_within,
    process_disclosures,
    sd_hash,
    split_sd_jwt,
)
from didlib.sdjwt.core import Disclosure as _Disclosure
from didlib.trust import TrustStore
from didlib.verification import Problem

__all__ = ["issue_sd_jwt_vc", "present_sd_jwt", "verify_sd_jwt", "verify_sd_jwt_vc", "SdJwtResult", "TYP", "KB_TYP"]

TYP = "dc+sd-jwt"
ACCEPTED_TYPS = (TYP, "vc+sd-jwt")
KB_TYP = "kb+jwt"


def issue_sd_jwt_vc(
    vct: str,
    claims: dict[str, Any],
    *,
    issuer: str,
    signer_key: PrivateKey,
    signer_chain: list[x509.Certificate] | None,
    holder_key: PublicKey,
    now: dt.datetime | None = None,
    valid_for: dt.timedelta = dt.timedelta(days=365),
    status: dict[str, Any] | None = None,
    sd_alg: str = "sha-256",
    decoys: int = 0,
) -> str:
    """Issue an SD-JWT VC; ``claims`` marks disclosable values with :class:`didlib.sdjwt.core.SD`.

    ``status`` is the Token Status List reference ``{"idx": n, "uri": "..."}``. Returns the SD-JWT in
    issuance form (``<JWT>~<disclosure>~...~``).
    """
    now = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    body, disclosures = build_sd_payload(claims, sd_alg, decoys)
    payload: dict[str, Any] = {
        "iss": issuer,
        "iat": int(now.timestamp()),
        "exp": int((now + valid_for).timestamp()),
        "vct": vct,
        "cnf": {"jwk": jwk_from_public(holder_key)},
    }
    if status:
        payload["status"] = {"status_list": dict(status)}
    for name in body:
        if name in payload:
            raise DecodeError(f"claim {name!r} is set by the issuer and cannot be a credential claim")
    payload.update(body)
    headers: dict[str, Any] = {"typ": TYP}
    if signer_chain:
        headers["x5c"] = x5c_header(signer_chain)
    token = sign_jws(payload, signer_key, headers)
    return token + "~" + "".join(d.encoded + "~" for d in disclosures)


def _select(
    payload: dict[str, Any], disclosures: list[_Disclosure], paths: Iterable[str], alg: str
) -> list[_Disclosure]:
    """The disclosures needed to reveal each claim path (``name`` or ``parent.child``), with all they contain."""
    by_name = {d.digest(alg): d for d in disclosures}
    chosen: dict[str, _Disclosure] = {}
    for path in paths:
        node: Any = payload
        for depth, name in enumerate(path.split(".")):
            if not isinstance(node, dict):
                raise UsageError(f"{path!r}: {'.'.join(path.split('.')[:depth])} is not an object")
            if name in node and name != "_sd":
                value = node[name]
            else:
                match = next(
                    (by_name[d] for d in node.get("_sd", []) if d in by_name and by_name[d].name == name), None
                )
                if match is None:
                    raise UsageError(f"the credential has no claim {path!r}", code="unknown_claim")
                chosen[match.digest(alg)] = match
                value = match.value
            node = value
        chosen.update(disclosures_within(node, disclosures, alg))
    return [d for d in disclosures if d.digest(alg) in chosen]


def present_sd_jwt(
    sd_jwt: str,
    holder_key: PrivateKey,
    disclose: Iterable[str],
    *,
    nonce: str,
    aud: str,
    now: dt.datetime | None = None,
) -> str:
    """Disclose the named claims and bind the presentation to ``nonce`` and ``aud`` with a KB-JWT."""
    jwt_part, encoded, _ = split_sd_jwt(sd_jwt)
    payload = CompactJws.parse(jwt_part).payload
    if not isinstance(payload, dict):
        raise DecodeError("SD-JWT payload must be a JSON object")
    alg = payload.get("_sd_alg", "sha-256")
    if alg not in HASHES:
        raise DecodeError(f"_sd_alg {alg!r} is not supported")
    chosen = _select(payload, [_Disclosure.parse(d) for d in encoded], disclose, alg)
    without_kb = jwt_part + "~" + "".join(d.encoded + "~" for d in chosen)
    moment = now or dt.datetime.now(dt.UTC)
    kb = sign_jws(
        {"iat": int(moment.timestamp()), "aud": aud, "nonce": nonce, "sd_hash": sd_hash(without_kb, alg)},
        holder_key,
        {"typ": KB_TYP},
    )
    return without_kb + kb


@dataclass
class SdJwtResult:
    """What :func:`verify_sd_jwt_vc` found: ``claims`` are the disclosed ones; ``errors`` carry stable codes."""

    valid: bool
    vct: str | None = None
    issuer: str | None = None
    claims: dict[str, Any] = field(default_factory=dict)
    holder_key: PublicKey | None = field(default=None, repr=False)
    status: Any = None
    errors: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _issuer_key(
    header: dict[str, Any],
    trust: TrustStore | None,
    issuer_key: PublicKey | None,
    now: dt.datetime,
    result: SdJwtResult,
) -> PublicKey:
    if issuer_key is not None:
        return issuer_key
    if trust is None:
        raise UsageError("give a trust store or an issuer key")
    chain = certificates_from_x5c(header.get("x5c"))
    checked = trust.check(chain, Purpose.DOCUMENT_SIGNER, now)
    result.warnings.extend(checked.warnings)
    result.issuer = common_name_of(checked.anchor)
    return public_key_of(chain[0])


def _check_times(payload: dict[str, Any], now: dt.datetime, skew: dt.timedelta) -> None:
    for claim in ("exp", "nbf", "iat"):
        value = payload.get(claim)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise VerificationError(f"{claim} must be a number", code="malformed")
    stamp, leeway = now.timestamp(), skew.total_seconds()
    if "exp" in payload and stamp > payload["exp"] + leeway:
        raise VerificationError("the credential has expired", code="credential_expired")
    if "nbf" in payload and stamp < payload["nbf"] - leeway:
        raise VerificationError("the credential is not valid yet", code="credential_not_yet_valid")
    if "iat" in payload and stamp < payload["iat"] - leeway:
        raise VerificationError("the credential is issued in the future", code="credential_not_yet_valid")


def _check_key_binding(
    kb: str,
    holder_key: PublicKey,
    without_kb: str,
    alg: str,
    nonce: str,
    aud: str,
    now: dt.datetime,
    max_age: dt.timedelta,
    skew: dt.timedelta,
) -> None:
    try:
        token = CompactJws.parse(kb)
        token.verify(holder_key)
    except DidlibError as exc:
        raise VerificationError(f"key binding JWT: {exc.message}", code="kb_bad_signature") from exc
    header, claims = token.header, token.payload
    if header.get("typ") != KB_TYP:
        raise VerificationError("key binding JWT typ must be kb+jwt", code="kb_malformed")
    if not isinstance(claims, dict):
        raise VerificationError("key binding JWT payload must be an object", code="kb_malformed")
    iat = claims.get("iat")
    if isinstance(iat, bool) or not isinstance(iat, (int, float)):
        raise VerificationError("key binding JWT has no iat", code="kb_malformed")
    if iat > now.timestamp() + skew.total_seconds():
        raise VerificationError("key binding JWT is issued in the future", code="kb_future")
    if iat < now.timestamp() - max_age.total_seconds():
        raise VerificationError("key binding JWT is too old", code="kb_stale")
    if claims.get("nonce") != nonce:
        raise VerificationError("key binding JWT is for another nonce", code="kb_nonce_mismatch")
    if claims.get("aud") != aud:
        raise VerificationError("key binding JWT is for another audience", code="kb_audience_mismatch")
    if claims.get("sd_hash") != sd_hash(without_kb, alg):
        raise VerificationError("key binding JWT sd_hash does not match the presentation", code="kb_sd_hash_mismatch")


def verify_sd_jwt_vc(presentation: str, **options: Any) -> SdJwtResult:
    """Verify an SD-JWT VC presentation: :func:`verify_sd_jwt` with typ ``dc+sd-jwt`` and a ``vct`` required."""
    return verify_sd_jwt(presentation, typs=ACCEPTED_TYPS, vct_required=True, **options)


def verify_sd_jwt(
    presentation: str,
    *,
    trust: TrustStore | None = None,
    issuer_key: PublicKey | None = None,
    nonce: str | None,
    aud: str | None,
    expected_vct: str | Iterable[str] | None = None,
    require_key_binding: bool = True,
    now: dt.datetime | None = None,
    max_kb_age: dt.timedelta = dt.timedelta(minutes=5),
    skew: dt.timedelta = dt.timedelta(seconds=60),
    status_checker: Any = None,
    typs: tuple[str, ...] | None = None,
    vct_required: bool = False,
) -> SdJwtResult:
    """Verify an SD-JWT presentation (RFC 9901 7.1-7.3); never raises for bad input, the result has coded errors.

    Key binding is required unless ``require_key_binding=False``; then ``nonce`` and ``aud`` must be given.
    ``status_checker`` (a :class:`didlib.status.StatusChecker`) resolves ``status.status_list``.
    """
    if require_key_binding and (not nonce or not aud):
        raise UsageError("key binding needs the nonce and audience this presentation must be bound to")
    now = now or dt.datetime.now(dt.UTC)
    result = SdJwtResult(valid=False)
    try:
        jwt_part, encoded, kb = split_sd_jwt(presentation)
        issuer_jwt = CompactJws.parse(jwt_part)
        header, payload = issuer_jwt.header, issuer_jwt.payload
        if typs is not None and header.get("typ") not in typs:
            raise VerificationError(f"header typ {header.get('typ')!r} is not {typs[0]}", code="wrong_type")
        key = _issuer_key(header, trust, issuer_key, now, result)
        issuer_jwt.verify(key)
        if not isinstance(payload, dict):
            raise DecodeError("SD-JWT payload must be a JSON object")
        claims, _ = process_disclosures(payload, encoded)
        _check_times(payload, now, skew)
        vct = payload.get("vct")
        if vct_required and not isinstance(vct, str):
            raise VerificationError("the credential has no vct", code="malformed")
        result.vct = vct if isinstance(vct, str) else None
        wanted = {expected_vct} if isinstance(expected_vct, str) else set(expected_vct or ())
        if wanted and vct not in wanted:
            raise VerificationError(f"vct {vct!r} is not what was asked for", code="vct_mismatch")
        result.issuer = result.issuer or (payload.get("iss") if isinstance(payload.get("iss"), str) else None)
        cnf = payload.get("cnf")
        holder_key = public_from_jwk(cnf.get("jwk")) if isinstance(cnf, dict) and "jwk" in cnf else None
        if kb is not None:
            if holder_key is None:
                raise VerificationError("a key binding JWT without cnf.jwk in the credential", code="kb_malformed")
            without_kb = presentation.strip()[: -len(kb)]
            _check_key_binding(
                kb,
                holder_key,
                without_kb,
                payload.get("_sd_alg", "sha-256"),
                nonce or "",
                aud or "",
                now,
                max_kb_age,
                skew,
            )
            result.holder_key = holder_key
        elif require_key_binding:
            raise VerificationError("key binding is required and the presentation has none", code="kb_missing")
        if status_checker is not None and isinstance(payload.get("status"), dict):
            result.status = status_checker.check_reference(payload["status"], now)
            if result.status.state in ("invalid", "suspended"):
                raise VerificationError(
                    f"the credential is {result.status.state}", code=f"status_{result.status.state}"
                )
        result.claims = {k: v for k, v in claims.items() if k not in ("cnf", "_sd_alg")}
    except DidlibError as exc:
        result.errors.append(Problem.of(exc))
        result.claims = {}
        return result
    result.valid = True
    return result
