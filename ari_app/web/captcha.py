"""Optional CAPTCHA on intake: the token a Turnstile or hCaptcha widget gave the browser, checked with the
provider from the server (a browser-side check alone proves nothing).

Off unless ``web.captcha_provider`` is set. The public form reads the token from the field the widget fills
in; the JSON API from the ``X-Captcha-Token`` header. The provider is asked once per submission, after our own
cheaper checks (rate limit, honeypot, fields), and a provider that can't be reached refuses the submission:
an operator who turned the check on wants no unchecked requests.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from ..errors import CallbackError
from ..settings import WebSettings
from .keys import SERVICES

log = logging.getLogger(__name__)

VERIFY_URLS = {
    "turnstile": "https://challenges.cloudflare.com/turnstile/v0/siteverify",
    "hcaptcha": "https://api.hcaptcha.com/siteverify",
}
# Form fields the widgets fill in, and our own neutral name.
FORM_FIELDS = ("cf-turnstile-response", "h-captcha-response", "captcha_token")
HEADER = "X-Captcha-Token"
TOKEN_MAX = 4096

CAPTCHA_HTTP = web.AppKey("captcha_http", aiohttp.ClientSession)


class CaptchaFailed(CallbackError):
    error_id = "captcha-failed"
    http_status = 403


class CaptchaUnavailable(CallbackError):
    error_id = "captcha-unavailable"
    http_status = 503


def enabled(settings: WebSettings) -> bool:
    return settings.captcha_provider != "none"


def verify_url(settings: WebSettings) -> str:
    return settings.captcha_verify_url or VERIFY_URLS[settings.captcha_provider]


async def http_client(app: web.Application) -> AsyncIterator[None]:
    """A ``cleanup_ctx``: one client session for the provider, only when the check is on."""
    if not enabled(app[SERVICES].settings.web):
        yield
        return
    async with aiohttp.ClientSession() as session:
        app[CAPTCHA_HTTP] = session
        yield


async def verify(request: web.Request, token: str | None) -> None:
    """Raise ``CaptchaFailed`` unless the provider vouches for ``token``; no-op when the check is off."""
    settings = request.app[SERVICES].settings.web
    if not enabled(settings):
        return
    if not token or len(token) > TOKEN_MAX:
        raise CaptchaFailed("please complete the CAPTCHA")
    form = {"secret": settings.captcha_secret.get_secret_value(), "response": token}
    if request.remote:
        form["remoteip"] = request.remote
    http = request.app[CAPTCHA_HTTP]
    try:
        async with asyncio.timeout(settings.captcha_timeout):
            async with http.post(verify_url(settings), data=form) as answer:
                if answer.status != 200:
                    raise CaptchaUnavailable(f"the CAPTCHA provider answered HTTP {answer.status}")
                body = await answer.json(content_type=None)
    except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
        raise CaptchaUnavailable(f"the CAPTCHA provider could not be asked: {exc!r}") from None
    if not isinstance(body, dict) or body.get("success") is not True:
        codes = body.get("error-codes") if isinstance(body, dict) else None
        log.info("CAPTCHA refused: %s", codes)
        raise CaptchaFailed("the CAPTCHA check failed; please try again")


def form_token(form: object) -> str | None:
    get = getattr(form, "get", None)
    if get is None:
        return None
    for name in FORM_FIELDS:
        value = get(name)
        if isinstance(value, str) and value:
            return value
    return None


def header_token(request: web.Request) -> str | None:
    return request.headers.get(HEADER) or None
