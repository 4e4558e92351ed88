"""How the issuer service uses its database connections: a statement run on its own needs no transaction of
its own on PostgreSQL, and a pooled connection is pinged only after it has rested, yet a connection that died
meanwhile is replaced (a real PostgreSQL server, real connections killed; the rest measured on a clock the
tests move by hand)."""

from __future__ import annotations

import datetime as dt
import os
import secrets
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import event, literal, select, text
from sqlalchemy.exc import OperationalError

from issuer_service import models, queries

POSTGRES = os.environ.get("DIDLIB_TEST_POSTGRES")
needs_postgres = pytest.mark.skipif(not POSTGRES, reason="set DIDLIB_TEST_POSTGRES (make test-postgres)")


class Clock:
    """What ``models`` reads as ``time.monotonic``, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


class Postgres:
    """An engine on the test server, its clock, and the pings it sent."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.clock = Clock()
        monkeypatch.setattr(models, "time", self.clock)
        self.engine = models.make_engine(str(POSTGRES))
        self.pings: list[object] = []
        ping = self.engine.dialect.do_ping

        def counted(dbapi_connection: Any) -> bool:
            self.pings.append(dbapi_connection)
            return ping(dbapi_connection)

        monkeypatch.setattr(self.engine.dialect, "do_ping", counted)

    def rest(self, seconds: float) -> None:
        self.clock.now += seconds

    def select(self, value: int) -> tuple[int, int]:
        """``select value`` on a pooled connection: the value and the server process that answered."""
        with self.engine.connect() as connection:
            return connection.execute(select(literal(value))).scalar_one(), _backend_pid(connection)


@pytest.fixture
def postgres(monkeypatch: pytest.MonkeyPatch) -> Any:
    database = Postgres(monkeypatch)
    yield database
    database.engine.dispose()


def _admin() -> psycopg.Connection[Any]:
    return psycopg.connect(str(POSTGRES).replace("postgresql+psycopg", "postgresql"), autocommit=True)


def _kill(backend_pids: set[int]) -> None:
    """Terminate these server processes (only this test's connections: other tests share the role)."""
    with _admin() as admin:
        for pid in backend_pids:
            admin.execute("select pg_terminate_backend(%s)", (pid,))


def _dbapi(connection: Any) -> Any:
    """The psycopg connection under a SQLAlchemy one."""
    return connection.connection.dbapi_connection


def _backend_pid(connection: Any) -> int:
    return int(_dbapi(connection).info.backend_pid)


def test_sqlite_keeps_its_transactions(tmp_path: Path) -> None:
    sqlite = models.make_engine(f"sqlite:///{tmp_path / 'issuer.db'}")
    try:
        assert models.one_statement(sqlite) is sqlite, "writes keep BEGIN IMMEDIATE"
        with models.one_statement(models.reading(sqlite)).connect() as connection:
            assert connection.get_execution_options()["sqlite_begin"] == "DEFERRED"
    finally:
        sqlite.dispose()


