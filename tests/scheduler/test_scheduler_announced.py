"""On PostgreSQL an attempt announced by id is claimed by one worker, not by every worker that heard of it:
each worker ranks itself among the live workers it has heard (rendezvous hashing, ``scheduler/peers.py``);
the first claims at once, the others wait their slot and, having heard the claim (``callback_claimed``), run
no claim transaction. Several workers (real runtimes, each with its own engine and listener) share one
database; claim transactions are counted per worker by their lease owner. Slots are long here (a second), so
the outcome does not hang on how fast a busy event loop hears a claim."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event, select
from sqlalchemy.engine import Engine
from test_scheduler_wakeups import attempt_of, settings, submit

from ari_app.app import Runtime
from ari_app.clock import RealClock
from ari_app.scheduler.announced import MAX_SLOT, Announced
from ari_app.scheduler.peers import LIVE_FOR, Peers, place, ranking
from ari_app.scheduler.wakeups import listen_dsn
from ari_app.settings import AdminSettings
from ari_app.simulator.server import SimulatorServer
from ari_app.sms.console import ConsoleGateway
from ari_app.store.claims import claim_due_attempts
from ari_app.store.models import Attempt
from ari_app.store.queued import (
    WORKERS_CHANNEL,
    attempts_payload,
    read_attempts_payload,
    read_claimed_payload,
)

POLL_S = 30.0  # no safety-net look during a test: only announcements start claim rounds
WORKERS = ("ann-a", "ann-b", "ann-c")
SLOT = 1.0  # wall seconds per rank: far more than a claim takes to be heard, even on a busy loop


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
    db_url: str,
    first_call_delay: float = 0.0,
    no_room: tuple[str, ...] = (),
    hello_every: float | None = None,
) -> AsyncIterator[tuple[list[Runtime], Runtime]]:
    """Three worker runtimes listening, that have heard each other, and an intake runtime without a worker
    (its commits only NOTIFY). The workers named in ``no_room`` may run no call at all
    (``calls.max_concurrent`` 0). Ten admins: free admins never decide who claims."""
    async with SimulatorServer(port=0, speed=20.0) as sim:

        def runtime(app: str, *, worker: bool) -> Runtime:
            s = settings(db_url, sim.base_url, app)
            s.calendar.first_call_delay = first_call_delay
            s.scheduler.claim_slot = SLOT
            s.admins = [AdminSettings(name=f"adm{i}", endpoint=f"PJSIP/adm{i}") for i in range(10)]
            if app in no_room:
                s.calls.max_concurrent = 0
            return Runtime(
                s,
                RealClock(),
                run_web=False,
                run_worker=worker,
                sms_gateway=ConsoleGateway(),
                safety_poll=POLL_S,
                hello_every=hello_every,
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
            await until(lambda: all(live(w) == sorted(WORKERS) for w in workers), 5.0, "workers met")
            await asyncio.sleep(0.5)  # past the start-up claim rounds
            yield workers, intake


def live(runtime: Runtime) -> list[str]:
    assert runtime.worker is not None
    return runtime.worker.announcements.peers.live()


async def until(ok: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not ok():
        assert time.monotonic() < deadline, f"not within {within} s: {what}"
        await asyncio.sleep(0.02)


async def notify(db_url: str, channel: str, payload: str) -> None:
    """A NOTIFY from another program."""
    dsn = listen_dsn(db_url)
    assert dsn is not None
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_notify($1, $2)", channel, payload)
    finally:
        await conn.close()


async def announce(db_url: str, attempt_id: int) -> float:
    """What bench/scale_out.py does: one statement makes a written attempt due now and NOTIFYs its id.
    Returns when (monotonic)."""
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
        return time.monotonic()
    finally:
        await conn.close()


async def written(intake: Runtime, count: int) -> list[int]:
    """``count`` attempts written and held for tomorrow (first_call_delay), by id."""
    assert intake.services is not None
    ids = []
    for i in range(count):
        request_id = await submit(intake.services, f"+1212555{i:04d}")
        attempt = await attempt_of(intake.services, request_id)
        assert attempt is not None and attempt.status == "scheduled"
        ids.append(attempt.id)
    return ids


async def claimed_attempt(intake: Runtime, request_id: int, within: float) -> Attempt:
    services = intake.services
    assert services is not None
    deadline = time.monotonic() + within
    while (a := await attempt_of(services, request_id)) is None or a.lease_owner is None:
        assert time.monotonic() < deadline, f"request {request_id}'s attempt not claimed within {within} s"
        await asyncio.sleep(0.02)
    return a


async def owner(intake: Runtime, attempt_id: int, within: float) -> str:
    assert intake.services is not None
    deadline = time.monotonic() + within
    while True:
        async with intake.services.sessions() as session:
            lease_owner = await session.scalar(select(Attempt.lease_owner).where(Attempt.id == attempt_id))
        if lease_owner is not None:
            return lease_owner
        assert time.monotonic() < deadline, f"attempt {attempt_id} not claimed within {within} s"
        await asyncio.sleep(0.01)


@contextlib.contextmanager
def busy_loop(every: float = 0.002, block: float = 0.02) -> Iterator[None]:
    """The event loop blocked ``block`` seconds at a time, most of the time (a worker under load)."""

    async def hog() -> None:
        while True:
            time.sleep(block)  # noqa: ASYNC251 - the point: a loop blocked by work
            await asyncio.sleep(every)

    task = asyncio.get_running_loop().create_task(hog())
    try:
        yield
    finally:
        task.cancel()


def test_the_payload_names_the_attempts_and_still_reads_without_them() -> None:
    due = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert read_attempts_payload(attempts_payload(due, [7, 3])) == (due, [3, 7])
    assert read_attempts_payload(due.isoformat()) == (due, [])
    assert read_attempts_payload("") == (None, [])
    assert attempts_payload(due, range(1000)) == due.isoformat()  # too many to name: the due time alone
    assert read_claimed_payload("ann-a;3,7") == ("ann-a", [3, 7])
    assert read_claimed_payload("a;b;3") == ("a;b", [3])  # a worker's name may hold anything
    assert read_claimed_payload("3,7") == (None, [3, 7])  # an older worker's claim


def test_rendezvous_ranks_are_stable_and_spread_evenly() -> None:
    # Stable across processes and runs: no salted hash (this value is fixed for good).
    assert place(1, "ann-a") == 0x188063B583A8F259
    workers = ["w1", "w2", "w3", "w4"]
    assert ranking(42, workers) == ranking(42, list(reversed(workers)))  # the order heard doesn't matter
    firsts = Counter(ranking(i, workers)[0] for i in range(4000))
    assert set(firsts) == set(workers) and all(800 <= n <= 1200 for n in firsts.values()), firsts
    seconds = Counter(ranking(i, workers)[1] for i in range(4000))
    assert all(800 <= n <= 1200 for n in seconds.values()), seconds
    # One leaves: its attempts spread over the others, and nobody else's first place moves.
    left = ["w1", "w2", "w4"]
    heirs: Counter[str] = Counter()
    for i in range(4000):
        before, after = ranking(i, workers), ranking(i, left)
        assert after == [w for w in before if w != "w3"]
        if before[0] == "w3":
            heirs[after[0]] += 1
    assert set(heirs) == set(left) and all(n >= 250 for n in heirs.values()), heirs


def test_the_live_workers_are_those_heard_within_three_hellos() -> None:
    now = [100.0]
    peers = Peers("me", every=10.0, now=lambda: now[0])
    assert peers.live() == ["me"] and peers.rank(1) == 0  # alone: first for everything
    assert peers.heard("b") is True and peers.heard("b") is False  # new once
    assert peers.heard("me") is False
    assert peers.heard("c") is True
    assert peers.live() == ["b", "c", "me"]
    now[0] += LIVE_FOR * 10.0 - 1.0
    peers.heard("c")
    now[0] += 2.0
    assert peers.live() == ["c", "me"]  # b unheard for three intervals: taken for dead
    assert peers.heard("b") is True  # back
    peers.gone("c")
    assert peers.live() == ["b", "me"]
    assert sorted(peers.rank(i) for i in range(2)) in ([0, 0], [0, 1], [1, 1])
    assert [peers.rank(i) for i in range(50)] == [ranking(i, ["b", "me"]).index("me") for i in range(50)]


def pair(first: str, second: str) -> list[int]:
    """Two attempt ids, the first ranked first for ``first``, the second for ``second`` (of "a" and "b")."""
    a = next(i for i in range(1, 100) if ranking(i, ["a", "b"])[0] == first)
    b = next(i for i in range(a + 1, 200) if ranking(i, ["a", "b"])[0] == second)
    return [a, b]


def announced_at(me: str, slot: float, looks: list[str]) -> Announced:
    peers = Peers(me, every=10.0)
    peers.heard("b" if me == "a" else "a")
    return Announced(RealClock(), peers, slot, look=lambda: looks.append(me), wake=lambda: None)


async def test_a_batch_is_ranked_as_one_and_claimed_by_its_first_worker_alone() -> None:
    looks: list[str] = []
    a, b = announced_at("a", 0.3, looks), announced_at("b", 0.3, looks)
    batch = pair("a", "b")  # each first for one of them: the batch goes by its smallest id, "a"'s
    now = datetime.now(UTC)
    for w in (a, b):
        w.announced(now, batch)
    await asyncio.sleep(0.1)
    assert looks == ["a"]
    for w in (a, b):  # a's claim took both, and both heard it
        w.claimed(batch, by="a")
    await asyncio.sleep(0.4)
    assert looks == ["a"]  # b never looked
    # Not heard: the next rank looks after its slot.
    later = [batch[1] + 1000]
    first, second = ranking(later[0], ["a", "b"])
    for w in (a, b):
        w.announced(datetime.now(UTC), later)
    await asyncio.sleep(0.1)
    assert looks == ["a", first]
    await asyncio.sleep(0.35)
    assert looks == ["a", first, second]
    for w in (a, b):
        w.close()


async def test_the_slot_grows_with_the_time_the_first_claim_takes_to_be_heard() -> None:
    looks: list[str] = []
    b = announced_at("b", 0.05, looks)
    assert b.slot_now() == 0.05
    for attempt_id in range(1, 40):
        first = ranking(attempt_id, ["a", "b"])[0]
        b.announced(datetime.now(UTC) - timedelta(seconds=0.2), [attempt_id])  # due 200 ms ago: heard now
        b.claimed([attempt_id], by=first)
    # Claims by the first-ranked "a" were heard at once (b's own don't count): no longer slot.
    assert b.slot_now() == 0.05
    # A batch "a" is first for (by its smallest id), whose claim is heard 100 ms after it was due.
    batch = [pair("a", "b")[0] + 1000 * n for n in range(10)]
    b.announced(datetime.now(UTC), batch)
    await asyncio.sleep(0.1)
    b.claimed(batch, by="a")
    assert 0.15 < b.slot_now() <= MAX_SLOT  # twice ~90 ms (the running mean of ten), capped
    b.close()


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_announced_attempts_are_each_claimed_by_one_claim_transaction(
    db_url: str, claims: ClaimCounter
) -> None:
    async with cluster(db_url) as (_workers, intake):
        assert intake.services is not None
        claims.by_worker.clear()
        owners: dict[int, str] = {}
        with busy_loop():  # every worker's loop (they share one) blocked most of the time
            for i in range(8):
                request_id = await submit(intake.services, f"+1212555{i:04d}")
                taken = await claimed_attempt(intake, request_id, 10.0)
                assert taken.lease_owner is not None
                owners[taken.id] = taken.lease_owner
            await asyncio.sleep(SLOT * 3 + 0.5)  # past every worker's slot
        assert claims.total == 8, claims.by_worker
        # Each by the worker ranked first for it.
        assert owners == {i: ranking(i, WORKERS)[0] for i in owners}
        assert claims.by_worker == Counter(owners.values())


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
        await asyncio.sleep(2.0 + SLOT * 3 + 0.5)  # past the due time and every worker's slot
        assert claims.total == 0, claims.by_worker
        for w in workers:
            assert w.worker is not None and attempt.id not in w.worker.announcements.unclaimed()
            assert "elsewhere" in live(w)  # a claim names its worker: heard, so alive


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_an_announcement_made_by_another_program_is_claimed_once(
    db_url: str, claims: ClaimCounter
) -> None:
    """What bench/scale_out.py does: one statement makes written attempts due and NOTIFYs their ids; no
    claim message follows but the first-ranked worker's."""
    async with cluster(db_url, first_call_delay=86400.0) as (_workers, intake):
        (attempt_id,) = await written(intake, 1)
        await asyncio.sleep(0.2)
        claims.by_worker.clear()
        announced_at = await announce(db_url, attempt_id)
        assert await owner(intake, attempt_id, 5.0) == ranking(attempt_id, WORKERS)[0]
        assert time.monotonic() - announced_at < SLOT  # at once, not after a slot (nor the safety net)
        await asyncio.sleep(SLOT * 3 + 0.5)
        assert claims.total == 1, claims.by_worker


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_a_worker_without_room_leaves_the_announced_attempt_to_the_next_rank(
    db_url: str, claims: ClaimCounter
) -> None:
    async with cluster(db_url, first_call_delay=86400.0, no_room=WORKERS[:1]) as (workers, intake):
        # An attempt the worker without room is first for.
        attempt_id = next(i for i in await written(intake, 20) if ranking(i, WORKERS)[0] == WORKERS[0])
        await asyncio.sleep(0.2)
        claims.by_worker.clear()
        announced_at = await announce(db_url, attempt_id)
        assert await owner(intake, attempt_id, 5.0) == ranking(attempt_id, WORKERS)[1]
        assert time.monotonic() - announced_at >= SLOT * 0.9  # after its slot
        await asyncio.sleep(SLOT * 2 + 0.5)
        assert claims.total == 1, claims.by_worker
        for w in workers[1:]:  # the others heard of the claim
            assert w.worker is not None and attempt_id not in w.worker.announcements.unclaimed()


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_a_dead_worker_is_ranked_until_unheard_and_the_next_rank_claims_its_share(
    db_url: str, claims: ClaimCounter
) -> None:
    hello = 0.4  # wall seconds between hellos: a worker unheard for 1.2 s is taken for dead
    async with cluster(db_url, first_call_delay=86400.0, hello_every=hello) as (workers, intake):
        ids = await written(intake, 30)
        everyone = [*WORKERS, "ann-dead"]
        dead_first = [i for i in ids if ranking(i, everyone)[0] == "ann-dead"][:2]
        assert len(dead_first) == 2
        # A worker says hello once, then dies unheard (no goodbye).
        await notify(db_url, WORKERS_CHANNEL, "+ann-dead")
        await until(lambda: all("ann-dead" in live(w) for w in workers), 2.0, "the hello heard")
        claims.by_worker.clear()
        # Counted alive: its share waits its slot, then the next rank claims it.
        announced_at = await announce(db_url, dead_first[0])
        assert await owner(intake, dead_first[0], 5.0) == ranking(dead_first[0], everyone)[1]
        assert time.monotonic() - announced_at >= SLOT * 0.9
        # Unheard for three hellos: no longer ranked, the first live worker claims at once.
        await until(lambda: all("ann-dead" not in live(w) for w in workers), LIVE_FOR * hello + 2.0, "dead")
        announced_at = await announce(db_url, dead_first[1])
        assert await owner(intake, dead_first[1], 5.0) == ranking(dead_first[1], WORKERS)[0]
        assert time.monotonic() - announced_at < SLOT
        await asyncio.sleep(SLOT * 3 + 0.5)
        assert claims.total == 2, claims.by_worker


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_a_worker_that_stops_says_goodbye(db_url: str) -> None:
    async with cluster(db_url) as (workers, _intake):
        workers[0].stop()  # what SIGTERM does
        await until(lambda: all(live(w) == sorted(WORKERS[1:]) for w in workers[1:]), 5.0, "goodbye heard")
