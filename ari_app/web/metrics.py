"""``/metrics`` for Prometheus, and the outermost middleware: request metrics and the request id in logs.

Who may scrape (ARCHITECTURE, "Who may call which route"): with ``web.metrics_public`` anyone; otherwise a
client on loopback that came through no proxy (no ``X-Forwarded-For``/``Forwarded`` header), or a valid
API bearer token.
"""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import time

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import CONTENT_TYPE_LATEST

from ..logs import log_ids
from ..ops.metrics import Metrics
from ..services import Services
from .auth import authenticate
from .keys import SERVICES
from .public import public

METRICS = web.AppKey("metrics", Metrics)
REFRESH_TIMEOUT = 5.0  # wall seconds for the database reads of one scrape
_EXTRA_KEY = "metrics"  # where the composition root leaves the runtime's Metrics in Services.extra


def _is_direct_loopback(request: web.Request) -> bool:
    if "X-Forwarded-For" in request.headers or "Forwarded" in request.headers:
        return False
    try:
        return ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        return False


@public("loopback-or-token")
async def metrics_page(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    if not services.settings.web.metrics_public and not _is_direct_loopback(request):
        await authenticate(request)  # raises Unauthorized (401) without a valid token
    metrics = request.app[METRICS]
    try:
        async with asyncio.timeout(REFRESH_TIMEOUT):
            await metrics.refresh(
                services.sessions, services.clock.now(), amd_notsure=services.settings.calls.amd_notsure
            )
    except TimeoutError:
        metrics.scrape_errors.inc()  # serve what we have: a slow database must not hide the rest
    body = metrics.render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def _route_label(request: web.Request) -> str:
    """The route's pattern (``/api/v1/contacts/{id}``), never the raw path: labels must stay few."""
    info = request.match_info
    if info.http_exception is not None:
        return "unmatched"
    resource = info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def observe_requests(metrics: Metrics) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        request_id = request.headers.get("X-Request-Id", "")
        if not (0 < len(request_id) <= 64 and request_id.isascii() and request_id.isprintable()):
            # Chosen here, the outermost layer, so every log line of the request carries it; the error
            # middleware then keeps it and echoes it in X-Request-Id.
            request_id = secrets.token_hex(8)
            request = request.clone(headers={**request.headers, "X-Request-Id": request_id})
        started = time.perf_counter()
        status = 500
        try:
            with log_ids(request_id=request_id):
                response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            metrics.observe_http(request.method, _route_label(request), status, time.perf_counter() - started)

    return middleware


def install(app: web.Application, services: Services) -> None:
    """Attach the runtime's metrics (or fresh ones) and their middleware, outermost, to ``app``."""
    metrics = services.extra.get(_EXTRA_KEY)
    if not isinstance(metrics, Metrics):
        metrics = Metrics()
        services.extra[_EXTRA_KEY] = metrics
    app[METRICS] = metrics
    app.middlewares.insert(0, observe_requests(metrics))
