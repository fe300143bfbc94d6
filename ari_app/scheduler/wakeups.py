"""When the worker and the senders look at the store: woken at once, at the next due row, or after a slow
safety-net poll.

Every loop (worker, SMS sender, webhook sender) waits on a ``DueTimer``: ``wake()`` when something is due
now, ``due(at)`` for a row due later (one timer, to the earliest), and the safety net (``scheduler.
safety_poll``, >= 5 s) for what nobody announced. A commit that queued something tells its own process
(``store/queued.py``); on PostgreSQL it also NOTIFYs, inside its transaction, the attempts it made due
(payload: the due time, and their ids when known), and every worker LISTENs; a claim NOTIFYs its worker and
the ids it took (``callback_claimed``), and each worker says hello (``callback_workers``) on connecting and
every ``scheduler.safety_poll`` seconds, so only one worker claims an announced attempt (``announced.py``,
``peers.py``). A lost notification (listener reconnecting, database restart) only costs one safety-net poll,
or a claim round in vain, so every failure here is logged and otherwise ignored.

SMS and webhooks need no NOTIFY: every process that can queue them (``serve``, ``worker``) runs its own
senders, and a NOTIFY would wake every process's sender to race for the same row.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..clock import Clock
from ..store.errors import describe, is_transient
from ..store.queued import (
    CLAIMED_CHANNEL,
    WORKERS_CHANNEL,
    Queued,
    Topic,
    channel,
    earliest_due,
    read_attempts_payload,
    read_claimed_payload,
)
from .announced import Announced

log = logging.getLogger(__name__)

CHANNEL = channel(Topic.ATTEMPTS)
TIMEOUT_S = 5.0  # one connect, one health check (wall time)
RECONNECT_S = 2.0  # between listener connection attempts
HEALTH_EVERY_S = 30.0  # a silent, half-open connection is found by a query, not by waiting


def listen_dsn(database_url: str) -> str | None:
    """The asyncpg DSN for a SQLAlchemy URL, or None where there is nothing to listen to (SQLite)."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        return None
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class WakeupListener:
    """One dedicated connection (a pooled one would be lost to the pool) that LISTENs and calls
    ``on_wake`` for every notification; it reconnects after a failure and wakes once on every (re)connect,
    since notifications sent while it was away are gone. With ``announcements`` (a worker's), attempts
    announced by id and the claims that took them go there instead, and it says hello to the other workers
    on connecting and every ``peers.every`` seconds (the hello is its health check), and goodbye at stop."""

    def __init__(
        self,
        dsn: str,
        on_wake: Callable[[], None],
        on_due: Callable[[datetime], None] | None = None,
        announcements: Announced | None = None,
    ) -> None:
        self.dsn = dsn
        self.on_wake = on_wake
        self.on_due = on_due
        self.announcements = announcements
        self.listening = asyncio.Event()
        self._hello = asyncio.Event()  # say hello now (a worker we did not count alive said hello)

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        due, ids = read_attempts_payload(payload)
        if due is None or self.on_due is None:
            self.on_wake()  # no due time (an older sender, or a bare NOTIFY): look now
        elif ids and self.announcements is not None:
            self.announcements.announced(due, ids)
        else:
            self.on_due(due)

    def _claimed(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        if self.announcements is not None:
            worker, ids = read_claimed_payload(payload)
            self.announcements.claimed(ids, worker)

    def _worker(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        if self.announcements is None or len(payload) < 2:
            return
        peers = self.announcements.peers
        if payload[0] == "+" and peers.heard(payload[1:]):
            self._hello.set()  # a new worker: it learns of us now rather than at our next hello
        elif payload[0] == "-":
            peers.gone(payload[1:])

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
        if self.announcements is None:
            self.listening.set()
            self.on_wake()
            while not stop.is_set() and not lost.is_set():
                await _wait(stop, HEALTH_EVERY_S, lost)
                if not stop.is_set() and not lost.is_set():
                    await conn.execute("SELECT 1", timeout=TIMEOUT_S)
            return
        me = self.announcements.peers.me
        await conn.add_listener(CLAIMED_CHANNEL, self._claimed)
        await conn.add_listener(WORKERS_CHANNEL, self._worker)
        self.listening.set()
        self.on_wake()
        every = min(HEALTH_EVERY_S, self.announcements.peers.every)
        while not stop.is_set() and not lost.is_set():
            self._hello.clear()
            await conn.execute("SELECT pg_notify($1, $2)", WORKERS_CHANNEL, f"+{me}", timeout=TIMEOUT_S)
            await _wait(stop, every, lost, self._hello)
        if not lost.is_set():  # stopping: the others rank without us from now on
            await conn.execute("SELECT pg_notify($1, $2)", WORKERS_CHANNEL, f"-{me}", timeout=TIMEOUT_S)


class DueTimer:
    """What a loop waits for between two looks at the store: ``wake()`` (look now), the earliest time given
    to ``due()`` (business time, on ``clock``), or ``safety_poll`` wall seconds, whichever comes first
    (None: no poll of its own; a ``SafetyNet`` calls ``due()`` for it).

    ``start_round()`` before each look. ``wait()`` says whether it ended on ``wake()``: then the look was
    for rows due now, and the loop need not read the next due time again (a known future one is kept);
    after the timer or the safety net it reads it, so a stale timer corrects itself."""

    def __init__(self, clock: Clock, safety_poll: float | None) -> None:
        self.clock = clock
        self.safety_poll = safety_poll
        self._changed = asyncio.Event()
        self._woken = False
        self._next: datetime | None = None

    def wake(self) -> None:
        self._woken = True
        self._changed.set()

    def due(self, at: datetime) -> None:
        if at <= self.clock.now():
            self.wake()
        elif self._next is None or at < self._next:
            self._next = at
            self._changed.set()

    def start_round(self) -> None:
        self._woken = False
        if self._next is not None and self._next <= self.clock.now():
            self._next = None  # reached: this round looks at it

    async def wait(self, stop: asyncio.Event) -> bool:
        """True when woken by ``wake()``; False after the timer, the safety net or ``stop``."""
        deadline = None if self.safety_poll is None else time.monotonic() + self.safety_poll
        while not stop.is_set():
            if self._woken:
                return True
            left = None if deadline is None else deadline - time.monotonic()
            if self._next is not None:
                # A millisecond late rather than early: early, the look finds the row not yet due.
                until_next = (self._next - self.clock.now()).total_seconds() / self.clock.speed + 0.001
                left = until_next if left is None else min(left, until_next)
            if left is not None and left <= 0:
                return False
            self._changed.clear()
            await _wait(stop, left, self._changed)
        return False


class SafetyNet:
    """One look at the store every ``every`` wall seconds for all of a process's loops: the earliest due
    attempt (or lease that may run out), SMS and webhook delivery, each handed to ``on_due`` (the loops'
    ``due()``). It catches what no wake-up announced (a lost NOTIFY, a row written by another program) with
    one read, where a poll per loop cost seven statements (bench/idle.py)."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], every: float, on_due: Callable[[Queued], None]
    ) -> None:
        self.sessions = sessions
        self.every = every
        self.on_due = on_due

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await _wait(stop, self.every)
            if stop.is_set():
                return
            try:
                due = await earliest_due(self.sessions)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                log.warning("safety-net look at the store failed: database unavailable (%s)", describe(exc))
                continue
            if due:
                self.on_due(due)


async def _wait(stop: asyncio.Event, seconds: float | None, *also: asyncio.Event) -> None:
    """Sleep up to ``seconds`` (None: no limit); return early when ``stop`` (or one of ``also``) is set."""
    waits = [asyncio.ensure_future(e.wait()) for e in (stop, *also)]
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
