"""When a call or SMS may happen: business opening windows and the lead's own quiet hours.

An instant is allowed when its wall time in the business zone is inside an opening window of that local day
(holidays closed) AND its wall time in every zone the lead's number may be in is inside the quiet-hours
window. Wall-time membership is the single definition; ``next_allowed_slot`` only searches the instants at
which that answer can turn from no to yes, so it always agrees with ``is_allowed`` across DST changes.
"""

from __future__ import annotations

import bisect
import functools
import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from ..errors import CallbackError
from .phone import region_of, subdivision_of, timezones_of

if TYPE_CHECKING:
    from ..settings import CalendarSettings, QuietHoursSettings, WindowSettings

_MIDNIGHT = time(0, 0)


class NoSlotError(CallbackError):
    """No allowed instant within the horizon (e.g. a calendar with no windows, or quiet hours that never
    overlap the business hours)."""

    error_id = "no-slot"
    http_status = 409


@dataclass(frozen=True)
class Window:
    """Local wall-clock window ``[start, end)``; ``end`` 00:00 means the end of the day (midnight).

    Windows don't cross midnight: use two windows for a night shift.
    """

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("window times are wall-clock times: no tzinfo")
        if self.end != _MIDNIGHT and self.end <= self.start:
            raise ValueError(f"window {self.start}-{self.end} is empty or crosses midnight")

    @classmethod
    def from_settings(cls, w: WindowSettings) -> Window:
        return cls(start=w.start, end=w.end)

    def contains(self, wall: time) -> bool:
        wall = wall.replace(tzinfo=None, fold=0)
        return self.start <= wall and (self.end == _MIDNIGHT or wall < self.end)

    def to_json(self) -> dict[str, str]:
        return {"start": self.start.strftime("%H:%M"), "end": self.end.strftime("%H:%M")}


@dataclass(frozen=True)
class BusinessCalendar:
    tz: ZoneInfo
    weekdays: tuple[Window, ...]  # Monday to Friday
    weekend: tuple[Window, ...]  # Saturday and Sunday; empty: closed
    holidays: frozenset[date] = frozenset()
    always_open: bool = False  # open at all hours, except on holidays

    @classmethod
    def from_settings(cls, cal: CalendarSettings, timezone: str) -> BusinessCalendar:
        """``always_open`` as configured when set explicitly; left at its default it means "no windows given",
        so a file that lists windows and forgets ``always_open = false`` still gets its windows."""
        weekdays = tuple(Window.from_settings(w) for w in cal.weekdays)
        weekend = tuple(Window.from_settings(w) for w in cal.weekend)
        if "always_open" in cal.model_fields_set:
            always_open = cal.always_open
        else:
            always_open = not weekdays and not weekend
        return cls(
            tz=ZoneInfo(timezone),
            weekdays=weekdays,
            weekend=weekend,
            holidays=frozenset(date.fromisoformat(d) for d in cal.holidays),
            always_open=always_open,
        )

    def windows_on(self, day: date) -> tuple[Window, ...]:
        """The opening windows of a local date (empty on a holiday)."""
        if day in self.holidays:
            return ()
        if self.always_open:
            return (Window(_MIDNIGHT, _MIDNIGHT),)
        return self.weekdays if day.weekday() < 5 else self.weekend

    def window_at(self, local: datetime) -> Window | None:
        for window in self.windows_on(local.date()):
            if window.contains(local.time()):
                return window
        return None


@dataclass(frozen=True)
class QuietHours:
    """Lead-local hours in which we may call or text. ``regions`` keys: a region (``US``) or a subdivision
    (``US-FL``); the most specific key that matches the number applies."""

    default: Window = Window(time(8, 0), time(21, 0))
    regions: Mapping[str, Window] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, q: QuietHoursSettings) -> QuietHours:
        return cls(
            default=Window(q.start, q.end),
            regions={key.upper(): Window.from_settings(w) for key, w in q.regions.items()},
        )

    def window_for(self, region: str, subdivision: str | None) -> tuple[str, Window]:
        """``(key, window)``: the rule that applies, ``default`` when none is configured for the number."""
        keys = {k.upper(): w for k, w in self.regions.items()}
        for key in (subdivision, region):
            if key and key.upper() in keys:
                return key.upper(), keys[key.upper()]
        return "default", self.default


@dataclass(frozen=True)
class Slot:
    at: datetime  # aware, UTC
    evidence: dict[str, Any]  # JSON-serialisable: why this instant is allowed


@dataclass(frozen=True)
class _Lead:
    region: str
    subdivision: str | None
    zones: tuple[ZoneInfo, ...]
    quiet_key: str
    quiet: Window


