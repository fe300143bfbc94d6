"""The public form: ``GET /`` shows it, ``POST /request`` takes it (same rules as the JSON API).

Answers are HTML: the confirmation, or the form again with the person's input and an error per field.
The hidden ``website`` field is a honeypot: people don't see it, naive bots fill it in.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import phonenumbers
from aiohttp import web
from multidict import MultiDictProxy

from ..errors import CallbackError, RateLimited, ValidationFailed
from ..lifecycle import IntakeData
from . import captcha
from .body import read_body, validate
from .errors import BodyTooLarge
from .intake import client_details, limit_ip, phone_context, submit, when_text
from .keys import SERVICES, TEMPLATES
from .public import public
from .schemas import NAME_MAX, REASON_MAX, FormIn

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "static"
STATIC_FILES = {
    "form.css": "text/css",
    "form.js": "text/javascript",
    "admin.css": "text/css",
    "admin.js": "text/javascript",
}
HONEYPOT = "website"
_FIELDS = ("first_name", "last_name", "phone", "reason")

# What a person reads next to a field, by error code; anything else shows the validator's own message.
_FRIENDLY = {
    "missing": "Please fill in this field.",
    "value_error": "Please fill in this field.",
    "string_too_long": "This is too long.",
    "literal_error": "Please tick this box to agree.",
    "invalid": "Please fill in this field.",  # names and reason: blank once spaces are trimmed
}


def _friendly(fields: dict[str, Any]) -> dict[str, str]:
    out = {}
    for name, err in fields.items():
        code = err.get("code", "")
        if name == "consent":
            out[name] = _FRIENDLY["literal_error"]
        elif name == "phone" and code not in ("missing", "string_too_long"):
            out[name] = err.get("message", "Please check this phone number.")
        else:
            out[name] = _FRIENDLY.get(code, err.get("message", "Please check this field."))
    return out


def phone_hint(region: str) -> str:
    """Which country a number without a country code belongs to, said next to the phone field."""
    code = phonenumbers.country_code_for_region(region)
    return f"A number without a country code is read as {region} (+{code})." if code else ""


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    services = request.app[SERVICES]
    html = (
        request.app[TEMPLATES]
        .get_template(template)
        .render(
            business=services.settings.business.name,
            consent_text=services.settings.business.consent_text,
            privacy_url=services.settings.business.privacy_url,
            phone_hint=phone_hint(services.settings.business.region),
            embed=request.query.get("embed") == "1",
            name_max=NAME_MAX,
            reason_max=REASON_MAX,
            **context,
        )
    )
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


@public("form")
async def show_form(request: web.Request) -> web.Response:
    page_url = request.query.get("page_url") or request.headers.get("Referer") or None
    return render(request, "form.html", values={"page_url": page_url}, errors={})


async def _read_form(request: web.Request) -> MultiDictProxy[Any]:
    await read_body(request)  # whatever its type, bounded by client_max_size (and cached for post())
    try:
        return await request.post()
    except web.HTTPRequestEntityTooLarge:
        raise BodyTooLarge("the request body is too large") from None


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""  # a file upload is not an answer


@public("form")
async def submit_form(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    form = await _read_form(request)
    values = {name: _text(form.get(name)) for name in (*_FIELDS, "page_url")}
    values["consent"] = "yes" if form.get("consent") else ""
    try:
        limit_ip(request)
        if form.get(HONEYPOT):
            # Pretend it worked and store nothing: telling a bot it was caught only teaches it.
            return render(request, "thanks.html", when="soon")
        body = validate(
            FormIn,
            {**{name: values[name] for name in _FIELDS}, "consent": bool(form.get("consent")),
             "page_url": values["page_url"] or request.headers.get("Referer")},
            phone_context(services.settings),
        )  # fmt: skip
        await captcha.verify(request, captcha.form_token(form))
        data = IntakeData(
            first_name=body.first_name,
            last_name=body.last_name,
            phone=body.phone,
            reason=body.reason,
            consent_text=services.settings.business.consent_text,  # the text the form showed
            source="form",
            page_url=body.page_url,
            **client_details(request),
        )
        result = await submit(services, data, None)
    except ValidationFailed as exc:
        fields = exc.details.get("fields") or {exc.details.get("field", "form"): {"message": exc.message}}
        return render(request, "form.html", status=422, values=values, errors=_friendly(fields))
    except RateLimited as exc:
        response = render(request, "form.html", status=429, values=values, errors={"form": exc.message})
        response.headers["Retry-After"] = str(exc.details.get("retry_after", 60))
        return response
    except captcha.CaptchaUnavailable as exc:
        log.error("CAPTCHA check unavailable: %s", exc.message)
        message = "We could not check the CAPTCHA just now; please try again in a minute."
        return render(request, "form.html", status=503, values=values, errors={"form": message})
    except CallbackError as exc:
        if exc.http_status >= 500:
            raise
        return render(
            request, "form.html", status=exc.http_status, values=values, errors={"form": exc.message}
        )
    return render(request, "thanks.html", when=when_text(services, result.body, data.phone))


@public("static")
async def static_file(request: web.Request) -> web.FileResponse:
    name = request.match_info["name"]
    if name not in STATIC_FILES:
        raise web.HTTPNotFound()
    return web.FileResponse(
        STATIC_DIR / name,
        headers={"Content-Type": STATIC_FILES[name], "Cache-Control": "public, max-age=3600"},
    )
