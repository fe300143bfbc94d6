"""Errors become JSON once, here; every answer gets the security headers.

A ``CallbackError`` answers its own status and id. aiohttp's HTTP exceptions (404, 405, 413 …) keep their
status with a JSON body. Anything else is a bug: logged with a request id, answered 500 without internals.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from ..errors import CallbackError

log = logging.getLogger(__name__)

REQUEST_ID = web.RequestKey("request_id", str)
# aiohttp's own refusals (no route, wrong method, a body over client_max_size …), in our words.
_HTTP_ERRORS = {
    400: ("bad-request", "the request is malformed"),
    401: ("unauthorized", "authentication is required"),
    403: ("forbidden", "not allowed"),
    404: ("not-found", "not found"),
    405: ("method-not-allowed", "this method is not allowed here"),
    413: ("body-too-large", "the request body is too large"),
    415: ("unsupported-media-type", "this content type is not accepted"),
}


def error_body(error_id: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": error_id, "message": message}
    if details:
        body["details"] = details
    return body


def _callback_error_response(exc: CallbackError, request_id: str) -> web.Response:
    if exc.http_status >= 500:
        # Server-side trouble (a provider, a bad configuration): the message may name internals.
        log.error("request %s failed: %s %s", request_id, exc.error_id, exc.message)
        body = error_body(
            exc.error_id, "the server could not complete the request", {"request_id": request_id}
        )
    else:
        body = error_body(exc.error_id, exc.message, exc.details)
    headers = {}
    if exc.http_status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    retry_after = exc.details.get("retry_after")
    if exc.http_status == 429 and retry_after is not None:
        headers["Retry-After"] = str(int(retry_after))
    return web.json_response(body, status=exc.http_status, headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = request.headers.get("X-Request-Id", "")
    if not (0 < len(request_id) <= 64 and request_id.isascii() and request_id.isprintable()):
        request_id = secrets.token_hex(8)
    request[REQUEST_ID] = request_id
    try:
        response = await handler(request)
    except CallbackError as exc:
        response = _callback_error_response(exc, request_id)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        error_id, message = _HTTP_ERRORS.get(exc.status, ("http-error", exc.reason.lower()))
        headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")}
        response = web.json_response(error_body(error_id, message), status=exc.status, headers=headers)
    except Exception:
        log.exception("request %s %s %s failed", request_id, request.method, request.path)
        response = web.json_response(
            error_body(
                "internal-error", "the server could not complete the request", {"request_id": request_id}
            ),
            status=500,
        )
    response.headers["X-Request-Id"] = request_id
    return response


def security_headers(frame_ancestors: Sequence[str]) -> Any:
    """An ``on_response_prepare`` hook: it also covers answers that no middleware saw."""
    ancestors = " ".join(frame_ancestors) or "'none'"
    csp = (
        "default-src 'self'; base-uri 'none'; form-action 'self'; object-src 'none'; "
        f"frame-ancestors {ancestors}"
    )

    async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")

    return add_headers
