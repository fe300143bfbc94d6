"""Waking workers in other processes early on PostgreSQL: NOTIFY after a commit that made an attempt due,
LISTEN in every worker. Polling stays the guarantee: a lost notification (listener reconnecting, database
restart) only costs one poll interval, so every failure here is logged and otherwise ignored.

SQLite runs one worker in the web process, where ``Services.wake`` already calls ``Worker.wake`` directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

CHANNEL = "callback_attempts"
TIMEOUT_S = 5.0  # one NOTIFY, one connect, one health check (wall time)
RECONNECT_S = 2.0  # between listener connection attempts
HEALTH_EVERY_S = 30.0  # a silent, half-open connection is found by a query, not by waiting


def listen_dsn(database_url: str) -> str | None:
    """The asyncpg DSN for a SQLAlchemy URL, or None where there is nothing to listen to (SQLite)."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        return None
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class WakeupNotifier:
    """``notify()`` is synchronous (it is called right after a commit, from request handlers); a burst of
    calls while one NOTIFY is on its way sends at most one more."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._again = False
        self._task: asyncio.Task[None] | None = None

    def notify(self) -> None:
        self._again = True
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._send(), name="notify-wakeup")

    async def _send(self) -> None:
        while self._again:
            self._again = False
            try:
                async with asyncio.timeout(TIMEOUT_S), self.engine.begin() as conn:
                    # Delivered to listeners when this transaction commits.
                    await conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})
            except (OSError, TimeoutError, SQLAlchemyError) as exc:
                log.warning("wake-up NOTIFY failed (workers will poll): %r", exc)

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._task), TIMEOUT_S)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class WakeupListener:
    """One dedicated connection (a pooled one would be lost to the pool) that LISTENs and calls
    ``on_wake`` for every notification; it reconnects after a failure and wakes once on every (re)connect,
    since notifications sent while it was away are gone."""

    def __init__(self, dsn: str, on_wake: Callable[[], None]) -> None:
        self.dsn = dsn
        self.on_wake = on_wake
        self.listening = asyncio.Event()

    def _notified(self, _conn: object, _pid: int, _channel: str, _payload: str) -> None:
        self.on_wake()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                conn = await asyncpg.connect(self.dsn, timeout=TIMEOUT_S)
            except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
                log.warning("wake-up listener can't connect (workers will poll): %r", exc)
                await _wait(stop, RECONNECT_S)
                continue
            try:
                await self._listen(conn, stop)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("wake-up listener lost its connection (reconnecting): %r", exc)
            finally:
                self.listening.clear()
                try:
                    await conn.close(timeout=TIMEOUT_S)
                except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                    conn.terminate()
            await _wait(stop, RECONNECT_S)

    async def _listen(self, conn: asyncpg.Connection, stop: asyncio.Event) -> None:
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _c: lost.set())
        await conn.add_listener(CHANNEL, self._notified)
        self.listening.set()
        self.on_wake()
        while not stop.is_set() and not lost.is_set():
            await _wait(stop, HEALTH_EVERY_S, also=lost)
            if not stop.is_set() and not lost.is_set():
                await conn.execute("SELECT 1", timeout=TIMEOUT_S)


async def _wait(stop: asyncio.Event, seconds: float, *, also: asyncio.Event | None = None) -> None:
    """Sleep up to ``seconds``; return early when ``stop`` (or ``also``) is set."""
    waits = [asyncio.ensure_future(stop.wait())]
    if also is not None:
        waits.append(asyncio.ensure_future(also.wait()))
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
