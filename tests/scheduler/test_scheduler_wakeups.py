"""On PostgreSQL a request taken in one process wakes the worker of another at once (LISTEN/NOTIFY), long
before that worker's next poll."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from ari_app.app import Runtime
from ari_app.audio.manifest import SHIPPED_SOUNDS
from ari_app.clock import RealClock
from ari_app.lifecycle import IntakeData
from ari_app.scheduler.wakeups import listen_dsn
from ari_app.services import Services
from ari_app.settings import Settings, load_settings
from ari_app.simulator.server import SimulatorServer
from ari_app.sms.console import ConsoleGateway
from ari_app.store.models import Attempt

REPO = Path(__file__).resolve().parents[2]
POLL_S = 30.0  # the worker would find a new attempt only this late without a wake-up
WOKEN_WITHIN_S = 8.0  # generous: a wake-up is a few milliseconds; this only has to be well under POLL_S


def settings(db_url: str, sim_url: str, app: str) -> Settings:
    return load_settings(
        None,
        environ={},
        overrides={
            "ari": {"url": sim_url, "app": app},
            "database": {"url": db_url},
            "calendar": {"first_call_delay": 0.0},
            "quiethours": {"start": "00:00", "end": "00:00"},  # the real clock: any hour will do
            "admins": [{"name": "ada", "endpoint": "PJSIP/ada"}, {"name": "bob", "endpoint": "PJSIP/bob"}],
            "calls": {"calls_per_second": 0.0},
            "sounds": {"dir": str(SHIPPED_SOUNDS)},
        },
    )


async def submit(services: Services, phone: str) -> int:
    """What intake does: commit the request and its first attempt, then wake the workers."""
    async with services.sessions.begin() as session:
        result = await services.lifecycle.intake.submit(
            session, IntakeData("Ada", "Lovelace", phone, "call me", "I agree", "api")
        )
    services.wake()
    return int(result.body["id"])


async def attempt_of(services: Services, request_id: int) -> Attempt | None:
    async with services.sessions() as session:
        return await session.scalar(select(Attempt).where(Attempt.request_id == request_id))


async def wait_taken(services: Services, request_id: int, within: float) -> Attempt:
    """Wait until a worker has claimed the request's attempt (it left "scheduled")."""
    deadline = time.monotonic() + within
    while True:
        attempt = await attempt_of(services, request_id)
        if attempt is not None and attempt.status != "scheduled":
            return attempt
        assert time.monotonic() < deadline, f"attempt of request {request_id} not taken within {within} s"
        await asyncio.sleep(0.05)


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_intake_in_another_process_wakes_a_worker_before_its_poll(db_url: str) -> None:
    async with SimulatorServer(port=0, speed=20.0) as sim:
        worker_side = Runtime(
            settings(db_url, sim.base_url, "wake-worker"),
            RealClock(),
            run_web=False,
            sms_gateway=ConsoleGateway(),
            safety_poll=POLL_S,
        )
        intake_side = Runtime(
            settings(db_url, sim.base_url, "wake-intake"),
            RealClock(),
            run_worker=False,
            run_web=False,
            sms_gateway=ConsoleGateway(),
        )
        async with worker_side, intake_side:
            assert worker_side.events is not None and worker_side.wakeups is not None
            await worker_side.events.wait_connected(10.0)
            await asyncio.wait_for(worker_side.wakeups.listening.wait(), 10.0)
            services = intake_side.services
            assert services is not None

            # The first may be found by the worker's first claim round; once it runs, the worker is
            # waiting out its 30 s poll, and only a wake-up can bring it back early for the second.
            first = await submit(services, "+12125550101")
            deadline = time.monotonic() + 20.0
            while (a := await attempt_of(services, first)) is None or a.status not in ("running", "done"):
                assert time.monotonic() < deadline, "the first attempt never started"
                await asyncio.sleep(0.05)

            second = await submit(services, "+12125550102")
            taken = await wait_taken(services, second, WOKEN_WITHIN_S)
            assert taken.lease_owner == "wake-worker" or taken.status == "done"


def test_only_postgresql_has_something_to_listen_to() -> None:
    assert listen_dsn("sqlite+aiosqlite:///./callback.db") is None
    assert listen_dsn("postgresql+asyncpg://u:p@127.0.0.1:5432/cb") == "postgresql://u:p@127.0.0.1:5432/cb"
