"""TwilioGateway against a loopback HTTP server that answers like Twilio's Messages API."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web

from ari_app.sms.gateway import InboundAuthError, SmsPermanentError, SmsTemporaryError
from ari_app.sms.twilio import (
    SIGNATURE_HEADER,
    TwilioGateway,
    parse_twilio_inbound,
    parse_twilio_status,
    twilio_signature,
    verify_twilio_signature,
)

from .conftest import serve

SID = "AC0123456789abcdef0123456789abcdef"
TOKEN = "twilio-test-token"

# Scripted recipients, like Twilio's magic test numbers.
ANSWERS: dict[str, tuple[int, dict[str, object]]] = {
    "+15005550001": (400, {"code": 21211, "message": "The 'To' number is not a valid phone number."}),
    "+15005550002": (400, {"code": 21610, "message": "Attempt to send to unsubscribed recipient"}),
    "+15005550003": (429, {"code": 20429, "message": "Too Many Requests"}),
    "+15005550004": (503, {"code": 20500, "message": "Service unavailable"}),
}  # fmt: skip


@dataclass
class FakeTwilio:
    url: str = ""
    requests: list[dict[str, str]] = field(default_factory=list)
    slow: bool = False
    release: asyncio.Event = field(default_factory=asyncio.Event)


@pytest.fixture
async def provider() -> AsyncIterator[FakeTwilio]:
    fake = FakeTwilio()

    async def messages(request: web.Request) -> web.Response:
        expected = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
        if request.match_info["sid"] != SID or request.headers.get("Authorization") != expected:
            return web.json_response({"code": 20003, "message": "Authenticate"}, status=401)
        form = {k: str(v) for k, v in (await request.post()).items()}
        fake.requests.append(form)
        if fake.slow:  # hold the answer until the test is over
            await asyncio.wait_for(fake.release.wait(), 5)
        status, body = ANSWERS.get(form["To"], (201, {"sid": "SM" + "0" * 32, "status": "queued"}))
        return web.json_response({**body, "status": body.get("status", status)}, status=status)

    app = web.Application()
    app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", messages)
    runner, fake.url = await serve(app)
    try:
        yield fake
    finally:
        fake.release.set()
        await runner.cleanup()


def gateway(
    provider: FakeTwilio, token: str = TOKEN, sender: str = "+15550100", **kw: float
) -> TwilioGateway:
    return TwilioGateway(
        url=provider.url, account_sid=SID, auth_token=token, sender=sender, rate_per_second=0, **kw
    )


async def test_twilio_send_posts_the_documented_form(provider: FakeTwilio) -> None:
    gw = gateway(provider)
    try:
        result = await gw.send(
            "+15551234567", "Hello Ann", idempotency_key="ob-1", dlr_url="https://cb.example/sms/dlr"
        )
    finally:
        await gw.close()
    assert (result.provider_message_id, result.status) == ("SM" + "0" * 32, "queued")
    assert provider.requests == [
        {
            "To": "+15551234567",
            "From": "+15550100",
            "Body": "Hello Ann",
            "StatusCallback": "https://cb.example/sms/dlr?key=ob-1",
        }
    ]
    assert gw.confirms_opt_out is False


async def test_twilio_messaging_service_sender(provider: FakeTwilio) -> None:
    gw = gateway(provider, sender="MG" + "1" * 32)
    try:
        await gw.send("+15551234567", "Hi", idempotency_key="ob-2")
    finally:
        await gw.close()
    assert provider.requests[0]["MessagingServiceSid"] == "MG" + "1" * 32
    assert "From" not in provider.requests[0]


@pytest.mark.parametrize(
    ("to", "error", "reason"),
    [
        ("+15005550001", SmsPermanentError, "Twilio 21211: The 'To' number is not a valid phone number."),
        ("+15005550002", SmsPermanentError, "Twilio 21610: Attempt to send to unsubscribed recipient"),
        ("+15005550003", SmsTemporaryError, "Twilio 20429: Too Many Requests"),
        ("+15005550004", SmsTemporaryError, "Twilio 20500: Service unavailable"),
    ],
)  # fmt: skip
async def test_twilio_errors_are_mapped(
    provider: FakeTwilio, to: str, error: type[Exception], reason: str
) -> None:
    gw = gateway(provider)
    try:
        with pytest.raises(error) as caught:
            await gw.send(to, "Hi", idempotency_key="ob-3")
    finally:
        await gw.close()
    assert caught.value.reason == reason  # type: ignore[attr-defined]


async def test_twilio_bad_credentials_are_permanent(provider: FakeTwilio) -> None:
    gw = gateway(provider, token="wrong")
    try:
        with pytest.raises(SmsPermanentError, match="20003"):
            await gw.send("+15551234567", "Hi", idempotency_key="ob-4")
    finally:
        await gw.close()


async def test_twilio_lost_answer_is_temporary_and_maybe_sent(provider: FakeTwilio) -> None:
    provider.slow = True
    gw = gateway(provider, timeout=0.3)
    try:
        with pytest.raises(SmsTemporaryError) as caught:
            await gw.send("+15551234567", "Hi", idempotency_key="ob-5")
    finally:
        await gw.close()
    assert caught.value.maybe_sent is True


async def test_twilio_unreachable_is_temporary_and_not_sent() -> None:
    gw = TwilioGateway(
        url="http://127.0.0.1:9", account_sid=SID, auth_token=TOKEN, sender="+1", rate_per_second=0
    )
    try:
        with pytest.raises(SmsTemporaryError) as caught:
            await gw.send("+15551234567", "Hi", idempotency_key="ob-6")
    finally:
        await gw.close()
    assert caught.value.maybe_sent is False
    assert TOKEN not in caught.value.reason


def test_twilio_published_signature_example() -> None:
    # The worked example in Twilio's "Webhooks security" documentation.
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    assert twilio_signature("12345", url, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert verify_twilio_signature("12345", url, params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    assert not verify_twilio_signature(
        "12345", url, {**params, "Digits": "9999"}, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    )
    assert not verify_twilio_signature(
        "12345", url.replace("bar=2", "bar=3"), params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    )
    assert not verify_twilio_signature("12345", url, params, None)


async def test_twilio_inbound_webhook_round_trip_over_http() -> None:
    """A signed form POST, as Twilio sends it, checked by a handler that knows only the token."""
    seen: list[object] = []

    async def inbound(request: web.Request) -> web.Response:
        form = [(k, str(v)) for k, v in (await request.post()).items()]
        try:
            sms = parse_twilio_inbound(
                form, url=str(request.url), signature=request.headers.get(SIGNATURE_HEADER), auth_token=TOKEN
            )
        except InboundAuthError as exc:
            return web.Response(status=exc.http_status)
        seen.append(sms)
        return web.Response(text="<Response/>", content_type="text/xml")

    app = web.Application()
    app.router.add_post("/sms/twilio", inbound)
    runner, base = await serve(app)
    try:
        url = f"{base}/sms/twilio?site=main"
        form = {"From": "+15551234567", "To": "+15550100", "Body": "Stop", "MessageSid": "SM1"}
        async with aiohttp.ClientSession() as session:
            good = {SIGNATURE_HEADER: twilio_signature(TOKEN, url, form)}
            async with session.post(url, data=form, headers=good) as response:
                assert response.status == 200
            forged = {SIGNATURE_HEADER: twilio_signature("other-token", url, form)}
            async with session.post(url, data=form, headers=forged) as response:
                assert response.status == 403
    finally:
        await runner.cleanup()
    assert [(s.from_phone, s.to, s.text) for s in seen] == [("+15551234567", "+15550100", "Stop")]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("queued", "queued"), ("sent", "sent"), ("delivered", "delivered"),
        ("undelivered", "failed"), ("failed", "failed"),
    ],
)  # fmt: skip
def test_twilio_status_callback(status: str, expected: str) -> None:
    url = "https://cb.example/sms/dlr?key=ob-9"
    form = {"MessageSid": "SM1", "MessageStatus": status}
    if expected == "failed":
        form |= {"ErrorCode": "30003", "ErrorMessage": "Unreachable destination handset"}
    report = parse_twilio_status(
        form, url=url, signature=twilio_signature(TOKEN, url, form), auth_token=TOKEN
    )
    assert (report.idempotency_key, report.status) == ("ob-9", expected)
    if expected == "failed":
        assert report.reason == "Twilio 30003 Unreachable destination handset"


def test_twilio_status_callback_needs_the_signature() -> None:
    with pytest.raises(InboundAuthError):
        parse_twilio_status(
            {"MessageStatus": "delivered"},
            url="https://cb.example/d?key=k",
            signature="AAAA",
            auth_token=TOKEN,
        )
