"""PostgreSQL restarts (``pg_ctl restart -m fast``) while two workers have calls in progress, on a private
cluster the test starts itself. Every connection the workers held dies; the database is away for a moment.

After it: the workers are still alive, every request ends with a final outcome, one lead dial per attempt,
one confirmation SMS per request, one status tag.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from faults_harness import FaultStack, wait_for
from pg_cluster import PgCluster, pg_bin

from ari_app.store import make_engine, make_sessionmaker, upgrade

pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.postgres]

LEADS = ["+12125550101", "+12125550102", "+12125550103", "+12125550104"]
ADMINS = ["admin", "admin2", "admin3"]


@pytest.fixture
async def cluster() -> AsyncIterator[PgCluster]:
    bindir = pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    pg = PgCluster(bindir)
    try:
        await asyncio.to_thread(pg.init)
        await asyncio.to_thread(pg.start)
        yield pg
    finally:
        await asyncio.to_thread(pg.destroy)


@pytest.fixture
async def private_faults(cluster: PgCluster, tmp_path: Path) -> AsyncIterator[FaultStack]:
    await upgrade(cluster.url)
    engine = make_engine(cluster.url)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        stack = FaultStack(tmp=tmp_path, db_url=cluster.url, sessions=make_sessionmaker(engine), http=http)
        try:
            yield stack
        finally:
            stack.kill_all()
            await engine.dispose()


async def test_postgres_restart_under_load_loses_nothing(
    private_faults: FaultStack, cluster: PgCluster
) -> None:
    faults = private_faults
    faults.admins = [{"name": name, "endpoint": f"PJSIP/{name}"} for name in ADMINS]
    admin = {"behaviour": "answer", "answer_after": 1.0, "dtmf": "1", "dtmf_after": "playback"}
    faults.scenario = {
        "callee": [{"match": f"PJSIP/{name}", **admin} for name in ADMINS]
        + [{"match": lead, "behaviour": "answer", "answer_after": 2.0, "talk": 24.0} for lead in LEADS]
    }
    await faults.start_simulator()
    workers = [await faults.start_worker("w1"), await faults.start_worker("w2")]
    request_ids = [await faults.submit(lead) for lead in LEADS]

    async def calls_in_progress() -> bool:
        channels = await faults.sim_get("channels")
        return any("-lead-" in c["id"] and c.get("bridge_id") for c in channels)

    await wait_for(calls_in_progress, "a call to be bridged", within=30.0)
    await cluster.restart()

    for rid in request_ids:
        assert await faults.wait_closed(rid, within=60.0) == "completed"
    for worker in workers:
        assert worker.alive, f"{worker.name} died:\n{worker.tail()}"
    dials = await faults.lead_dials()
    for rid in request_ids:
        await faults.assert_consistent(rid)
        attempts = await faults.attempts(rid)
        assert attempts[-1].outcome == "completed"
        assert sum(dials.get(a.id, 0) for a in attempts) == 1  # the lead's phone rang once
        assert await faults.sms_kinds(rid) == ["confirmation"]
        assert [r.status for r in await faults.sms_rows(rid)] == ["sent"]
