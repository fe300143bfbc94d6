"""Fixtures for the SMS edge: a loopback HTTP server standing in for our web endpoints, and real Kannel."""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from ari_app.sms.kannel import kannel_sms_service_url

from .kannel_harness import KannelHarness

# The Kannel stack tests reuse the whole stack of the end-to-end tests (``tests/e2e/e2ekit.py``).
_E2E = str(Path(__file__).resolve().parents[1] / "e2e")
if _E2E not in sys.path:
    sys.path.insert(0, _E2E)


@dataclass
class Recorder:
    """A real HTTP server on loopback that records what reaches it (raw query strings, bodies)."""

    url: str = ""
    inbound: list[str] = field(default_factory=list)
    dlrs: list[str] = field(default_factory=list)

    async def wait_for(self, items: Callable[[], list[str]], count: int, within: float = 10.0) -> list[str]:
        deadline = time.monotonic() + within
        while len(items()) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"expected {count} requests, got {items()}")
            await asyncio.sleep(0.05)
        return items()


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


@pytest.fixture
async def our_endpoints() -> AsyncIterator[Recorder]:
    recorder = Recorder()

    async def inbound(request: web.Request) -> web.Response:
        recorder.inbound.append(request.rel_url.raw_query_string)
        # Kannel would text this back to the phone without max-messages = 0.
        return web.Response(text="THIS ANSWER MUST NOT REACH THE PHONE")

    async def dlr(request: web.Request) -> web.Response:
        recorder.dlrs.append(request.rel_url.raw_query_string)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/sms/inbound", inbound)
    app.router.add_get("/sms/dlr", dlr)
    runner, recorder.url = await serve(app)
    try:
        yield recorder
    finally:
        await runner.cleanup()


@pytest.fixture
def inbound_secret() -> str:
    return secrets.token_urlsafe(16)


@pytest.fixture
async def kannel(
    tmp_path: Path, our_endpoints: Recorder, inbound_secret: str
) -> AsyncIterator[KannelHarness]:
    harness = KannelHarness(
        tmp_path,
        get_url=kannel_sms_service_url(f"{our_endpoints.url}/sms/inbound", inbound_secret),
        user="callback",
        password=secrets.token_urlsafe(12),
    )
    try:
        await harness.start()
        yield harness
    finally:
        await harness.close()
