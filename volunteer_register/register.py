"""A youth organisation's register of volunteers: what it may keep of a safeguarding check, and nothing more.

Kept per volunteer: name, birth date, DBS level, workforce, certificate number, certificate issue date, check
date, training level and renewal date, and each credential's status-list reference (to keep the record
current); never a portrait, a licence number or a device key. SQLite (file mode 600, ``secure_delete``) by
default, PostgreSQL when given its URL. Every read and change goes in the audit log, which names volunteers
by their register id only. Why and for how long: specs/volunteers.md.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from didlib.errors import UsageError
from didlib.oid4vp import VpResult
from issuer_service.models import make_engine

__all__ = ["Register", "Volunteer", "CredentialRef", "record_from_result", "record_from_verdict", "KINDS"]

KINDS = ("licence", "dbs", "training")  # the credential query ids of didlib.oid4vp.volunteer_query

metadata = MetaData()
volunteers = Table(
    "volunteers", metadata,
    Column("id", Integer, primary_key=True),
    Column("given_name", String(100), nullable=False),
    Column("family_name", String(100), nullable=False),
    Column("birth_date", Date, nullable=False),
    Column("dbs_level", String(32), nullable=False),
    Column("workforce", String(32), nullable=False),
    Column("certificate_number", String(12), nullable=False, unique=True),
    Column("dbs_issue_date", Date),  # not asked in person
    Column("training_level", String(32)),
    Column("training_renewal", Date),
    Column("checked_at", DateTime(timezone=True), nullable=False),
    Column("checked_how", String(16), nullable=False),  # online | in_person
    Column("left_on", Date),
    Column("flags", JSON, nullable=False, default=list),  # reasons from the last recheck
    Column("rechecked_at", DateTime(timezone=True)),
)
credentials = Table(
    "volunteer_credentials", metadata,
    Column("id", Integer, primary_key=True),
    Column("volunteer_id", Integer, ForeignKey("volunteers.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("status_uri", String(2048)),
    Column("status_idx", Integer),
    Column("valid_until", DateTime(timezone=True)),
)
audit = Table(
    "volunteer_audit", metadata,
    Column("id", Integer, primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("target", String(64), nullable=False, default=""),  # a register id or a count, never a name
    Column("detail", String(256), nullable=False, default=""),
)

MAX_NAME = 100


@dataclass(frozen=True)
class CredentialRef:
    """Where a credential's status is published (as the credential says: list /2 is as good as /1)."""

    kind: str
    status_uri: str | None
    status_idx: int | None
    valid_until: dt.datetime | None


@dataclass
class Volunteer:
    given_name: str
    family_name: str
    birth_date: dt.date
    dbs_level: str
    workforce: str
    certificate_number: str
    dbs_issue_date: dt.date | None
    training_level: str | None = None
    training_renewal: dt.date | None = None
    checked_how: str = "online"
    credentials: list[CredentialRef] = field(default_factory=list)
    id: int | None = None
    checked_at: dt.datetime | None = None
    left_on: dt.date | None = None
    flags: list[str] = field(default_factory=list)
    rechecked_at: dt.datetime | None = None

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"


