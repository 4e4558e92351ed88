"""The SQL of the issuance path (offer, token, nonce, credential), built once as Core statements.

Why not the ORM here: building an ORM statement and flushing objects through its unit of work costs about
300 us a statement, executing a prebuilt Core statement with bound parameters about 70 us (SQLAlchemy
caches its compiled form), and a credential request for a batch runs about ten. The admin paths, which run
rarely, keep the ORM. Each statement is executed on the connection of a session from
:mod:`issuer_service.models`, so the locking described there (``BEGIN IMMEDIATE`` on SQLite, row locks on
PostgreSQL) holds alike.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, bindparam, insert, select, update

from issuer_service import models

__all__ = [
    "DRIVER_BY_NUMBER",
    "SUBJECT_BY_ID",
    "INSERT_OFFER",
    "INSERT_ALLOWANCES",
    "INSERT_AUDIT",
    "INSERT_NONCE",
    "INSERT_TOKEN",
    "INSERT_ISSUED",
    "OFFER_BY_CODE",
    "COUNT_TX_ATTEMPT",
    "TOKEN_WITH_OFFER",
    "SPEND_NONCES",
    "TAKE_ALLOWANCE",
    "NEWEST_LIST",
    "CLAIM_ENTRIES",
    "TAKEN_INDEXES",
    "LIST_VERSION",
    "INSERT_LIST",
]


def _table(model: Any) -> Table:
    return model.__table__


_drivers, _offers, _allowances = _table(models.Driver), _table(models.Offer), _table(models.OfferAllowance)
_tokens, _nonces = _table(models.AccessToken), _table(models.Nonce)
_issued, _lists = _table(models.IssuedCredential), _table(models.StatusListRow)

DRIVER_BY_NUMBER = select(_drivers).where(_drivers.c.driver_number == bindparam("number"))
"""The register's row of one driver number."""

SUBJECT_BY_ID = {
    kind: select(_table(model)).where(_table(model).c.id == bindparam("subject_id"))
    for kind, model in (("driver", models.Driver), ("dbs", models.DbsCertificate), ("training", models.TrainingRecord))
}
"""The register row an offer is for, by the offer's ``subject_kind``."""

INSERT_OFFER = insert(_offers)
"""A new offer (its columns as parameters)."""

INSERT_ALLOWANCES = insert(_allowances)
"""What an offer may issue, one row per configuration (executed with many parameter sets)."""

INSERT_AUDIT = insert(_table(models.AuditEvent))
"""Audit lines (one or many parameter sets)."""

INSERT_NONCE = insert(_nonces)
"""A new nonce."""

INSERT_TOKEN = insert(_tokens)
"""A new access token (its hash)."""

INSERT_ISSUED = insert(_issued).returning(_issued.c.id, _issued.c.status_idx)
"""Issued credentials, one parameter set each, in one statement; each row's id comes back with its status
index (in no particular order: asking SQLAlchemy for the parameters' order makes it one INSERT a row on
SQLite)."""

OFFER_BY_CODE = select(_offers.c.id, _offers.c.used, _offers.c.expires, _offers.c.tx_code_hash).where(
    _offers.c.code_hash == bindparam("code_hash")
)
"""The offer of a pre-authorized code (its hash)."""

COUNT_TX_ATTEMPT = (
    update(_offers)
    .where(_offers.c.id == bindparam("of_offer"), _offers.c.used.is_(False), _offers.c.tx_attempts < bindparam("most"))
    .values(tx_attempts=_offers.c.tx_attempts + 1, used=bindparam("spend"))
)
"""Count one transaction code attempt on an unused offer that has attempts left, and spend the offer if the code
matched (``spend``): the row's lock makes concurrent attempts count one by one."""

TOKEN_WITH_OFFER = select(
    _tokens.c.expires,
    _offers.c.id,
    _offers.c.subject_kind,
    _offers.c.subject_id,
    _offers.c.config_ids,
    _offers.c.bound_key,
).join_from(_tokens, _offers, _tokens.c.offer_id == _offers.c.id).where(_tokens.c.token_hash == bindparam("token_hash"))
"""An access token (its hash) with the offer it was granted for."""

SPEND_NONCES = (
    update(_nonces)
    .where(
        _nonces.c.value.in_(bindparam("values", expanding=True)),
        _nonces.c.purpose == bindparam("for_purpose"),
        _nonces.c.used.is_(False),
        _nonces.c.expires > bindparam("now"),
    )
    .values(used=True)
)
"""Spend nonces handed out for one purpose, unused and unexpired (the row count says how many were)."""

TAKE_ALLOWANCE = (
    update(_allowances)
    .where(
        _allowances.c.offer_id == bindparam("of_offer"),
        _allowances.c.config_id == bindparam("config"),
        _allowances.c.remaining >= bindparam("count"),
    )
    .values(remaining=_allowances.c.remaining - bindparam("count"))
)
"""Take ``count`` from an offer's allowance of one configuration, if it has that many left."""

NEWEST_LIST = (
    select(_lists.c.uri, _lists.c.number, _lists.c.size, _lists.c.used)
    .where(_lists.c.authority == bindparam("authority"))
    .order_by(_lists.c.number.desc())
    .limit(1)
)
"""An authority's open status list: its newest."""

CLAIM_ENTRIES = (
    update(_lists)
    .where(_lists.c.uri == bindparam("list_uri"), _lists.c.used + bindparam("take") <= bindparam("most"))
    .values(used=_lists.c.used + bindparam("take"))
)
"""Count ``take`` more entries of a list as handed out, if that keeps it at most ``most`` used. On PostgreSQL
the UPDATE locks the list's row until commit, which orders concurrent claims on one list."""

TAKEN_INDEXES = select(_issued.c.status_idx).where(
    _issued.c.status_uri == bindparam("list_uri"), _issued.c.status_idx.in_(bindparam("indexes", expanding=True))
)
"""Which of some indexes of a list are already someone's."""

LIST_VERSION = select(_lists.c.version).where(_lists.c.uri == bindparam("list_uri"))
"""A status list's version (none: no such list)."""

INSERT_LIST = insert(_lists)
"""A new status list."""