@functools.lru_cache(maxsize=4096)
def _number_facts(lead_e164: str) -> tuple[str, str | None, tuple[ZoneInfo, ...]]:
    """Region, subdivision and zones of a number: pure, and the costly part of ``_lead`` (three parses)."""
    zones = tuple(ZoneInfo(name) for name in timezones_of(lead_e164))
    return region_of(lead_e164), subdivision_of(lead_e164), zones


def _lead(lead_e164: str, quiet: QuietHours) -> _Lead:
    region, subdivision, zones = _number_facts(lead_e164)
    key, window = quiet.window_for(region, subdivision)
    return _Lead(region, subdivision, zones, key, window)


def _require_aware(at: datetime, name: str) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def _iso_local(at: datetime, tz: ZoneInfo) -> str:
    return at.astimezone(tz).isoformat()


def _check(at: datetime, calendar: BusinessCalendar, lead: _Lead) -> tuple[bool, dict[str, Any]]:
    local = at.astimezone(calendar.tz)
    window = calendar.window_at(local)
    business: dict[str, Any] = {
        "tz": calendar.tz.key,
        "local": local.isoformat(),
        "open": window is not None,
        "window": window.to_json() if window else None,
        "holiday": local.date() in calendar.holidays,
        "always_open": calendar.always_open,
    }
    zones = []
    for tz in lead.zones:
        lead_local = at.astimezone(tz)
        zones.append(
            {
                "tz": tz.key,
                "local": lead_local.isoformat(),
                "window": lead.quiet.to_json(),
                "allowed": lead.quiet.contains(lead_local.time()),
            }
        )
    allowed = window is not None and all(z["allowed"] for z in zones)
    evidence = {
        "at": at.astimezone(UTC).isoformat(),
        "allowed": allowed,
        "business": business,
        "lead": {
            "region": lead.region,
            "subdivision": lead.subdivision,
            "quiet_hours_rule": lead.quiet_key,
            "zones": zones,
        },
    }
    return allowed, evidence


def is_allowed(
    at: datetime, *, calendar: BusinessCalendar, quiet: QuietHours, lead_e164: str
) -> tuple[bool, dict[str, Any]]:
    """May we dial or text this lead at ``at``? The check at the moment of the side effect."""
    _require_aware(at, "at")
    return _check(at, calendar, _lead(lead_e164, quiet))


def _open(at: datetime, calendar: BusinessCalendar, lead: _Lead) -> bool:
    """``_check``'s answer without its evidence (same rule: the business window, quiet hours in every zone);
    for callers that ask many instants, such as the form's list of times."""
    if calendar.window_at(at.astimezone(calendar.tz)) is None:
        return False
    return all(lead.quiet.contains(at.astimezone(tz).time()) for tz in lead.zones)


def may_call_at(
    at: datetime,
    *,
    calendar: BusinessCalendar,
    quiet: QuietHours,
    lead_e164: str | None,
    zone: ZoneInfo,
    region: str,
) -> bool:
    """``is_allowed``'s yes or no, without evidence. ``lead_e164`` None: a lead known only by ``zone`` and
    ``region`` (a form before the number is typed), so the region's quiet hours in that one zone."""
    _require_aware(at, "at")
    if lead_e164:
        return _open(at, calendar, _lead(lead_e164, quiet))
    key, window = quiet.window_for(region, None)
    return _open(at, calendar, _Lead(region, None, (zone,), key, window))


def _wall_to_instants(day: date, wall: time, tz: ZoneInfo) -> list[datetime]:
    """UTC instants at which the wall clock of ``tz`` first shows ``wall`` (or later) on ``day``.

    Normal: one instant. Fall-back (ambiguous): both occurrences. Spring-forward (the time never exists): the
    transition itself, the first instant whose wall time is past it.
    """
    naive = datetime.combine(day, wall)
    early = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    late = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if early == late:
        return [early]
    if early.astimezone(tz).replace(tzinfo=None) == naive:  # exists twice
        return sorted({early, late})
    lo, hi = sorted((early, late))
    return [_transition_between(lo, hi, tz)]


def _transition_between(lo: datetime, hi: datetime, tz: ZoneInfo) -> datetime:
    """First instant in ``(lo, hi]`` with the UTC offset of ``hi``; offsets change on whole seconds."""
    target = hi.astimezone(tz).utcoffset()
    lo_s, hi_s = int(lo.timestamp()), int(hi.timestamp())
    while hi_s - lo_s > 1:
        mid = (lo_s + hi_s) // 2
        if datetime.fromtimestamp(mid, UTC).astimezone(tz).utcoffset() == target:
            hi_s = mid
        else:
            lo_s = mid
    return datetime.fromtimestamp(hi_s, UTC)


