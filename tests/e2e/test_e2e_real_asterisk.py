"""The same stories against a real Asterisk (opt-in, like the contract suite).

Set CALLBACK_TEST_ARI_URL, CALLBACK_TEST_ARI_USER and CALLBACK_TEST_ARI_PASSWORD to a PBX configured like
tests/asterisk_peer/ (an admin endpoint that answers and presses 1, a trunk whose numbers +1 202 555 01xx
behave as that dialplan says, the callback-amd context, and `callback sounds install` run into its sounds).
Calls run in real time here: each story takes tens of seconds.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from e2ekit import CLOSED, OPEN_INSTANT, free_port
from sqlalchemy import select

from ari_app.app import Runtime
from ari_app.clock import VirtualClock
from ari_app.settings import load_settings
from ari_app.sms.console import ConsoleGateway
from ari_app.store.models import Attempt, CallbackRequest, Contact, ContactTag, Leg

URL = os.environ.get("CALLBACK_TEST_ARI_URL")
pytestmark = [
    pytest.mark.asterisk,
    pytest.mark.slow,
    pytest.mark.skipif(
        not URL,
        reason="real Asterisk only: set CALLBACK_TEST_ARI_URL, _USER and _PASSWORD",
    ),
]


@pytest.fixture
def sounds_mode() -> dict[str, Any]:
    """Prompts copied into the PBX's sounds directory (run `callback sounds install` there first)."""
    return {}


@pytest.fixture
async def real_stack(tmp_path: Any, sounds_mode: dict[str, Any]) -> AsyncIterator[tuple[Runtime, str, str]]:
    token = secrets.token_urlsafe(16)
    settings = load_settings(
        None,
        environ={},
        overrides={
            "ari": {
                "url": URL,
                "user": os.environ.get("CALLBACK_TEST_ARI_USER", "callback"),
                "password": os.environ.get("CALLBACK_TEST_ARI_PASSWORD", "callback"),
                "app": f"callback-e2e-{secrets.token_hex(3)}",
            },
            "admins": [
                {
                    "name": "Peer admin",
                    "endpoint": os.environ.get("CALLBACK_TEST_ADMIN", "PJSIP/admin-press1"),
                }
            ],
            "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'real.db'}"},
            "web": {"port": free_port()},
            "api": {"token": token},
            "calls": {"max_attempts": 1, "min_talk_seconds": 10.0, **sounds_mode.get("calls", {})},
            "sounds": sounds_mode.get("sounds", {}),
            "calendar": {"first_call_delay": 0.0},
        },
    )
    # Business time starts when the business is open but flows at the real pace: the PBX runs in real time.
    clock = VirtualClock(start=OPEN_INSTANT, speed=1.0)
    async with Runtime(settings, clock, sms_gateway=ConsoleGateway(stream=None)) as runtime:
        assert runtime.events is not None
        await runtime.events.wait_connected(15.0)
        assert runtime.web_url is not None
        yield runtime, runtime.web_url, token


async def _story(runtime: Runtime, web: str, token: str, phone: str) -> dict[str, Any]:
    body = {"first_name": "Ada", "last_name": "Peer", "phone": phone, "reason": "real PBX", "consent": True}
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{web}/api/v1/callback-requests", json=body, headers={"Authorization": f"Bearer {token}"}
        ) as resp,
    ):
        assert resp.status == 201, await resp.text()
        request_id = int((await resp.json())["id"])
    services = runtime.services
    assert services is not None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 150.0
    while True:
        async with services.sessions() as session:
            request = await session.get(CallbackRequest, request_id)
            assert request is not None
            if request.status in CLOSED:
                contact = await session.get(Contact, request.contact_id)
                assert contact is not None
                attempts = list(
                    await session.scalars(select(Attempt).where(Attempt.request_id == request_id))
                )
                legs = list(
                    await session.scalars(select(Leg).where(Leg.attempt_id.in_([a.id for a in attempts])))
                )
                tags = list(
                    await session.scalars(select(ContactTag.tag).where(ContactTag.contact_id == contact.id))
                )
                return {
                    "status": request.status,
                    "outcomes": [a.outcome for a in attempts],
                    "details": [a.outcome_detail for a in attempts],
                    "lead_legs": [leg for leg in legs if leg.role == "lead"],
                    "tags": tags,
                    "at": datetime.now(UTC),
                }
        assert loop.time() < deadline, f"request {request_id} still {request.status}"
        await asyncio.sleep(0.5)


async def test_real_asterisk_answered_call_completes(real_stack: tuple[Runtime, str, str]) -> None:
    result = await _story(*real_stack, phone="+12025550100")
    assert result["outcomes"] == ["completed"], result["details"]
    assert result["tags"] == ["Request to Callback Complete"]
    assert len(result["lead_legs"]) == 1


async def test_real_asterisk_busy_lead(real_stack: tuple[Runtime, str, str]) -> None:
    result = await _story(*real_stack, phone="+12025550117")
    assert result["outcomes"] == ["lead_busy"], result["details"]
    assert result["lead_legs"][0].cause == 17
    assert result["tags"] == ["Request to Callback Incomplete"]


async def test_real_asterisk_unallocated_number_is_invalid(real_stack: tuple[Runtime, str, str]) -> None:
    result = await _story(*real_stack, phone="+12025550101")
    assert result["outcomes"] == ["lead_invalid"], result["details"]


async def test_real_asterisk_machine_gets_the_voicemail_drop(real_stack: tuple[Runtime, str, str]) -> None:
    result = await _story(*real_stack, phone="+12025550150")
    assert result["outcomes"] == ["voicemail_left"], result["details"]
    assert result["lead_legs"][0].amd_status == "MACHINE"


@pytest.mark.parametrize(
    "sounds_mode",
    [{"calls": {"sounds": "http"}, "sounds": {"url_secret": "real-asterisk-media-secret-0123"}}],
)
async def test_real_asterisk_plays_prompts_from_signed_http_urls(
    real_stack: tuple[Runtime, str, str],
) -> None:
    """calls.sounds = "http": Asterisk's HTTP media cache fetches our signed /media URLs (no shared disk)."""
    result = await _story(*real_stack, phone="+12025550150")
    assert result["outcomes"] == ["voicemail_left"], result["details"]
