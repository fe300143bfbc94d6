"""Which database errors mean the database is away for a moment (tried again) and which are a bug (raised at
once), each provoked for real on SQLite and on PostgreSQL through the engine the service uses."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest
from dbfixtures import PG_TIMEOUT_S, private_pg_database, sqlite_url
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ari_app.store import make_engine
from ari_app.store.errors import is_transient, retry_while_unavailable


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(db_url)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE item (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)"))
        await conn.execute(text("INSERT INTO item (id, n) VALUES (1, 0)"))
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def pg_engine() -> AsyncIterator[AsyncEngine]:
    async with private_pg_database() as url:
        engine = make_engine(url)
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE item (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)"))
            await conn.execute(text("INSERT INTO item (id, n) VALUES (1, 0)"))
        try:
            yield engine
        finally:
            await engine.dispose()


async def raised(run: Callable[[], Awaitable[object]]) -> BaseException:
    try:
        await run()
    except Exception as exc:
        return exc
    raise AssertionError("no error was raised")


async def in_transaction(engine: AsyncEngine, sql: str) -> BaseException:
    async def run() -> None:
        async with engine.begin() as conn:
            await conn.execute(text(sql))

    return await raised(run)


async def test_a_constraint_violation_is_not_transient(engine: AsyncEngine) -> None:
    duplicate = await in_transaction(engine, "INSERT INTO item (id, n) VALUES (1, 1)")
    null = await in_transaction(engine, "INSERT INTO item (id, n) VALUES (2, NULL)")

    assert isinstance(duplicate, IntegrityError) and isinstance(null, IntegrityError)
    assert not is_transient(duplicate)
    assert not is_transient(null)


async def test_a_broken_statement_is_not_transient_though_sqlite_calls_it_operational(
    engine: AsyncEngine,
) -> None:
    missing = await in_transaction(engine, "SELECT * FROM no_such_table")
    syntax = await in_transaction(engine, "SELEC 1")

    assert not is_transient(missing)
    assert not is_transient(syntax)
    if engine.dialect.name == "sqlite":  # the reason the class alone cannot decide
        assert isinstance(missing, OperationalError) and isinstance(syntax, OperationalError)


@pytest.mark.postgres  # SQLite has no data errors: 1/0 is NULL, 'x' is stored in an INTEGER column
async def test_bad_data_is_not_transient(pg_engine: AsyncEngine) -> None:
    assert not is_transient(await in_transaction(pg_engine, "SELECT 1 / 0"))
    assert not is_transient(await in_transaction(pg_engine, "SELECT CAST('x' AS integer)"))


async def test_a_constraint_violation_is_raised_at_once_not_retried(engine: AsyncEngine) -> None:
    tries = 0

    async def insert_duplicate() -> None:
        nonlocal tries
        tries += 1
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO item (id, n) VALUES (1, 1)"))

    started = time.monotonic()
    with pytest.raises(IntegrityError):
        await retry_while_unavailable(insert_duplicate, what="test", within=30.0)

    assert tries == 1
    assert time.monotonic() - started < 5.0


async def test_no_free_connection_in_the_pool_is_transient(db_url: str) -> None:
    engine = make_engine(db_url, pool_size=1, max_overflow=0, pool_timeout=0.1)
    try:
        async with engine.connect() as held:
            await held.execute(text("SELECT 1"))
            exhausted = await raised(engine.connect)
    finally:
        await engine.dispose()

    assert is_transient(exhausted)


@pytest.mark.postgres
async def test_a_server_nobody_listens_on_is_transient(pg_engine: AsyncEngine) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nobody listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    engine = make_engine(pg_engine.url.set(port=port).render_as_string(hide_password=False))
    try:
        refused = await raised(engine.connect)
    finally:
        await engine.dispose()

    assert is_transient(refused)


@pytest.mark.postgres
async def test_a_connection_the_server_terminated_is_transient(pg_engine: AsyncEngine) -> None:
    async with pg_engine.connect() as conn:
        pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        dsn = pg_engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        admin = await asyncpg.connect(dsn, timeout=PG_TIMEOUT_S)
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin.close(timeout=PG_TIMEOUT_S)
        dropped = await raised(lambda: conn.execute(text("SELECT 1")))

    assert is_transient(dropped)


async def two_connections(engine: AsyncEngine) -> tuple[AsyncConnection, AsyncConnection]:
    return await engine.connect(), await engine.connect()


@pytest.mark.postgres
async def test_a_row_locked_by_another_transaction_is_transient(pg_engine: AsyncEngine) -> None:
    holder, waiter = await two_connections(pg_engine)
    try:
        await holder.begin()
        await holder.execute(text("SELECT n FROM item WHERE id = 1 FOR UPDATE"))
        await waiter.begin()
        nowait = text("SELECT n FROM item WHERE id = 1 FOR UPDATE NOWAIT")
        locked = await raised(lambda: waiter.execute(nowait))
    finally:
        await waiter.close()
        await holder.close()

    assert getattr(getattr(locked, "orig", None), "sqlstate", None) == "55P03"
    assert is_transient(locked)


@pytest.mark.postgres
async def test_a_serialization_failure_is_transient(pg_engine: AsyncEngine) -> None:
    first, second = await two_connections(pg_engine)
    try:
        await first.execution_options(isolation_level="REPEATABLE READ")
        await first.begin()
        await first.execute(text("SELECT n FROM item WHERE id = 1"))  # the snapshot is taken here
        async with second.begin():
            await second.execute(text("UPDATE item SET n = n + 1 WHERE id = 1"))
        conflict = await raised(lambda: first.execute(text("UPDATE item SET n = n + 1 WHERE id = 1")))
    finally:
        await second.close()
        await first.close()

    assert getattr(getattr(conflict, "orig", None), "sqlstate", None) == "40001"
    assert is_transient(conflict)


async def test_a_sqlite_file_another_process_has_locked_is_transient_and_waited_out(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "locked.db")
    engine = make_engine(url)
    other = sqlite3.connect(tmp_path / "locked.db", isolation_level=None)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE item (id INTEGER PRIMARY KEY)"))
        other.execute("BEGIN EXCLUSIVE")  # another process writing, for longer than our busy timeout
        tries = 0

        async def insert() -> None:
            nonlocal tries
            tries += 1
            async with engine.begin() as conn:
                await conn.exec_driver_sql("PRAGMA busy_timeout=50")
                await conn.execute(text("INSERT INTO item (id) VALUES (:id)"), {"id": tries})

        locked = await raised(insert)
        assert is_transient(locked)

        asyncio.get_running_loop().call_later(0.3, other.execute, "COMMIT")
        await retry_while_unavailable(insert, what="test", within=10.0)
        assert tries > 2  # refused while locked, stored once the lock was gone
    finally:
        other.close()
        await engine.dispose()


async def test_a_closed_sqlite_connection_is_transient(tmp_path: Path) -> None:
    engine = make_engine(sqlite_url(tmp_path / "closed.db"))
    try:
        async with engine.connect() as conn:
            raw = await conn.get_raw_connection()
            await raw.driver_connection.close()  # type: ignore[union-attr]
            closed = await raised(lambda: conn.execute(text("SELECT 1")))
    finally:
        await engine.dispose()

    assert is_transient(closed)
