"""A whole stack for end-to-end tests: the ARI simulator as the PBX, the app's Runtime (web + worker +
SMS sender) on a virtual clock, SQLite (or PostgreSQL) — all real processes' code talking over loopback."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from ari_app.app import Runtime
from ari_app.audio.manifest import SHIPPED_SOUNDS, sound_durations
from ari_app.clock import VirtualClock
from ari_app.http.basic_auth import basic_auth
from ari_app.settings import Settings, load_settings
from ari_app.simulator.scenario import Scenario
from ari_app.simulator.server import SimulatorServer
from ari_app.sms.console import ConsoleGateway
from ari_app.store.models import Attempt, CallbackRequest, Contact, ContactTag, Note, SmsOutbox

# A Tuesday, noon in New York: open, and inside quiet hours for every continental US lead.
REPO = Path(__file__).resolve().parents[2]
OPEN_INSTANT = datetime.fromisoformat("2026-03-03T17:00:00+00:00")
SPEED = 100.0
CLOSED = ("completed", "incomplete", "cancelled")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    settings: Settings
    runtime: Runtime
    sim_url: str
    http: aiohttp.ClientSession
    token: str
    sim_auth: dict[str, str]
    sms: ConsoleGateway | None  # None: the configured gateway (see open_stack)

    @property
    def web(self) -> str:
        assert self.runtime.web_url is not None
        return self.runtime.web_url

    async def submit(
        self, phone: str, first: str = "Ada", last: str = "Lovelace", reason: str = "Call me"
    ) -> int:
        body = {"first_name": first, "last_name": last, "phone": phone, "reason": reason, "consent": True}
        async with self.http.post(
            f"{self.web}/api/v1/callback-requests",
            json=body,
            headers={"Authorization": f"Bearer {self.token}"},
        ) as resp:
            answer = await resp.json()
            assert resp.status == 201, answer
            return int(answer["id"])

    async def contact(self, contact_id: int) -> dict[str, Any]:
        async with self.http.get(
            f"{self.web}/api/v1/contacts/{contact_id}", headers={"Authorization": f"Bearer {self.token}"}
        ) as resp:
            assert resp.status == 200
            return dict(await resp.json())

    async def wait_request(
        self, request_id: int, *, until: tuple[str, ...] = CLOSED, within: float = 60.0
    ) -> str:
        """Wait (wall time, bounded) until the request reaches one of ``until`` with nothing in flight."""
        services = self.runtime.services
        assert services is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            async with services.sessions() as session:
                request = await session.get(CallbackRequest, request_id)
                assert request is not None
                busy = await session.scalar(
                    select(Attempt.id).where(
                        Attempt.request_id == request_id, Attempt.status.in_(("claimed", "running"))
                    )
                )
                queued = await session.scalar(
                    select(SmsOutbox.id).where(
                        SmsOutbox.request_id == request_id, SmsOutbox.status.in_(("queued", "sending"))
                    )
                )
            if request.status in until and busy is None and queued is None:
                return request.status
            assert loop.time() < deadline, f"request {request_id} still {request.status}"
            await asyncio.sleep(0.05)

    async def wait_outcomes(self, request_id: int, count: int, within: float = 60.0) -> list[str]:
        services = self.runtime.services
        assert services is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            outcomes = await self.outcomes(request_id)
            if len(outcomes) >= count:
                return outcomes
            assert loop.time() < deadline, f"only {outcomes} after {within} s"
            await asyncio.sleep(0.05)

    async def outcomes(self, request_id: int) -> list[str]:
        services = self.runtime.services
        assert services is not None
        async with services.sessions() as session:
            rows = await session.scalars(
                select(Attempt.outcome)
                .where(Attempt.request_id == request_id, Attempt.outcome.is_not(None))
                .order_by(Attempt.number)
            )
            return [str(o) for o in rows]

    async def state(self, request_id: int) -> dict[str, Any]:
        """What the database says about the request's contact: tags, stage, SMS kinds, notes."""
        services = self.runtime.services
        assert services is not None
        async with services.sessions() as session:
            request = await session.get(CallbackRequest, request_id)
            assert request is not None
            contact = await session.get(Contact, request.contact_id)
            assert contact is not None
            tags = sorted(
                await session.scalars(select(ContactTag.tag).where(ContactTag.contact_id == contact.id))
            )
            sms = list(
                await session.scalars(
                    select(SmsOutbox).where(SmsOutbox.contact_id == contact.id).order_by(SmsOutbox.id)
                )
            )
            notes = list(await session.scalars(select(Note.text).where(Note.contact_id == contact.id)))
            return {
                "status": request.status,
                "tags": tags,
                "stage": contact.pipeline_stage,
                "sms": [(m.kind, m.status) for m in sms],
                "sms_bodies": [m.body for m in sms],
                "notes": notes,
                "number_invalid": contact.number_invalid,
                "lead_attempts_used": request.lead_attempts_used,
                "contact_id": contact.id,
            }

    async def scenario(self, callees: list[dict[str, Any]]) -> None:
        async with self.http.put(
            f"{self.sim_url}/_simulator/scenario", json={"callee": callees}, headers=self.sim_auth
        ) as resp:
            assert resp.status == 200, await resp.text()

    async def sim(self, path: str, **params: str) -> Any:
        async with self.http.get(
            f"{self.sim_url}/_simulator/{path}", params=params, headers=self.sim_auth
        ) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()

    async def lead_dials(self, phone: str) -> list[dict[str, Any]]:
        dials = await self.sim("dials", number=phone)
        return [d for d in dials if "-lead-" in str(d.get("channel_id", ""))]


