"""The issuer's work, independent of HTTP: identity checks, offers, tokens, nonces, issuance, status.

Every state change is one short transaction. A pre-authorized code is spent by a conditional UPDATE, a
nonce likewise, and a status list index by a unique constraint, so concurrent requests and workers cannot
issue twice or share an index, and a process killed mid-request leaves nothing half-written.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import math
import secrets
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

from sqlalchemy import Connection, CursorResult, Result, Row, delete, select
from sqlalchemy.exc import IntegrityError

from didlib.errors import DidlibError
from didlib.jose import b64url_encode, jwk_from_public, public_from_jwk
from didlib.keys import PublicKey
from didlib.mdoc import issue_mdocs, verify_response
from didlib.mdoc.registry import DOCTYPE_AGE, DOCTYPE_MDL, NS_ISO
from didlib.oid4vci import (
    FORMAT_MDOC,
    PRE_AUTHORIZED_GRANT,
    CredentialOffer,
    CredentialRequest,
    OID4VCIError,
    binding_transcript,
    new_tx_code,
)
from didlib.qr import qr_png
from didlib.samples import flat_claims
from didlib.sdjwt.profiles import VCT, issue_credential_sd_jwt
from didlib.status import Status, StatusList, StatusListToken
from didlib.trust import TrustStore
from didlib.trustlist import ISSUER, READER_CA, TrustList, TrustListEntry
from issuer_service import queries
from issuer_service.authorities import CONFIGS, Authority, CredentialConfig, credential_data, load_authorities
from issuer_service.config import Settings
from issuer_service.models import (
    AccessToken,
    AuditEvent,
    DbsCertificate,
    Driver,
    IssuedCredential,
    Nonce,
    Offer,
    OfferAllowance,
    StatusListRow,
    TrainingRecord,
    make_engine,
    make_sessions,
    one_statement,
    read_first,
    read_sessions,
    reading,
)
from issuer_service.register import seed

__all__ = ["IssuerService", "OfferResult", "RateLimited"]

MAX_TX_ATTEMPTS = 5


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _rowcount(result: Result[Any]) -> int:
    """How many rows an UPDATE changed: ``execute`` is typed as returning ``Result``, DML gives a CursorResult."""
    return cast(CursorResult[Any], result).rowcount


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _audit_line(actor: str, action: str, target: str, detail: str = "") -> dict[str, Any]:
    """An audit row's columns: identifiers only (see :class:`issuer_service.models.AuditEvent`)."""
    return {"at": _now(), "actor": actor, "action": action, "target": target, "detail": detail[:256]}


OfferRow = Row[*tuple[Any, ...]]
"""A row of :data:`issuer_service.queries.TOKEN_WITH_OFFER`: the offer an access token was granted for."""


class IssuedEntry(NamedTuple):
    """A credential recorded as issued: its row id and its status list entry."""

    id: int
    status_uri: str
    status_idx: int


