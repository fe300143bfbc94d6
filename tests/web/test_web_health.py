"""Health, readiness and the OpenAPI document."""

from typing import Any

from aiohttp.test_utils import TestClient
from webkit import make_settings, start_client

from ari_app.services import Services


async def test_health_and_readiness(client: TestClient[Any, Any]) -> None:
    assert await (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status == 200
    assert (await ready.json())["checks"] == {"database": True}


async def test_not_ready_when_a_dependency_is_down(make_services: Any) -> None:
    services: Services = make_services(make_settings())

    async def ari_down() -> dict[str, bool]:
        return {"ari": False}

    services.readiness = ari_down
    client = await start_client(services)
    try:
        answer = await client.get("/readyz")
        assert answer.status == 503
        assert (await answer.json())["checks"] == {"ari": False, "database": True}
    finally:
        await client.close()


async def test_the_openapi_document_lists_every_json_route(
    client: TestClient[Any, Any], auth: dict[str, str]
) -> None:
    doc = await (await client.get("/api/v1/openapi.json", headers=auth)).json()
    assert doc["openapi"].startswith("3.1")
    routes = {
        (route.method.lower(), route.resource.canonical)
        for route in client.server.app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith("/api/v1/")
        and route.method != "HEAD"
    }
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert routes - {("get", "/api/v1/openapi.json")} <= documented
    body = doc["components"]["schemas"]["CallbackRequestIn"]
    assert body["additionalProperties"] is False and body["properties"]["consent"]["const"] is True
