"""When a lead means: "tomorrow at 3", "after 5", "Friday morning", "in 2 hours", "not today" in a text.

``understand_time`` reads a reply in the lead's own zone and returns a ``Wish`` (the earliest instant the
lead asked for, or None: not understood); ``wish_slot`` clamps it into the business calendar and the lead's
quiet hours (the next allowed instant at or after it). Pure: ``now`` and the zone are passed in.

Read like a person would (docs/decisions/0003-when-by-sms.md says why our own grammar reads the clock and
dateparser only the day):
- a bare hour is a working hour: "at 3" is 15:00, "at 9" is 09:00; "at 7" and "at 8" are whichever of the
  morning and the evening comes next today (and the morning on a named day);
- a time already past today, with no day said, is tomorrow's: "3pm" at 4 PM is tomorrow at 3 PM;
- "after 5", "around 5", "by 5" all mean 17:00 as the earliest;
- a day without a time ("Friday", "tomorrow", "Friday morning", "not today") is that day's opening (the
  calendar's first window, or 09:00 when the calendar is always open);
- anything with words we don't know around it is not understood: a wrong guess moves a call the lead
  didn't ask to move, while "not understood" only gets them a short list of what works.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .calendar import BusinessCalendar, QuietHours, Slot, next_allowed_slot

DEFAULT_OPENING = time(9, 0)  # "Friday morning" when the calendar is always open
MAX_CHARS = 160  # longer texts are not read for a time (a paragraph is for a person)

_NUMBERS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30, "forty": 40,
    "forty five": 45, "a": 1, "an": 1, "a couple of": 2, "a couple": 2, "couple of": 2,
}  # fmt: skip
_NUMBER_WORDS = "|".join(sorted((re.escape(w) for w in _NUMBERS), key=len, reverse=True))

# Words a reply may wrap a time in ("can you call me tomorrow at 3 please?"). Anything else: not understood.
_FILLER = frozenset(
    """
    i im am me my you u we can could would will please pls plz call ring phone try give a the back then is
    be its it that this works work good fine ok okay sure yes yeah yep ya thanks thank thx ty hi hello hey
    free available maybe perhaps best better prefer like to anytime time sometime any just so and better
    how about earliest again instead rather let us lets do reach me text shall
    """.split()
)
# Shortenings a phone keyboard makes, to the word dateparser knows.
_SLANG = {
    "tmrw": "tomorrow", "tmr": "tomorrow", "tmrrw": "tomorrow", "tomoz": "tomorrow", "2moro": "tomorrow",
    "2morrow": "tomorrow", "2mrw": "tomorrow", "tomorow": "tomorrow", "tommorow": "tomorrow",
    "tommorrow": "tomorrow", "thurs": "thursday", "thur": "thursday", "thu": "thursday",
    "tues": "tuesday", "tue": "tuesday", "weds": "wednesday", "wed": "wednesday", "2day": "today",
    "tonite": "tonight", "2nite": "tonight", "mins": "minutes", "min": "minutes", "hrs": "hours",
    "hr": "hours",
}  # fmt: skip
# Parts of the day and the earliest wall time each means; None: the day's opening.
_PARTS: dict[str, time | None] = {
    "first thing": None,
    "morning": None,
    "midday": time(12, 0),
    "noon": time(12, 0),
    "lunchtime": time(12, 0),
    "lunch time": time(12, 0),
    "lunch": time(12, 0),
    "after lunch": time(13, 0),
    "afternoon": time(13, 0),
    "end of the day": time(16, 0),
    "end of day": time(16, 0),
    "evening": time(17, 0),
    "tonight": time(18, 0),
    "night": time(18, 0),
}
_PART_WORDS = "|".join(sorted((re.escape(p) for p in _PARTS), key=len, reverse=True))

_DURATION = re.compile(
    rf"\bin\s+(?:about\s+|around\s+)?(?P<n>\d{{1,3}}|{_NUMBER_WORDS}|half an?)\s*"
    r"(?P<half>and a half\s+)?(?P<unit>minutes?|hours?)\b"
)
_HALF_HOUR = re.compile(r"\bin\s+(?:about\s+)?half\s+an?\s+hour\b")
_NOT_TODAY = re.compile(r"\bnot\s+(?:today|now|this\s+(?:morning|afternoon))\b")
_CLOCK = re.compile(
    r"(?:(?P<mod>(?<!\w)(?:at|after|around|about|from|by|for)|@)\s*)?"
    rf"(?:(?P<past>half|quarter)\s+past\s+(?P<past_h>\d{{1,2}}|{_NUMBER_WORDS})"
    r"|(?<![\w:/])(?P<h>\d{1,2})(?::(?P<m>\d{2}))?(?![\d/:])"
    r"|(?<!\w)(?P<wh>one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)\b)"
    r"\s*(?P<ampm>a\.?m\.?|p\.?m\.?|o\s?clock|oclock|a|p)?(?![a-z])"
)
_PART = re.compile(rf"\b(?:(?:this|in\s+the|at|by|around|for)\s+)?(?P<part>{_PART_WORDS})\b")
_NEXT_WEEK = re.compile(r"\bnext\s+week\b")
# What the words left for dateparser may be made of: a day's name, a date, "next", "the day after tomorrow".
_DAY_WORD = re.compile(
    r"today|tomorrow|day|after|next|this|coming|of|"
    r"(?:mon|tues|wednes|thurs|fri|satur|sun)day|"
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|"
    r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|mon|fri|sat|sun|"
    r"\d{1,2}(?:st|nd|rd|th)?|\d{1,2}/\d{1,2}(?:/\d{2,4})?"
)


@dataclass(frozen=True)
class Wish:
    """What the lead asked for: the earliest instant (aware, in the lead's zone). ``day_only``: a day with
    no time ("Friday", "not today", "Friday morning"): the calendar's opening of that day is meant."""

    earliest: datetime
    day_only: bool
    understood: str  # the words we read it from, for the timeline

    def to_json(self) -> dict[str, Any]:
        return {
            "earliest": self.earliest.isoformat(),
            "day_only": self.day_only,
            "understood": self.understood,
        }


def _words(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    folded = re.sub(r"['\u2018\u2019\u02bc`]", "", folded)
    folded = re.sub(r"(?<![a-z])([ap])\.m\b\.?", r"\1m", folded)
    # Keep what times and dates are made of (":" "." "/" between digits, "@"), the rest becomes spaces.
    folded = re.sub(r"(?<=\d)[:./](?=\d)", lambda m: ":" if m.group() in ":." else "/", folded)
    folded = re.sub(r"[^\w:/@]+", " ", folded)
    words = [_SLANG.get(w, w) for w in folded.split()]
    return " ".join(words)


def _number(word: str) -> int:
    return int(word) if word.isdigit() else _NUMBERS[word]


@dataclass
class _Clock:
    hour: int
    minute: int
    meridiem: str | None  # "am", "pm", or None when not said


def _clock(match: re.Match[str]) -> _Clock | None:
    ampm = (match.group("ampm") or "").replace(".", "").replace(" ", "")
    meridiem = {"a": "am", "am": "am", "p": "pm", "pm": "pm"}.get(ampm)
    if match.group("past"):
        hour, minute = _number(match.group("past_h")), 30 if match.group("past") == "half" else 15
    elif match.group("wh"):
        if not match.group("mod"):
            return None  # "one", "two" alone are not times; "at two" is
        hour, minute = _number(match.group("wh")), 0
    else:
        hour, minute = int(match.group("h")), int(match.group("m") or 0)
        if not match.group("mod") and not meridiem and not match.group("m"):
            return None  # a bare number ("3", "2 of them") is not a time
    if minute > 59 or hour > 23 or (meridiem and not 1 <= hour <= 12):
        return None
    return _Clock(hour, minute, meridiem)


def _hours(clock: _Clock) -> list[int]:
    """The 24-hour readings a person could mean, earliest first."""
    if clock.meridiem == "am":
        return [clock.hour % 12]
    if clock.meridiem == "pm":
        return [clock.hour % 12 + 12]
    if clock.hour == 0 or clock.hour >= 13:
        return [clock.hour]
    if clock.hour == 12:
        return [12]
    if clock.hour <= 6:
        return [clock.hour + 12]  # "at 3": nobody asks for a call at 3 in the morning
    if clock.hour <= 8:
        return [clock.hour, clock.hour + 12]  # "at 7": the morning, or the evening if it's past
    return [clock.hour]  # 9, 10, 11: the morning


def _day_of(words: str, now: datetime) -> date | None:
    """The date the words name ("tomorrow", "friday", "next tuesday", "march 5", "3/5"), by dateparser,
    read from ``now`` (naive, the lead's wall time) towards the future; None when they name no single day."""
    if not all(_DAY_WORD.fullmatch(w) for w in words.split()):
        return None
    from dateparser.date import DateDataParser

    # A parser per call: its settings hold the base instant (building one costs ~0.1 ms; the languages
    # are loaded once per process).
    parser = DateDataParser(
        languages=["en"],
        settings={
            "RELATIVE_BASE": now.replace(tzinfo=None),
            "PREFER_DATES_FROM": "future",
            "RETURN_TIME_AS_PERIOD": True,
        },
    )
    parsed = parser.get_date_data(words)
    found: datetime | None = parsed.date_obj
    if found is None or parsed.period != "day":
        return None
    return found.date()


def warm_up() -> None:
    """Read one day once, so dateparser's language data is loaded before the first real reply (its first
    parse in a process takes 0.4-0.8 s; later ones well under a millisecond). No I/O of ours."""
    _day_of("tomorrow", datetime(2026, 1, 1, 12, 0))


def understand_time(text: str, *, now: datetime, tz: ZoneInfo) -> Wish | None:
    """The instant a reply asks for, in ``tz`` (the lead's zone), or None when it asks for no time we can be
    sure of. ``now`` must be aware."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if len(text) > MAX_CHARS:
        return None
    local_now = now.astimezone(tz)
    words = _words(text)
    if not words:
        return None
    understood = words

    half = _HALF_HOUR.search(words)
    duration = _DURATION.search(words)
    if half or duration:
        rest = _HALF_HOUR.sub(" ", words) if half else _DURATION.sub(" ", words)
        if _leftover(rest):
            return None
        if half:
            delta = timedelta(minutes=30)
        else:
            assert duration is not None
            n = duration.group("n")
            amount = 0.5 if n.startswith("half") else float(_number(n))
            amount += 0.5 if duration.group("half") else 0.0
            unit = 60 if duration.group("unit").startswith("hour") else 1
            delta = timedelta(minutes=amount * unit)
        if delta > timedelta(days=7) or delta <= timedelta(0):
            return None
        # Elapsed time, not wall time: across a DST change "in 12 hours" is 12 real hours.
        return Wish((now.astimezone(UTC) + delta).astimezone(tz), False, understood)

    not_today = bool(_NOT_TODAY.search(words))
    words = _NOT_TODAY.sub(" ", words)

    part: time | None = None
    part_said = False
    if match := _PART.search(words):
        part, part_said = _PARTS[match.group("part")], True
        if match.group("part") == "tonight":
            words = words[: match.start()] + " today " + words[match.end() :]
        else:
            words = words[: match.start()] + " " + words[match.end() :]

    clock: _Clock | None = None
    for match in _CLOCK.finditer(words):
        found = _clock(match)
        if found is not None:
            if clock is not None:
                return None  # two times ("3 or 4"): not sure which
            clock = found
            words = words[: match.start()] + " " + words[match.end() :]
            break

    next_week = bool(_NEXT_WEEK.search(words))
    words = _NEXT_WEEK.sub(" ", words)
    day_words = " ".join(w for w in words.split() if w not in _FILLER and w not in ("on", "in", "at"))
    day: date | None = None
    explicit_today = False
    if day_words:
        day = _day_of(day_words, local_now)
        if day is None:
            return None
        explicit_today = day == local_now.date()
        if day < local_now.date():
            return None
    if next_week:
        if day is not None:
            return None
        day = local_now.date() + timedelta(days=7 - local_now.weekday())
    if clock is None and not part_said and day is None and not not_today:
        return None
    if not_today and (day is None or day == local_now.date()):
        if clock is not None or part is not None:
            day = local_now.date() + timedelta(days=1)
        else:
            return _day_start(local_now.date() + timedelta(days=1), tz, understood)
    if day is not None and day > local_now.date() + timedelta(days=60):
        return None

    if clock is not None:
        return _at_clock(clock, day, explicit_today, local_now, tz, understood)
    if part_said:
        if part is None:  # the morning: the day's opening
            if day is None:
                day = local_now.date() if local_now.hour < 12 else local_now.date() + timedelta(days=1)
            if day == local_now.date():
                return Wish(local_now, False, understood)
            return _day_start(day, tz, understood)
        return _at_wall(part, day, explicit_today, local_now, tz, understood)
    assert day is not None
    if day == local_now.date():
        return Wish(local_now, False, understood)  # "today": as soon as allowed
    return _day_start(day, tz, understood)


def _leftover(words: str) -> bool:
    return any(w not in _FILLER for w in words.split())


def _day_start(day: date, tz: ZoneInfo, understood: str) -> Wish:
    return Wish(datetime.combine(day, time(0, 0), tzinfo=tz), True, understood)


def _at_clock(
    clock: _Clock, day: date | None, explicit_today: bool, local_now: datetime, tz: ZoneInfo, said: str
) -> Wish | None:
    hours = _hours(clock)
    if day is None or explicit_today:
        today = local_now.date()
        for hour in hours:
            at = datetime.combine(today, time(hour, clock.minute), tzinfo=tz)
            if at >= local_now:
                return Wish(at, False, said)
        if explicit_today:
            return Wish(local_now, False, said)  # "today at 3" at 4 PM: as soon as allowed
        day = today + timedelta(days=1)
    return Wish(datetime.combine(day, time(hours[0], clock.minute), tzinfo=tz), False, said)


def _at_wall(
    wall: time, day: date | None, explicit_today: bool, local_now: datetime, tz: ZoneInfo, said: str
) -> Wish:
    today = local_now.date()
    if day is None or explicit_today:
        at = datetime.combine(today, wall, tzinfo=tz)
        if at >= local_now or explicit_today:
            return Wish(max(at, local_now), False, said)
        day = today + timedelta(days=1)
    return Wish(datetime.combine(day, wall, tzinfo=tz), False, said)


def wish_slot(
    wish: Wish,
    *,
    calendar: BusinessCalendar,
    quiet: QuietHours,
    lead_e164: str,
    default_opening: time = DEFAULT_OPENING,
) -> Slot:
    """The next instant at or after the wish when the business is open and the lead's quiet hours allow a
    call (``NoSlotError`` when there is none within the calendar's horizon). A day wish starts at the day's
    opening; on an always-open calendar, at ``default_opening`` in the lead's zone."""
    earliest = wish.earliest
    if wish.day_only and calendar.always_open:
        earliest = datetime.combine(earliest.date(), default_opening, tzinfo=earliest.tzinfo)
    slot = next_allowed_slot(earliest, calendar=calendar, quiet=quiet, lead_e164=lead_e164)
    slot.evidence["asked_by_lead"] = wish.to_json()
    return slot
