"""The form's "when should we call?" choice: the times offered in the zone the lead reads, zone named.

Which zone (docs/choosing-a-time.md): the browser's, when its script tells us (``tz``: the clock the
person looks at); else the number's (its area code), once one has been typed and the form comes back with
an error; else the business's. Without JavaScript the page therefore lists the business's times, named as
such: "as soon as possible" (the default) needs no script at all.

``GET /form/slots?tz=…&phone=…`` answers the same choice as JSON, for the form's script to rebuild the select
when the zone or the number is known (a number narrows the times to its quiet hours).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from ..domain.phone import PhoneError, normalise_phone
from ..domain.preferred_time import clock_text, day_text, lead_zone, parse_zone, time_text, zone_label
from ..services import Services
from .keys import SERVICES
from .public import public

PHONE_MAX = 40


def typed_phone(services: Services, raw: str | None) -> str | None:
    """The number as typed, in E.164 when it is one we would call, else None (the choice doesn't need it)."""
    if not raw or len(raw) > PHONE_MAX:
        return None
    business = services.settings.business
    try:
        return normalise_phone(raw, default_region=business.region, allowed_regions=business.allowed_regions)
    except PhoneError:
        return None


def choice(services: Services, *, phone: str | None, browser_zone: str | None) -> dict[str, Any]:
    """What the template and the script render: ``zone`` (key), ``zone_label``, ``browser_zone`` (the zone
    to post back, "" when the browser told us none) and ``days``: ``[{label, slots: [{value, label}]}]``;
    a value is the instant in UTC (ISO 8601), a label the lead's wall time."""
    e164 = typed_phone(services, phone)
    browser = parse_zone(browser_zone)
    zone = lead_zone(e164, browser, ZoneInfo(services.settings.business.timezone))
    days = services.lifecycle.intake.offered_times(zone, e164)
    now = services.clock.now()
    return {
        "zone": zone.key,
        "zone_label": zone_label(zone, days[0].slots[0].at if days else now),
        "browser_zone": browser.key if browser is not None else "",
        "days": [
            {
                "label": day_text(d.slots[0].local),
                "slots": [
                    {"value": s.at.isoformat(), "label": f"{day_text(s.local)}, {clock_text(s.local)}"}
                    for s in d.slots
                ],
            }
            for d in days
        ],
    }


def chosen_text(at: datetime, zone: ZoneInfo) -> str:
    """The confirmation's words for a chosen time: ``on Wed 3 Dec at 9:00 AM Pacific time (PST)``."""
    return f"on {time_text(at, zone)}, the time you chose"


@public("form")
async def form_slots(request: web.Request) -> web.Response:
    """GET /form/slots: the form's time choice as JSON (see ``choice``)."""
    services = request.app[SERVICES]
    body = choice(services, phone=request.query.get("phone"), browser_zone=request.query.get("tz"))
    return web.json_response(body, headers={"Cache-Control": "no-store"})
