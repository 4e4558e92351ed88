"""Storage: the registers, the OpenID4VCI state (offers, tokens, nonces) and what was issued.

SQLAlchemy 2.0 models that run on SQLite (WAL, the embedded default) and PostgreSQL. Secrets (codes,
tokens) are stored as SHA-256 hashes. Single use is enforced by conditional UPDATEs and unique
constraints, so it holds across workers and processes.

Locking: a read-modify-write (a status list blob) must not interleave with another. PostgreSQL gets that
from ``SELECT ... FOR UPDATE``; SQLite ignores ``FOR UPDATE``, so every SQLite transaction of a writing
session starts with ``BEGIN IMMEDIATE`` (it takes the database's write lock before its first read), and
read-only sessions start with a plain ``BEGIN``. The pysqlite driver's own transaction handling is switched
off so that SQLAlchemy issues these (the SQLAlchemy documentation's recipe for SQLite).
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    create_engine,
    event,
    inspect,
)
from sqlalchemy.engine import Connection, Engine, Row, make_url
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.sql.expression import Executable

__all__ = [
    "Base",
    "Driver",
    "DbsCertificate",
    "TrainingRecord",
    "Offer",
    "OfferAllowance",
    "AccessToken",
    "Nonce",
    "IssuedCredential",
    "StatusListRow",
    "AuditEvent",
    "make_engine",
    "make_sessions",
    "read_sessions",
    "reading",
    "one_statement",
    "read_first",
    "WriteSessions",
    "Busy",
    "SchemaMismatch",
]


class Base(DeclarativeBase):
    pass


class _Person:
    """The columns every register of people has (the names and birth date their credentials start with)."""

    family_name: Mapped[str] = mapped_column(String(64))
    given_name: Mapped[str] = mapped_column(String(64))
    birth_date: Mapped[dt.date] = mapped_column(Date)


class Driver(_Person, Base):
    __tablename__ = "drivers"
    id: Mapped[int] = mapped_column(primary_key=True)
    driver_number: Mapped[str] = mapped_column(String(16), unique=True, index=True)
    sex: Mapped[int] = mapped_column(Integer)
    address: Mapped[str] = mapped_column(String(128))
    city: Mapped[str] = mapped_column(String(64))
    postcode: Mapped[str] = mapped_column(String(10))
    licence_type: Mapped[str] = mapped_column(String(16))
    categories: Mapped[list] = mapped_column(JSON)
    penalty_points: Mapped[int] = mapped_column(Integer, default=0)
    issue_date: Mapped[dt.date] = mapped_column(Date)
    portrait_seed: Mapped[int] = mapped_column(Integer)
    state: Mapped[int] = mapped_column(Integer, default=0)  # the licence: 0 valid, 1 revoked, 2 suspended


class DbsCertificate(_Person, Base):
    __tablename__ = "dbs_certificates"
    id: Mapped[int] = mapped_column(primary_key=True)
    certificate_number: Mapped[str] = mapped_column(String(12), unique=True, index=True)
    level: Mapped[str] = mapped_column(String(32))
    workforce: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(32))
    barred_children: Mapped[str] = mapped_column(String(16))
    barred_adults: Mapped[str] = mapped_column(String(16))
    update_service: Mapped[bool] = mapped_column(Boolean)
    issue_date: Mapped[dt.date] = mapped_column(Date)


class TrainingRecord(_Person, Base):
    __tablename__ = "training_records"
    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True, index=True)
    course: Mapped[str] = mapped_column(String(128))
    level: Mapped[str] = mapped_column(String(32))
    completion_date: Mapped[dt.date] = mapped_column(Date)
    renewal_date: Mapped[dt.date] = mapped_column(Date)


class Offer(Base):
    """A credential offer's pre-authorized code (hashed) and what it is for."""

    __tablename__ = "offers"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    tx_code_hash: Mapped[str] = mapped_column(String(128))  # salt$HMAC-SHA256 under the service's secret
    subject_kind: Mapped[str] = mapped_column(String(16))  # driver | dbs | training
    subject_id: Mapped[int] = mapped_column(Integer)
    config_ids: Mapped[list] = mapped_column(JSON)
    bound_key: Mapped[str | None] = mapped_column(String(512), nullable=True)  # JWK JSON the proof must use
    expires: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    used: Mapped[bool] = mapped_column(Boolean, default=False)
    tx_attempts: Mapped[int] = mapped_column(Integer, default=0)  # counted before each code is compared


