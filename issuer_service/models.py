"""Storage: the registers, the OpenID4VCI state (offers, tokens, nonces) and what was issued.

SQLAlchemy 2.0 models that run on SQLite (WAL, the embedded default) and PostgreSQL. Secrets (codes,
tokens) are stored as SHA-256 hashes. Single use is enforced by conditional UPDATEs and unique
constraints, so it holds across workers and processes.
"""

from __future__ import annotations

import datetime as dt

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
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

__all__ = [
    "Base",
    "Driver",
    "DbsCertificate",
    "TrainingRecord",
    "Offer",
    "AccessToken",
    "Nonce",
    "IssuedCredential",
    "StatusListRow",
    "AuditEvent",
    "make_engine",
    "make_sessions",
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
    tx_code_hash: Mapped[str] = mapped_column(String(64))
    subject_kind: Mapped[str] = mapped_column(String(16))  # driver | dbs | training
    subject_id: Mapped[int] = mapped_column(Integer)
    config_ids: Mapped[list] = mapped_column(JSON)
    bound_key: Mapped[str | None] = mapped_column(String(512), nullable=True)  # JWK JSON the proof must use
    expires: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    used: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)


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
    __tablename__ = "status_lists"
    uri: Mapped[str] = mapped_column(String(256), primary_key=True)
    authority: Mapped[str] = mapped_column(String(16))
    bits: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    version: Mapped[int] = mapped_column(Integer, default=0)


class AuditEvent(Base):
    """Who did what to which record; identifiers only, never names, dates or addresses."""

    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(String(256), default="")


def make_engine(url: str) -> Engine:
    """An engine; SQLite gets WAL, a busy timeout and foreign keys, so concurrent requests wait, not fail."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection, _record):  # type: ignore[no-untyped-def]
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def make_sessions(engine: Engine) -> sessionmaker:
    Base.metadata.create_all(engine)
    return sessionmaker(engine, expire_on_commit=False)
