from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from dbfixtures import private_pg_database
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from store_seed import T0, seed_attempts

from ari_app.store import (
    Attempt,
    claim_due_attempts,
    make_engine,
    make_sessionmaker,
    mark_running,
    release,
    renew_lease,
)
from ari_app.store.migrate import upgrade
from ari_app.store.queued import CLAIMED_CHANNEL

LEASE = 30.0


async def attempt(session_maker: async_sessionmaker[AsyncSession], attempt_id: int) -> Attempt:
    async with session_maker() as session:
        found = await session.get(Attempt, attempt_id)
        assert found is not None
        return found


async def test_due_attempts_are_claimed_and_future_ones_are_left(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    past, now_due, future = await seed_attempts(
        db_sessionmaker, [T0 - timedelta(minutes=5), T0, T0 + timedelta(seconds=1)]
    )

    ids = await claim_due_attempts(db_sessionmaker, now=T0, worker="w1", lease_seconds=LEASE, limit=10)

    assert ids == [past, now_due]
    claimed = await attempt(db_sessionmaker, past)
    assert (claimed.status, claimed.lease_owner, claimed.lease_until) == (
        "claimed",
        "w1",
        T0 + timedelta(seconds=LEASE),
    )
    assert (await attempt(db_sessionmaker, future)).status == "scheduled"


async def test_a_claim_takes_at_most_limit_attempts_oldest_first(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    ids = await seed_attempts(db_sessionmaker, [T0 - timedelta(minutes=m) for m in range(5)])

    first = await claim_due_attempts(db_sessionmaker, now=T0, worker="w1", lease_seconds=LEASE, limit=2)
    rest = await claim_due_attempts(db_sessionmaker, now=T0, worker="w1", lease_seconds=LEASE, limit=10)

    assert sorted(first) == sorted(ids[-2:])
    assert sorted(rest) == sorted(ids[:3])


async def test_a_live_lease_keeps_other_workers_off_and_a_lapsed_one_is_taken_over(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    (attempt_id,) = await seed_attempts(db_sessionmaker, [T0])
    assert await claim_due_attempts(db_sessionmaker, now=T0, worker="w1", lease_seconds=LEASE, limit=5) == [
        attempt_id
    ]
    assert await mark_running(db_sessionmaker, attempt_id, worker="w1", now=T0)

    during = T0 + timedelta(seconds=LEASE - 1)
    assert (
        await claim_due_attempts(db_sessionmaker, now=during, worker="w2", lease_seconds=LEASE, limit=5) == []
    )

    after = T0 + timedelta(seconds=LEASE + 1)
    taken = await claim_due_attempts(db_sessionmaker, now=after, worker="w2", lease_seconds=LEASE, limit=5)

    assert taken == [attempt_id]
    row = await attempt(db_sessionmaker, attempt_id)
    assert (row.status, row.lease_owner, row.started_at) == ("claimed", "w2", T0)
    assert not await renew_lease(db_sessionmaker, attempt_id, worker="w1", now=after, lease_seconds=LEASE)
    assert await renew_lease(db_sessionmaker, attempt_id, worker="w2", now=after, lease_seconds=LEASE)
    assert (await attempt(db_sessionmaker, attempt_id)).lease_until == after + timedelta(seconds=LEASE)


async def test_renewing_keeps_the_attempt_past_its_first_lease(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    (attempt_id,) = await seed_attempts(db_sessionmaker, [T0])
    await claim_due_attempts(db_sessionmaker, now=T0, worker="w1", lease_seconds=LEASE, limit=5)
    renewed_at = T0 + timedelta(seconds=LEASE / 2)
    assert await renew_lease(db_sessionmaker, attempt_id, worker="w1", now=renewed_at, lease_seconds=LEASE)

    later = T0 + timedelta(seconds=LEASE + 1)
    assert (
        await claim_due_attempts(db_sessionmaker, now=later, worker="w2", lease_seconds=LEASE, limit=5) == []
    )


async def test_a_released_attempt_is_scheduled_again_and_only_its_owner_may_release_it(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    (attempt_id,) = await seed_attempts(db_sessionmaker, [T0])
    await claim_due_attempts(db_sessionmaker, now=T0, worker="w1", lease_seconds=LEASE, limit=5)
    later = T0 + timedelta(minutes=10)

    assert not await release(db_sessionmaker, attempt_id, worker="w2", now=T0)
    assert await release(db_sessionmaker, attempt_id, worker="w1", now=T0, due_at=later)

    row = await attempt(db_sessionmaker, attempt_id)
    assert (row.status, row.lease_owner, row.lease_until, row.due_at) == ("scheduled", None, None, later)
    assert await claim_due_attempts(db_sessionmaker, now=T0, worker="w2", lease_seconds=LEASE, limit=5) == []
    assert await claim_due_attempts(
        db_sessionmaker, now=later, worker="w2", lease_seconds=LEASE, limit=5
    ) == [attempt_id]


async def test_a_running_attempt_cannot_be_released(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    (attempt_id,) = await seed_attempts(db_sessionmaker, [T0])
    await claim_due_attempts(db_sessionmaker, now=T0, worker="w1", lease_seconds=LEASE, limit=5)
    assert await mark_running(db_sessionmaker, attempt_id, worker="w1", now=T0)

    assert not await release(db_sessionmaker, attempt_id, worker="w1", now=T0)
    assert (await attempt(db_sessionmaker, attempt_id)).status == "running"


async def test_done_and_cancelled_attempts_are_never_claimed(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    done, cancelled = await seed_attempts(db_sessionmaker, [T0, T0])
    async with db_sessionmaker() as session, session.begin():
        for attempt_id, status in ((done, "done"), (cancelled, "cancelled")):
            row = await session.get(Attempt, attempt_id)
            assert row is not None
            row.status = status
            row.lease_until = T0  # even with an old lease

    later = T0 + timedelta(hours=1)
    assert (
        await claim_due_attempts(db_sessionmaker, now=later, worker="w1", lease_seconds=LEASE, limit=5) == []
    )


async def test_concurrent_claimers_never_claim_the_same_attempt_twice(
    migrated_db_url: str, db_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    ids = await seed_attempts(db_sessionmaker, [T0 - timedelta(seconds=i) for i in range(60)])
    start = asyncio.Event()

    async def claimer(worker: str) -> list[int]:
        engine = make_engine(migrated_db_url)  # a connection of its own
        session_maker = make_sessionmaker(engine)
        won: list[int] = []
        try:
            async with engine.connect():
                pass
            await start.wait()
            while batch := await claim_due_attempts(
                session_maker, now=T0, worker=worker, lease_seconds=LEASE, limit=3
            ):
                won.extend(batch)
        finally:
            await engine.dispose()
        return won

    async with asyncio.timeout(60), asyncio.TaskGroup() as tg:
        tasks = {f"w{n}": tg.create_task(claimer(f"w{n}")) for n in range(6)}
        await asyncio.sleep(0)
        start.set()

    claims = Counter(i for task in tasks.values() for i in task.result())
    assert sorted(claims) == sorted(ids)
    assert set(claims.values()) == {1}
    async with db_sessionmaker() as session:
        owners = {i: w for i, w in (await session.execute(select(Attempt.id, Attempt.lease_owner))).all()}
    assert owners == {i: w for w, task in tasks.items() for i in task.result()}


async def test_two_worker_processes_never_claim_the_same_attempt_twice(
    migrated_db_url: str, db_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    ids = await seed_attempts(db_sessionmaker, [T0 - timedelta(seconds=i) for i in range(120)])
    script = str(Path(__file__).with_name("store_claim_worker.py"))
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            script,
            migrated_db_url,
            f"p{n}",
            T0.isoformat(),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for n in range(2)
    ]
    try:
        async with asyncio.timeout(60):
            for proc in procs:
                assert proc.stdout is not None
                assert await proc.stdout.readline() == b"ready\n"
            outputs = await asyncio.gather(*(proc.communicate(b"go\n") for proc in procs))
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

    assert [proc.returncode for proc in procs] == [0, 0]
    won = [json.loads(stdout) for stdout, _ in outputs]
    claims = Counter(i for ids_of_one in won for i in ids_of_one)
    assert sorted(claims) == sorted(ids)
    assert set(claims.values()) == {1}


@pytest.mark.postgres
async def test_on_postgresql_a_claim_is_one_statement_without_begin_or_commit() -> None:
    """What PostgreSQL receives for a claim round: the claim (with its NOTIFY) alone, in autocommit; BEGIN and
    COMMIT around a single statement were two more round trips each (issue 17). Statements as SQLAlchemy
    sends them; BEGIN, COMMIT and ROLLBACK as asyncpg sends them (its query logger: SQLAlchemy never sees
    them as statements)."""
    async with private_pg_database() as url:
        await upgrade(url)
        engine = make_engine(url)
        sent: list[str] = []

        def on_query(query: Any) -> None:
            word = query.query.split()[0].rstrip(";").upper()
            if word in ("BEGIN", "COMMIT", "ROLLBACK"):
                sent.append(word)

        def on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.driver_connection.add_query_logger(on_query)

        def on_statement(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            sent.append(statement.split()[0])

        event.listen(engine.sync_engine, "connect", on_connect)
        event.listen(engine.sync_engine, "before_cursor_execute", on_statement)
        try:
            sessions = make_sessionmaker(engine)
            due = await seed_attempts(sessions, [T0 - timedelta(minutes=1), T0])
            listener = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
            heard: list[str] = []
            await listener.add_listener(CLAIMED_CHANNEL, lambda *args: heard.append(args[3]))
            sent.clear()

            ids = await claim_due_attempts(sessions, now=T0, worker="w1", lease_seconds=LEASE, limit=10)

            assert ids == due
            assert sent == ["WITH"]  # the one statement; no BEGIN, no COMMIT
            assert (await attempt(sessions, due[0])).lease_owner == "w1"  # committed on its own
            for _ in range(100):  # the NOTIFY went out with the statement's own commit
                if heard:
                    break
                await asyncio.sleep(0.01)
            assert heard == [f"w1;{due[0]},{due[1]}"]
            await listener.close()
            # A later plain transaction on the same pooled connection is a transaction again.
            sent.clear()
            async with sessions.begin() as session:
                await session.execute(select(Attempt.id).limit(1))
            assert sorted(sent) == ["BEGIN", "COMMIT", "SELECT"]
        finally:
            await engine.dispose()