def _aware(moment: dt.datetime) -> dt.datetime:
    """SQLite returns naive datetimes for timezone columns; they were written in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


STATUS_TTL = 3600  # seconds: a status list token's ttl, and the max-age its response may be cached for
STATUS_RECHECK = 1.0  # seconds a worker serves a token from memory before confirming its list version again


@dataclass(frozen=True)
class SignedStatusList:
    """A signed Status List Token as served: its bytes, its entity tag, the list version and signing hour."""

    body: bytes
    etag: str
    version: int
    epoch: int
    max_age: int = STATUS_TTL


def _status_epoch() -> int:
    """The hour (``STATUS_TTL``) of the wall clock: workers re-sign their tokens at the same moments."""
    return int(time.time() // STATUS_TTL)


class RateLimited(Exception):
    """Too many requests from one client for a protected endpoint."""


@dataclass
class OfferResult:
    offer_id: str
    uri: str
    tx_code: str | None  # only in demo mode: in production it goes out of band

    def as_json(self, qr: bool = False) -> dict[str, Any]:
        """The offer URI; with ``qr``, the same as a QR code (PNG, base64) for a wallet on another device
        (drawing it costs tens of milliseconds, so only when asked)."""
        out: dict[str, Any] = {"credential_offer_uri": self.uri}
        if qr:
            out["qr_png_base64"] = base64.b64encode(qr_png(self.uri, "M")).decode()
        if self.tx_code:
            out["tx_code"] = self.tx_code
        return out


class IssuerService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.engine = make_engine(settings.database_url, settings.db_timeout_seconds)
        self.sessions = make_sessions(self.engine, settings.db_timeout_seconds)  # writing (serialised)
        self.reads = read_sessions(self.engine)
        self._lookups = one_statement(reading(self.engine))
        self.authorities: dict[str, Authority] = load_authorities(settings)
        self.issuer_url = settings.public_url
        self._secret = settings.secret()
        self._dvla_trust = TrustStore([self.authorities["dvla"].iaca])
        self._rate: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._rate_lock = threading.Lock()
        self._purged = -math.inf
        self._status_tokens: dict[tuple[str, bool], tuple[SignedStatusList, float]] = {}  # and when confirmed
        self._ensure_status_lists()

    def seed(self, progress: Any = None) -> int:
        return seed(self.sessions, self.settings.seed_drivers, progress=progress)

    def close(self) -> None:
        self.engine.dispose()

    # --------------------------------------------------------------------------------- protection
    def check_rate(self, client: str, bucket: str, *, limit: int | None = None, record: bool = True) -> None:
        """A sliding one-minute window per client and bucket (per process: see specs/issuer-service.md):
        ``limit`` hits (default ``rate_per_minute``); with ``record`` false, only check (failed admin logins
        are counted after they fail, and checked before the next try)."""
        now = time.monotonic()
        with self._rate_lock:
            hits = self._rate[(client, bucket)]
            while hits and now - hits[0] > 60:
                hits.popleft()
            if len(hits) >= (limit or self.settings.rate_per_minute):
                raise RateLimited(bucket)
            if record:
                hits.append(now)

    def audit(self, db: Connection, actor: str, action: str, target: str, detail: str = "") -> None:
        db.execute(queries.INSERT_AUDIT, _audit_line(actor, action, target, detail))

    # ------------------------------------------------------------------------------------- offers
    def _offer(
        self, db: Connection, kind: str, subject_id: int, configs: list[str], bound: PublicKey | None,
        *, reveal_tx_code: bool = False,
    ) -> OfferResult:
        """A pre-authorized offer of ``configs``. Its transaction code goes out of band, except in demo mode and
        with ``reveal_tx_code``: an offer made for a wallet that has just proven who it is (a top-up)."""
        code, tx_code = secrets.token_urlsafe(32), new_tx_code()
        offer_id = secrets.token_hex(16)
        db.execute(queries.INSERT_OFFER, {
            "id": offer_id,
            "code_hash": _hash(code),
            "tx_code_hash": self._tx_hash(tx_code),
            "subject_kind": kind,
            "subject_id": subject_id,
            "config_ids": configs,
            "bound_key": json.dumps(jwk_from_public(bound)) if bound is not None else None,
            "expires": _now() + dt.timedelta(seconds=self.settings.offer_lifetime_seconds),
            "used": False,
            "tx_attempts": 0,
        })
        db.execute(queries.INSERT_ALLOWANCES, [
            {"offer_id": offer_id, "config_id": c, "remaining": self._allowance(CONFIGS[c])} for c in configs
        ])
        self.audit(db, "citizen", "offer", f"{kind}:{subject_id}", ",".join(configs))
        uri = CredentialOffer(self.issuer_url, configs, code).uri()
        return OfferResult(offer_id, uri, tx_code if self.settings.demo or reveal_tx_code else None)

    def identify_driver(self, driver_number: str, birth_date: dt.date, postcode: str) -> OfferResult:
        """The DVLA check: all three must match one driver; the same answer for any mismatch."""
        with self.sessions.connect() as db:
            driver = db.execute(queries.DRIVER_BY_NUMBER, {"number": driver_number.upper().strip()}).first()
            if (
                driver is None
                or driver.birth_date != birth_date
                or driver.postcode.replace(" ", "").upper() != postcode.replace(" ", "").upper()
            ):
                raise OID4VCIError("access_denied", "these details do not match a driving licence record", 403)
            if driver.state != Status.VALID:
                raise OID4VCIError("access_denied", "this driving licence is revoked or suspended", 403)
            configs = [c.id for c in CONFIGS.values() if c.subject == "driver"]
            result = self._offer(db, "driver", driver.id, configs, None)
            db.commit()
            return result

    def binding_nonce(self) -> str:
        return self._new_nonce("binding")

    def bind_offer(self, kind: str, reference: str, device_response: str, nonce: str) -> OfferResult:
        """DBS and training: the wallet shows its driving licence (device-signed over our nonce); the record
        must name the same person; the new credential will be bound to the licence's device key.

        ``age`` (a top-up of single-use proofs of age): the licence shown is the reference (its driver number
        disclosed too); the offer is for new proofs of age, each bound to a fresh key of the wallet's (not the
        licence's: verifiers must not link them), and its transaction code comes with it, the licence having
        just proven who asks."""
        if kind not in ("dbs", "training", "age"):
            raise OID4VCIError("invalid_request", "unknown issuer")
        self._spend_nonce(nonce, "binding")
        try:
            response = base64.urlsafe_b64decode(device_response + "=" * (-len(device_response) % 4))
        except (ValueError, TypeError) as exc:
            raise OID4VCIError("invalid_request", "device_response must be base64url") from exc
        result = verify_response(
            response, trust=self._dvla_trust, session_transcript=binding_transcript(self.issuer_url, nonce)
        )
        licence = next((d for d in result.documents if d.doctype == DOCTYPE_MDL and d.valid), None)
        if not result.valid or licence is None or licence.device_key is None:
            reasons = ", ".join(p.code for p in result.errors) or "no driving licence"
            raise OID4VCIError("access_denied", f"the driving licence was not accepted ({reasons})", 403)
        who = licence.elements.get(NS_ISO, {})
        ref = reference.strip()
        with self.sessions() as session:
            if not _in_good_standing(session, licence.mso.status if licence.mso else None):
                raise OID4VCIError("access_denied", "the driving licence is revoked or suspended", 403)
            if kind == "age":
                driver = session.scalar(select(Driver).where(Driver.driver_number == ref.upper()))
                if driver is None or who.get("document_number") != driver.driver_number \
                        or not _same_person(who, driver) or driver.state != Status.VALID:
                    raise OID4VCIError("access_denied", "the licence shown is not this driver's, or not valid", 403)
                configs = [c.id for c in CONFIGS.values() if c.subject == "driver" and c.doctype == DOCTYPE_AGE]
                top_up = self._offer(session.connection(), "driver", driver.id, configs, None, reveal_tx_code=True)
                session.commit()
                return top_up
            record: DbsCertificate | TrainingRecord | None = (
                session.scalar(select(DbsCertificate).where(DbsCertificate.certificate_number == ref))
                if kind == "dbs"
                else session.scalar(select(TrainingRecord).where(TrainingRecord.reference == ref))
            )
            if record is None or not _same_person(who, record):
                raise OID4VCIError("access_denied", "the record does not match the licence holder", 403)
            configs = [c.id for c in CONFIGS.values() if c.subject == kind]
            result_offer = self._offer(session.connection(), kind, record.id, configs, licence.device_key)
            session.commit()
            return result_offer

    # -------------------------------------------------------------------------------------- token
    def token(self, grant_type: str, code: str, tx_code: str | None) -> dict[str, Any]:
        """The token endpoint for the pre-authorized code grant, with the error codes of OpenID4VCI 1.0
        section 6.3: a missing transaction code is ``invalid_request``, a wrong one ``invalid_grant``."""
        if grant_type != PRE_AUTHORIZED_GRANT:
            raise OID4VCIError("unsupported_grant_type", "only the pre-authorized code grant is supported")
        with self.sessions.connect() as db:
            offer = db.execute(queries.OFFER_BY_CODE, {"code_hash": _hash(code)}).first()
            if offer is None or offer.used or _aware(offer.expires) < _now():
                raise OID4VCIError("invalid_grant", "the pre-authorized code is unknown, used or expired")
            if tx_code is None:
                raise OID4VCIError("invalid_request", "this offer needs its transaction code (tx_code)")
            # One conditional UPDATE counts the attempt and, if the code matched, spends the offer. Under the
            # row's lock concurrent attempts count one by one, and only a counted attempt can spend it: of any
            # number of concurrent guesses, at most MAX_TX_ATTEMPTS are ever decided, and one code gets one token.
            matches = self._tx_matches(tx_code, offer.tx_code_hash)
            counted = db.execute(
                queries.COUNT_TX_ATTEMPT, {"of_offer": offer.id, "most": MAX_TX_ATTEMPTS, "spend": matches}
            )
            if _rowcount(counted) != 1:
                now = db.execute(queries.OFFER_BY_CODE, {"code_hash": _hash(code)}).one()
                if now.used:
                    raise OID4VCIError("invalid_grant", "the pre-authorized code has already been used")
                raise OID4VCIError("invalid_grant", "too many wrong transaction codes; ask for a new offer")
            if not matches:
                db.commit()  # the attempt stays counted
                raise OID4VCIError("invalid_grant", "the transaction code is wrong")
            token = secrets.token_urlsafe(32)
            db.execute(queries.INSERT_TOKEN, {
                "token_hash": _hash(token),
                "offer_id": offer.id,
                "expires": _now() + dt.timedelta(seconds=self.settings.token_lifetime_seconds),
            })
            self.audit(db, "wallet", "token", f"offer:{offer.id}")
            db.commit()
        return {"access_token": token, "token_type": "Bearer", "expires_in": self.settings.token_lifetime_seconds}

    def _tx_hash(self, tx_code: str, salt: str | None = None) -> str:
        """``salt$HMAC-SHA256(secret, salt | code)``: six digits are too few for a plain hash, and the key
        lives in the data folder, not the database, so a copy of the database alone gives no codes away."""
        salt = salt or secrets.token_hex(16)
        return f"{salt}${hmac.new(self._secret, f'{salt}|{tx_code}'.encode(), hashlib.sha256).hexdigest()}"

    def _tx_matches(self, tx_code: str, stored: str) -> bool:
        salt, _, _ = stored.partition("$")
        return hmac.compare_digest(self._tx_hash(tx_code, salt), stored)

    # -------------------------------------------------------------------------------------- nonces
    def _new_nonce(self, purpose: str) -> str:
        self._purge_expired()
        value = secrets.token_urlsafe(24)
        self.sessions.write_one(queries.INSERT_NONCE, {
            "value": value,
            "purpose": purpose,
            "expires": _now() + dt.timedelta(seconds=self.settings.nonce_lifetime_seconds),
            "used": False,
        })
        return value

    def _purge_expired(self) -> None:
        """Delete expired nonces, access tokens and offers, at most once a minute per process (on the way to
        making a nonce, the busiest thing anyone can ask for). An offer is kept until its tokens have expired
        too; the audit log keeps what happened."""
        if time.monotonic() - self._purged < 60:
            return
        self._purged = time.monotonic()
        now = _now()
        stale = select(Offer.id).where(Offer.expires < now - dt.timedelta(seconds=self.settings.token_lifetime_seconds))
        with self.sessions() as session:
            session.execute(delete(AccessToken).where(AccessToken.expires < now))
            session.execute(delete(AccessToken).where(AccessToken.offer_id.in_(stale)))
            session.execute(delete(OfferAllowance).where(OfferAllowance.offer_id.in_(stale)))
            session.execute(delete(Offer).where(Offer.id.in_(stale)))
            session.execute(delete(Nonce).where(Nonce.expires < now))
            session.commit()

    def c_nonce(self) -> str:
        return self._new_nonce("proof")

    def _spend_nonce(self, value: str | None, purpose: str) -> None:
        with self.sessions.connect() as db:
            self._spend_nonces_in(db, {value} if value else set(), purpose)
            db.commit()

    @staticmethod
    def _spend_nonces_in(db: Connection, values: set[str], purpose: str) -> None:
        """Spend every nonce of one request at once: all were handed out, unused and unexpired, or none is
        spent. A batch request's proofs may share one ``c_nonce`` (OpenID4VCI 1.0 section 7.2: the wallet uses
        the nonce it has until it gets a fresh one); the next request needs another."""
        if not values:
            raise OID4VCIError("invalid_nonce", "a nonce from the nonce endpoint is required")
        spent = db.execute(queries.SPEND_NONCES, {"values": sorted(values), "for_purpose": purpose, "now": _now()})
        if _rowcount(spent) != len(values):
            db.rollback()
            raise OID4VCIError("invalid_nonce", "the nonce is unknown, used or expired; get a new one")

    # ---------------------------------------------------------------------------------- credentials
    def credential(self, access_token: str, body: Any) -> dict[str, Any]:
        """OpenID4VCI 1.0 credential endpoint: one credential per key proof (batch), each bound to its key.
        Error codes as section 8.3.1: the access token's errors are RFC 6750's, the request's are 8.3.1.2's."""
        offer = read_first(self._lookups, queries.TOKEN_WITH_OFFER, {"token_hash": _hash(access_token)})
        if offer is None or _aware(offer.expires) < _now():
            raise OID4VCIError("invalid_token", "the access token is unknown or expired", 401)
        request = CredentialRequest.parse(body, known=CONFIGS, granted=offer.config_ids,
                                          max_proofs=1 if offer.bound_key else self.settings.batch_size)
        config = CONFIGS[request.configuration_id]
        bound = public_from_jwk(json.loads(offer.bound_key)) if offer.bound_key else None
        keys, nonces = request.proven_keys(audience=self.issuer_url, bound=bound)
        issued, data = self._record_batch(config, offer, nonces, len(keys))
        signed = self._sign(config, data, issued, keys)
        return {"credentials": [{"credential": credential} for credential in signed]}

    def _allowance(self, config: CredentialConfig) -> int:
        """What one offer may issue of a configuration: a batch of single-use proofs of age, one of the rest
        (one licence, one DBS check, one training record), in each format."""
        return self.settings.batch_size if config.doctype == DOCTYPE_AGE else 1

    def _take_allowance(self, db: Connection, offer: OfferRow, config: CredentialConfig, count: int) -> None:
        """Take ``count`` from the offer's allowance for ``config`` by a conditional UPDATE, so concurrent
        requests with one access token cannot together issue more than the offer allows."""
        taken = db.execute(queries.TAKE_ALLOWANCE, {"of_offer": offer.id, "config": config.id, "count": count})
        if _rowcount(taken) != 1:
            db.commit()  # the request's nonces stay spent
            raise OID4VCIError(
                "credential_request_denied", f"this offer allows {self._allowance(config)} of this credential"
            )

    def _record_batch(
        self, config: CredentialConfig, offer: OfferRow, nonces: set[str], count: int
    ) -> tuple[list[IssuedEntry], dict[str, Any]]:
        """Everything a credential request writes, in one short transaction: the nonces spent, the allowance
        taken, ``count`` status list entries claimed and their credentials recorded and audited. The
        credentials are signed after it commits, so no lock is held while signing. A refusal after the
        nonces were spent keeps them spent (a nonce serves one request, answered or not)."""
        authority = self.authorities[config.authority]
        with self.sessions.connect() as db:
            self._spend_nonces_in(db, nonces, "proof")
            self._take_allowance(db, offer, config, count)
            subject = queries.SUBJECT_BY_ID[offer.subject_kind]
            record = db.execute(subject, {"subject_id": offer.subject_id}).one()
            if offer.subject_kind == "driver" and record.state != Status.VALID:  # revoked since the offer was made
                db.commit()
                raise OID4VCIError("credential_request_denied", "the driving licence is revoked or suspended")
            data = credential_data(config, record, _now().date())
            issued = [
                entry
                for uri, size, taken in self._claim_entries(db, authority, count)
                for entry in self._allocate(db, config, offer, (uri, size), taken)
            ]
            db.execute(
                queries.INSERT_AUDIT,
                [_audit_line("issuer", "issue", f"credential:{entry.id}", config.id) for entry in issued],
            )
            db.commit()
        return issued, data

    def _sign(
        self, config: CredentialConfig, data: dict[str, Any], issued: list[IssuedEntry], keys: list[PublicKey]
    ) -> list[str]:
        """The credentials of one request, over the record read in :meth:`_record_batch`: one signature each,
        the data and the signer checked once for the batch."""
        authority = self.authorities[config.authority]
        references = [{"idx": entry.status_idx, "uri": entry.status_uri} for entry in issued]
        key, chain = authority.signer_key, [authority.signer_cert]
        try:
            if config.format == FORMAT_MDOC:
                credentials = issue_mdocs(config.doctype, data, signer_key=key, signer_chain=chain, device_keys=keys,
                                          statuses=[{"status_list": reference} for reference in references])
                return [b64url_encode(c.to_bytes()) for c in credentials]
            claims = flat_claims(data)
            return [
                issue_credential_sd_jwt(VCT[config.doctype], claims, signer_key=key, signer_chain=chain,
                                        holder_key=holder, status=reference)
                for holder, reference in zip(keys, references, strict=True)
            ]
        except DidlibError as exc:
            raise OID4VCIError("credential_request_denied", f"the record cannot be issued: {exc.message}") from exc

    def _allocate(
        self, db: Connection, config: CredentialConfig, offer: OfferRow, entry_list: tuple[str, int], count: int
    ) -> list[IssuedEntry]:
        """``count`` random free indexes in the open status list ``(uri, size)``, written with one INSERT. The
        list is at most half used (see :meth:`_claim_entries`), so each index drawn is free with odds of one in
        two or better, and the few taken ones are drawn again. No other request allocates in this list until
        this one commits: its claim holds the list's row lock (``BEGIN IMMEDIATE`` on SQLite), so the indexes
        seen free stay free (the unique constraint on the entry would refuse a second holder regardless)."""
        uri, size = entry_list
        chosen: set[int] = set()
        for _ in range(64):
            candidates = {secrets.randbelow(size) for _ in range(count - len(chosen))} - chosen
            taken = db.execute(queries.TAKEN_INDEXES, {"list_uri": uri, "indexes": sorted(candidates)})
            chosen |= candidates - set(taken.scalars())
            if len(chosen) == count:
                break
        else:
            raise OID4VCIError("credential_request_denied", "the status list is full", 503)
        indexes, now = sorted(chosen), _now()
        rows = [
            {"subject_kind": offer.subject_kind, "subject_id": offer.subject_id, "config_id": config.id,
             "status_uri": uri, "status_idx": index, "state": 0, "issued_at": now}
            for index in indexes
        ]
        recorded = db.execute(queries.INSERT_ISSUED, rows).all()
        return sorted(IssuedEntry(row.id, uri, row.status_idx) for row in recorded)

    # ---------------------------------------------------------------------------------------- status
    def _ensure_status_lists(self) -> None:
        with self.sessions.connect() as db:
            for authority in self.authorities.values():
                self._add_list(db, authority, 1)
            db.commit()

    def _add_list(self, db: Connection, authority: Authority, number: int) -> None:
        """Create list ``number`` of ``authority`` unless it exists (another request or worker may make it
        first: the unique (authority, number) settles that)."""
        uri = authority.status_uri(number)
        if db.execute(queries.LIST_VERSION, {"list_uri": uri}).first() is not None:
            return
        size = self.settings.status_list_size
        try:
            with db.begin_nested():
                db.execute(queries.INSERT_LIST, {"uri": uri, "authority": authority.name, "number": number, "bits": 2,
                                                 "size": size, "data": bytes(StatusList(size, 2).data), "version": 0,
                                                 "used": 0})
        except IntegrityError:
            pass

    def _claim_entries(self, db: Connection, authority: Authority, count: int) -> list[tuple[str, int, int]]:
        """Claim ``count`` entries, as ``(uri, size, how many)`` per list. A list takes entries up to half its
        size; the claim that finds it so opens the next list (a new URI, listed in the trust list), so
        issuance never meets a full list, and a batch may span two lists."""
        claims: list[tuple[str, int, int]] = []
        for _ in range(16 + count):
            # the first list is made at start-up: there always is one
            row = db.execute(queries.NEWEST_LIST, {"authority": authority.name}).one()
            most = row.size // 2
            take = min(count, most - row.used)
            claimed = take > 0 and _rowcount(
                db.execute(queries.CLAIM_ENTRIES, {"list_uri": row.uri, "take": take, "most": most})
            ) == 1
            if claimed:
                claims.append((row.uri, row.size, take))
                count -= take
                if not count:
                    return claims
            else:
                self._add_list(db, authority, row.number + 1)
        raise OID4VCIError("credential_request_denied", "no status list entry could be had; try again", 503)

    def status_lists(self, authority: Authority) -> list[str]:
        with self.reads() as session:
            return list(
                session.scalars(
                    select(StatusListRow.uri)
                    .where(StatusListRow.authority == authority.name)
                    .order_by(StatusListRow.number)
                )
            )

    def recent_status_token(self, authority_name: str, number: int, cwt: bool) -> SignedStatusList | None:
        """The token in memory, if its list version was confirmed in the database less than
        ``STATUS_RECHECK`` seconds ago (no database, no waiting: safe on the event loop). A change made by this
        process drops the entry at once; one made by another worker is served within ``STATUS_RECHECK``."""
        authority = self.authorities.get(authority_name)
        if authority is None:
            return None
        entry = self._status_tokens.get((authority.status_uri(number), cwt))
        if entry and time.monotonic() - entry[1] < STATUS_RECHECK and entry[0].epoch == _status_epoch():
            return entry[0]
        return None

    def status_token(self, authority_name: str, number: int, cwt: bool) -> SignedStatusList:
        """A Status List Token, signed once per list version and hour (``STATUS_TTL``) and kept in memory:
        confirming it costs one indexed read of the list's version, not a signature and a compression.

        Its entity tag is weak and names the list, the version, the format and the hour, not the bytes: every
        worker signs its own token (ECDSA signatures differ), and a client's ``If-None-Match`` must match at
        any of them. A token is re-signed each hour, so a cache that revalidates gets a fresh ``exp``."""
        authority = self.authorities.get(authority_name)
        if authority is None:
            raise OID4VCIError("not_found", "no such status list", 404)
        uri = authority.status_uri(number)
        checked, epoch = time.monotonic(), _status_epoch()
        with self.reads() as session:
            version = session.execute(queries.LIST_VERSION, {"list_uri": uri}).scalar()
            if version is None:
                raise OID4VCIError("not_found", "no such status list", 404)
            cached = self._status_tokens.get((uri, cwt))
            if cached and cached[0].version == version and cached[0].epoch == epoch:
                self._status_tokens[(uri, cwt)] = (cached[0], checked)
                return cached[0]
            row = session.get(StatusListRow, uri)
        status_list = StatusList(row.size, row.bits, row.data)
        make = StatusListToken.create_cwt if cwt else StatusListToken.create_jwt
        token = make(
            uri,
            status_list,
            authority.signer_key,
            chain=[authority.signer_cert],
            valid_for=dt.timedelta(days=1),
            ttl=STATUS_TTL,
        )
        body = token if isinstance(token, bytes) else token.encode()
        tag = hashlib.sha256(f"{uri} {row.version} {'cwt' if cwt else 'jwt'} {epoch}".encode()).hexdigest()[:32]
        signed = SignedStatusList(body, f'W/"{tag}"', row.version, epoch)
        self._status_tokens[(uri, cwt)] = (signed, checked)
        return signed

    def set_state(self, credential_id: int, state: Status, actor: str) -> dict[str, Any]:
        """Revoke, suspend or reinstate one issued credential (its status list entry). The list is read,
        changed and written back under the list's lock (``FOR UPDATE``; ``BEGIN IMMEDIATE`` on SQLite), so
        no acknowledged change is lost to a concurrent one."""
        with self.sessions() as session:
            issued = session.get(IssuedCredential, credential_id)
            if issued is None:
                raise OID4VCIError("not_found", "no such credential", 404)
            row = session.scalars(
                select(StatusListRow).where(StatusListRow.uri == issued.status_uri).with_for_update()
            ).one()
            status_list = StatusList(row.size, row.bits, row.data)
            status_list.set(issued.status_idx, int(state))
            row.data, row.version = bytes(status_list.data), row.version + 1
            issued.state = int(state)
            self.audit(session.connection(), actor, state.name.lower(), f"credential:{credential_id}")
            session.commit()
            for cwt in (False, True):
                self._status_tokens.pop((issued.status_uri, cwt), None)
            return {"id": credential_id, "state": state.name.lower()}

    def set_driver_state(self, driver_number: str, state: Status, actor: str) -> list[dict[str, Any]]:
        """The licence itself (no new offers, no binding while revoked or suspended) and every credential
        issued from it."""
        with self.sessions() as session:
            driver = session.scalar(select(Driver).where(Driver.driver_number == driver_number))
            if driver is None:
                raise OID4VCIError("not_found", "no such driver", 404)
            driver.state = int(state)
            self.audit(session.connection(), actor, state.name.lower(), f"driver:{driver.id}")
            session.commit()
            ids = session.scalars(
                select(IssuedCredential.id).where(
                    IssuedCredential.subject_kind == "driver", IssuedCredential.subject_id == driver.id
                )
            ).all()
        return [self.set_state(i, state, actor) for i in ids]

    def credentials_of(self, driver_number: str) -> list[dict[str, Any]]:
        with self.reads() as session:
            driver = session.scalar(select(Driver).where(Driver.driver_number == driver_number))
            if driver is None:
                raise OID4VCIError("not_found", "no such driver", 404)
            rows = session.scalars(
                select(IssuedCredential).where(
                    IssuedCredential.subject_kind == "driver", IssuedCredential.subject_id == driver.id
                )
            ).all()
            return [
                {
                    "id": r.id,
                    "config": r.config_id,
                    "state": Status(r.state).name.lower(),
                    "statusList": r.status_uri,
                    "statusIndex": r.status_idx,
                }
                for r in rows
            ]

    def audit_log(self, limit: int = 100) -> list[dict[str, Any]]:
        with self.reads() as session:
            rows = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)).all()
            return [
                {
                    "at": _aware(r.at).isoformat(),
                    "actor": r.actor,
                    "action": r.action,
                    "target": r.target,
                    "detail": r.detail,
                }
                for r in rows
            ]

    # ------------------------------------------------------------------------------------------ trust
    def trust_list(self, operator_key: Any) -> str:
        entries = []
        for authority in self.authorities.values():
            entries.append(
                TrustListEntry(
                    f"{authority.name.upper()} issuer",
                    ISSUER,
                    [authority.iaca],
                    [authority.signer_cert],
                    self.status_lists(authority),
                )
            )
        entries.append(TrustListEntry("Reader CA", READER_CA, [self.authorities["dvla"].pki.certificate("reader-ca")]))
        now = _now()
        return TrustList("didlib mock trust list", now, now + dt.timedelta(days=30), entries).sign(operator_key)

    def metadata(self) -> dict[str, Any]:
        return {
            "credential_issuer": self.issuer_url,
            "authorization_servers": [self.issuer_url],
            "credential_endpoint": f"{self.issuer_url}/credential",
            "nonce_endpoint": f"{self.issuer_url}/nonce",
            "batch_credential_issuance": {"batch_size": self.settings.batch_size},
            "display": [{"name": "didlib mock DVLA, DBS and training issuers", "locale": "en-GB"}],
            "credential_configurations_supported": {cid: c.metadata() for cid, c in CONFIGS.items()},
        }

    def as_metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer_url,
            "token_endpoint": f"{self.issuer_url}/token",
            "grant_types_supported": [PRE_AUTHORIZED_GRANT],
            "pre-authorized_grant_anonymous_access_supported": True,
        }


def _in_good_standing(session: Any, status: Any) -> bool:
    """The presented licence is one we issued, still valid, of a driver whose licence is not revoked or
    suspended (our own records decide, not a cached status list)."""
    reference = status.get("status_list") if isinstance(status, dict) else None
    if not isinstance(reference, dict) or not isinstance(reference.get("uri"), str):
        return False
    index = reference.get("idx")
    if isinstance(index, bool) or not isinstance(index, int):
        return False
    issued = session.scalar(
        select(IssuedCredential).where(
            IssuedCredential.status_uri == reference["uri"], IssuedCredential.status_idx == index
        )
    )
    if issued is None or issued.state != Status.VALID or issued.subject_kind != "driver":
        return False
    driver = session.get(Driver, issued.subject_id)
    return driver is not None and driver.state == Status.VALID


def _same_person(licence: dict[str, Any], record: Any) -> bool:
    return (
        str(licence.get("family_name", "")).casefold() == record.family_name.casefold()
        and str(licence.get("given_name", "")).casefold() == record.given_name.casefold()
        and licence.get("birth_date") == record.birth_date
    )
