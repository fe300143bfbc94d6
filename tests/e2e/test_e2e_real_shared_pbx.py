"""Two installations on one real Asterisk (opt-in, like test_e2e_real_asterisk.py): two databases, two Stasis
applications, calls at the same time. Neither may touch the other's calls."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from e2ekit import CLOSED, OPEN_INSTANT, free_port, real_ari
from sqlalchemy import select

from ari_app.app import Runtime
from ari_app.clock import VirtualClock
from ari_app.settings import load_settings
from ari_app.sms.console import ConsoleGateway
from ari_app.store.models import Attempt, CallbackRequest

URL = os.environ.get("CALLBACK_TEST_ARI_URL")
pytestmark = [
    pytest.mark.asterisk,
    pytest.mark.slow,
    pytest.mark.skipif(not URL, reason="real Asterisk only: set CALLBACK_TEST_ARI_URL, _USER and _PASSWORD"),
]


@contextlib.asynccontextmanager
async def _installation(tmp: Path, name: str, installation_id: str) -> AsyncIterator[tuple[Runtime, str]]:
    token = secrets.token_urlsafe(16)
    settings = load_settings(
        None,
        environ={},
        overrides={
            "ari": real_ari(name, installation_id=installation_id),
            "admins": [{"name": f"Admin {name}", "endpoint": "PJSIP/admin-press1"}],
            "database": {"url": f"sqlite+aiosqlite:///{tmp / f'{name}.db'}"},
            "web": {"port": free_port()},
            "api": {"token": token},
            "calls": {"max_attempts": 1, "min_talk_seconds": 10.0, "system_retry_delay": 5.0},
            "calendar": {"first_call_delay": 0.0},
        },
    )
    clock = VirtualClock(start=OPEN_INSTANT, speed=1.0)
    async with Runtime(settings, clock, sms_gateway=ConsoleGateway(stream=None)) as runtime:
        assert runtime.events is not None and runtime.web_url is not None
        await runtime.events.wait_connected(15.0)
        yield runtime, token


async def _submit(runtime: Runtime, token: str, phone: str) -> int:
    body = {"first_name": "Ada", "last_name": "Peer", "phone": phone, "reason": "shared PBX", "consent": True}
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{runtime.web_url}/api/v1/callback-requests",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        ) as resp,
    ):
        assert resp.status == 201, await resp.text()
        return int((await resp.json())["id"])


async def _attempts_when_closed(runtime: Runtime, request_id: int) -> list[Any]:
    services = runtime.services
    assert services is not None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 240.0
    while True:
        async with services.sessions() as session:
            request = await session.get(CallbackRequest, request_id)
            assert request is not None
            if request.status in CLOSED:
                rows = await session.scalars(
                    select(Attempt).where(Attempt.request_id == request_id).order_by(Attempt.number)
                )
                return [(a.outcome, a.outcome_detail, a.talk_seconds) for a in rows]
        assert loop.time() < deadline, f"request {request_id} still {request.status}"
        await asyncio.sleep(0.5)


@pytest.mark.parametrize("same_id", [False, True], ids=["own ids", "the same id forced on both"])
async def test_real_asterisk_two_installations_never_touch_each_other(tmp_path: Path, same_id: bool) -> None:
    ids = ("same", "same") if same_id else ("", "")
    async with (
        _installation(tmp_path, "a", ids[0]) as (a, token_a),
        _installation(tmp_path, "b", ids[1]) as (b, token_b),
    ):
        req_a, req_b = await asyncio.gather(
            _submit(a, token_a, "+12025550181"), _submit(b, token_b, "+12025550182")
        )
        got_a, got_b = await asyncio.gather(_attempts_when_closed(a, req_a), _attempts_when_closed(b, req_b))
    outcomes = [o for o, _, _ in got_a + got_b]
    # Each request ends completed with a whole conversation (lead-talk stays ~30 s); with the same id, the
    # second originate is refused (409) and that attempt alone is a system error, tried again later.
    assert outcomes.count("completed") == 2, got_a + got_b
    assert all((t or 0) >= 20.0 for o, _, t in got_a + got_b if o == "completed"), got_a + got_b
    assert set(outcomes) <= {"completed", "system_error"}, got_a + got_b
    if not same_id:
        assert outcomes == ["completed", "completed"], got_a + got_b
