"""The SMS and webhook senders are woken by what queues their rows, and wait for a row due later with a timer:
with the safety-net poll at a minute, a text and a retried webhook still arrive within seconds (SQLite and
PostgreSQL). The whole stack: the ARI simulator as the PBX, our Runtime on a virtual clock (x100)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from ari_app.store.engine import make_engine, make_sessionmaker
from ari_app.store.models import Contact

_E2E = str(Path(__file__).resolve().parents[1] / "e2e")
if _E2E not in sys.path:
    sys.path.insert(0, _E2E)

from e2ekit import Stack, free_port, open_runtime, open_simulator  # noqa: E402

SAFETY_POLL_S = 60.0  # without a wake-up or a timer nothing would be sent before this (wall seconds)
NET_POLL_S = 5.0  # the least safety-net poll there is
WITHIN_S = 20.0  # generous for a loaded machine, and still far below the safety-net poll
LEAD = "+12025550142"


async def eventually(what: str, done: Callable[[], bool]) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WITHIN_S
    while not done():
        assert loop.time() < deadline, f"{what}: not within {WITHIN_S} s"
        await asyncio.sleep(0.05)


class Hook:
    """A webhook receiver that refuses its first delivery (HTTP 503), so the sender must retry later."""

    def __init__(self) -> None:
        self.answers: list[int] = []

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        status = 503 if not self.answers else 200
        self.answers.append(status)
        return web.Response(status=status)


@pytest.fixture
async def hook() -> AsyncIterator[tuple[Hook, str]]:
    receiver = Hook()
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield receiver, f"http://127.0.0.1:{port}/hook"
    finally:
        await runner.cleanup()


@pytest.fixture
def safety_poll() -> float:
    return SAFETY_POLL_S


@pytest.fixture
async def stack(
    db_url: str, tmp_path: Path, hook: tuple[Hook, str], safety_poll: float
) -> AsyncIterator[Stack]:
    overrides: dict[str, dict[str, Any]] = {
        "scheduler": {"safety_poll": safety_poll},
        "webhooks": {"urls": [hook[1]], "secret": "senders-wake-secret"},
        # Two virtual hours (over a minute of wall time): the missed request stays open, nothing else runs.
        # The admin's ring wait is 5 wall seconds, not 0.4: these tests are about the senders, and a full CI
        # run once stalled past 0.4 s and read admin_unavailable.
        "calls": {"retry_delay": 7200.0, "admin_ring_timeout": 500},
    }
    async with (
        open_simulator() as sim,
        open_runtime(sim, tmp_path / "unused.db", overrides, db_url=db_url) as opened,
    ):
        yield opened


async def test_the_text_after_a_missed_call_is_sent_without_waiting_for_the_poll(stack: Stack) -> None:
    assert stack.sms is not None
    await stack.scenario([{"match": LEAD, "behaviour": "busy"}])
    request_id = await stack.submit(LEAD, "Ada", "Lovelace")
    assert await stack.wait_outcomes(request_id, 1, within=WITHIN_S) == ["lead_busy"]
    sms = stack.sms
    await eventually("the missed-call text", lambda: any(m.to == LEAD for m in sms.sent))


async def test_a_refused_webhook_is_retried_when_its_retry_is_due(
    stack: Stack, hook: tuple[Hook, str]
) -> None:
    receiver, _url = hook
    await stack.scenario([{"match": LEAD, "behaviour": "busy"}])
    await stack.submit(LEAD, "Ada", "Lovelace")
    # The intake's tag change is queued for the webhook at once; refused, it is due again 10 virtual seconds
    # later (0.1 s of wall time), which only the timer to the next due row notices before the poll.
    await eventually("a delivery refused, then one accepted", lambda: receiver.answers[:2] == [503, 200])


@pytest.mark.parametrize("safety_poll", [NET_POLL_S])
async def test_a_text_queued_by_another_program_is_sent_by_the_safety_net(stack: Stack, db_url: str) -> None:
    """A commit the running service never sees (another program's, or a wake-up lost) waits at most one
    safety-net poll."""
    assert stack.sms is not None and stack.runtime.services is not None
    await stack.scenario([{"match": LEAD, "behaviour": "busy"}])
    request_id = await stack.submit(LEAD, "Ada", "Lovelace")
    assert await stack.wait_outcomes(request_id, 1, within=WITHIN_S) == ["lead_busy"]
    contact_id = int((await stack.state(request_id))["contact_id"])

    engine = make_engine(db_url)  # another program: its own engine and sessions, nobody to wake
    try:
        async with make_sessionmaker(engine).begin() as session:
            contact = await session.get(Contact, contact_id)
            assert contact is not None
            outreach = stack.runtime.services.lifecycle.outreach
            await outreach.queue_sms(session, contact, None, "help", key="another-program")
    finally:
        await engine.dispose()
    sms = stack.sms
    await eventually(
        "the other program's text", lambda: any("another-program" in m.idempotency_key for m in sms.sent)
    )