class OfferAllowance(Base):
    """How many more credentials of one configuration an offer may issue (one licence, one batch...)."""

    __tablename__ = "offer_allowances"
    offer_id: Mapped[str] = mapped_column(ForeignKey("offers.id"), primary_key=True)
    config_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    remaining: Mapped[int] = mapped_column(Integer)


class AccessToken(Base):
    __tablename__ = "access_tokens"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    offer_id: Mapped[str] = mapped_column(ForeignKey("offers.id"))
    expires: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class Nonce(Base):
    """c_nonce values and binding nonces; each is good for one use before it expires."""

    __tablename__ = "nonces"
    value: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))
    expires: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    used: Mapped[bool] = mapped_column(Boolean, default=False)


class IssuedCredential(Base):
    """One issued credential: whose, which configuration, and its status list entry. No claims stored."""

    __tablename__ = "issued_credentials"
    __table_args__ = (UniqueConstraint("status_uri", "status_idx", name="uq_status_entry"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    subject_kind: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[int] = mapped_column(Integer, index=True)
    config_id: Mapped[str] = mapped_column(String(64))
    status_uri: Mapped[str] = mapped_column(String(256))
    status_idx: Mapped[int] = mapped_column(Integer)
    state: Mapped[int] = mapped_column(Integer, default=0)  # 0 valid, 1 revoked, 2 suspended
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class StatusListRow(Base):
    """One status list of an authority (``/status/<authority>/<number>``); ``used`` counts entries handed out,
    so a list is closed and the next one opened well before random allocation gets slow."""

    __tablename__ = "status_lists"
    __table_args__ = (UniqueConstraint("authority", "number", name="uq_status_list_number"),)
    uri: Mapped[str] = mapped_column(String(256), primary_key=True)
    authority: Mapped[str] = mapped_column(String(16))
    number: Mapped[int] = mapped_column(Integer)
    bits: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    version: Mapped[int] = mapped_column(Integer, default=0)
    used: Mapped[int] = mapped_column(Integer, default=0)


class AuditEvent(Base):
    """Who did what to which record; identifiers only, never names, dates or addresses."""

    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(String(256), default="")


class SchemaMismatch(RuntimeError):
    """The database was made by another version of the service (a column is missing)."""


def make_engine(url: str, timeout: float = 10) -> Engine:
    """An engine whose waits are bounded by ``timeout`` seconds (a lock, a pool connection), and whose errors
    never carry SQL parameters (they hold nonces and codes). SQLite gets WAL, foreign keys, a private
    (0600) database file and ``BEGIN IMMEDIATE`` for writing sessions (see the module docstring)."""
    if url.startswith("sqlite"):
        _private_file(make_url(url).database)
        engine = create_engine(
            url, connect_args={"timeout": timeout, "check_same_thread": False}, hide_parameters=True,
            pool_size=20, max_overflow=40, pool_timeout=timeout,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection, _record):
            connection.isolation_level = None  # pysqlite begins nothing; the "begin" hook below does
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection):
            connection.exec_driver_sql("BEGIN " + connection.get_execution_options().get("sqlite_begin", "IMMEDIATE"))

        return engine
    milliseconds = int(timeout * 1000)
    engine = create_engine(
        url, pool_size=10, max_overflow=20, pool_timeout=timeout, hide_parameters=True,
        connect_args={"options": f"-c lock_timeout={milliseconds} -c statement_timeout={milliseconds * 3}"},
    )
    _ping_after_idle(engine, PING_AFTER_IDLE)
    return engine


PING_AFTER_IDLE = 1.0
"""Seconds a pooled PostgreSQL connection may rest before it is pinged on its way out of the pool."""


def _ping_after_idle(engine: Engine, seconds: float) -> None:
    """Ping a pooled connection when it comes out of the pool after resting ``seconds`` or more. SQLAlchemy's
    ``pool_pre_ping`` pings at every checkout, a round trip of about 200 us of the worker's CPU, five times
    per issuance; a connection handed back milliseconds ago was alive then. A failed ping retires every
    connection of the pool made before it, as ``pool_pre_ping`` does (raising InvalidatePoolError from the
    checkout event): a dead one most likely means the server restarted. A connection that died within the
    last ``seconds`` fails its statement instead; SQLAlchemy then retires the pool all the same, and the
    requests on those connections get a 503 with Retry-After."""

    @event.listens_for(engine, "connect")
    @event.listens_for(engine, "checkin")
    def _rested_since(_dbapi_connection: Any, record: Any, *_: Any) -> None:
        record.info["rested_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        rested_since = record.info.get("rested_since")
        if rested_since is not None and time.monotonic() - rested_since < seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise InvalidatePoolError("a pooled database connection is gone") from exc


def _private_file(path: str | None) -> None:
    """Create the SQLite file readable by its owner only (it holds names, birth dates, addresses); SQLite
    gives its -wal and -shm files the database file's permissions."""
    if not path or path == ":memory:":
        return
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    Path(path).chmod(0o600)


class Busy(Exception):
    """A writing session did not get its turn within the database timeout."""


class WriteSessions:
    """``with sessions() as session:`` for work that writes, and ``with sessions.connect() as connection:`` for
    the issuance path's Core statements (:mod:`issuer_service.queries`), which need no ORM unit of work. On
    SQLite the threads of one process also queue on a lock before ``BEGIN IMMEDIATE``: they would otherwise
    wait in SQLite's busy handler, which sleeps up to 100 ms between tries, and many waiting requests would
    take seconds to get through."""

    def __init__(self, engine: Engine, timeout: float) -> None:
        self._engine = engine
        self._one_statement = one_statement(engine)
        self._make = sessionmaker(engine, expire_on_commit=False)
        self._queue = threading.Lock() if engine.dialect.name == "sqlite" else None
        self._timeout = timeout

    @contextmanager
    def _turn(self) -> Iterator[None]:
        if self._queue is None:
            yield
            return
        if not self._queue.acquire(timeout=self._timeout):
            raise Busy("no turn to write within the database timeout")
        try:
            yield
        finally:
            self._queue.release()

    @contextmanager
    def __call__(self) -> Iterator[Session]:
        with self._turn(), self._make() as session:
            yield session

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection whose first statement begins a writing transaction; what is not committed when the
        block ends is rolled back."""
        with self._turn(), self._engine.connect() as connection:
            yield connection

    def write_one(self, statement: Executable, parameters: dict[str, Any]) -> None:
        """Run one statement that writes, on its own and committed (see :func:`one_statement`)."""
        with self._turn(), self._one_statement.connect() as connection:
            connection.execute(statement, parameters)
            connection.commit()


def make_sessions(engine: Engine, timeout: float = 10) -> WriteSessions:
    """Sessions for work that writes; creates missing tables and refuses a database of another version."""
    Base.metadata.create_all(engine)
    have = inspect(engine)
    for table in Base.metadata.sorted_tables:
        missing = {c.name for c in table.columns} - {c["name"] for c in have.get_columns(table.name)}
        if missing:
            raise SchemaMismatch(
                f"table {table.name} lacks {', '.join(sorted(missing))}: the database was made by an older "
                "version of the service; start with a new data folder or database"
            )
    return WriteSessions(engine, timeout)


def reading(engine: Engine) -> Engine:
    """The engine for work that only reads: on SQLite its transactions do not wait for the write lock."""
    return engine.execution_options(sqlite_begin="DEFERRED")


def one_statement(engine: Engine) -> Engine:
    """The engine for a statement run on its own (:meth:`WriteSessions.write_one`, :func:`read_first`). On
    PostgreSQL it runs in autocommit, since a statement is atomic by itself: that saves the BEGIN and the
    COMMIT or ROLLBACK, two of the three round trips, and the ROLLBACK that ends a read-only transaction,
    which makes psycopg drop the connection's prepared statements. SQLite's transactions cost no round
    trip, so there the engine is left as it is."""
    return engine if engine.dialect.name == "sqlite" else engine.execution_options(isolation_level="AUTOCOMMIT")


def read_first(engine: Engine, statement: Executable, parameters: dict[str, Any]) -> Row[Any] | None:
    """The first row of one statement that reads, run on its own: ``engine`` is ``one_statement(reading(...))``,
    made once by the caller."""
    with engine.connect() as connection:
        return connection.execute(statement, parameters).first()


def read_sessions(engine: Engine) -> sessionmaker:
    """Sessions that only read (see :func:`reading`)."""
    return sessionmaker(reading(engine), expire_on_commit=False)
