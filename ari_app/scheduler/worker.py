"""The worker loop: claim due attempts, run each as a call, apply its outcome; keep leases alive.

A claim round runs when something is due: a wake-up (an attempt queued, in this process or, by NOTIFY, in
another; a call of ours ended while due work waited for room), the timer to the next due attempt or to the
next lease that may run out, or the slow safety-net poll (``scheduler.safety_poll``) for what nobody
announced (``scheduler/wakeups.py``). Attempts another process announced by id are claimed by one worker,
the first by rank, while the others wait their slot (``scheduler/announced.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..calls.admins import AdminPool
from ..calls.runner import CallRunner
from ..clock import Clock
from ..domain.attempts import AttemptResult
from ..domain.outcomes import Outcome
from ..lifecycle import Lifecycle
from ..settings import CallsSettings, Settings
from ..store.claims import claim_due_attempts, next_due, release, renew_lease
from ..store.errors import describe, is_transient, retry_while_unavailable
from ..store.leg_journal import Then
from .admission import TrunkLoad, start_attempt, trunk_load
from .announced import Announced
from .pacing import Pacer
from .peers import Peers
from .recovery import Recovery
from .wakeups import DueTimer

log = logging.getLogger(__name__)

# Taken-over attempts claimed per round, whatever the free capacity (they need no new admin).
TAKEOVERS_PER_ROUND = 10
# New attempts claimed per round at most.
CLAIM_BATCH = 10
# Least wall time between two claim rounds. Every NOTIFY wakes every worker, and all but one find nothing:
# under heavy intake the rounds, not the calls, were the workers' main database load (bench/scale_out.py).
MIN_ROUND_GAP = 0.05
# Paced trunk: claimed attempts waiting for their start slot, in seconds of the trunk's pace (more would only
# wait on this worker while others have room).
PACED_CLAIM_WINDOW = 0.5
# Least wall time between two looks for calls whose owner died (leases run for minutes).
TAKEOVER_EVERY = 0.5
# Wall seconds a read of the trunk's load (every worker's running calls and their admins) serves later rounds:
# each NOTIFY wakes every worker, and all but one find nothing to claim. Our own calls are counted live; the
# database has the last word at start (``admission``), so a view this old only risks claiming in vain.
LOAD_FRESH = 0.25


def lease_seconds(calls: CallsSettings, clock: Clock) -> float:
    """How long a claim holds an attempt before another worker may take it over: business seconds, never
    less than a wall-clock floor, so a fast virtual clock can't expire a live call's lease between
    heartbeats."""
    return max(calls.lease_seconds, calls.lease_wall_floor * clock.speed)


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
        safety_poll: float | None = 10.0,  # None: a SafetyNet looks for it (wakeups.py)
        hello_every: float = 10.0,  # wall seconds between hellos to the other workers (peers.py)
        on_outcome: Callable[[int, AttemptResult], None] | None = None,
        pacer: Pacer,
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
        self.on_outcome = on_outcome
        self.can_dial = can_dial
        self.pacer = pacer  # new calls per second, trunk-wide (``make_pacer``)
        self.pool = AdminPool(settings.admins, settings.calls.admin_selection, worker=worker_id)
        self._tasks: set[asyncio.Task[None]] = set()
        self._handling: set[int] = set()
        self._starting = 0  # claimed by us, admin not chosen yet
        self._busy: frozenset[str] = frozenset()  # admins on a call, as of this round's read (every worker's)
        self._load: TrunkLoad | None = None
        self._load_read = float("-inf")  # monotonic
        self._next_takeover = 0.0  # monotonic: when to look for calls whose owner died again
        # Business time before which no lease can run out (the earliest one read, and any taken since lasts
        # a whole lease): no look for dead workers' calls until then. None: not known, look.
        self._takeover_after: datetime | None = None
        self._last_round = float("-inf")
        self._limited = False  # the last round left due work unclaimed for want of room: a call ending wakes
        self.timer = DueTimer(clock, safety_poll)
        self._woken = False  # this round was woken for work due now (the next due time is known already)
        self.announcements = Announced(
            clock,
            Peers(worker_id, hello_every),
            settings.scheduler.claim_slot,
            look=self._look,
            wake=self.timer.wake,
        )
        self._stopping = asyncio.Event()
        self.outcomes: dict[str, int] = {}

    def wake(self) -> None:
        self.timer.wake()

    def due(self, at: datetime) -> None:
        """An attempt is due at ``at``: a round then (at once if it is due already). Not for one announced
        by id whose look is planned (the safety net sees it waiting for its first worker's claim)."""
        if not self.announcements.looking(at):
            self.timer.due(at)

    def _look(self) -> None:
        """This worker's slot for an announced attempt nobody was heard claiming: a round if it has room.
        Without room it passes (the next rank claims after its slot); a call of ours ending looks again."""
        if self.can_dial() and len(self._tasks) < self.settings.calls.max_concurrent:
            self.timer.wake()
        else:
            self._limited = True

    def stop(self) -> None:
        self._stopping.set()
        self.announcements.close()
        self.timer.wake()

    def _room_made(self) -> None:
        if self._limited:
            self._limited = False
            self.timer.wake()

    @property
    def active(self) -> int:
        return len(self._tasks)

    async def run(self, *, shutdown_timeout: float = 30.0) -> None:
        # Calls this worker had in flight in a previous life: each reconciled (or re-adopted) in its own task.
        for attempt_id in await self.recovery.recover_own(self.worker_id):
            self._starting += 1
            handle = self._handle(attempt_id, taken_over=True)
            task = asyncio.create_task(handle, name=f"attempt-{attempt_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        try:
            while not self._stopping.is_set():
                gap = self._last_round + MIN_ROUND_GAP - time.monotonic()
                if gap > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), gap)
                    if self._stopping.is_set():
                        break
                self._last_round = time.monotonic()
                # Before the round: a wake-up that arrives during it leads to another round at once.
                self.timer.start_round()
                try:
                    await self._claim_and_start()
                except Exception as exc:
                    if not is_transient(exc):
                        raise
                    # The database restarting must not stop the worker: live calls go on, claims resume.
                    log.warning("claiming due attempts failed: database unavailable (%s)", describe(exc))
                self._woken = await self.timer.wait(self._stopping)
        finally:
            self.announcements.close()
            # SIGTERM: stop claiming, let live calls finish up to a bound, then cancel what is left.
            if self._tasks:
                _done, pending = await asyncio.wait(self._tasks, timeout=shutdown_timeout)
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)

    async def _claim_and_start(self) -> None:
        calls = self.settings.calls
        if not self.can_dial():
            # No ARI connection: claiming now would only turn due calls into system errors. The connection
            # wakes the worker when it is back (``Runtime``).
            return
        # Attempts whose owner died first: they hold an admin and trunk room until reconciled. Leases run for
        # minutes, so this is looked at on its own pace, not at every wake-up (which means new work).
        ids: list[int] = []
        may_have_expired = self._takeover_after is None or self.clock.now() >= self._takeover_after
        if may_have_expired and time.monotonic() >= self._next_takeover:
            self._next_takeover = time.monotonic() + TAKEOVER_EVERY
            ids = await claim_due_attempts(
                self.sessions,
                now=self.clock.now(),
                worker=self.worker_id,
                lease_seconds=lease_seconds(self.settings.calls, self.clock),
                limit=TAKEOVERS_PER_ROUND,
                only_expired=True,
            )
        # New calls: as many as this worker, the trunk (all workers) and the free admins allow. The
        # database has the last word at start (``admission``); this only avoids claiming in vain.
        if self._load is None or time.monotonic() - self._load_read > LOAD_FRESH:
            self._load, self._load_read = await trunk_load(self.sessions), time.monotonic()
        load = self._load
        self._busy = load.busy
        capacity = min(
            calls.max_concurrent - len(self._tasks),
            calls.max_concurrent - load.running,
            self.pool.free(load.busy) - self._starting,
        )
        if calls.calls_per_second > 0:
            # Paced: no more claimed attempts waiting for their start slot than one window's worth.
            capacity = min(capacity, math.ceil(calls.calls_per_second * PACED_CLAIM_WINDOW) - self._starting)
        limit = min(capacity, CLAIM_BATCH)
        new: list[int] = []
        claimed_at = self.clock.now()
        if limit > 0:
            new = await claim_due_attempts(
                self.sessions,
                now=claimed_at,
                worker=self.worker_id,
                lease_seconds=lease_seconds(self.settings.calls, self.clock),
                # A small batch per round: claimed work waits on this worker alone, so a greedy claim
                # starves the other workers (measured in bench/scale_out.py).
                limit=limit,
            )
        self.announcements.claimed(ids + new)
        if limit > 0 and len(new) < limit:
            # Every announced attempt due by then was claimed, by us or another worker (or isn't waiting).
            self.announcements.settle(claimed_at)
            # All that is due now is claimed: sleep until the next attempt is due or a lease may run out.
            # Read after the timer, the safety net or at start; a wake-up (most rounds, and every worker's
            # for each NOTIFY) keeps the time it knows, so a round that finds nothing costs no more reads.
            if not self._woken:
                read_at = self.clock.now()
                attempt_at, lease_end = await next_due(self.sessions)
                whole_lease = read_at + timedelta(seconds=lease_seconds(self.settings.calls, self.clock))
                self._takeover_after = whole_lease if lease_end is None else min(lease_end, whole_lease)
                if attempt_at is not None and not self.announcements.holds(attempt_at):
                    # (An announced one has its own look, at this worker's slot for it.)
                    self.timer.due(attempt_at)
                if lease_end is not None:
                    self.timer.due(lease_end)
        elif limit == CLAIM_BATCH:
            self.timer.wake()  # a full batch: more may be due, another round (after MIN_ROUND_GAP)
        else:
            self._limited = True  # no room now (admins, trunk, pace): a call of ours ending makes some
        taken_over = set(ids)
        for attempt_id in ids + new:
            if attempt_id in self._handling:
                continue  # our own live call whose lease looked stale: never run it twice
            self._starting += 1
            task = asyncio.create_task(
                self._handle(attempt_id, taken_over=attempt_id in taken_over), name=f"attempt-{attempt_id}"
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _handle(self, attempt_id: int, *, taken_over: bool = False) -> None:
        """Start a claimed attempt and run its call, or reconcile it if it was in flight when its worker
        stopped. ``taken_over``: claimed because its lease ran out (or ours from a previous life), so likely
        in flight: asked first, before it waits for a start slot. Any other claim learns it in the start's
        own read (a scheduled attempt has no legs; one whose lease ran out while a new claim took it may)."""
        self._handling.add(attempt_id)
        starting = True
        admin: str | None = None
        try:
            if taken_over and await retry_while_unavailable(
                lambda: self.recovery.needs_reconcile(attempt_id), what=f"attempt {attempt_id}", within=10.0
            ):
                self._starting -= 1
                starting = False
                await self._reconcile(attempt_id)
                return
            try:
                await self.pacer.wait_for_slot()  # new calls per second, trunk-wide
                # This round's view of who is busy elsewhere; the database settles the rest.
                picking = self.pool.picking(busy=self._busy)
                admission = await start_attempt(
                    self.sessions,
                    self.lifecycle,
                    attempt_id,
                    picking=picking,
                    app=self.runner.app,
                    server=self.server,
                    max_concurrent=self.settings.calls.max_concurrent,
                    installation=self.runner.installation,
                )
            except Exception as exc:
                if not is_transient(exc):
                    raise  # a bug, not an outage
                # Not started (or, if the commit's answer was lost, running: then release leaves it alone). It
                # has no legs, and only we could add them: back to the queue now, not when the lease runs out.
                log.warning("attempt %s: not started, database unavailable (%s)", attempt_id, describe(exc))
                await self._give_back(attempt_id)
                return
            finally:
                self._starting -= 1
                starting = False
                self._room_made()
            if admission.why == "in_flight":
                await self._reconcile(attempt_id)
                return
            plan = admission.plan
            if plan is None:
                return
            if admission.admin_leg is not None:  # stored by the start: the admin rings without a commit first
                self.runner.journal.stored_with_start(*admission.admin_leg)
            admin = plan.admin.name  # held by the pool until the outcome is stored (busy till then)

            ending = asyncio.Event()

            def record(result: AttemptResult) -> Then:
                async def write(session: AsyncSession) -> None:  # idempotent: a done attempt is left alone
                    ending.set()
                    await self.lifecycle.attempts.finish(session, attempt_id, result)

                return write

            async with self._lease(attempt_id, ending):
                # The outcome is written with the call's last facts, in their transaction, where it can be.
                result, recorded = await self.runner.run_recorded(plan, record)

            async def finish() -> None:
                async with self.sessions.begin() as session:
                    await record(result)(session)

            if not recorded:
                # The call is over and its outcome only in memory: wait out a database restart to record it.
                await retry_while_unavailable(finish, what=f"attempt {attempt_id} outcome")
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
            if starting:
                self._starting -= 1
            if admin is not None:
                self.pool.release(admin)
            self._handling.discard(attempt_id)
            self._room_made()

    async def _reconcile(self, attempt_id: int) -> None:
        """In flight when its worker stopped: reconcile with Asterisk (a bridged call is re-adopted and may
        last), never dial again."""
        async with self._lease(attempt_id):
            await self.recovery.reconcile(attempt_id)

    async def _give_back(self, attempt_id: int) -> None:
        async def give_back() -> None:
            await release(self.sessions, attempt_id, worker=self.worker_id, now=self.clock.now())

        try:
            await retry_while_unavailable(give_back, what=f"attempt {attempt_id} release", within=10.0)
        except Exception as exc:
            if not is_transient(exc):
                raise
            # still ours until the lease runs out; then any worker takes it over

    @contextlib.asynccontextmanager
    async def _lease(self, attempt_id: int, ending: asyncio.Event | None = None):  # type: ignore[no-untyped-def]
        """Keep the attempt's lease alive while the block runs. ``ending``: set once its outcome is being
        written (inside the block): a renewal refused from then on means done, not taken over."""

        async def heartbeat() -> None:
            lease = lease_seconds(self.settings.calls, self.clock)
            while True:
                await self.clock.sleep(lease / 3)
                try:
                    ok = await renew_lease(
                        self.sessions,
                        attempt_id,
                        worker=self.worker_id,
                        now=self.clock.now(),
                        lease_seconds=lease,
                    )
                except Exception as exc:
                    if not is_transient(exc):
                        raise
                    # Try again next beat; the lease has two more beats of margin.
                    log.warning("attempt %s: lease renewal failed (%s)", attempt_id, describe(exc))
                    continue
                if not ok:
                    if ending is None or not ending.is_set():
                        log.error("attempt %s: lease lost to another worker", attempt_id)
                    return

        task = asyncio.create_task(heartbeat(), name=f"lease-{attempt_id}")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
