"""Liveness and readiness: open routes for load balancers and orchestrators."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from sqlalchemy import text

from .keys import SERVICES
from .public import public

log = logging.getLogger(__name__)

CHECK_TIMEOUT = 5.0  # wall seconds for each readiness check


@public("health")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@public("health")
async def readyz(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    checks: dict[str, bool] = {}
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            checks.update(await services.readiness())
    except Exception as exc:  # a failing check means "not ready", never a 500
        log.warning("readiness checks failed: %r", exc)
        checks["services"] = False
    try:
        async with asyncio.timeout(CHECK_TIMEOUT), services.sessions() as session:
            await session.execute(text("SELECT 1"))
        checks["database"] = True
    except Exception as exc:
        log.warning("database not ready: %r", exc)
        checks["database"] = False
    ready = all(checks.values())
    return web.json_response(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
    )
