"""Who may call which route: every route not declared public needs a bearer token."""

import re
from typing import Any

from aiohttp.test_utils import TestClient
from webkit import intake_body

from ari_app.web import add_api_token, public_reason

PUBLIC_PATHS = {
    "/",
    "/request",
    "/form/slots",
    "/static/{name}",
    "/healthz",
    "/readyz",
    "/media/{tail}",
    "/metrics",
}
PUBLIC_PATHS |= {"/embed.js", "/admin/login"}  # the embed snippet; the dashboard's login page


def _routes(client: TestClient[Any, Any]) -> list[tuple[str, str, str | None]]:
    out = []
    for route in client.server.app.router.routes():
        if route.method == "HEAD":
            continue
        path = re.sub(r"\{[^}]+\}", "1", route.resource.canonical)
        out.append((route.method, path, public_reason(route)))
    return out


async def test_only_the_documented_routes_are_public(client: TestClient[Any, Any]) -> None:
    public = {path for method, path, why in _routes(client) if why is not None}
    hooks = {p for p in public if p.startswith("/hooks/")}
    assert public - hooks == {re.sub(r"\{[^}]+\}", "1", p) for p in PUBLIC_PATHS}
    assert hooks == {
        "/hooks/kannel/inbound",
        "/hooks/kannel/dlr",
        "/hooks/twilio/inbound",
        "/hooks/twilio/status",
        "/hooks/webhook/inbound",
        "/hooks/webhook/dlr",
    }


async def test_every_other_route_answers_401_without_a_token(client: TestClient[Any, Any]) -> None:
    protected = [(m, p) for m, p, why in _routes(client) if why is None]
    assert len(protected) >= 7
    for method, path in protected:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic dXNlcjpwYXNz"}):
            answer = await client.request(method, path, headers=headers, json={})
            assert answer.status == 401, (method, path, headers)
            assert answer.headers["WWW-Authenticate"] == "Bearer"
            assert (await answer.json())["error"] == "unauthorized"


async def test_every_other_route_works_with_the_configured_token(
    client: TestClient[Any, Any], auth: dict[str, str]
) -> None:
    created = await (await client.post("/api/v1/callback-requests", json=intake_body(), headers=auth)).json()
    assert created["id"] == 1 and created["contact_id"] == 1
    for method, path, why in _routes(client):
        if why is not None or path.startswith("/admin"):  # the dashboard takes a login, not a token
            continue
        body = {"action": "complete"} if path.endswith("/close") else intake_body()
        kwargs: dict[str, Any] = {"json": body, "headers": auth}
        if path.startswith("/api/v1/dnc"):  # the do-not-call list has bodies of its own (tests/security)
            path = path.replace("/dnc/1", "/dnc/%2B12015550123")
            kwargs = {"json": {"phone": "+12015550123"}, "headers": auth}
            if path.endswith("/import"):
                kwargs = {"data": "+12015550123\n", "headers": {**auth, "Content-Type": "text/csv"}}
        if path.endswith("/label"):  # a label needs a finished, answered attempt (test_web_amd.py)
            answer = await client.request(method, path, json={"label": "person"}, headers=auth)
            assert answer.status == 409, (method, path, answer.status)  # past the token: the attempt is due
            continue
        answer = await client.request(method, path, **kwargs)
        assert answer.status in (200, 201, 204), (method, path, answer.status, await answer.text())


async def test_stored_api_tokens_work_and_are_kept_hashed(
    client: TestClient[Any, Any], db_sessionmaker: Any
) -> None:
    token = await add_api_token(db_sessionmaker, "crm")
    answer = await client.get("/api/v1/callback-requests", headers={"Authorization": f"Bearer {token}"})
    assert answer.status == 200
    async with db_sessionmaker() as session:
        from sqlalchemy import select

        from ari_app.store.models import ApiToken

        row = await session.scalar(select(ApiToken))
    assert row is not None and row.name == "crm" and token not in row.token_hash


async def test_errors_are_json_and_carry_a_request_id(
    client: TestClient[Any, Any], auth: dict[str, str]
) -> None:
    missing = await client.get("/api/v1/callback-requests/999999", headers=auth)
    assert missing.status == 404
    assert (await missing.json())["error"] == "not-found"
    assert missing.headers["X-Request-Id"]
    huge = await client.get("/api/v1/contacts/99999999999999999999", headers=auth)
    assert huge.status == 404
    nowhere = await client.get("/no/such/page")
    assert nowhere.status == 404 and (await nowhere.json())["error"] == "not-found"
    wrong_method = await client.delete("/healthz")
    assert wrong_method.status == 405 and "GET" in wrong_method.headers["Allow"]
