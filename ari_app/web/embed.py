"""The embeddable form and who may use it from another site.

``/embed.js`` is the snippet an operator pastes into any page::

    <script src="https://callback.example.com/embed.js" async></script>

It puts an iframe showing ``/?embed=1`` where the script tag is (or into ``data-target="#id"``) and sizes
it to the form. The frame may only be shown on sites listed in ``web.frame_ancestors`` (CSP).

CORS, for sites that post to us from their own scripts: ``POST /request`` and the JSON intake answer with
``Access-Control-Allow-Origin`` only for an exact match in ``web.cors_origins``, preflights included.
A browser ``POST /request`` that names another site in ``Origin`` is refused: a plain HTML form on an
unlisted site can't drop requests into the queue either.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler

from .keys import SERVICES
from .middlewares import error_body
from .public import public

STATIC_DIR = Path(__file__).parent / "static"
CORS_PATHS = frozenset({"/request", "/api/v1/callback-requests"})
ALLOW_HEADERS = "Content-Type, Authorization, Idempotency-Key, X-Request-Id"
EXPOSE_HEADERS = "Retry-After, X-Request-Id"


@public("embed")
async def embed_js(request: web.Request) -> web.FileResponse:
    return web.FileResponse(
        STATIC_DIR / "embed.js",
        headers={
            "Content-Type": "text/javascript; charset=utf-8",
            "Cache-Control": "public, max-age=300",
            "Cross-Origin-Resource-Policy": "cross-origin",
        },
    )


def own_origins(request: web.Request) -> set[str]:
    """Our own origin as the browser sees it: the Host it used, and the configured public URL."""
    origins = {f"{request.scheme}://{request.host}"}
    public_url = request.app[SERVICES].settings.web.public_url.rstrip("/")
    if public_url:
        scheme, _, rest = public_url.partition("://")
        origins.add(f"{scheme}://{rest.split('/', 1)[0]}")
    return origins


def _allowed(request: web.Request, origin: str | None) -> bool:
    return origin is not None and origin in request.app[SERVICES].settings.web.cors_origins


def _preflight(request: web.Request, origin: str | None) -> web.Response:
    if not _allowed(request, origin):
        return web.json_response(
            error_body("forbidden", "this origin may not call this route"),
            status=403,
            headers={"Vary": "Origin"},
        )
    assert origin is not None
    return web.Response(
        status=204,
        headers={
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "POST",
            "Access-Control-Allow-Headers": ALLOW_HEADERS,
            "Access-Control-Max-Age": "600",
            "Vary": "Origin",
        },
    )


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost, so error answers carry the CORS headers too (the page can show the message)."""
    if request.path not in CORS_PATHS:
        return await handler(request)
    origin = request.headers.get("Origin")
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        return _preflight(request, origin)
    allowed = _allowed(request, origin)
    if (
        request.method == "POST"
        and request.path == "/request"
        and origin is not None
        and not allowed
        and origin not in own_origins(request)
    ):
        return web.json_response(
            error_body("forbidden", "this form may not be posted from another site"),
            status=403,
            headers={"Vary": "Origin"},
        )
    response = await handler(request)
    if allowed:
        assert origin is not None
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
    response.headers.add("Vary", "Origin")
    return response
