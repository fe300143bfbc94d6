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
from e2ekit import CLOSED, OPEN_INSTANT, free_port, real_ari
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
def peer_admin() -> str:
    """The admin endpoint on the peer (tests/asterisk_peer/pjsip.conf): one that presses 1 by default."""
    return os.environ.get("CALLBACK_TEST_ADMIN", "PJSIP/admin-press1")


@pytest.fixture
def peer_calls() -> dict[str, Any]:
    """Extra [calls] settings for a story."""
    return {}


@pytest.fixture
def peer_amd() -> dict[str, Any]:
    """Extra [amd] settings for a story."""
    return {}


@pytest.fixture
async def real_stack(
    tmp_path: Any,
    sounds_mode: dict[str, Any],
    peer_admin: str,
    peer_calls: dict[str, Any],
    peer_amd: dict[str, Any],
) -> AsyncIterator[tuple[Runtime, str, str]]:
    token = secrets.token_urlsafe(16)
    settings = load_settings(
        None,
        environ={},
        overrides={
            "ari": real_ari("e2e"),
            "admins": [
                {
                    "name": "Peer admin",
                    "endpoint": peer_admin,
                }
            ],
            "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'real.db'}"},
            "web": {"port": free_port()},
            "api": {"token": token},
            "calls": {
                "max_attempts": 1,
                "min_talk_seconds": 10.0,
                **sounds_mode.get("calls", {}),
                **peer_calls,
            },
            "sounds": sounds_mode.get("sounds", {}),
            "calendar": {"first_call_delay": 0.0},
            "amd": peer_amd,
        },
    )
    # Business time starts when the business is open but flows at the real pace: the PBX runs in real time.
    clock = VirtualClock(start=OPEN_INSTANT, speed=1.0)
    async with Runtime(settings, clock, sms_gateway=ConsoleGateway(stream=None)) as runtime:
        assert runtime.events is not None
        await runtime.events.wait_connected(15.0)
        assert runtime.web_url is not None
        yield runtime, runtime.web_url, token


async def _story(
    runtime: Runtime, web: str, token: str, phone: str, *, attempts: int | None = None
) -> dict[str, Any]:
    """Submit a request and wait until it is closed (or until ``attempts`` attempts have an outcome)."""
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
            done = list(
                await session.scalars(
                    select(Attempt.id).where(Attempt.request_id == request_id, Attempt.outcome.is_not(None))
                )
            )
            if request.status in CLOSED or (attempts is not None and len(done) >= attempts):
                contact = await session.get(Contact, request.contact_id)
                assert contact is not None
                rows = list(
                    await session.scalars(
                        select(Attempt)
                        .where(Attempt.request_id == request_id, Attempt.outcome.is_not(None))
                        .order_by(Attempt.number)
                    )
                )
                legs = list(
                    await session.scalars(select(Leg).where(Leg.attempt_id.in_([a.id for a in rows])))
                )
                tags = list(
                    await session.scalars(select(ContactTag.tag).where(ContactTag.contact_id == contact.id))
                )
                return {
                    "status": request.status,
                    "outcomes": [a.outcome for a in rows],
                    "details": [a.outcome_detail for a in rows],
                    "talk": [a.talk_seconds for a in rows],
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


# -- issue 15: what real phones taught us ------------------------------------------------------------------


@pytest.mark.parametrize("peer_admin", ["PJSIP/admin-press1-late"])
async def test_real_asterisk_admin_pressing_1_during_the_spoken_number_talks_in_full(
    real_stack: tuple[Runtime, str, str],
) -> None:
    """admin-press1-late presses 1 about 6 s after answering: in the middle of the lead's digits. The whisper
    must stop for real, or the admin joins the bridge late (or never) and the talk is cut short."""
    result = await _story(*real_stack, phone="+12025550100")
    assert result["outcomes"] == ["completed"], result["details"]
    assert result["talk"][0] >= 20.0, result  # the lead-talk callee stays ~30 s after it answers


@pytest.mark.parametrize("peer_admin", ["PJSIP/admin-press1-then9"])
@pytest.mark.parametrize("peer_calls", [{"max_attempts": 2}])
async def test_real_asterisk_admin_pressing_9_on_a_voicemail_box_leaves_the_drop(
    real_stack: tuple[Runtime, str, str],
) -> None:
    """The first (non-final) attempt runs no AMD: the admin is bridged with the voicemail box and presses 9.
    With a plain mixing bridge the key never reached us and the box got a thank-you SMS."""
    result = await _story(*real_stack, phone="+12025550150", attempts=1)
    assert result["outcomes"][0] == "lead_machine", result["details"]
    assert "drop key" in result["details"][0] and "voicemail left" in result["details"][0], result["details"]


async def test_real_asterisk_twenty_created_leads_in_a_row_are_each_dialled_once(
    real_stack: tuple[Runtime, str, str],
) -> None:
    """Each lead leg is created, then dialled only after its StasisStart: no 409 ever becomes an outcome.
    +1303555010N answers, beeps and hangs up after 2 s (a short call), to keep the story short."""
    for n in range(20):
        result = await _story(*real_stack, phone=f"+130355501{n:02d}")
        assert result["outcomes"] == ["short_call"], (n, result["details"])
        assert len(result["lead_legs"]) == 1
        assert result["lead_legs"][0].cause == 16, (n, result["lead_legs"][0].cause_txt)


# -- issue 21: the voicemail drop's timing on real greetings --------------------------------------------

GREETINGS = {
    "3 s greeting": "+12025550153",
    "10 s greeting": "+12025550160",
    "25 s greeting": "+12025550175",
    "greeting with a 2 s pause": "+12025550152",
    "no audio after the beep": "+12025550151",
}


@pytest.mark.parametrize("phone", list(GREETINGS.values()), ids=list(GREETINGS))
async def test_real_asterisk_drop_starts_after_the_beep(
    real_stack: tuple[Runtime, str, str], phone: str
) -> None:
    """`voicemail_left` only when the whole message went onto the recording: after the greeting's end (a
    pause is not its end), never over it; a box that goes quiet without sending audio still gets it."""
    result = await _story(*real_stack, phone=phone)
    assert result["outcomes"] == ["voicemail_left"], result["details"]
    assert result["lead_legs"][0].amd_status == "MACHINE"
    assert "before the beep" not in result["details"][0]
