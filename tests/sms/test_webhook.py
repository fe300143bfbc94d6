"""WebhookGateway against a loopback HTTP server that verifies our signature like a provider would."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from ari_app.sms.gateway import InboundAuthError, SmsPermanentError, SmsTemporaryError
from ari_app.sms.webhook import (
    SIGNATURE_HEADER,
    WebhookGateway,
    parse_webhook_dlr,
    parse_webhook_inbound,
    sign_webhook,
    verify_webhook_signature,
)

from .conftest import serve

SECRET = "webhook-test-secret"


@dataclass
class FakeProvider:
    url: str = ""
    received: list[dict[str, object]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture
async def provider() -> AsyncIterator[FakeProvider]:
    fake = FakeProvider()

    async def send(request: web.Request) -> web.Response:
        body = await request.read()
        if not verify_webhook_signature(SECRET, body, request.headers.get(SIGNATURE_HEADER)):
            return web.json_response({"error": "bad signature"}, status=401)
        data = json.loads(body)
        fake.received.append(data)
        fake.headers.append(dict(request.headers))
        if data["to"] == "+15550000400":
            return web.json_response({"error": "invalid number"}, status=400)
        if data["to"] == "+15550000503":
            return web.Response(text="try later", status=503)
        if data["to"] == "+15550000429":
            return web.Response(status=429)
        return web.json_response({"id": "p-1", "status": "sent"}, status=202)

    app = web.Application()
    app.router.add_post("/send", send)
    runner, base = await serve(app)
    fake.url = f"{base}/send"
    try:
        yield fake
    finally:
        await runner.cleanup()


async def test_webhook_send_posts_signed_json(provider: FakeProvider) -> None:
    gw = WebhookGateway(url=provider.url, secret=SECRET, sender="+15550100", rate_per_second=0)
    try:
        result = await gw.send("+15551234567", "Café ☕", idempotency_key="ob-1", dlr_url="https://cb/dlr")
    finally:
        await gw.close()
    assert (result.provider_message_id, result.status) == ("p-1", "sent")
    assert provider.received == [
        {
            "to": "+15551234567",
            "from": "+15550100",
            "body": "Café ☕",
            "idempotency_key": "ob-1",
            "dlr_url": "https://cb/dlr",
        }
    ]
    assert provider.headers[0]["Idempotency-Key"] == "ob-1"


@pytest.mark.parametrize(
    ("to", "error", "reason"),
    [
        ("+15550000400", SmsPermanentError, "webhook gateway answered 400: invalid number"),
        ("+15550000503", SmsTemporaryError, "webhook gateway answered 503: try later"),
        ("+15550000429", SmsTemporaryError, "webhook gateway answered 429"),
    ],
)
async def test_webhook_errors_are_mapped(
    provider: FakeProvider, to: str, error: type[Exception], reason: str
) -> None:
    gw = WebhookGateway(url=provider.url, secret=SECRET, rate_per_second=0)
    try:
        with pytest.raises(error) as caught:
            await gw.send(to, "hi", idempotency_key="ob-2")
    finally:
        await gw.close()
    assert caught.value.reason == reason  # type: ignore[attr-defined]


async def test_webhook_wrong_secret_is_refused_permanently(provider: FakeProvider) -> None:
    gw = WebhookGateway(url=provider.url, secret="not-the-secret", rate_per_second=0)
    try:
        with pytest.raises(SmsPermanentError, match="401: bad signature"):
            await gw.send("+15551234567", "hi", idempotency_key="ob-3")
    finally:
        await gw.close()
    assert provider.received == []


def test_webhook_signature_rejects_tampering_and_replays() -> None:
    body = b'{"from": "+15551234567", "to": "+15550100", "text": "STOP"}'
    now = time.time()
    header = sign_webhook(SECRET, body, int(now))
    assert verify_webhook_signature(SECRET, body, header, now=now)
    assert not verify_webhook_signature(SECRET, body.replace(b"STOP", b"HELP"), header, now=now)
    assert not verify_webhook_signature("other", body, header, now=now)
    assert not verify_webhook_signature(SECRET, body, header, now=now + 3600)
    assert not verify_webhook_signature(SECRET, body, "garbage", now=now)
    assert not verify_webhook_signature(SECRET, body, None, now=now)


def test_webhook_inbound_and_dlr_parse_after_verification() -> None:
    body = json.dumps({"from": "+15551234567", "to": "+15550100", "text": "Stop."}).encode()
    sms = parse_webhook_inbound(body, sign_webhook(SECRET, body), SECRET)
    assert (sms.from_phone, sms.to, sms.text) == ("+15551234567", "+15550100", "Stop.")
    with pytest.raises(InboundAuthError):
        parse_webhook_inbound(body, sign_webhook("other", body), SECRET)

    dlr = json.dumps({"idempotency_key": "ob-1", "status": "failed", "reason": "blocked"}).encode()
    report = parse_webhook_dlr(dlr, sign_webhook(SECRET, dlr), SECRET)
    assert (report.idempotency_key, report.status, report.reason) == ("ob-1", "failed", "blocked")
