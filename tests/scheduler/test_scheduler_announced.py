"""On PostgreSQL an attempt announced by id is claimed by one worker, not by every worker that heard of it:
the others wait a short delay and, having heard the claim (``callback_claimed``), run no claim transaction.
Several workers (real runtimes, each with its own engine and listener) share one database; claim
transactions are counted per worker by their lease owner."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event, select
from sqlalchemy.engine import Engine
from test_scheduler_wakeups import attempt_of, settings, submit

from ari_app.app import Runtime
from ari_app.clock import RealClock
from ari_app.scheduler.wakeups import listen_dsn
from ari_app.simulator.server import SimulatorServer
from ari_app.sms.console import ConsoleGateway
from ari_app.store.claims import claim_due_attempts
from ari_app.store.models import Attempt
from ari_app.store.queued import attempts_payload, read_attempts_payload

POLL_S = 30.0  # no safety-net look during a test: only announcements start claim rounds
WORKERS = ("ann-a", "ann-b", "ann-c")


class ClaimCounter:
    """Claim transactions for new work (not take-overs) per worker, from the statements sent to any engine."""

    def __init__(self) -> None:
        self.by_worker: Counter[str] = Counter()

    def __call__(self, _conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        values = list(params.values()) if isinstance(params, dict) else list(params or ())
        if "SKIP LOCKED" in statement and "scheduled" in values:
            for worker in WORKERS:
                if worker in values:
                    self.by_worker[worker] += 1

    @property
    def total(self) -> int:
        return sum(self.by_worker.values())


@pytest.fixture
def claims() -> Any:
    counter = ClaimCounter()
    event.listen(Engine, "before_cursor_execute", counter)
    yield counter
    event.remove(Engine, "before_cursor_execute", counter)


@contextlib.asynccontextmanager
async def cluster(
    db_url: str, first_call_delay: float = 0.0, no_room: tuple[str, ...] = ()
) -> AsyncIterator[tuple[list[Runtime], Runtime]]:
    """Three worker runtimes listening, and an intake runtime without a worker (its commits only NOTIFY).
    The workers named in ``no_room`` may run no call at all (``calls.max_concurrent`` 0)."""
    async with SimulatorServer(port=0, speed=20.0) as sim:

        def runtime(app: str, *, worker: bool) -> Runtime:
            s = settings(db_url, sim.base_url, app)
            s.calendar.first_call_delay = first_call_delay
            if app in no_room:
                s.calls.max_concurrent = 0
            return Runtime(
                s,
                RealClock(),
                run_web=False,
                run_worker=worker,
                sms_gateway=ConsoleGateway(),
                safety_poll=POLL_S,
            )

        workers = [runtime(app, worker=True) for app in WORKERS]
        intake = runtime("ann-intake", worker=False)
        async with contextlib.AsyncExitStack() as stack:
            for r in (*workers, intake):
                await stack.enter_async_context(r)
            for r in workers:
                assert r.events is not None and r.wakeups is not None
                await r.events.wait_connected(10.0)
                await asyncio.wait_for(r.wakeups.listening.wait(), 10.0)
            await asyncio.sleep(0.5)  # past the start-up claim rounds
            yield workers, intake


async def claimed_attempt(intake: Runtime, request_id: int, within: float) -> Attempt:
    services = intake.services
    assert services is not None
    deadline = time.monotonic() + within
    while (a := await attempt_of(services, request_id)) is None or a.lease_owner is None:
        assert time.monotonic() < deadline, f"request {request_id}'s attempt not claimed within {within} s"
        await asyncio.sleep(0.02)
    return a


def test_the_payload_names_the_attempts_and_still_reads_without_them() -> None:
    due = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert read_attempts_payload(attempts_payload(due, [7, 3])) == (due, [3, 7])
    assert read_attempts_payload(due.isoformat()) == (due, [])
    assert read_attempts_payload("") == (None, [])
    assert attempts_payload(due, range(1000)) == due.isoformat()  # too many to name: the due time alone


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_announced_attempts_are_each_claimed_by_one_worker(db_url: str, claims: ClaimCounter) -> None:
    async with cluster(db_url) as (_workers, intake):
        assert intake.services is not None
        claims.by_worker.clear()
        for i in range(8):
            request_id = await submit(intake.services, f"+1212555{i:04d}")
            assert (await claimed_attempt(intake, request_id, 5.0)).lease_owner in WORKERS
        # How many claim transactions that took depends on the delays' draw against the time a claim takes
        # to be heard (every worker shares one event loop here): at least one per attempt, never lost.
        assert claims.total >= 8


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_workers_that_heard_the_claim_run_no_claim_transaction(
    db_url: str, claims: ClaimCounter
) -> None:
    # Due in 2 s: every worker holds the announced id and plans its look for then.
    async with cluster(db_url, first_call_delay=2.0) as (workers, intake):
        assert intake.services is not None
        claims.by_worker.clear()
        request_id = await submit(intake.services, "+12125550001")
        attempt = await attempt_of(intake.services, request_id)
        assert attempt is not None and attempt.status == "scheduled"
        for w in workers:  # heard of, not claimed
            assert w.worker is not None
            deadline = time.monotonic() + 5.0
            while attempt.id not in w.worker.announcements.unclaimed():
                assert time.monotonic() < deadline, "the announcement never reached a worker"
                await asyncio.sleep(0.02)
        # Another worker claims it early (as of its due time), the way a worker's claim does: its statement
        # NOTIFYs callback_claimed, and every listening worker forgets the id before its look.
        assert attempt.due_at is not None
        won = await claim_due_attempts(
            intake.services.sessions, now=attempt.due_at, worker="elsewhere", lease_seconds=300, limit=1
        )
        assert won == [attempt.id]
        await asyncio.sleep(3.0)  # past the due time and every worker's delay
        assert claims.total == 0, claims.by_worker
        for w in workers:
            assert w.worker is not None and attempt.id not in w.worker.announcements.unclaimed()


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_an_announcement_made_by_another_program_is_claimed_once(
    db_url: str, claims: ClaimCounter
) -> None:
    """What bench/scale_out.py does: one statement makes written attempts due and NOTIFYs their ids; no
    claim message follows but the winner's."""
    async with cluster(db_url, first_call_delay=86400.0) as (_workers, intake):
        assert intake.services is not None
        request_id = await submit(intake.services, "+12125550002")
        async with intake.services.sessions() as session:
            attempt_id = await session.scalar(select(Attempt.id).where(Attempt.request_id == request_id))
        assert attempt_id is not None
        await asyncio.sleep(0.2)
        claims.by_worker.clear()
        dsn = listen_dsn(db_url)
        assert dsn is not None
        conn = await asyncpg.connect(dsn)
        try:
            now = datetime.now(UTC)
            await conn.execute(
                "WITH released AS (UPDATE attempts SET due_at = $2 WHERE id = ANY($1::int[])) "
                "SELECT pg_notify('callback_attempts', $3)",
                [attempt_id],
                now,
                attempts_payload(now, [attempt_id]),
            )
        finally:
            await conn.close()
        started = time.monotonic()
        taken = await claimed_attempt(intake, request_id, 5.0)
        assert time.monotonic() - started < 2.0  # the delay, not the 30 s safety net
        assert taken.lease_owner in WORKERS
        assert claims.total >= 1


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_a_worker_without_room_leaves_the_announced_attempt_to_another(
    db_url: str, claims: ClaimCounter
) -> None:
    async with cluster(db_url, no_room=WORKERS[1:]) as (workers, intake):
        assert intake.services is not None
        claims.by_worker.clear()
        request_id = await submit(intake.services, "+12125550003")
        taken = await claimed_attempt(intake, request_id, 5.0)
        assert taken.lease_owner == WORKERS[0]
        assert claims.by_worker[WORKERS[1]] == claims.by_worker[WORKERS[2]] == 0
        # They held the id until they heard of the claim.
        await asyncio.sleep(0.2)
        for w in workers[1:]:
            assert w.worker is not None and taken.id not in w.worker.announcements.unclaimed()
