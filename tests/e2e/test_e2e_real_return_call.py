"""A lead calls back through a real Asterisk 22 (opt-in, like the contract suite): the call enters the
application from the peer's ``[callback-inbound]`` dialplan (tests/asterisk_peer/extensions.conf), the admin
phone ``PJSIP/admin-press1`` answers the return-call whisper with 1, and the two talk; or no admin answers and
the lead leaves a message that callback fetches from Asterisk and keeps.

The lead is the first half of a ``Local/<business number>@callback-inbound`` channel originated into the
application under test: its second half runs the dialplan as a call from the carrier would. The prompts are
served over HTTP (``calls.sounds = "http"``), so nothing is installed on the peer.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from e2ekit import OPEN_INSTANT, free_port, real_ari
from sqlalchemy import select

from ari_app.app import Runtime
from ari_app.ari import AriClient
from ari_app.clock import VirtualClock
from ari_app.settings import load_settings
from ari_app.sms.console import ConsoleGateway
from ari_app.store.models import Attempt, CallbackRequest

URL = os.environ.get("CALLBACK_TEST_ARI_URL", "")
pytestmark = [
    pytest.mark.asterisk,
    pytest.mark.slow,
    pytest.mark.skipif(not URL, reason="real Asterisk only: set CALLBACK_TEST_ARI_URL, _USER and _PASSWORD"),
]
PHONE = "+12025550150"


@pytest.fixture
def admin() -> str:
    return "PJSIP/admin-press1"


@pytest.fixture
async def real(tmp_path: Path, admin: str) -> AsyncIterator[tuple[Runtime, str, str]]:
    token = secrets.token_urlsafe(16)
    port = free_port()
    settings = load_settings(
        None,
        environ={},
        overrides={
            "ari": real_ari("returns"),
            "admins": [{"name": "Peer admin", "endpoint": admin}],
            "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'real.db'}"},
            "web": {"port": port, "public_url": f"http://127.0.0.1:{port}"},
            "api": {"token": token},
            "calls": {"min_talk_seconds": 5.0, "sounds": "http", "admin_ring_timeout": 10},
            "sounds": {"url_secret": "real-asterisk-media-secret-0123"},
            "calendar": {"first_call_delay": 3600.0},
            "returns": {"recordings_dir": str(tmp_path / "recordings"), "message_max_seconds": 20},
        },
    )
    clock = VirtualClock(start=OPEN_INSTANT, speed=1.0)
    async with Runtime(settings, clock, sms_gateway=ConsoleGateway(stream=None)) as runtime:
        assert runtime.events is not None
        await runtime.events.wait_connected(15.0)
        assert runtime.web_url is not None
        yield runtime, runtime.web_url, token


async def _submit(web: str, token: str) -> int:
    body = {"first_name": "Ada", "last_name": "Peer", "phone": PHONE, "reason": "a new roof", "consent": True}
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{web}/api/v1/callback-requests", json=body, headers={"Authorization": f"Bearer {token}"}
        ) as resp,
    ):
        assert resp.status == 201, await resp.text()
        return int((await resp.json())["id"])


async def _return_call(runtime: Runtime, request_id: int, within: float = 90.0) -> Attempt:
    services = runtime.services
    assert services is not None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        async with services.sessions() as session:
            done = await session.scalar(
                select(Attempt).where(
                    Attempt.request_id == request_id, Attempt.kind == "return_call", Attempt.status == "done"
                )
            )
        if done is not None:
            return done
        assert loop.time() < deadline, "no return call ended"
        await asyncio.sleep(0.2)


async def _lead_calls(runtime: Runtime, *, speaks: float, then_hang_up: float) -> None:
    """The lead's half: into the application under test (its StasisStart has no inbound args: ignored);
    it sends audio (a recording needs frames), then hangs up."""
    s = runtime.settings
    async with AriClient(s.ari.url, s.ari.user, s.ari.password.get_secret_value()) as ari:
        ours = f"rt-{uuid.uuid4().hex[:10]}"
        await ari.originate(
            f"Local/{s.business.caller_id_number}@callback-inbound",
            channel_id=ours,
            app=s.ari.app,
            app_args="caller",
            caller_id=f"Ada <{PHONE}>",
            timeout=30,
            variables={"_CALLBACK_INBOUND_APP": s.ari.app},
        )
        await asyncio.sleep(2.0)
        if speaks:  # audio all along: Asterisk counts a recording's length in the frames it wrote
            await ari.play(ours, ["sound:hello-world", *["sound:silence/5"] * int(speaks // 5 + 1)])
        await asyncio.sleep(then_hang_up)
        try:
            await ari.hangup(ours)
        except Exception:  # already gone (the admin hung up first): fine
            pass


async def test_the_lead_calls_back_through_a_real_asterisk_and_talks(real: tuple[Runtime, str, str]) -> None:
    runtime, web, token = real
    request_id = await _submit(web, token)
    await _lead_calls(runtime, speaks=0.0, then_hang_up=30.0)
    call = await _return_call(runtime, request_id)
    assert call.outcome == "completed", call.outcome_detail
    assert call.admin_name == "Peer admin"
    services = runtime.services
    assert services is not None
    async with services.sessions() as session:
        request = await session.get(CallbackRequest, request_id)
        assert request is not None and request.status == "completed"


@pytest.mark.parametrize("admin", ["PJSIP/admin-noanswer"])
async def test_no_admin_answers_and_the_lead_leaves_a_message_kept_by_callback(
    real: tuple[Runtime, str, str], tmp_path: Path
) -> None:
    runtime, web, token = real
    request_id = await _submit(web, token)
    # Welcome and ringback, 10 s of admin ringing, the message prompt (about 22 s): the lead speaks till 32 s.
    await _lead_calls(runtime, speaks=40.0, then_hang_up=32.0)
    call = await _return_call(runtime, request_id)
    assert call.outcome == "message_left", call.outcome_detail
    message: dict[str, Any] = call.evidence["message"]
    kept = tmp_path / "recordings" / message["file"]
    data = kept.read_bytes()
    assert data[:4] == b"RIFF" and message["seconds"] >= 1
