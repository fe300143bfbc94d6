"""Bearer tokens: the configured ``api.token`` (CALLBACK_API_TOKEN) and rows of ``api_tokens``.

Only a token's sha256 is stored; ``add_api_token`` shows the token once. Routes marked ``@public`` skip this.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from aiohttp import web
from aiohttp.typedefs import Handler
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..clock import Clock, RealClock
from ..errors import Conflict, Unauthorized, ValidationFailed
from ..store.models import ApiToken
from .dashboard_auth import authenticate_admin
from .keys import SERVICES
from .public import public_reason

AUTH_NAME = web.RequestKey(
    "auth_name", str
)  # request key: who called (the token's name), for notes such as "cancelled by …"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


TOKEN_NAME_MAX = 200


def check_token_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > TOKEN_NAME_MAX or not name.isprintable():
        raise ValidationFailed(f"a token name is 1-{TOKEN_NAME_MAX} printable characters, e.g. crm")
    return name


async def add_api_token(
    sessions: async_sessionmaker[AsyncSession], name: str, *, clock: Clock | None = None
) -> str:
    """Create a token called ``name``; the returned token is not stored and can't be shown again.

    Names are unique, so ``revoke_api_token(name)`` means one token; ``Conflict`` when it is taken."""
    name = check_token_name(name)
    token = secrets.token_urlsafe(32)
    async with sessions.begin() as session:
        if await session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
            raise Conflict(f"a token called {name!r} exists already; revoke it first or pick another name")
        session.add(
            ApiToken(name=name, token_hash=hash_token(token), created_at=(clock or RealClock()).now())
        )
    return token


async def list_api_tokens(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[str, datetime]]:
    """(name, created_at) of every stored token, oldest first; the tokens themselves are not kept."""
    async with sessions() as session:
        rows = await session.execute(select(ApiToken.name, ApiToken.created_at).order_by(ApiToken.id))
        return [(name, created) for name, created in rows]


async def revoke_api_token(sessions: async_sessionmaker[AsyncSession], name: str) -> bool:
    """Delete the token called ``name``: its next request gets 401. False when there is none."""
    async with sessions.begin() as session:
        result = await session.execute(delete(ApiToken).where(ApiToken.name == name.strip()))
    return bool(getattr(result, "rowcount", 0))


def _bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


async def authenticate(request: web.Request) -> str:
    """The caller's name for a valid token, or raise Unauthorized."""
    token = _bearer(request)
    if token is None:
        raise Unauthorized("a bearer token is required")
    services = request.app[SERVICES]
    configured = services.settings.api.token
    if configured is not None and configured.get_secret_value():
        if hmac.compare_digest(token.encode(), configured.get_secret_value().encode()):
            return "api"
    async with services.sessions() as session:
        name = await session.scalar(select(ApiToken.name).where(ApiToken.token_hash == hash_token(token)))
    if name is None:
        raise Unauthorized("the bearer token is not valid")
    return f"api:{name}"


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    route = request.match_info.route
    # An unmatched path (404/405) has no handler of ours: let the router's answer through.
    if request.match_info.http_exception is None and public_reason(route) is None:
        if request.path == "/admin" or request.path.startswith("/admin/"):
            # The dashboard: a login session (cookie), not a bearer token; /api/v1 stays bearer-only.
            request[AUTH_NAME] = (await authenticate_admin(request)).display
        else:
            request[AUTH_NAME] = await authenticate(request)
    return await handler(request)
