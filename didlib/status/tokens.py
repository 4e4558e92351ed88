"""Status List Tokens, as JWT (``statuslist+jwt``) and CWT (``application/statuslist+cwt``), and the
checker verifiers use offline.

The checker fetches nothing: it is given the tokens a verifier cached (from the issuer service, when it was
last online) and answers from them, saying how old its answer is. A list that is missing, unverifiable,
expired or for another URI gives "unknown", never "invalid".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from didlib.cbor import Limits, decode, encode
from didlib.cose import HDR_X5CHAIN, Sign1, x5chain_header
from didlib.errors import DecodeError, DidlibError, VerificationError
from didlib.jose import (
    CompactJws,
    b64url_decode,
    b64url_encode,
    certificates_from_x5c,
    sign_jws,
    x5c_header,
)
from didlib.keys import PrivateKey, PublicKey
from didlib.pki import Purpose, public_key_of
from didlib.status.statuslist import Status, StatusList
from didlib.trust import TrustStore

__all__ = ["StatusListToken", "StatusResult", "StatusChecker", "JWT_TYP", "CWT_TYP"]

JWT_TYP = "statuslist+jwt"
CWT_TYP = "application/statuslist+cwt"
HDR_TYP, HDR_KID = 16, 4
CWT_ISS, CWT_SUB, CWT_EXP, CWT_IAT = 1, 2, 4, 6
CWT_TTL, CWT_STATUS_LIST = 65534, 65533
TOKEN_LIMITS = Limits(max_size=16 << 20, max_depth=8, max_items=64)


@dataclass
class StatusListToken:
    """A verified Status List Token."""

    uri: str  # sub
    issued_at: dt.datetime
    expires: dt.datetime | None
    ttl: int | None
    status_list: StatusList
    issuer: str | None = None

    @staticmethod
    def create_jwt(
        uri: str,
        status_list: StatusList,
        key: PrivateKey,
        *,
        now: dt.datetime | None = None,
        valid_for: dt.timedelta | None = dt.timedelta(days=1),
        ttl: int | None = 3600,
        issuer: str | None = None,
        chain: list[x509.Certificate] | None = None,
    ) -> str:
        """A signed Status List Token in JWT form (``statuslist+jwt``), as SD-JWT VCs refer to."""
        payload: dict[str, Any] = {"sub": uri, **_times(now, valid_for, ttl)}
        if issuer:
            payload["iss"] = issuer
        payload["status_list"] = {"bits": status_list.bits, "lst": b64url_encode(status_list.compressed())}
        headers: dict[str, Any] = {"typ": JWT_TYP}
        if chain:
            headers["x5c"] = x5c_header(chain)
        return sign_jws(payload, key, headers)

    @staticmethod
    def create_cwt(
        uri: str,
        status_list: StatusList,
        key: PrivateKey,
        *,
        now: dt.datetime | None = None,
        valid_for: dt.timedelta | None = dt.timedelta(days=1),
        ttl: int | None = 3600,
        chain: list[x509.Certificate] | None = None,
    ) -> bytes:
        """A signed Status List Token in CWT form (COSE_Sign1), as the MSO's ``status`` refers to."""
        cwt_keys = {"iat": CWT_IAT, "exp": CWT_EXP, "ttl": CWT_TTL}
        claims: dict[int, Any] = {CWT_SUB: uri} | {cwt_keys[k]: v for k, v in _times(now, valid_for, ttl).items()}
        claims[CWT_STATUS_LIST] = {"bits": status_list.bits, "lst": status_list.compressed()}
        unprotected = {HDR_X5CHAIN: x5chain_header([c.public_bytes(Encoding.DER) for c in chain])} if chain else {}
        signed = Sign1.create(key, encode(claims), unprotected=unprotected, protected_extra={HDR_TYP: CWT_TYP})
        return cbor2.dumps(cbor2.CBORTag(18, signed.to_cbor()))

    @classmethod
    def verify(
        cls,
        token: str | bytes,
        key: PublicKey | None = None,
        *,
        trust: TrustStore | None = None,
        now: dt.datetime | None = None,
    ) -> StatusListToken:
        """Verify a JWT (text) or CWT (bytes) token with ``key``, or with its x5c/x5chain against ``trust``."""
        now = now or dt.datetime.now(dt.UTC)
        if isinstance(token, str):
            return cls._verify_jwt(token, key, trust, now)
        return cls._verify_cwt(token, key, trust, now)

    @classmethod
    def _verify_jwt(
        cls, token: str, key: PublicKey | None, trust: TrustStore | None, now: dt.datetime
    ) -> StatusListToken:
        jws = CompactJws.parse(token)
        header, payload = jws.header, jws.payload
        if header.get("typ") != JWT_TYP:
            raise VerificationError("status list JWT typ must be statuslist+jwt", code="wrong_type")
        if key is None:
            key = _key_from_chain(certificates_from_x5c(header.get("x5c")), trust, now)
        jws.verify(key)
        if not isinstance(payload, dict) or not isinstance(payload.get("status_list"), dict):
            raise DecodeError("status list JWT needs a status_list object")
        lst = payload["status_list"].get("lst")
        if not isinstance(lst, str):
            raise DecodeError("status_list.lst must be base64url text")
        return cls._build(
            payload.get("sub"),
            payload.get("iat"),
            payload.get("exp"),
            payload.get("ttl"),
            payload["status_list"].get("bits"),
            b64url_decode(lst),
            payload.get("iss"),
        )

    @classmethod
    def _verify_cwt(
        cls, token: bytes, key: PublicKey | None, trust: TrustStore | None, now: dt.datetime
    ) -> StatusListToken:
        signed = Sign1.from_cbor(decode(token, TOKEN_LIMITS))
        if signed.protected.get(HDR_TYP) != CWT_TYP:
            raise VerificationError("status list CWT typ must be application/statuslist+cwt", code="wrong_type")
        if key is None:
            key = _key_from_chain(signed.x5chain(), trust, now)
        signed.verify(key)
        if signed.payload is None:
            raise DecodeError("status list CWT has no payload")
        claims = decode(signed.payload, TOKEN_LIMITS)
        if not isinstance(claims, dict) or not isinstance(claims.get(CWT_STATUS_LIST), dict):
            raise DecodeError("status list CWT needs claim 65533 (status_list)")
        lst = claims[CWT_STATUS_LIST].get("lst")
        if not isinstance(lst, bytes):
            raise DecodeError("status_list.lst must be a byte string in a CWT")
        return cls._build(
            claims.get(CWT_SUB),
            claims.get(CWT_IAT),
            claims.get(CWT_EXP),
            claims.get(CWT_TTL),
            claims[CWT_STATUS_LIST].get("bits"),
            lst,
            claims.get(CWT_ISS),
        )

    @classmethod
    def _build(cls, sub: Any, iat: Any, exp: Any, ttl: Any, bits: Any, lst: bytes, iss: Any) -> StatusListToken:
        if not isinstance(sub, str):
            raise DecodeError("status list token needs sub (its URI)")
        for name, value in (("iat", iat), ("exp", exp), ("ttl", ttl)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise DecodeError(f"status list token {name} must be a non-negative integer")
        if iat is None:
            raise DecodeError("status list token needs iat")
        if isinstance(bits, bool) or not isinstance(bits, int):
            raise DecodeError("status_list.bits must be an integer")
        return cls(
            sub,
            _time(iat),
            _time(exp) if exp is not None else None,
            ttl,
            StatusList.from_compressed(bits, lst),
            iss if isinstance(iss, str) else None,
        )


def token_subject(token: str | bytes) -> str | None:
    """The ``sub`` a status list token claims, read without verifying it (None if unreadable)."""
    try:
        if isinstance(token, str):
            claims = CompactJws.parse(token).payload
            sub = claims.get("sub") if isinstance(claims, dict) else None
        else:
            signed = Sign1.from_cbor(decode(token, TOKEN_LIMITS))
            claims = decode(signed.payload, TOKEN_LIMITS) if signed.payload is not None else None
            sub = claims.get(CWT_SUB) if isinstance(claims, dict) else None
    except DidlibError:
        return None
    return sub if isinstance(sub, str) else None


def _time(seconds: int) -> dt.datetime:
    try:
        return dt.datetime.fromtimestamp(seconds, dt.UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise DecodeError(f"time {seconds} is out of range") from exc


def _key_from_chain(chain: list[x509.Certificate], trust: TrustStore | None, now: dt.datetime) -> PublicKey:
    if trust is None:
        raise VerificationError("no key or trust store to check the status list with", code="untrusted_issuer")
    trust.check(chain, Purpose.DOCUMENT_SIGNER, now)
    return public_key_of(chain[0])


@dataclass(frozen=True)
class StatusResult:
    """A credential's status as the cached lists say: valid, invalid (revoked), suspended or unknown."""

    state: str
    value: int | None
    uri: str | None
    index: int | None
    age: dt.timedelta | None  # how old the list this comes from is
    stale: bool  # past the list's ttl: the issuer expects verifiers to have fetched it again
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The result as JSON, with the age of the list in seconds."""
        return {
            "state": self.state,
            "uri": self.uri,
            "index": self.index,
            "stale": self.stale,
            "reason": self.reason,
            "ageSeconds": int(self.age.total_seconds()) if self.age is not None else None,
        }


_STATES: dict[int, str] = {Status.VALID: "valid", Status.INVALID: "invalid", Status.SUSPENDED: "suspended"}


class StatusChecker:
    """Answers status questions from cached tokens: ``{uri: token}``, checked with ``keys[uri]`` or ``trust``.

    ``fetched_at`` says when each token was downloaded (defaults to its ``iat``) for the age shown.
    """

    def __init__(
        self,
        tokens: Mapping[str, str | bytes],
        *,
        keys: Mapping[str, PublicKey] | None = None,
        trust: TrustStore | None = None,
        fetched_at: Mapping[str, dt.datetime] | None = None,
    ) -> None:
        self._tokens = dict(tokens)
        self._keys = dict(keys or {})
        self._trust = trust
        self._fetched_at = dict(fetched_at or {})
        self._verified: dict[str, StatusListToken | DidlibError] = {}

    @classmethod
    def from_tokens(cls, tokens: list[str | bytes], **options: Any) -> StatusChecker:
        """A checker over tokens whose URIs are read from their ``sub`` (still verified when used)."""
        by_uri: dict[str, str | bytes] = {}
        for token in tokens:
            uri = token_subject(token)
            if uri is not None:
                by_uri[uri] = token
        return cls(by_uri, **options)

    def _token(self, uri: str, now: dt.datetime) -> StatusListToken:
        if uri not in self._verified:
            try:
                token = StatusListToken.verify(self._tokens[uri], self._keys.get(uri), trust=self._trust, now=now)
                if token.uri != uri:
                    raise VerificationError(
                        f"the cached list is for {token.uri}, not {uri}", code="status_uri_mismatch"
                    )
                self._verified[uri] = token
            except DidlibError as exc:
                self._verified[uri] = exc
        outcome = self._verified[uri]
        if isinstance(outcome, DidlibError):
            raise outcome
        return outcome

    def check(self, uri: str, index: int, now: dt.datetime | None = None) -> StatusResult:
        """The state of entry ``index`` of list ``uri`` from the cached tokens; ``unknown`` when the list is
        missing, expired or untrusted, never ``invalid``."""
        now = now or dt.datetime.now(dt.UTC)
        if uri not in self._tokens:
            return StatusResult("unknown", None, uri, index, None, False, "no cached status list for this URI")
        try:
            token = self._token(uri, now)
        except DidlibError as exc:
            return StatusResult("unknown", None, uri, index, None, False, f"status list not usable: {exc.message}")
        fetched = self._fetched_at.get(uri, token.issued_at)
        age = now - fetched
        if token.expires is not None and now > token.expires:
            return StatusResult("unknown", None, uri, index, age, True, "the cached status list has expired")
        stale = token.ttl is not None and now > fetched + dt.timedelta(seconds=token.ttl)
        try:
            value = token.status_list.get(index)
        except DidlibError as exc:
            return StatusResult("unknown", None, uri, index, age, stale, exc.message)
        return StatusResult(_STATES.get(value, "application_specific"), value, uri, index, age, stale)

    def check_reference(self, status: Any, now: dt.datetime | None = None) -> StatusResult:
        """Resolve a referenced token's ``status`` claim: ``{"status_list": {"idx": n, "uri": "..."}}``."""
        ref = status.get("status_list") if isinstance(status, Mapping) else None
        idx, uri = (ref.get("idx"), ref.get("uri")) if isinstance(ref, Mapping) else (None, None)
        if isinstance(idx, bool) or not isinstance(idx, int) or idx < 0 or not isinstance(uri, str):
            return StatusResult("unknown", None, None, None, None, False, "malformed status reference")
        return self.check(uri, idx, now)


def _times(now: dt.datetime | None, valid_for: dt.timedelta | None, ttl: int | None) -> dict[str, int]:
    """``iat``, and ``exp`` and ``ttl`` when given: the timing claims a Status List Token carries in either form."""
    now = now or dt.datetime.now(dt.UTC)
    times = {"iat": int(now.timestamp())}
    if valid_for is not None:
        times["exp"] = int((now + valid_for).timestamp())
    if ttl is not None:
        times["ttl"] = ttl
    return times
