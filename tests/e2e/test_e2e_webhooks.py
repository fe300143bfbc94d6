"""Tag changes are published to the configured webhook URLs: signed, retried after a failure, logged."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from e2ekit import Stack, free_port
from sqlalchemy import select

from ari_app.store.models import WebhookDelivery

SECRET = "webhook-secret-for-tests"


class Receiver:
    """A real HTTP server standing in for the CRM: fails the first delivery, accepts the rest."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, Any], str, bool]] = []
        self.failures_left = 1

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        signature = request.headers.get("X-Callback-Signature", "")
        self.received.append((json.loads(body), signature, hmac.compare_digest(signature, expected)))
        if self.failures_left > 0:
            self.failures_left -= 1
            return web.Response(status=503)
        return web.Response(status=204)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield rec, f"http://127.0.0.1:{port}/hook"
    finally:
        await runner.cleanup()


@pytest.fixture
def stack_overrides(receiver: tuple[Receiver, str]) -> dict[str, dict[str, Any]]:
    return {"webhooks": {"urls": [receiver[1]], "secret": SECRET}}


async def test_tag_changes_reach_the_webhook_signed_and_retried(
    stack: Stack, receiver: tuple[Receiver, str]
) -> None:
    rec, _url = receiver
    phone = "+12025550140"
    await stack.scenario([{"match": phone, "behaviour": "answer", "talk": 30.0}])
    request_id = await stack.submit(phone, "Ada", "Hook")
    assert await stack.wait_request(request_id) == "completed"

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30.0
    services = stack.runtime.services
    assert services is not None
    while True:
        async with services.sessions() as session:
            rows = list(await session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))
        if rows and all(r.status == "delivered" for r in rows) and len(rows) >= 2:
            break
        assert loop.time() < deadline, [(r.status, r.tries, r.last_error) for r in rows]
        await asyncio.sleep(0.1)

    assert all(valid for _, _, valid in rec.received), "every delivery carries a valid HMAC-SHA256 signature"
    stages = [(body["type"], body["data"]["stage"]) for body, _, _ in rec.received]
    assert ("tag.changed", "Callback requested") in stages
    assert ("tag.changed", "Connected") in stages
    # The first delivery failed with 503 and was retried: its row shows two tries and the last error cleared.
    first = rows[0]
    assert first.tries == 2
    assert first.last_status_code == 204
    assert [body["id"] for body, _, _ in rec.received].count(first.event_id) == 2
