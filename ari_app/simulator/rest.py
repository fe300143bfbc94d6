"""The HTTP side shared by every simulator route: app keys, authentication, Asterisk-shaped errors, and
request parameters read as Asterisk reads them (query string or JSON body)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from .engine import AriError, Pbx

PBX_KEY: web.AppKey[Pbx] = web.AppKey("simulator_pbx", Pbx)
CREDENTIALS_KEY: web.AppKey[tuple[str, str]] = web.AppKey("simulator_credentials", tuple)
STARTED_KEY: web.AppKey[datetime] = web.AppKey("simulator_started", datetime)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status)


def no_content() -> web.Response:
    return web.Response(status=204)


def credentials_ok(request: web.Request) -> bool:
    user, password = request.app[CREDENTIALS_KEY]
    header = request.headers.get("Authorization", "")
    given: str | None = None
    if header.lower().startswith("basic "):
        try:
            given = base64.b64decode(header[6:].strip()).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            given = None
    elif "api_key" in request.query:
        given = request.query["api_key"]
    return given == f"{user}:{password}"


@web.middleware
async def ari_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authentication and Asterisk-shaped error bodies for /ari/ and /_simulator/."""
    guarded = request.path.startswith(("/ari/", "/_simulator/"))
    if guarded and not credentials_ok(request):
        return json_response({"message": "Authentication required"}, status=401)
    try:
        return await handler(request)
    except AriError as exc:
        return json_response(exc.body, status=exc.status)
    except web.HTTPNotFound:
        return json_response({"message": "Resource not found"}, status=404)
    except web.HTTPMethodNotAllowed:
        return json_response({"message": "Invalid method"}, status=405)


async def json_body(request: web.Request) -> Any:
    """The request's JSON body; None when there is none (or only whitespace)."""
    if not request.can_read_body:
        return None
    raw = await request.read()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise AriError.message(400, "Invalid JSON body") from None


async def params_of(request: web.Request) -> tuple[dict[str, str], dict[str, str]]:
    """Query parameters, plus those given in a JSON body (as Asterisk accepts), and `variables`."""
    params = {k: v for k, v in request.query.items() if k != "api_key"}
    variables: dict[str, str] = {}
    body = await json_body(request)
    if isinstance(body, dict):
        for key, value in body.items():
            if key == "variables" and isinstance(value, dict):
                variables = {str(k): str(v) for k, v in value.items()}
            elif not isinstance(value, dict | list):
                params.setdefault(key, str(value))
    return params, variables


def pbx_of(request: web.Request) -> Pbx:
    return request.app[PBX_KEY]


def media_list(request: web.Request, params: dict[str, str]) -> list[str]:
    media: list[str] = []
    for value in request.query.getall("media", []) or ([params["media"]] if "media" in params else []):
        media.extend(m for m in value.split(",") if m)
    return media