def _transitions(day: date, tz: ZoneInfo) -> list[datetime]:
    """UTC offset changes during a local day (where a wall clock can jump back into a window)."""
    start = datetime.combine(day, _MIDNIGHT, tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), _MIDNIGHT, tzinfo=tz).astimezone(UTC)
    if start.astimezone(tz).utcoffset() == end.astimezone(tz).utcoffset():
        return []
    return [_transition_between(start, end, tz)]


@functools.lru_cache(maxsize=4096)
def _day_openings(day: date, tz: ZoneInfo, starts: tuple[time, ...]) -> tuple[datetime, ...]:
    """The UTC instants of one local day at which "allowed" can turn true: its windows' starts, its midnight
    (the day, and so its windows, changes) and any offset change. Pure: the same days recur request after
    request, so they are computed once (keyed on every input, bounded)."""
    found: list[datetime] = []
    for start in starts:
        found += _wall_to_instants(day, start, tz)
    found += _wall_to_instants(day, _MIDNIGHT, tz)
    found += _transitions(day, tz)
    return tuple(found)


@functools.lru_cache(maxsize=256)
def _openings_between(
    calendar: BusinessCalendar, zones: tuple[ZoneInfo, ...], quiet: Window, first: date, last: date
) -> tuple[datetime, ...]:
    """Every opening instant (sorted) of the local days, in the business zone and the lead's zones, that touch
    the UTC dates ``first``..``last``: an instant's local date is within a day of its UTC date, so two days of
    margin hold them all. Pure; the same range serves every request of a day."""
    found: set[datetime] = set()
    plans: list[tuple[ZoneInfo, Any]] = [(calendar.tz, calendar.windows_on)]
    plans += [(tz, lambda _day: (quiet,)) for tz in zones]
    for tz, windows_on in plans:
        day, end = first - timedelta(days=2), last + timedelta(days=2)
        while day <= end:
            found.update(_day_openings(day, tz, tuple(w.start for w in windows_on(day))))
            day += timedelta(days=1)
    return tuple(sorted(found))


def _openings(
    earliest: datetime, until: datetime, calendar: BusinessCalendar, lead: _Lead
) -> Iterator[datetime]:
    """Every instant in ``[earliest, until]`` at which "allowed" can turn true, in order."""
    found = _openings_between(calendar, lead.zones, lead.quiet, earliest.date(), until.date())
    inside = found[bisect.bisect_left(found, earliest) : bisect.bisect_right(found, until)]
    yield from sorted({earliest, *inside}) if earliest <= until else ()


def next_allowed_slot(
    earliest: datetime,
    *,
    calendar: BusinessCalendar,
    quiet: QuietHours,
    lead_e164: str,
    horizon_days: int = 21,
) -> Slot:
    """The first instant at or after ``earliest`` inside a business window and inside quiet hours in every
    zone of the lead's number. ``NoSlotError`` when there is none within ``horizon_days``."""
    _require_aware(earliest, "earliest")
    earliest = earliest.astimezone(UTC)
    lead = _lead(lead_e164, quiet)
    until = earliest + timedelta(days=horizon_days)
    # ``earliest`` is the first candidate: when it is allowed (the usual case) no other is computed.
    first = (earliest,) if earliest <= until else ()
    candidates = itertools.chain(
        first, (c for c in _openings(earliest, until, calendar, lead) if c != earliest)
    )
    for candidate in candidates:
        allowed, evidence = _check(candidate, calendar, lead)
        if allowed:
            evidence["requested_earliest"] = earliest.isoformat()
            return Slot(at=candidate, evidence=evidence)
    raise NoSlotError(
        f"no allowed time within {horizon_days} days",
        earliest=earliest.isoformat(),
        business_tz=calendar.tz.key,
        lead_zones=[tz.key for tz in lead.zones],
    )


def first_call_at(
    requested_at: datetime,
    *,
    calendar: BusinessCalendar,
    quiet: QuietHours,
    lead_e164: str,
    delay_seconds: float,
    horizon_days: int = 21,
) -> Slot:
    """wf-1.1: inside an allowed window, ``requested_at + delay`` (or the next allowed instant after it);
    outside, the next opening itself."""
    _require_aware(requested_at, "requested_at")
    inside, _ = is_allowed(requested_at, calendar=calendar, quiet=quiet, lead_e164=lead_e164)
    earliest = requested_at + timedelta(seconds=delay_seconds) if inside else requested_at
    slot = next_allowed_slot(
        earliest, calendar=calendar, quiet=quiet, lead_e164=lead_e164, horizon_days=horizon_days
    )
    slot.evidence.update(
        requested_at=requested_at.astimezone(UTC).isoformat(),
        inside_window_at_request=inside,
        delay_seconds=delay_seconds if inside else 0.0,
    )
    return slot
