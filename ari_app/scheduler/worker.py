"""The worker loop: claim due attempts, run each as a call, apply its outcome; keep leases alive.

Polling the store is the guarantee; ``wake()`` only shortens the wait when something new was queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..calls.admins import AdminPool
from ..calls.attempt import AttemptResult, CallRunner
from ..clock import Clock
from ..domain.outcomes import Outcome
from ..lifecycle import Lifecycle
from ..settings import Settings
from ..store.claims import claim_due_attempts, renew_lease
from .recovery import Recovery

log = logging.getLogger(__name__)

# How long a claim holds an attempt before another worker may take it over: business seconds, but never
# less than a wall-clock floor, so a fast virtual clock can't expire a live call's lease between heartbeats.
LEASE_SECONDS = 120.0
LEASE_WALL_FLOOR = 30.0


def lease_seconds(clock: Clock) -> float:
    return max(LEASE_SECONDS, LEASE_WALL_FLOOR * clock.speed)


class Worker:
    def __init__(
        self,
        *,
        settings: Settings,
        clock: Clock,
        sessions: async_sessionmaker[AsyncSession],
        lifecycle: Lifecycle,
        runner: CallRunner,
        recovery: Recovery,
        worker_id: str,
        server: str,
        poll_interval: float = 0.5,
        on_outcome: Callable[[int, AttemptResult], None] | None = None,
        can_dial: Callable[[], bool] = lambda: True,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.sessions = sessions
        self.lifecycle = lifecycle
        self.runner = runner
        self.recovery = recovery
        self.worker_id = worker_id
        self.server = server
        self.poll_interval = poll_interval
        self.on_outcome = on_outcome
        self.can_dial = can_dial
        self.pool = AdminPool(settings.admins, settings.calls.admin_selection)
        self._tasks: set[asyncio.Task[None]] = set()
        self._handling: set[int] = set()
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._last_start = 0.0
        self.outcomes: dict[str, int] = {}

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    @property
    def active(self) -> int:
        return len(self._tasks)

    async def run(self, *, shutdown_timeout: float = 30.0) -> None:
        await self.recovery.recover_own(self.worker_id)
        try:
            while not self._stopping.is_set():
                await self._claim_and_start()
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval)
        finally:
            # SIGTERM: stop claiming, let live calls finish up to a bound, then cancel what is left.
            if self._tasks:
                _done, pending = await asyncio.wait(self._tasks, timeout=shutdown_timeout)
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)

    async def _claim_and_start(self) -> None:
        calls = self.settings.calls
        if not self.can_dial():
            return  # no ARI connection: claiming now would only turn due calls into system errors
        capacity = min(calls.max_concurrent - len(self._tasks), self.pool.free())
        if capacity <= 0:
            return
        ids = await claim_due_attempts(
            self.sessions,
            now=self.clock.now(),
            worker=self.worker_id,
            lease_seconds=lease_seconds(self.clock),
            limit=capacity,
        )
        for attempt_id in ids:
            if attempt_id in self._handling:
                continue  # our own live call whose lease looked stale: never run it twice
            await self._pace()
            task = asyncio.create_task(self._handle(attempt_id), name=f"attempt-{attempt_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pace(self) -> None:
        """At most ``calls_per_second`` new calls (wall time: it protects the trunk, not the schedule)."""
        rate = self.settings.calls.calls_per_second
        if rate <= 0:
            return
        gap = 1.0 / rate - (time.monotonic() - self._last_start)
        if gap > 0:
            await asyncio.sleep(gap)
        self._last_start = time.monotonic()

    async def _handle(self, attempt_id: int) -> None:
        self._handling.add(attempt_id)
        try:
            if await self.recovery.needs_reconcile(attempt_id):
                # Taken over from a worker that died mid-call: reconcile with Asterisk, never dial again.
                await self.recovery.reconcile(attempt_id)
                return
            admin = self.pool.acquire(avoid=await self.recovery.previous_admin(attempt_id))
            if admin is None:
                async with self.sessions.begin() as session:
                    await self.lifecycle.requeue_unstarted(session, attempt_id, 5.0, "no admin free")
                return
            try:
                async with self.sessions.begin() as session:
                    plan = await self.lifecycle.begin_attempt(
                        session, attempt_id, admin=admin, app=self.runner.app, server=self.server
                    )
                if plan is None:
                    return
                async with self._lease(attempt_id):
                    result = await self.runner.run(plan)
            finally:
                self.pool.release(admin.name)
            async with self.sessions.begin() as session:
                await self.lifecycle.finish_attempt(session, attempt_id, result)
            self.outcomes[result.outcome.value] = self.outcomes.get(result.outcome.value, 0) + 1
            if self.on_outcome is not None:
                self.on_outcome(attempt_id, result)
        except asyncio.CancelledError:
            raise
        except Exception:
            # A bug must not take the worker down; the lease lapses and recovery reconciles the attempt.
            log.exception("attempt %s failed unexpectedly", attempt_id)
            self.outcomes[Outcome.SYSTEM_ERROR.value] = self.outcomes.get(Outcome.SYSTEM_ERROR.value, 0) + 1
        finally:
            self._handling.discard(attempt_id)

    @contextlib.asynccontextmanager
    async def _lease(self, attempt_id: int):  # type: ignore[no-untyped-def]
        async def heartbeat() -> None:
            lease = lease_seconds(self.clock)
            while True:
                await self.clock.sleep(lease / 3)
                ok = await renew_lease(
                    self.sessions,
                    attempt_id,
                    worker=self.worker_id,
                    now=self.clock.now(),
                    lease_seconds=lease,
                )
                if not ok:
                    log.error("attempt %s: lease lost to another worker", attempt_id)
                    return

        task = asyncio.create_task(heartbeat(), name=f"lease-{attempt_id}")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
