"""How the issuer service uses its database connections: a block of one statement runs without a
transaction of its own on PostgreSQL, and a pooled connection is pinged only after it has rested, yet a
connection that died meanwhile is replaced (a real PostgreSQL server, real connections killed)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from issuer_service import models

POSTGRES = os.environ.get("DIDLIB_TEST_POSTGRES")
needs_postgres = pytest.mark.skipif(not POSTGRES, reason="set DIDLIB_TEST_POSTGRES (make test-postgres)")


@pytest.fixture
def postgres(monkeypatch: pytest.MonkeyPatch) -> Any:
    """An engine on the test server whose connections rest 0.5 s before they are pinged, and a count of
    the pings."""
    monkeypatch.setattr(models, "PING_AFTER_IDLE", 0.5)
    engine = models.make_engine(str(POSTGRES))
    pings: list[object] = []
    ping = engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        pings.append(dbapi_connection)
        return ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    yield engine, pings
    engine.dispose()


def _kill(backend_pids: set[int]) -> None:
    """Terminate these server processes (only this test's connections: other tests share the role)."""
    with psycopg.connect(str(POSTGRES).replace("postgresql+psycopg", "postgresql"), autocommit=True) as admin:
        for pid in backend_pids:
            admin.execute("select pg_terminate_backend(%s)", (pid,))


def _dbapi(connection: Any) -> Any:
    """The psycopg connection under a SQLAlchemy one."""
    return connection.connection.dbapi_connection


def _backend_pid(connection: Any) -> int:
    return int(_dbapi(connection).info.backend_pid)


def test_one_statement_blocks_run_in_autocommit_on_postgresql_only(tmp_path: Path) -> None:
    sqlite = models.make_engine(f"sqlite:///{tmp_path / 'issuer.db'}")
    assert models.one_statement(sqlite) is sqlite, "SQLite keeps its transactions (BEGIN IMMEDIATE for writes)"
    with models.reading(sqlite, single=True).connect() as connection:
        assert connection.get_execution_options()["sqlite_begin"] == "DEFERRED"
    if POSTGRES:
        engine = models.make_engine(POSTGRES)
        try:
            with models.one_statement(engine).connect() as connection:
                connection.execute(text("select 1"))
                assert _dbapi(connection).autocommit
            with engine.connect() as connection:  # handed back to the pool, it begins transactions again
                connection.execute(text("select 1"))
                assert not _dbapi(connection).autocommit
                assert _dbapi(connection).info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        finally:
            engine.dispose()


@needs_postgres
def test_a_busy_connection_is_not_pinged_a_rested_one_is(postgres: Any) -> None:
    engine, pings = postgres
    with engine.connect() as connection:  # a new connection: alive by construction
        connection.execute(text("select 1"))
    for _ in range(20):
        with engine.connect() as connection:
            connection.execute(text("select 1"))
    assert pings == [], "a connection handed back milliseconds ago is not pinged"
    time.sleep(0.6)
    with engine.connect() as connection:
        connection.execute(text("select 1"))
    assert len(pings) == 1, "one that rested past PING_AFTER_IDLE is"


@needs_postgres
def test_a_connection_killed_while_resting_is_replaced_unseen(postgres: Any) -> None:
    engine, pings = postgres
    with engine.connect() as first, engine.connect() as second:
        pids = {_backend_pid(first), _backend_pid(second)}
        first.execute(text("select 1")), second.execute(text("select 1"))
    _kill(pids)
    time.sleep(0.6)
    with engine.connect() as connection:
        assert connection.execute(text("select 2")).scalar() == 2
        assert _backend_pid(connection) not in pids, "the dead connection was replaced"
    assert pings, "the replacement came from the ping"


@needs_postgres
def test_a_connection_killed_in_the_resting_window_fails_one_statement_then_the_pool_recovers(postgres: Any) -> None:
    """The price of not pinging busy connections: one statement fails (the service answers it with a 503
    and Retry-After), SQLAlchemy discards the pool, and what comes next connects afresh."""
    engine, _ = postgres
    with engine.connect() as connection:
        connection.execute(text("select 1"))
        pid = _backend_pid(connection)
    _kill({pid})
    with pytest.raises(OperationalError), engine.connect() as connection:
        connection.execute(text("select 1"))
    with engine.connect() as connection:
        assert connection.execute(text("select 3")).scalar() == 3
        assert _backend_pid(connection) != pid
