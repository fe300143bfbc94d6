"""The public form: ``GET /`` shows it, ``POST /request`` takes it (same rules as the JSON API).

Answers are HTML: the confirmation, or the form again with the person's input and an error per field.
The hidden ``website`` field is a honeypot: people don't see it, naive bots fill it in.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
from aiohttp import web
from multidict import MultiDictProxy

from ..domain.preferred_time import lead_zone, parse_zone
from ..errors import CallbackError, RateLimited, ValidationFailed
from ..lifecycle import IntakeData
from ..services import Services
from ..settings import consent_text
from . import captcha
from .body import read_body, validate
from .errors import BodyTooLarge
from .intake import client_details, limit_ip, phone_context, submit, when_text
from .keys import SERVICES, TEMPLATES
from .public import public
from .schemas import NAME_MAX, REASON_MAX, FormIn
from .when import choice, chosen_text

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
# The time choice: the select's value ("" for as soon as possible), the browser's zone (set by the form's
# script) and the zone the times were shown in (what the lead read; the confirmation says it the same way).
_WHEN_FIELDS = ("preferred_at", "tz", "shown_tz")

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
            consent_text=consent_text(services.settings),
            privacy_url=services.settings.business.privacy_url,
            phone_hint=phone_hint(services.settings.business.region),
            embed=request.query.get("embed") == "1",
            name_max=NAME_MAX,
            reason_max=REASON_MAX,
            **context,
        )
    )
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


def form_page(
    request: web.Request, values: dict[str, str], errors: dict[str, str], status: int = 200
) -> web.Response:
    """The form, with the time choice for the number typed so far and the zone the browser told us."""
    when_choice = choice(request.app[SERVICES], phone=values.get("phone"), browser_zone=values.get("tz"))
    return render(request, "form.html", status=status, values=values, errors=errors, when_choice=when_choice)


@public("form")
async def show_form(request: web.Request) -> web.Response:
    page_url = request.query.get("page_url") or request.headers.get("Referer") or None
    return form_page(request, {"page_url": page_url or ""}, {})


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
    values = {name: _text(form.get(name)) for name in (*_FIELDS, "page_url", *_WHEN_FIELDS)}
    values["consent"] = "yes" if form.get("consent") else ""
    try:
        limit_ip(request)
        if form.get(HONEYPOT):
            # Pretend it worked and store nothing: telling a bot it was caught only teaches it.
            return render(request, "thanks.html", when="soon")
        body = validate(
            FormIn,
            {**{name: values[name] for name in _FIELDS}, "consent": bool(form.get("consent")),
             "page_url": values["page_url"] or request.headers.get("Referer"),
             "preferred_at": values["preferred_at"] or None},
            phone_context(services.settings),
        )  # fmt: skip
        await captcha.verify(request, captcha.form_token(form))
        shown = parse_zone(values["shown_tz"]) or parse_zone(values["tz"])
        data = IntakeData(
            first_name=body.first_name,
            last_name=body.last_name,
            phone=body.phone,
            reason=body.reason,
            consent_text=consent_text(services.settings),  # the text the form showed
            source="form",
            page_url=body.page_url,
            preferred_at=body.preferred_at,
            preferred_tz=shown.key if shown is not None else None,
            **client_details(request),
        )
        result = await submit(services, data, None)
    except ValidationFailed as exc:
        fields = exc.details.get("fields") or {exc.details.get("field", "form"): {"message": exc.message}}
        values["preferred_at"] = "" if "preferred_at" in fields else values["preferred_at"]
        return form_page(request, values, _friendly(fields), 422)
    except RateLimited as exc:
        response = form_page(request, values, {"form": exc.message}, 429)
        response.headers["Retry-After"] = str(exc.details.get("retry_after", 60))
        return response
    except captcha.CaptchaUnavailable as exc:
        log.error("CAPTCHA check unavailable: %s", exc.message)
        message = "We could not check the CAPTCHA just now; please try again in a minute."
        return form_page(request, values, {"form": message}, 503)
    except CallbackError as exc:
        if exc.http_status >= 500:
            raise
        return form_page(request, values, {"form": exc.message}, exc.http_status)
    return render(request, "thanks.html", when=_confirmation_when(services, result.body, data, shown))


def _confirmation_when(
    services: Services, body: dict[str, Any], data: IntakeData, shown: ZoneInfo | None
) -> str:
    """ "on Wed 3 Dec at 9:00 AM Pacific time (PST), the time you chose" in the zone the lead read; a request
    merged into an open one keeps that one's call (and says it as every confirmation does)."""
    planned = body.get("planned_at")
    if data.preferred_at is None or not planned or datetime.fromisoformat(planned) != data.preferred_at:
        return when_text(services, body, data.phone)
    zone = shown or lead_zone(data.phone, None, ZoneInfo(services.settings.business.timezone))
    return chosen_text(datetime.fromisoformat(planned), zone)


@public("static")
async def static_file(request: web.Request) -> web.FileResponse:
    name = request.match_info["name"]
    if name not in STATIC_FILES:
        raise web.HTTPNotFound()
    return web.FileResponse(
        STATIC_DIR / name,
        headers={"Content-Type": STATIC_FILES[name], "Cache-Control": "public, max-age=3600"},
    )