def stack_settings(db_url: str, sim_url: str, token: str, **sections: Any) -> Settings:
    base: dict[str, Any] = {
        "ari": {"url": sim_url},
        "database": {"url": db_url},
        "web": {"port": free_port()},
        "api": {"token": token},
        "calls": {"retry_delay": 60.0, "admin_retry_delay": 30.0, "system_retry_delay": 30.0},
        "calendar": {"first_call_delay": 1.0},
        "sms": {"inbound_secret": "e2e-inbound-secret-0123"},
    }
    for name, values in sections.items():
        # A table is merged into the defaults; a list (``admins``) replaces them.
        base[name] = values if isinstance(values, list) else {**base.get(name, {}), **values}
    return load_settings(None, environ={}, overrides=base)


@pytest.fixture
def stack_overrides() -> dict[str, dict[str, Any]]:
    """Tests override settings sections through this fixture (indirect parametrisation or redefinition)."""
    return {}


@contextlib.asynccontextmanager
async def open_simulator() -> AsyncIterator[SimulatorServer]:
    """The PBX: one simulator, which several installations may share."""
    durations = sound_durations(SHIPPED_SOUNDS)
    async with SimulatorServer(
        port=0, speed=SPEED, scenario=Scenario.default(), sounds_durations=durations
    ) as sim:
        yield sim


@contextlib.asynccontextmanager
async def open_runtime(
    sim: SimulatorServer,
    db_path: Path,
    overrides: dict[str, dict[str, Any]],
    *,
    configured_sms: bool = False,
    db_url: str | None = None,
) -> AsyncIterator[Stack]:
    """One installation (its own database, Stasis application and web port) on ``sim``; on a SQLite file
    at ``db_path`` unless ``db_url`` names another database."""
    token = secrets.token_urlsafe(16)
    url = db_url or f"sqlite+aiosqlite:///{db_path}"
    settings = stack_settings(url, sim.base_url, token, **overrides)
    sms = None if configured_sms else ConsoleGateway()
    clock = VirtualClock(start=OPEN_INSTANT, speed=SPEED)
    async with (
        Runtime(settings, clock, sms_gateway=sms) as runtime,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http,
    ):
        assert runtime.events is not None
        await runtime.events.wait_connected(10.0)
        auth = basic_auth(settings.ari.user, settings.ari.password.get_secret_value())
        yield Stack(settings, runtime, sim.base_url, http, token, auth, sms)


@contextlib.asynccontextmanager
async def open_stack(
    tmp_path: Path, overrides: dict[str, dict[str, Any]], *, configured_sms: bool = False
) -> AsyncIterator[Stack]:
    """The whole stack. SMS go to an in-memory console gateway, or with ``configured_sms`` to the gateway
    the ``sms`` settings name (a real Kannel, say); then ``Stack.sms`` is None."""
    async with (
        open_simulator() as sim,
        open_runtime(sim, tmp_path / "e2e.db", overrides, configured_sms=configured_sms) as opened,
    ):
        yield opened


@pytest.fixture
async def stack(tmp_path: Any, stack_overrides: dict[str, dict[str, Any]]) -> AsyncIterator[Stack]:
    async with open_stack(tmp_path, stack_overrides) as opened:
        yield opened


def real_ari(name: str, **extra: str) -> dict[str, str]:
    """The [ari] settings for the real Asterisk peer (CALLBACK_TEST_ARI_*), with an application of its own."""
    return {
        "url": os.environ.get("CALLBACK_TEST_ARI_URL", ""),
        "user": os.environ.get("CALLBACK_TEST_ARI_USER", "callback"),
        "password": os.environ.get("CALLBACK_TEST_ARI_PASSWORD", "callback"),
        "app": f"callback-{name}-{secrets.token_hex(3)}",
        **extra,
    }
