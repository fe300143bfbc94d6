"""The ARI contract suite's peer: the simulator by default, a real Asterisk when told.

Set ``CALLBACK_TEST_ARI_URL`` (e.g. http://127.0.0.1:8088), ``CALLBACK_TEST_ARI_USER`` and
``CALLBACK_TEST_ARI_PASSWORD`` to run the same tests against a real Asterisk 20/22. That Asterisk needs
the callees of ``scenario.toml`` as extensions behind ``PJSIP/{name}@trunk`` (override the template with
``CALLBACK_TEST_TARGET_TEMPLATE``) and an AMD context (``CALLBACK_TEST_AMD_CONTEXT``, default
``callback-amd``, extension ``s``) that runs AMD() then
``Stasis(${CALLBACK_APP},amd,${AMDSTATUS},${AMDCAUSE})``, and the admin endpoints of
``tests/asterisk_peer/README.md`` as ``PJSIP/{name}`` (override with ``CALLBACK_TEST_ADMIN_TEMPLATE``).
"""

from __future__ import annotations

import base64
import os
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from ari_app.ari import AriClient, EventConnection, EventRouter

SCENARIO = Path(__file__).with_name("scenario.toml")
SPEED = 20.0
# The real peer's sound files (tests/asterisk_peer/README.md), so a test times a stop the same way on both.
SOUNDS = {"hello-world": 1.2, "machine-greeting": 6.7, "beep": 0.3}
REAL_URL = os.environ.get("CALLBACK_TEST_ARI_URL", "")
REAL = bool(REAL_URL)

needs_simulator = pytest.mark.skipif(
    REAL, reason="needs the simulator's inspection/fault endpoints (/_simulator/...), not a real Asterisk"
)
real_asterisk_only = pytest.mark.skipif(
    not REAL,
    reason="real Asterisk only: set CALLBACK_TEST_ARI_URL, CALLBACK_TEST_ARI_USER and "
    "CALLBACK_TEST_ARI_PASSWORD",
)


def pytest_report_header(config: pytest.Config) -> list[str]:
    if REAL:
        return [f"ARI contract peer: real Asterisk at {urlsplit(REAL_URL).netloc}"]
    return [
        f"ARI contract peer: the simulator (speed {SPEED:g}); real-Asterisk-only tests skip until "
        "CALLBACK_TEST_ARI_URL/_USER/_PASSWORD are set"
    ]


@dataclass
class Peer:
    base_url: str
    user: str
    password: str
    real: bool
    template: str
    amd_context: str
    amd_extension: str
    admin_template: str = "PJSIP/{name}"

    def endpoint(self, name: str) -> str:
        """A dial target both peers understand, e.g. ``PJSIP/sim-busy@trunk``."""
        return self.template.format(name=name, number=name)

    def admin(self, name: str) -> str:
        """An admin phone both peers have, e.g. ``PJSIP/admin-press1-then9`` (a SIP leg on both)."""
        return self.admin_template.format(name=name)

    def wall(self, seconds: float) -> float:
        """Wall seconds for ``seconds`` of call time: the simulator runs SPEED times faster."""
        return seconds if self.real else seconds / SPEED

    @property
    def host_port(self) -> tuple[str, int]:
        parts = urlsplit(self.base_url)
        return parts.hostname or "127.0.0.1", parts.port or (443 if parts.scheme == "https" else 80)

    async def simulator(self, method: str, path: str, body: Any = None) -> Any:
        """Call the simulator's own inspection/fault API (``/_simulator/...``)."""
        assert not self.real, "only the simulator has /_simulator/"
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        headers = {"Authorization": f"Basic {token}"}
        timeout = aiohttp.ClientTimeout(total=10)
        async with (
            aiohttp.ClientSession(headers=headers, timeout=timeout) as session,
            session.request(method, self.base_url + path, json=body) as resp,
        ):
            resp.raise_for_status()
            return await resp.json() if resp.content_length != 0 else None


@pytest.fixture
async def peer() -> AsyncIterator[Peer]:
    template = os.environ.get("CALLBACK_TEST_TARGET_TEMPLATE", "PJSIP/{name}@trunk")
    amd_context = os.environ.get("CALLBACK_TEST_AMD_CONTEXT", "callback-amd")
    amd_extension = os.environ.get("CALLBACK_TEST_AMD_EXTENSION", "s")
    admin_template = os.environ.get("CALLBACK_TEST_ADMIN_TEMPLATE", "PJSIP/{name}")
    if REAL:
        yield Peer(
            base_url=REAL_URL.rstrip("/"),
            user=os.environ.get("CALLBACK_TEST_ARI_USER", ""),
            password=os.environ.get("CALLBACK_TEST_ARI_PASSWORD", ""),
            real=True,
            template=template,
            amd_context=amd_context,
            amd_extension=amd_extension,
            admin_template=admin_template,
        )
        return
    from ari_app.simulator.scenario import Scenario
    from ari_app.simulator.server import SimulatorServer

    user, password = "contract", secrets.token_urlsafe(12)
    async with SimulatorServer(
        host="127.0.0.1",
        port=0,
        user=user,
        password=password,
        scenario=Scenario.from_toml(SCENARIO),
        speed=SPEED,
        sounds_durations=SOUNDS,
    ) as sim:
        yield Peer(
            base_url=sim.base_url.rstrip("/"),
            user=user,
            password=password,
            real=False,
            template=template,
            amd_context=amd_context,
            amd_extension=amd_extension,
            admin_template=admin_template,
        )


@pytest.fixture
def app_name() -> str:
    """One Stasis application per test: a second socket under one name would take it over."""
    return f"contract-{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def ari(peer: Peer) -> AsyncIterator[AriClient]:
    async with AriClient(peer.base_url, peer.user, peer.password, timeout=5.0) as client:
        yield client


@dataclass
class Events:
    router: EventRouter
    conn: EventConnection


@pytest.fixture
async def events(peer: Peer, app_name: str) -> AsyncIterator[Events]:
    router = EventRouter()
    async with EventConnection(
        peer.base_url, peer.user, peer.password, app_name, on_event=router.dispatch, backoff_initial=0.05
    ) as conn:
        await conn.wait_connected(5)
        yield Events(router, conn)


@pytest.fixture
def channel_id() -> str:
    return f"ct-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def hangup_later(ari: AriClient) -> AsyncIterator[list[str]]:
    """Channel ids to hang up when the test ends, so a real Asterisk isn't left ringing."""
    ids: list[str] = []
    yield ids
    from ari_app.ari import AriError

    for cid in ids:
        try:
            await ari.hangup(cid)
        except AriError:
            pass  # already gone: the usual case
