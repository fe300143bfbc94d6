"""The optional CAPTCHA: checked with the provider from the server, against a local stand-in provider."""

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from webkit import count_rows, intake_body, make_settings, start_client

from ari_app.store.models import CallbackRequest

SECRET = "captcha-secret-xyz"
FORM = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "phone": "(201) 555-0123",
    "reason": "Roof quote",
    "consent": "yes",
}


class Provider:
    """Answers like Turnstile's siteverify: ``good`` passes, ``down`` is a 500, anything else fails."""

    def __init__(self) -> None:
        self.asked: list[dict[str, str]] = []

    async def siteverify(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.asked.append(form)
        if form.get("response") == "down":
            return web.Response(status=500)
        ok = form.get("secret") == SECRET and form.get("response") == "good"
        return web.json_response({"success": ok, "error-codes": [] if ok else ["invalid-input-response"]})


@pytest.fixture
async def provider() -> AsyncIterator[tuple[Provider, str]]:
    stand_in = Provider()
    app = web.Application()
    app.router.add_post("/siteverify", stand_in.siteverify)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield stand_in, str(server.make_url("/siteverify"))
    finally:
        await server.close()


@pytest.fixture
async def guarded(make_services: Any, provider: tuple[Provider, str]) -> AsyncIterator[TestClient[Any, Any]]:
    settings = make_settings(
        web={"captcha_provider": "turnstile", "captcha_secret": SECRET, "captcha_verify_url": provider[1]}
    )
    client = await start_client(make_services(settings))
    try:
        yield client
    finally:
        await client.close()


async def test_the_form_needs_a_token_the_provider_vouches_for(
    guarded: TestClient[Any, Any], provider: tuple[Provider, str], db_sessionmaker: Any
) -> None:
    stand_in, _ = provider
    missing = await guarded.post("/request", data=FORM)
    assert missing.status == 403 and "CAPTCHA" in await missing.text()
    assert stand_in.asked == []  # no token: nothing to ask
    wrong = await guarded.post("/request", data={**FORM, "cf-turnstile-response": "forged"})
    assert wrong.status == 403
    assert await count_rows(db_sessionmaker, CallbackRequest) == 0

    ok = await guarded.post("/request", data={**FORM, "cf-turnstile-response": "good"})
    assert ok.status == 200, await ok.text()
    assert await count_rows(db_sessionmaker, CallbackRequest) == 1
    assert stand_in.asked[-1] == {"secret": SECRET, "response": "good", "remoteip": "127.0.0.1"}


async def test_invalid_fields_are_answered_without_asking_the_provider(
    guarded: TestClient[Any, Any], provider: tuple[Provider, str]
) -> None:
    answer = await guarded.post(
        "/request", data={**FORM, "phone": "1234&Local/evil", "h-captcha-response": "good"}
    )
    assert answer.status == 422
    assert provider[0].asked == []


async def test_a_provider_that_fails_refuses_the_submission(
    guarded: TestClient[Any, Any], db_sessionmaker: Any
) -> None:
    answer = await guarded.post("/request", data={**FORM, "captcha_token": "down"})
    assert answer.status == 503 and "try again" in await answer.text()
    assert await count_rows(db_sessionmaker, CallbackRequest) == 0


async def test_the_json_intake_takes_the_token_in_a_header(
    guarded: TestClient[Any, Any], auth: dict[str, str], db_sessionmaker: Any
) -> None:
    api = "/api/v1/callback-requests"
    missing = await guarded.post(api, json=intake_body(), headers=auth)
    assert missing.status == 403 and (await missing.json())["error"] == "captcha-failed"
    ok = await guarded.post(api, json=intake_body(), headers={**auth, "X-Captcha-Token": "good"})
    assert ok.status == 201
    assert await count_rows(db_sessionmaker, CallbackRequest) == 1


async def test_without_a_provider_configured_no_token_is_needed(client: TestClient[Any, Any]) -> None:
    assert (await client.post("/request", data=FORM)).status == 200
