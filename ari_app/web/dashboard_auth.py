"""Dashboard logins: argon2 password hashes, server-side sessions, CSRF tokens, slow-down after failures.

The cookie holds a random token; the ``admin_sessions`` table holds only its sha256, the user and the
session's CSRF token. Session lifetime and the login slow-down run on wall time on purpose (like rate
limits): they protect people and the server, whatever speed the business clock runs at.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote

from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..clock import Clock, RealClock
from ..errors import Conflict, Forbidden, Unauthorized, ValidationFailed
from ..store.models import AdminSession, User
from .keys import SERVICES

SESSION_COOKIE = "cb_session"
LOGIN_CSRF_COOKIE = "cb_login_csrf"
COOKIE_PATH = "/admin"
SESSION_SECONDS = 12 * 3600
USERNAME_MAX = 200
PASSWORD_MIN = 10
PASSWORD_MAX = 1024  # argon2 hashes anything, but a megabyte "password" is only a way to burn CPU

_hasher = PasswordHasher()
# Verified when the username is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class AdminIdentity:
    user_id: int
    username: str
    csrf_token: str

    @property
    def display(self) -> str:
        return f"admin:{self.username}"


ADMIN = web.RequestKey("admin", AdminIdentity)


# -- passwords and users ---------------------------------------------------------------------------


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def check_new_password(password: str) -> None:
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise ValidationFailed(
            f"the password must have {PASSWORD_MIN} to {PASSWORD_MAX} characters", field="password"
        )


def check_username(username: str) -> str:
    name = username.strip()
    if not (0 < len(name) <= USERNAME_MAX and name.isprintable() and " " not in name):
        raise ValidationFailed(
            f"a username is 1 to {USERNAME_MAX} printable characters without spaces", field="username"
        )
    return name


async def add_user(
    sessions: async_sessionmaker[AsyncSession], username: str, password: str, *, clock: Clock | None = None
) -> int:
    """Create a dashboard user; ``Conflict`` when the name is taken."""
    name = check_username(username)
    check_new_password(password)
    password_hash = await asyncio.to_thread(hash_password, password)
    try:
        async with sessions.begin() as session:
            user = User(username=name, password_hash=password_hash, created_at=(clock or RealClock()).now())
            session.add(user)
            await session.flush()
            return user.id
    except IntegrityError:
        raise Conflict(f"a user called {name!r} exists already") from None


async def check_login(
    sessions: async_sessionmaker[AsyncSession], username: str, password: str
) -> User | None:
    """The user when the password matches, else None (in about the same time either way)."""
    if len(password) > PASSWORD_MAX or len(username) > USERNAME_MAX:
        return None
    async with sessions() as session:
        user = await session.scalar(select(User).where(User.username == username.strip()))
    if user is None:
        await asyncio.to_thread(verify_password, _DUMMY_HASH, password)
        return None
    if not await asyncio.to_thread(verify_password, user.password_hash, password):
        return None
    return user


# -- slow-down after failed logins -----------------------------------------------------------------


class LoginThrottle:
    """After ``free_tries`` failures for a username or an address, each next try waits twice as long
    (capped). Per process and in memory, like the form's rate limit; a success clears both keys."""

    def __init__(
        self,
        *,
        free_tries: int = 3,
        base_delay: float = 2.0,
        max_delay: float = 300.0,
        forget_after: float = 3600.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free_tries = free_tries
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.forget_after = forget_after
        self._monotonic = monotonic
        self._failures: dict[str, tuple[int, float]] = {}

    def _keys(self, username: str, ip: str) -> tuple[str, str]:
        return f"user:{username.strip().lower()}", f"ip:{ip}"

    def wait(self, username: str, ip: str) -> float | None:
        """Seconds to wait before the next try is even checked, or None."""
        now = self._monotonic()
        longest = 0.0
        for key in self._keys(username, ip):
            count, last = self._failures.get(key, (0, 0.0))
            if count < self.free_tries or now - last > self.forget_after:
                continue
            delay = min(self.base_delay * 2 ** min(count - self.free_tries, 32), self.max_delay)
            longest = max(longest, last + delay - now)
        return math.ceil(longest) if longest > 0 else None

    def failed(self, username: str, ip: str) -> None:
        now = self._monotonic()
        for key in self._keys(username, ip):
            count, last = self._failures.get(key, (0, 0.0))
            if now - last > self.forget_after:
                count = 0
            self._failures[key] = (count + 1, now)
        if len(self._failures) > 10_000:
            self._failures = {k: v for k, v in self._failures.items() if now - v[1] <= self.forget_after}

    def succeeded(self, username: str, ip: str) -> None:
        for key in self._keys(username, ip):
            self._failures.pop(key, None)


LOGIN_THROTTLE = web.AppKey("login_throttle", LoginThrottle)


# -- sessions --------------------------------------------------------------------------------------


def _token_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def secure_cookies(request: web.Request) -> bool:
    """Secure cookies when the browser talks https to us (directly or as the configured public URL says)."""
    public_url = request.app[SERVICES].settings.web.public_url
    return request.secure or public_url.startswith("https://")


def set_cookie(
    request: web.Request, response: web.StreamResponse, name: str, value: str, max_age: int
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="Lax",
        secure=secure_cookies(request),
    )


async def start_session(request: web.Request, response: web.StreamResponse, user: User) -> None:
    services = request.app[SERVICES]
    token = secrets.token_urlsafe(32)
    now = RealClock().now()
    async with services.sessions.begin() as session:
        await session.execute(delete(AdminSession).where(AdminSession.expires_at < now))
        session.add(
            AdminSession(
                id=_token_id(token),
                user_id=user.id,
                csrf_token=secrets.token_urlsafe(32),
                ip=request.remote,
                created_at=now,
                expires_at=now + timedelta(seconds=SESSION_SECONDS),
            )
        )
    set_cookie(request, response, SESSION_COOKIE, token, SESSION_SECONDS)
    response.del_cookie(LOGIN_CSRF_COOKIE, path=COOKIE_PATH)


async def current_admin(request: web.Request) -> AdminIdentity | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 200:
        return None
    services = request.app[SERVICES]
    async with services.sessions() as session:
        row = (
            await session.execute(
                select(AdminSession, User.username)
                .join(User, User.id == AdminSession.user_id)
                .where(AdminSession.id == _token_id(token))
            )
        ).first()
    if row is None:
        return None
    admin_session, username = row
    if admin_session.expires_at <= RealClock().now():
        return None
    return AdminIdentity(admin_session.user_id, username, admin_session.csrf_token)


async def end_session(request: web.Request, response: web.StreamResponse) -> None:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        async with request.app[SERVICES].sessions.begin() as session:
            await session.execute(delete(AdminSession).where(AdminSession.id == _token_id(token)))
    response.del_cookie(SESSION_COOKIE, path=COOKIE_PATH)


async def authenticate_admin(request: web.Request) -> AdminIdentity:
    """For the auth middleware on ``/admin/…``: the logged-in admin, a redirect to the login page for a
    browser asking for a page, or ``Unauthorized``."""
    admin = await current_admin(request)
    if admin is not None:
        request[ADMIN] = admin
        return admin
    if request.method == "GET" and "text/html" in request.headers.get("Accept", ""):
        raise web.HTTPSeeOther(f"/admin/login?next={quote(request.path_qs, safe='/')}")
    raise Unauthorized("log in to the dashboard first")


# -- CSRF ------------------------------------------------------------------------------------------


def check_csrf(expected: str | None, given: object) -> None:
    """Every form POST carries the token it was rendered with; ``Forbidden`` otherwise."""
    if not expected or not isinstance(given, str) or not hmac.compare_digest(expected, given):
        raise Forbidden("the form has expired or did not come from this site; reload the page and try again")


def login_csrf(request: web.Request) -> str:
    """The login form's token (double-submit cookie: there is no session yet)."""
    current = request.cookies.get(LOGIN_CSRF_COOKIE)
    if current and 20 <= len(current) <= 100:
        return current
    return secrets.token_urlsafe(32)
