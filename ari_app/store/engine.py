"""Engine and session factory for SQLite (embedded, one worker) and PostgreSQL (production, many workers)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import StaticPool

from ..settings import DatabaseSettings
from . import sqlite_driver
from .queued import OnCommit, QueueingSession, Topic, session_info

SQLITE_BUSY_TIMEOUT_MS = 30_000
PG_CONNECT_TIMEOUT_S = 10.0


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine for ``sqlite+aiosqlite:///path`` or ``postgresql+asyncpg://...``.

    SQLite gets WAL (readers don't block the writer), foreign keys ON (off by default there) and a busy
    timeout, so concurrent writers wait for the lock instead of failing at once.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        memory = parsed.database in (None, "", ":memory:")
        if memory:
            # One shared connection, or every connection would see its own empty database.
            kwargs.setdefault("poolclass", StaticPool)
        elif "poolclass" not in kwargs:
            # One connection: SQLite lets one writer in at a time anyway, and writers on several connections
            # wait for its lock in a busy handler that sleeps up to 100 ms a turn (measured: p99 1.5 s with 16
            # requests in flight; 0.24 s, plain queueing, with one connection). Sessions queue for it instead.
            kwargs.setdefault("pool_size", 1)
            kwargs.setdefault("max_overflow", 0)
        one_trip = sqlite_driver.dbapi()
        if one_trip is not None:  # one hand-off to aiosqlite's thread per statement instead of 3-4
            kwargs.setdefault("module", one_trip)
        connect_args = kwargs.setdefault("connect_args", {})
        connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
        engine = create_async_engine(url, **kwargs)
        _configure_sqlite(engine, wal=not memory)
        return engine
    if parsed.get_backend_name() == "postgresql":
        kwargs.setdefault("connect_args", {}).setdefault("timeout", PG_CONNECT_TIMEOUT_S)
        # No pool_pre_ping: asyncpg's ping is BEGIN, ";", ROLLBACK, three round trips on every checkout
        # (a third of a busy worker's database time in bench/scale_out.py). A restarted server closes our
        # sockets, which asyncpg notices on its own; such a connection is swapped at checkout for free, and
        # any other dead one fails once, which invalidates the whole pool.
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "checkout", _swap_closed_connection)
        return engine
    raise ValueError(
        f"unsupported database URL scheme {parsed.drivername!r}: use sqlite+aiosqlite or postgresql+asyncpg"
    )


def _configure_sqlite(engine: AsyncEngine, *, wal: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            if wal:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")  # durable enough with WAL, much cheaper
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()


def engine_for(database: DatabaseSettings) -> AsyncEngine:
    """The engine a long-running process (worker, server) uses, pooled as configured."""
    if make_url(database.url).get_backend_name() == "postgresql":
        return make_engine(database.url, pool_size=database.pool_size, max_overflow=database.max_overflow)
    return make_engine(database.url)


def _swap_closed_connection(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("the server closed this connection")  # the pool retries with a new one


async def one_statement(session: AsyncSession) -> None:
    """Call first in a session whose work is a single statement (atomic on its own): on PostgreSQL it then
    runs in autocommit, one round trip, where BEGIN and COMMIT (or ROLLBACK) would add two, each a socket
    write and a wake-up on both sides (bench/README.md, issue 17). Nothing marked for commit
    (``store/queued.mark``) is sent from such a session; SQLite is left as it is."""
    if session.get_bind().dialect.name == "postgresql":
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


def make_sessionmaker(
    engine: AsyncEngine, *, on_commit: OnCommit | None = None, notify: Collection[Topic] | None = None
) -> async_sessionmaker[AsyncSession]:
    """Sessions that report what a committed transaction queued to ``on_commit`` and NOTIFY ``notify``'s
    topics (``store/queued.py``). By default, on PostgreSQL, attempts made due are announced to every
    worker, whichever program commits them (a web process, a command, a test)."""
    if notify is None:
        notify = (Topic.ATTEMPTS,) if engine.dialect.name == "postgresql" else ()
    return async_sessionmaker(
        engine,
        expire_on_commit=False,
        sync_session_class=QueueingSession,
        info=session_info(on_commit, notify),
    )
