"""The factory, the console gateway and the token bucket."""

from __future__ import annotations

import io

import pytest
from pydantic import SecretStr

from ari_app.settings import SmsSettings
from ari_app.sms.console import ConsoleGateway
from ari_app.sms.gateway import SmsPermanentError, TokenBucket, make_gateway
from ari_app.sms.kannel import KannelGateway
from ari_app.sms.twilio import TwilioGateway
from ari_app.sms.webhook import WebhookGateway


@pytest.mark.parametrize(
    ("gateway", "cls", "confirms"),
    [
        ("console", ConsoleGateway, True),
        ("kannel", KannelGateway, True),
        ("twilio", TwilioGateway, False),
        ("webhook", WebhookGateway, True),
    ],
)
async def test_make_gateway_picks_the_configured_one(gateway: str, cls: type, confirms: bool) -> None:
    settings = SmsSettings(gateway=gateway, url="http://127.0.0.1:1", password=SecretStr("pw"))  # type: ignore[arg-type]
    gw = make_gateway(settings)
    try:
        assert isinstance(gw, cls)
        assert gw.name == gateway
        assert gw.confirms_opt_out is confirms
    finally:
        await gw.close()


async def test_confirm_opt_out_setting_overrides_the_gateway_default() -> None:
    gw = make_gateway(SmsSettings(gateway="twilio", confirm_opt_out=True))
    try:
        assert gw.confirms_opt_out is True
    finally:
        await gw.close()


async def test_kannel_sendsms_url_from_a_base_url() -> None:
    gw = KannelGateway(url="http://127.0.0.1:13013/", user="u", password="p", sender="s")
    assert gw.sendsms_url == "http://127.0.0.1:13013/cgi-bin/sendsms"
    await gw.close()


async def test_console_prints_and_keeps_each_message_once() -> None:
    out = io.StringIO()
    gw = ConsoleGateway(stream=out)
    await gw.send("+15551234567", "Hello Ann", idempotency_key="ob-1")
    await gw.send("+15551234567", "Hello Ann", idempotency_key="ob-1")  # a retry of the same row
    await gw.send("+15551234567", "Zoë 😀", idempotency_key="ob-2")
    assert [(m.to, m.body, m.encoding) for m in gw.sent] == [
        ("+15551234567", "Hello Ann", "GSM-7"),
        ("+15551234567", "Zoë 😀", "UCS-2"),
    ]
    assert out.getvalue().splitlines() == [
        "[sms] to +15551234567: Hello Ann",
        "[sms] to +15551234567: Zoë 😀",
    ]


def test_permanent_error_always_has_a_reason() -> None:
    assert SmsPermanentError("").reason


async def test_token_bucket_paces_after_the_burst() -> None:
    now = [100.0]
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(2.0, burst=2, monotonic=lambda: now[0], sleep=fake_sleep)
    for _ in range(4):
        await bucket.acquire()
    assert waits == [pytest.approx(0.5), pytest.approx(0.5)]  # two free, then one every 1/rate s


async def test_token_bucket_with_no_rate_never_waits() -> None:
    async def no_sleep(seconds: float) -> None:
        raise AssertionError("must not wait")

    bucket = TokenBucket(0, sleep=no_sleep)
    for _ in range(100):
        await bucket.acquire()