@needs_postgres
def test_a_statement_on_its_own_runs_in_autocommit_and_the_pool_takes_the_connection_back(postgres: Postgres) -> None:
    sessions = models.make_sessions(postgres.engine)
    autocommit: list[tuple[str, bool]] = []

    @event.listens_for(postgres.engine, "before_cursor_execute")
    def _executed(connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        autocommit.append((statement.split()[0], _dbapi(connection).autocommit))

    value = secrets.token_urlsafe(24)
    expires = dt.datetime.now(dt.UTC)
    sessions.write_one(queries.INSERT_NONCE, {"value": value, "purpose": "test", "expires": expires, "used": False})
    with _admin() as admin:  # committed, seen from another connection
        assert admin.execute("select purpose from nonces where value = %s", (value,)).fetchone() == ("test",)
    lookups = models.one_statement(models.reading(postgres.engine))
    assert models.read_first(lookups, select(literal(7)), {}) == (7,)
    assert autocommit == [("INSERT", True), ("SELECT", True)]
    with lookups.connect() as connection:
        connection.execute(text("select 1"))
        pid = _backend_pid(connection)
    with postgres.engine.connect() as connection:  # the same connection, back to transactions
        connection.execute(text("select 1"))
        assert _backend_pid(connection) == pid
        assert not _dbapi(connection).autocommit
        assert _dbapi(connection).info.transaction_status == psycopg.pq.TransactionStatus.INTRANS


@needs_postgres
def test_a_busy_connection_is_not_pinged_a_rested_one_is(postgres: Postgres) -> None:
    postgres.select(1)  # a new connection: alive by construction
    for _ in range(20):
        postgres.rest(models.PING_AFTER_IDLE / 2)
        postgres.select(1)
    assert postgres.pings == [], "a connection handed back less than PING_AFTER_IDLE ago is not pinged"
    postgres.rest(models.PING_AFTER_IDLE)
    postgres.select(1)
    assert len(postgres.pings) == 1, "one that rested PING_AFTER_IDLE is"


@needs_postgres
def test_a_connection_killed_while_resting_is_replaced_unseen(postgres: Postgres) -> None:
    with postgres.engine.connect() as first, postgres.engine.connect() as second:
        pids = {_backend_pid(first), _backend_pid(second)}
    _kill(pids)
    postgres.rest(models.PING_AFTER_IDLE)
    value, pid = postgres.select(2)
    assert value == 2 and pid not in pids, "the dead connection was replaced"
    assert postgres.pings, "by the ping"


@needs_postgres
def test_one_dead_connection_found_by_a_ping_retires_the_whole_pool(postgres: Postgres) -> None:
    """The server restarted: the ping of the connection that rested finds it, and the one handed back a
    moment ago is retired with it instead of failing its statement."""
    rested, recent = postgres.engine.connect(), postgres.engine.connect()
    pids = {_backend_pid(rested), _backend_pid(recent)}
    rested.close()
    postgres.rest(models.PING_AFTER_IDLE)
    recent.close()
    _kill(pids)
    with postgres.engine.connect() as first, postgres.engine.connect() as second:
        for connection in (first, second):
            assert connection.execute(text("select 3")).scalar() == 3
            assert _backend_pid(connection) not in pids


@needs_postgres
def test_a_connection_killed_in_the_resting_window_fails_one_statement_then_the_pool_recovers(
    postgres: Postgres,
) -> None:
    """The price of not pinging busy connections: the statement on it fails (the service answers a 503 with
    Retry-After), SQLAlchemy retires the pool, and what comes next connects afresh."""
    _, pid = postgres.select(1)
    _kill({pid})
    with pytest.raises(OperationalError):
        postgres.select(1)
    value, fresh = postgres.select(4)
    assert value == 4 and fresh != pid


@needs_postgres
def test_the_service_answers_503_then_recovers_when_its_connections_are_killed(tmp_path: Path) -> None:
    """Over HTTP, with the service as a real process: its server processes terminated (as a database restart
    does), each request is answered 200 or 503 with Retry-After, never a traceback, and the service works on."""
    from test_issuer_hardening import Service
    from test_issuer_service import fresh_postgres

    name = f"didlib-test-{secrets.token_hex(4)}"
    running = Service(tmp_path, backend="postgresql", DATABASE_URL=f"{fresh_postgres()}?application_name={name}")
    try:
        for _ in range(3):
            assert httpx.post(f"{running.base}/nonce").status_code == 200
        with _admin() as admin:
            killed = admin.execute("select count(pg_terminate_backend(pid)) from pg_stat_activity "
                                   "where application_name = %s", (name,)).fetchone()
        assert killed and killed[0] >= 1
        answers = [httpx.post(f"{running.base}/nonce") for _ in range(4)]
        assert all(a.status_code == 200 or (a.status_code == 503 and a.headers["retry-after"]) for a in answers)
        assert answers[-1].status_code == 200
        assert "Traceback" not in running.output()
    finally:
        running.stop()