def _date(value: Any, what: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise UsageError(f"{what} is not a date", code="bad_record") from exc


def _text(value: Any, what: str, limit: int = MAX_NAME) -> str:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise UsageError(f"{what} is missing or too long", code="bad_record")
    return value


def record_from_result(result: VpResult) -> Volunteer:
    """The register's record of a verified online application (:func:`didlib.oid4vp.volunteer_query`): only
    what the query marked ``intent_to_retain``, and each credential's status reference. Raises
    ``not_same_holder`` unless every credential is bound to one device key (the DBS and training issuers bind
    to the licence's)."""
    if not result.valid:
        raise UsageError("only a verified answer goes in the register", code="not_verified")
    if not result.same_holder():
        raise UsageError("the credentials are not bound to the same device key: they may not belong to one "
                         "person", code="not_same_holder")
    first = {kind: entries[0] for kind, entries in result.presented.items() if entries}
    refs = {kind: (bindings[0].status, bindings[0].valid_until) for kind, bindings in result.bindings.items()
            if bindings}
    return _record(first.get("licence"), first.get("dbs"), first.get("training") or {}, refs, "online")


def record_from_verdict(kept: Mapping[str, Any]) -> Volunteer:
    """The register's record of an in-person volunteer check (``Verdict.kept`` of a
    :class:`didlib.verifier.VolunteerPolicy` with ``register="add"``: same holder already proven)."""
    credentials = kept.get("credentials")
    refs = {kind: (c.get("status"), c.get("valid_until")) for kind, c in credentials.items()} \
        if isinstance(credentials, Mapping) else {}
    return _record(kept, kept, {}, refs, "in_person")


def _record(licence: Mapping[str, Any] | None, dbs: Mapping[str, Any] | None, training: Mapping[str, Any],
            refs: Mapping[str, tuple[Any, Any]], how: str) -> Volunteer:
    if licence is None or dbs is None:
        raise UsageError("a driving licence and a DBS check are both needed", code="document_missing")
    credentials = []
    for kind, (status, valid_until) in refs.items():
        ref = status.get("status_list") if isinstance(status, Mapping) else None
        uri, idx = (ref.get("uri"), ref.get("idx")) if isinstance(ref, Mapping) else (None, None)
        credentials.append(CredentialRef(kind, uri if isinstance(uri, str) else None,
                                         idx if isinstance(idx, int) and not isinstance(idx, bool) else None,
                                         valid_until if isinstance(valid_until, dt.datetime) else None))
    return Volunteer(
        _text(licence.get("given_name"), "given name"), _text(licence.get("family_name"), "family name"),
        _date(licence.get("birth_date"), "birth date"), _text(dbs.get("certificate_level"), "DBS level", 32),
        _text(dbs.get("workforce"), "workforce", 32), _text(dbs.get("certificate_number"), "certificate number", 12),
        _date(dbs["issue_date"], "DBS issue date") if dbs.get("issue_date") is not None else None,
        training.get("level") if isinstance(training.get("level"), str) else None,
        _date(training["renewal_date"], "training renewal date") if "renewal_date" in training else None,
        how, credentials,
    )


class Register:
    """The register on one database. ``actor`` names who is acting, for the audit log."""

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite:///"):
            path = Path(url.removeprefix("sqlite:///"))
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))  # -wal and -shm inherit the mode
            os.chmod(path, 0o600)
        self.engine: Engine = make_engine(url)
        if self.sqlite:
            event.listen(self.engine, "connect", _secure_delete)
        metadata.create_all(self.engine)

    @classmethod
    def in_folder(cls, folder: Path) -> Register:
        return cls(f"sqlite:///{folder / 'register.sqlite'}")

    @property
    def sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    def files(self) -> list[Path]:
        """The SQLite files that hold the register (for an erasure check); none for PostgreSQL."""
        if not self.sqlite:
            return []
        path = Path(self.url.removeprefix("sqlite:///"))
        return [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")) if p.exists()]

    @contextlib.contextmanager
    def _changing(self) -> Iterator[Connection]:
        with self.engine.begin() as db:
            yield db

    @staticmethod
    def _audit(db: Connection, actor: str, action: str, target: str = "", detail: str = "") -> None:
        db.execute(insert(audit).values(at=dt.datetime.now(dt.UTC), actor=actor[:64], action=action,
                                        target=target[:64], detail=detail[:256]))

    # ------------------------------------------------------------------------------------- changes
    def add(self, volunteer: Volunteer, actor: str, now: dt.datetime | None = None) -> int:
        """Add a volunteer, or refresh the record of one with the same DBS certificate (a new check); their
        register id."""
        now = now or dt.datetime.now(dt.UTC)
        values = {name: getattr(volunteer, name) for name in (
            "given_name", "family_name", "birth_date", "dbs_level", "workforce", "certificate_number",
            "dbs_issue_date", "training_level", "training_renewal", "checked_how")}
        values |= {"checked_at": now, "flags": [], "left_on": None}
        dialect = sqlite if self.sqlite else postgresql
        with self._changing() as db:
            upsert = dialect.insert(volunteers).values(**values)
            upsert = upsert.on_conflict_do_update(index_elements=["certificate_number"], set_=values)
            volunteer_id = int(db.execute(upsert.returning(volunteers.c.id)).scalar_one())
            db.execute(delete(credentials).where(credentials.c.volunteer_id == volunteer_id))
            for ref in volunteer.credentials:
                db.execute(insert(credentials).values(volunteer_id=volunteer_id, kind=ref.kind,
                                                      status_uri=ref.status_uri, status_idx=ref.status_idx,
                                                      valid_until=ref.valid_until))
            self._audit(db, actor, "add", str(volunteer_id), volunteer.checked_how)
        return volunteer_id

    def left(self, volunteer_id: int, actor: str, on: dt.date | None = None) -> None:
        """Record that a volunteer left: the retention period starts (:meth:`purge`)."""
        with self._changing() as db:
            found = db.execute(update(volunteers).where(volunteers.c.id == volunteer_id)
                               .values(left_on=on or dt.date.today())).rowcount
            if not found:
                raise UsageError(f"no volunteer {volunteer_id} in the register", code="not_found")
            self._audit(db, actor, "left", str(volunteer_id))

    def set_flags(self, flags: Mapping[int, list[str]], actor: str, now: dt.datetime) -> None:
        with self._changing() as db:
            for volunteer_id, reasons in flags.items():
                db.execute(update(volunteers).where(volunteers.c.id == volunteer_id)
                           .values(flags=reasons, rechecked_at=now))
            self._audit(db, actor, "recheck", str(len(flags)), f"{sum(bool(r) for r in flags.values())} flagged")

    def erase(self, volunteer_id: int, actor: str) -> None:
        """Erase a volunteer: the rows are deleted and the bytes they were stored in overwritten (SQLite:
        ``secure_delete``, then the WAL checkpointed and truncated and the file vacuumed; PostgreSQL: VACUUM,
        see specs/volunteers.md for what that does not reach)."""
        with self._changing() as db:
            found = db.execute(delete(volunteers).where(volunteers.c.id == volunteer_id)).rowcount
            db.execute(delete(credentials).where(credentials.c.volunteer_id == volunteer_id))
            if not found:
                raise UsageError(f"no volunteer {volunteer_id} in the register", code="not_found")
            self._audit(db, actor, "erase", str(volunteer_id))
        self._scrub()

    def purge(self, retention: dt.timedelta, actor: str, today: dt.date | None = None) -> int:
        """Erase every volunteer who left more than ``retention`` ago; how many."""
        cutoff = (today or dt.date.today()) - retention
        with self._changing() as db:
            gone = [row.id for row in db.execute(select(volunteers.c.id).where(volunteers.c.left_on < cutoff))]
            for volunteer_id in gone:
                db.execute(delete(credentials).where(credentials.c.volunteer_id == volunteer_id))
                db.execute(delete(volunteers).where(volunteers.c.id == volunteer_id))
            self._audit(db, actor, "purge", str(len(gone)), f"left before {cutoff.isoformat()}")
        if gone:
            self._scrub()
        return len(gone)

    def _scrub(self) -> None:
        """Deleted rows leave their bytes in free pages and in the WAL: overwrite both."""
        self.engine.dispose()  # no pooled connection holds a read snapshot that would keep the WAL
        raw = self.engine.raw_connection()
        try:
            driver = raw.driver_connection
            if self.sqlite:
                driver.isolation_level = None  # type: ignore[union-attr]  # VACUUM runs outside a transaction
                for statement in ("PRAGMA wal_checkpoint(TRUNCATE)", "VACUUM", "PRAGMA wal_checkpoint(TRUNCATE)"):
                    driver.execute(statement)  # type: ignore[union-attr]
            else:
                driver.autocommit = True  # type: ignore[union-attr]
                for table in (volunteers, credentials):
                    driver.execute(f"VACUUM {table.name}")  # type: ignore[union-attr]
        finally:
            raw.close()
            self.engine.dispose()  # not back into the pool with autocommit set

    # --------------------------------------------------------------------------------------- reads
    def _volunteers(self, db: Connection, where: Any = None) -> list[Volunteer]:
        query = select(volunteers).order_by(volunteers.c.family_name, volunteers.c.given_name)
        rows = db.execute(query if where is None else query.where(where)).mappings().all()
        refs: dict[int, list[CredentialRef]] = {}
        ids = [row["id"] for row in rows]
        for ref in db.execute(select(credentials).where(credentials.c.volunteer_id.in_(ids))).mappings():
            refs.setdefault(ref["volunteer_id"], []).append(
                CredentialRef(ref["kind"], ref["status_uri"], ref["status_idx"], _utc(ref["valid_until"])))
        return [Volunteer(**{k: v for k, v in row.items() if k not in ("checked_at", "rechecked_at")},
                          checked_at=_utc(row["checked_at"]), rechecked_at=_utc(row["rechecked_at"]),
                          credentials=refs.get(row["id"], [])) for row in rows]

    def volunteers(self, actor: str) -> list[Volunteer]:
        """Everyone on the register, flagged volunteers first (then by name)."""
        with self._changing() as db:
            found = self._volunteers(db)
            self._audit(db, actor, "list", str(len(found)))
        return sorted(found, key=lambda v: not v.flags)

    def get(self, volunteer_id: int, actor: str) -> Volunteer:
        with self._changing() as db:
            found = self._volunteers(db, volunteers.c.id == volunteer_id)
            self._audit(db, actor, "read", str(volunteer_id))
        if not found:
            raise UsageError(f"no volunteer {volunteer_id} in the register", code="not_found")
        return found[0]

    def find(self, certificate_number: str, actor: str) -> Volunteer | None:
        """Look a volunteer up by DBS certificate number (an in-person check)."""
        with self._changing() as db:
            found = self._volunteers(db, volunteers.c.certificate_number == certificate_number)
            self._audit(db, actor, "lookup", str(found[0].id) if found else "none")
        return found[0] if found else None

    def export_csv(self, actor: str) -> str:
        """The register for the safeguarding lead, flagged first, one row per volunteer."""
        with self._changing() as db:
            found = sorted(self._volunteers(db), key=lambda v: not v.flags)
            self._audit(db, actor, "export", str(len(found)))
        out = io.StringIO()
        writer = csv.writer(out)
        columns = ["id", "given_name", "family_name", "birth_date", "dbs_level", "workforce", "certificate_number",
                   "dbs_issue_date", "training_level", "training_renewal", "checked_at", "checked_how", "left_on"]
        writer.writerow([*columns, "flags", "rechecked_at"])
        for v in found:
            cells = [getattr(v, c) for c in columns] + ["; ".join(v.flags), v.rechecked_at]
            writer.writerow([_csv_safe("" if c is None else str(c)) for c in cells])
        return out.getvalue()

    def audit_log(self, actor: str, limit: int = 100) -> list[dict[str, Any]]:
        with self._changing() as db:
            rows = db.execute(select(audit).order_by(audit.c.id.desc()).limit(limit)).mappings().all()
            self._audit(db, actor, "audit_read", str(len(rows)))
        return [dict(row) | {"at": _utc(row["at"])} for row in rows]

    def close(self) -> None:
        self.engine.dispose()


def _secure_delete(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def _utc(moment: dt.datetime | None) -> dt.datetime | None:
    """SQLite gives naive datetimes back: they were stored in UTC."""
    return moment.replace(tzinfo=dt.UTC) if moment is not None and moment.tzinfo is None else moment


def _csv_safe(cell: str) -> str:
    """A cell a spreadsheet will not run as a formula (OWASP CSV injection)."""
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell


def dumps(volunteer: Volunteer) -> str:
    """One volunteer as JSON, for the command line."""
    return json.dumps({k: v for k, v in volunteer.__dict__.items() if k != "credentials"}, default=str)

