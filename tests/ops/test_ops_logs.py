"""JSON logs: one object per line, with the request, contact and attempt ids; secrets never written."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from e2ekit import Stack

from ari_app.logs import configure_logging, log_ids, protect_settings
from ari_app.settings import load_settings
from ari_app.sms.kannel import dlr_signature

log = logging.getLogger("ari_app.tests.ops")

SECRETS = {
    "ari": "ari-pw-Zq81x",
    "sms": "sms-pw-Lk30v",
    "token": "api-token-Qm77w",
    "db": "db-pw-Hs52t",
    "webhook": "hook-secret-Yy19d",
}


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    stream = io.StringIO()
    configure_logging("json", stream=stream)
    try:
        yield stream
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_each_line_is_one_json_object_with_the_ids(json_log: io.StringIO) -> None:
    with log_ids(request_id="req-1", contact_id=5, attempt_id=7):
        log.info("dialling %s", "the lead")
    log.warning("outside")
    first, second = lines(json_log)
    assert first["msg"] == "dialling the lead" and first["level"] == "info"
    assert (first["request_id"], first["contact_id"], first["attempt_id"]) == ("req-1", 5, 7)
    assert first["logger"] == "ari_app.tests.ops" and first["ts"].endswith("+00:00")
    assert "request_id" not in second and "attempt_id" not in second


async def test_a_worker_attempt_task_tags_its_lines(json_log: io.StringIO) -> None:
    async def call() -> None:
        log.info("in the call")

    await asyncio.create_task(call(), name="attempt-42")
    assert lines(json_log)[0]["attempt_id"] == 42


def test_secrets_never_reach_the_log(json_log: io.StringIO) -> None:
    settings = load_settings(
        None,
        environ={},
        overrides={
            "ari": {"password": SECRETS["ari"]},
            "sms": {"password": SECRETS["sms"]},
            "api": {"token": SECRETS["token"]},
            "database": {"url": f"postgresql+asyncpg://cb:{SECRETS['db']}@db.example/cb"},
            "webhooks": {"secret": SECRETS["webhook"]},
        },
    )
    protect_settings(settings)
    log.info("connecting with %s", settings.ari.password.get_secret_value())
    log.info("ws://127.0.0.1:8088/ari/events?app=callback-app&api_key=callback:%s", SECRETS["ari"])
    log.info("sendsms?username=cb&password=%s&to=1", SECRETS["sms"])
    log.info("headers: {'Authorization': 'Bearer %s'}", SECRETS["token"])
    log.info("database %s", settings.database.url)
    log.info("webhook secret %r", SECRETS["webhook"])
    log.info("a token nobody configured: Authorization: Bearer some-other-token-123")
    try:
        raise ConnectionError(f"cannot reach https://user:{SECRETS['sms']}@sms.example/send")
    except ConnectionError:
        log.exception("sending failed")
    text = json_log.getvalue()
    for secret in SECRETS.values():
        assert secret not in text
    assert "some-other-token-123" not in text
    assert len(lines(json_log)) == 8
    assert "api_key=***" in text and "***@sms.example" in text


def test_the_published_default_password_is_not_blanked_everywhere(json_log: io.StringIO) -> None:
    protect_settings(load_settings(None, environ={}))  # ari.password defaults to "callback"
    log.info("worker callback-app on ARI")
    assert lines(json_log)[0]["msg"] == "worker callback-app on ARI"


async def test_a_request_s_lines_carry_its_request_id(stack: Stack, json_log: io.StringIO) -> None:
    protect_settings(stack.settings)
    secret = stack.settings.sms.inbound_secret.get_secret_value()
    query = {"key": "no-such-message", "sig": dlr_signature(secret, "no-such-message"), "type": "1"}
    async with stack.http.get(f"{stack.web}/hooks/kannel/dlr", params=query) as resp:
        assert resp.status == 200
        chosen = resp.headers["X-Request-Id"]
    async with stack.http.get(
        f"{stack.web}/hooks/kannel/dlr", params=query, headers={"X-Request-Id": "from-the-proxy-1"}
    ) as resp:
        assert resp.headers["X-Request-Id"] == "from-the-proxy-1"
    ignored = [line for line in lines(json_log) if "unknown message" in line["msg"]]
    assert [line["request_id"] for line in ignored] == [chosen, "from-the-proxy-1"]


async def test_a_call_s_lines_carry_its_attempt_id(stack: Stack, json_log: io.StringIO) -> None:
    request_id = await stack.submit("+12125550143", first="Grace", last="Hopper")
    assert await stack.wait_request(request_id) == "completed"
    outcome = [line for line in lines(json_log) if "Grace Hopper ended: completed" in line["msg"]]
    assert len(outcome) == 1 and outcome[0]["attempt_id"] >= 1
    assert stack.token not in json_log.getvalue()


@pytest.fixture
def text_log() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    stream = io.StringIO()
    configure_logging("text", stream=stream)
    try:
        yield stream
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)


async def test_the_log_tells_each_step_of_a_callback_once(stack: Stack, text_log: io.StringIO) -> None:
    """What "watch the log" promises: one line per step, at the default level, numbers that agree."""
    phone = "+16175550100"
    await stack.scenario(
        [
            {
                "match": phone,
                "sequence": [
                    {"behaviour": "noanswer"},
                    {"behaviour": "answer", "answer_after": 1.0, "talk": 20.0},
                ],
            }
        ]
    )
    request_id = await stack.submit(phone, first="Grace", last="Hopper")
    assert await stack.wait_request(request_id, within=90.0) == "completed"
    await asyncio.sleep(0.5)  # the thank-you SMS leaves the outbox just after the call ends
    calls = [ln.split(": ", 1)[1] for ln in text_log.getvalue().splitlines() if " callback.calls: " in ln]
    steps = [
        "request from Grace Hopper (+16175550100): first call planned for 2026-03-03 12:00 EST "
        "(after the 1 s first-call delay)",
        "call 1 of 2 to Grace Hopper (+16175550100) starts [contact_id=1 attempt_id=1]",
        "ringing admin Admin (PJSIP/admin) [contact_id=1 attempt_id=1]",
        "admin Admin accepted (pressed 1) [contact_id=1 attempt_id=1]",
        "ringing the lead +16175550100 via PJSIP/+16175550100@trunk [contact_id=1 attempt_id=1]",
        "call 1 of 2 to Grace Hopper ended: lead_no_answer",
        "call 2 of 2 to Grace Hopper (+16175550100) starts (final; answering-machine detection on) "
        "[contact_id=1 attempt_id=2]",
        "ringing admin Admin (PJSIP/admin) [contact_id=1 attempt_id=2]",
        "admin Admin accepted (pressed 1) [contact_id=1 attempt_id=2]",
        "ringing the lead +16175550100 via PJSIP/+16175550100@trunk [contact_id=1 attempt_id=2]",
        "bridged: Admin and the lead are talking [contact_id=1 attempt_id=2]",
        "call 2 of 2 to Grace Hopper ended: completed",
    ]
    assert len(calls) == len(steps), "\n".join(calls)
    for got, want in zip(calls, steps, strict=True):
        assert got.startswith(want.split(" [")[0]), (got, want)
        if " [" in want:
            assert got.endswith(" [" + want.split(" [")[1]), (got, want)
    assert "next call 2026-03-03 12:0" in calls[5] and "EST" in calls[5]
    # Each SMS once: the missed-call text and the thank-you, one line each.
    state = await stack.state(request_id)
    for body in state["sms_bodies"]:
        assert text_log.getvalue().count(body) == 1, body
    assert len(state["sms_bodies"]) == 2
