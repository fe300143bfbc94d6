"""When the lead wants the call: the times the form offers, and the check of a time the lead (or an API
client) chose.

The offer is half-hours of the zone the lead reads (so a lead in Kolkata sees 10:00 and 10:30, not 10:15),
over the first few days that have any, each one allowed by the business calendar and the lead's quiet hours
(``calendar.is_allowed``: the same rule the worker checks at the moment of dialling). A chosen time is
refused when it has passed, is too far ahead or is not allowed, with the next allowed time named in the
lead's zone. Pure: ``now`` is passed in.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from ..errors import ValidationFailed
from .calendar import (
    BusinessCalendar,
    NoSlotError,
    QuietHours,
    Slot,
    is_allowed,
    may_call_at,
    next_allowed_slot,
)
from .phone import timezones_of

SLOT_STEP = timedelta(minutes=30)
SLOT_DAYS = 3  # days with at least one time, offered on the form
SLOT_SEARCH_DAYS = 14  # how far the form looks for those days (a long holiday)
# A time sooner than this is "as soon as possible" already; the form does not offer it.
MIN_NOTICE = timedelta(minutes=15)
PREFERRED_HORIZON_DAYS = 30  # how far ahead a chosen time may be (the API may ask beyond the form's days)
_GRID = timedelta(minutes=15)  # every UTC offset in use is a multiple of 15 minutes

# US and Canadian zones by the name people use for them; elsewhere the zone's city says enough.
_ZONE_NAMES = {
    "America/New_York": "Eastern", "America/Detroit": "Eastern", "America/Toronto": "Eastern",
    "America/Indiana/Indianapolis": "Eastern", "America/Kentucky/Louisville": "Eastern",
    "America/Chicago": "Central", "America/Winnipeg": "Central", "America/Indiana/Knox": "Central",
    "America/Menominee": "Central", "America/North_Dakota/Center": "Central",
    "America/Denver": "Mountain", "America/Edmonton": "Mountain", "America/Boise": "Mountain",
    "America/Phoenix": "Mountain (Arizona)",
    "America/Los_Angeles": "Pacific", "America/Vancouver": "Pacific",
    "America/Anchorage": "Alaska", "Pacific/Honolulu": "Hawaii",
    "America/Halifax": "Atlantic", "America/St_Johns": "Newfoundland", "America/Regina": "Saskatchewan",
    "America/Puerto_Rico": "Atlantic",
}  # fmt: skip
_ZONE_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}")
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def zone_name(zone: str) -> str:
    """``America/Chicago`` → ``Central``; ``Europe/Paris`` → ``Paris``."""
    return _ZONE_NAMES.get(zone, zone.rsplit("/", 1)[-1].replace("_", " "))


def zone_label(zone: ZoneInfo, at: datetime) -> str:
    """The zone named for a person: ``Pacific time (PST)``, ``Paris time (CET)``, ``Istanbul time (UTC+03)``
    (tz abbreviations that are only an offset are said as one)."""
    abbr = at.astimezone(zone).tzname() or ""
    if not abbr or abbr[0] in "+-":
        abbr = f"UTC{abbr}" if abbr else "UTC"
    if zone.key == "UTC":
        return "UTC"
    return f"{zone_name(zone.key)} time ({abbr})"


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def parse_zone(name: str | None) -> ZoneInfo | None:
    """A zone a browser named (``Intl``'s ``timeZone``), or None when it is not one of the tz database's."""
    if not name or len(name) > 64 or not _ZONE_KEY.fullmatch(name) or name not in _known_zones():
        return None
    return ZoneInfo(name)


def lead_zone(lead_e164: str | None, browser: ZoneInfo | None, business: ZoneInfo) -> ZoneInfo:
    """The zone we show times in: the browser's when it told us (the clock the person looks at), else the
    number's (its first zone, by area code), else the business's."""
    if browser is not None:
        return browser
    if lead_e164:
        return ZoneInfo(timezones_of(lead_e164)[0])
    return business


def day_text(local: datetime) -> str:
    """``Wed 3 Dec``."""
    return f"{_WEEKDAYS[local.weekday()]} {local.day} {_MONTHS[local.month - 1]}"


def clock_text(local: datetime) -> str:
    """``9:00 AM``, ``12:30 PM``."""
    hour = local.hour % 12 or 12
    return f"{hour}:{local.minute:02d} {'AM' if local.hour < 12 else 'PM'}"


def time_text(at: datetime, zone: ZoneInfo) -> str:
    """``Wed 3 Dec at 9:00 AM Pacific time (PST)``: a time said to the lead, with the zone named."""
    local = at.astimezone(zone)
    return f"{day_text(local)} at {clock_text(local)} {zone_label(zone, at)}"


@dataclass(frozen=True)
class TimeSlot:
    at: datetime  # UTC
    local: datetime  # the same instant in the zone shown


@dataclass(frozen=True)
class SlotDay:
    day: date
    slots: tuple[TimeSlot, ...]


def _grid_start(at: datetime) -> datetime:
    at = at.astimezone(UTC)
    step = int(_GRID.total_seconds())
    seconds = int(at.timestamp())
    return datetime.fromtimestamp(-(-seconds // step) * step, UTC)


def offered_slots(
    now: datetime,
    *,
    calendar: BusinessCalendar,
    quiet: QuietHours,
    zone: ZoneInfo,
    lead_e164: str | None,
    region: str,
    days: int = SLOT_DAYS,
    search_days: int = SLOT_SEARCH_DAYS,
    min_notice: timedelta = MIN_NOTICE,
) -> list[SlotDay]:
    """The times the form offers, grouped by the lead's day in ``zone``: whole and half hours of ``zone``
    from ``now + min_notice``, on the first ``days`` days that have any within ``search_days``.

    With a number, each time is allowed for it (``is_allowed``: every zone of the number); without one (the
    form before the number is typed), for a lead of ``region`` in ``zone``.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    found: dict[date, list[TimeSlot]] = {}
    at, until = _grid_start(now + min_notice), now + timedelta(days=search_days)
    while at <= until:
        local = at.astimezone(zone)
        day = local.date()
        if day not in found and len(found) >= days:
            break
        if local.minute % 30 == 0 and may_call_at(
            at, calendar=calendar, quiet=quiet, lead_e164=lead_e164, zone=zone, region=region
        ):
            found.setdefault(day, []).append(TimeSlot(at=at, local=local))
        at += _GRID
    return [SlotDay(day=day, slots=tuple(slots)) for day, slots in found.items()]


class PreferredTimeRefused(ValidationFailed):
    """A chosen time we can't call at; ``details``: the field's code and message, and ``next_allowed_at``
    (ISO 8601, None when there is none within the calendar's horizon)."""

    def __init__(self, code: str, message: str, next_allowed_at: datetime | None) -> None:
        super().__init__(
            message,
            fields={"preferred_at": {"code": code, "message": message}},
            next_allowed_at=next_allowed_at.isoformat() if next_allowed_at is not None else None,
        )
        self.code = code
        self.next_allowed_at = next_allowed_at


def check_preferred_time(
    at: datetime,
    now: datetime,
    *,
    calendar: BusinessCalendar,
    quiet: QuietHours,
    lead_e164: str,
    zone: ZoneInfo | None = None,
    horizon_days: int = PREFERRED_HORIZON_DAYS,
) -> Slot:
    """The first attempt's slot at the time the lead chose, or ``PreferredTimeRefused`` naming the next
    allowed time (in ``zone``, by default the number's): in the past → the next allowed time from now;
    not allowed → the next allowed time after it; beyond ``horizon_days`` → refused as too far ahead."""
    if at.tzinfo is None or at.utcoffset() is None or now.tzinfo is None:
        raise ValueError("at and now must be timezone-aware")
    at = at.astimezone(UTC)
    shown = zone or ZoneInfo(timezones_of(lead_e164)[0])

    def refuse(code: str, problem: str, after: datetime) -> PreferredTimeRefused:
        try:
            nxt: datetime | None = next_allowed_slot(
                after, calendar=calendar, quiet=quiet, lead_e164=lead_e164
            ).at
        except NoSlotError:
            nxt = None
        tail = f" The next time we can call is {time_text(nxt, shown)}." if nxt else ""
        return PreferredTimeRefused(code, problem + tail, nxt)

    if at <= now:
        raise refuse("in_the_past", "That time has already passed.", now)
    if at > now + timedelta(days=horizon_days):
        raise refuse("too_far_ahead", f"Please choose a time within the next {horizon_days} days.", now)
    allowed, evidence = is_allowed(at, calendar=calendar, quiet=quiet, lead_e164=lead_e164)
    if not allowed:
        raise refuse("outside_hours", "We can't call at that time.", at)
    evidence.update(preferred_at=at.isoformat(), requested_at=now.astimezone(UTC).isoformat())
    return Slot(at=at, evidence=evidence)


def chosen_by_lead(evidence: dict[str, object] | None) -> bool:
    """Was this attempt planned at the time the lead chose (its slot's evidence says so)?"""
    return bool(evidence and evidence.get("preferred_at"))
