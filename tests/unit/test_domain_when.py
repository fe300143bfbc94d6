"""What time a lead means by a reply: a table of real phrasings with the zone and "now" fixed, then the same
wishes clamped into a business calendar and quiet hours (weekends, a DST change, a lead in another zone)."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest

from ari_app.domain.calendar import BusinessCalendar, QuietHours, Window
from ari_app.domain.when import Wish, understand_time, wish_slot

NY = ZoneInfo("America/New_York")
LA = ZoneInfo("America/Los_Angeles")
LEAD_NY = "+12025550142"  # Washington, DC
LEAD_LA = "+12135550142"  # Los Angeles

# Tuesday 3 March 2026, noon in New York; Saturday 7 March, the eve of the spring-forward change (8 March);
# Friday 6 March at 4 PM; Tuesday at 7:30 AM.
TUE_NOON = datetime(2026, 3, 3, 12, 0, tzinfo=NY)
SAT_EVE = datetime(2026, 3, 7, 18, 0, tzinfo=NY)
FRI_4PM = datetime(2026, 3, 6, 16, 0, tzinfo=NY)
TUE_EARLY = datetime(2026, 3, 3, 7, 30, tzinfo=NY)
FALL_BACK_EVE = datetime(2026, 10, 31, 18, 0, tzinfo=NY)  # Saturday; clocks go back on Sunday 1 November

NOT_UNDERSTOOD = None

# (now, text, what the lead asked for in their zone: "YYYY-MM-DD HH:MM", "day YYYY-MM-DD", or None)
TABLE: list[tuple[datetime, str, str | None]] = [
    (TUE_NOON, "tomorrow at 3", "2026-03-04 15:00"),
    (TUE_NOON, "Tomorrow at 3!", "2026-03-04 15:00"),
    (TUE_NOON, "tomorrow 3pm", "2026-03-04 15:00"),
    (TUE_NOON, "Can you call me tomorrow at 3?", "2026-03-04 15:00"),
    (TUE_NOON, "2moro 3pm", "2026-03-04 15:00"),
    (TUE_NOON, "tmrw at 9", "2026-03-04 09:00"),
    (TUE_NOON, "tomorrow at 7", "2026-03-04 07:00"),
    (TUE_NOON, "3pm", "2026-03-03 15:00"),
    (TUE_NOON, "3 p.m.", "2026-03-03 15:00"),
    (TUE_NOON, "3 PM please", "2026-03-03 15:00"),
    (TUE_NOON, "at 3", "2026-03-03 15:00"),
    (TUE_NOON, "at three", "2026-03-03 15:00"),
    (TUE_NOON, "15:00", "2026-03-03 15:00"),
    (TUE_NOON, "call me at 4:30", "2026-03-03 16:30"),
    (TUE_NOON, "4.30pm", "2026-03-03 16:30"),
    (TUE_NOON, "half past two", "2026-03-03 14:30"),
    (TUE_NOON, "after 5", "2026-03-03 17:00"),
    (TUE_NOON, "after 5 pls", "2026-03-03 17:00"),
    (TUE_NOON, "around 4", "2026-03-03 16:00"),
    (TUE_NOON, "at 7", "2026-03-03 19:00"),  # 7 AM is past: the evening
    (TUE_EARLY, "at 8", "2026-03-03 08:00"),  # 8 AM still ahead: the morning
    (TUE_NOON, "at 8", "2026-03-03 20:00"),
    (TUE_NOON, "11am", "2026-03-04 11:00"),  # past today: tomorrow's
    (TUE_NOON, "10:30am", "2026-03-04 10:30"),
    (TUE_NOON, "at noon", "2026-03-03 12:00"),
    (TUE_NOON, "this afternoon", "2026-03-03 13:00"),
    (TUE_NOON, "after lunch", "2026-03-03 13:00"),
    (TUE_NOON, "tonight", "2026-03-03 18:00"),
    (TUE_NOON, "end of day", "2026-03-03 16:00"),
    (TUE_NOON, "in 2 hours", "2026-03-03 14:00"),
    (TUE_NOON, "in an hour", "2026-03-03 13:00"),
    (TUE_NOON, "in 30 mins", "2026-03-03 12:30"),
    (TUE_NOON, "in half an hour", "2026-03-03 12:30"),
    (TUE_NOON, "call me in a couple of hours", "2026-03-03 14:00"),
    (TUE_NOON, "Friday morning", "day 2026-03-06"),
    (TUE_NOON, "friday", "day 2026-03-06"),
    (TUE_NOON, "on Friday", "day 2026-03-06"),
    (TUE_NOON, "tomorrow morning", "day 2026-03-04"),
    (TUE_NOON, "not today", "day 2026-03-04"),
    (TUE_NOON, "Not today, tomorrow at 3", "2026-03-04 15:00"),
    (TUE_NOON, "next week", "day 2026-03-09"),
    (TUE_NOON, "sometime next week", "day 2026-03-09"),
    (TUE_NOON, "tuesday", "day 2026-03-10"),  # today is Tuesday: the next one
    (TUE_NOON, "monday 10am", "2026-03-09 10:00"),
    (TUE_NOON, "next tuesday at 11am", "2026-03-10 11:00"),
    (TUE_NOON, "thursday after 2", "2026-03-05 14:00"),
    (TUE_NOON, "thurs at 10", "2026-03-05 10:00"),
    (TUE_NOON, "wed 9:15", "2026-03-04 09:15"),
    (TUE_NOON, "anytime after 2 tomorrow", "2026-03-04 14:00"),
    (TUE_NOON, "the day after tomorrow at 10", "2026-03-05 10:00"),
    (TUE_NOON, "3/5 at 2pm", "2026-03-05 14:00"),
    (TUE_NOON, "March 5th at 10", "2026-03-05 10:00"),
    (TUE_NOON, "today", "2026-03-03 12:00"),  # as soon as allowed
    (FRI_4PM, "3pm", "2026-03-07 15:00"),  # past today: tomorrow (a Saturday; the calendar decides)
    (FRI_4PM, "today at 3", "2026-03-06 16:00"),  # asked for a time already past today: now
    (FRI_4PM, "not today", "day 2026-03-07"),
    (FRI_4PM, "monday", "day 2026-03-09"),
    (SAT_EVE, "tomorrow at 9", "2026-03-08 09:00"),  # across the change: 09:00 EDT
    (SAT_EVE, "tomorrow at 2:30", "2026-03-08 14:30"),
    (SAT_EVE, "in 12 hours", "2026-03-08 07:00"),  # 12 elapsed hours: 06:00 EST is 07:00 EDT
    (SAT_EVE, "sun at 3", "2026-03-08 15:00"),
    (FALL_BACK_EVE, "tomorrow at 9", "2026-11-01 09:00"),  # 09:00 EST, after the change
    (FALL_BACK_EVE, "in 12 hours", "2026-11-01 05:00"),  # 12 elapsed hours: 06:00 EDT would be wrong
    (FALL_BACK_EVE, "monday morning", "day 2026-11-02"),
    # Not understood: no time, two times, or words we don't know around the time.
    (TUE_NOON, "yes", NOT_UNDERSTOOD),
    (TUE_NOON, "ok thanks", NOT_UNDERSTOOD),
    (TUE_NOON, "3", NOT_UNDERSTOOD),
    (TUE_NOON, "3 or 4", NOT_UNDERSTOOD),
    (TUE_NOON, "I saw the sun", NOT_UNDERSTOOD),
    (TUE_NOON, "who is this?", NOT_UNDERSTOOD),
    (TUE_NOON, "my wife will call you at 3", NOT_UNDERSTOOD),
    (TUE_NOON, "I have 2 kids", NOT_UNDERSTOOD),
    (TUE_NOON, "5 mins", NOT_UNDERSTOOD),
    (TUE_NOON, "eod", NOT_UNDERSTOOD),
    (TUE_NOON, "the 12th", NOT_UNDERSTOOD),
    (TUE_NOON, "at 25:00", NOT_UNDERSTOOD),
    (TUE_NOON, "in 3 weeks", NOT_UNDERSTOOD),
    (TUE_NOON, "", NOT_UNDERSTOOD),
    (TUE_NOON, "tomorrow at 3 " + "x" * 200, NOT_UNDERSTOOD),
]


def _shown(wish: Wish | None) -> str | None:
    if wish is None:
        return None
    local = wish.earliest.astimezone(NY)
    if wish.day_only:
        assert local.time() == time(0, 0)
        return f"day {local.date().isoformat()}"
    return local.strftime("%Y-%m-%d %H:%M")


def test_the_table_has_at_least_sixty_phrasings() -> None:
    assert len(TABLE) >= 60
    assert len({(now, text) for now, text, _ in TABLE}) == len(TABLE)


@pytest.mark.parametrize(
    ("now", "text", "expected"), TABLE, ids=[f"{t[1][:30]}@{t[0]:%a%H%M}" for t in TABLE]
)
def test_a_reply_is_read_as_a_person_would(now: datetime, text: str, expected: str | None) -> None:
    assert _shown(understand_time(text, now=now, tz=NY)) == expected


def test_the_time_is_read_in_the_leads_zone() -> None:
    """3 PM for a lead in Los Angeles is 6 PM in New York, whatever zone "now" is given in."""
    wish = understand_time("tomorrow at 3pm", now=TUE_NOON, tz=LA)
    assert wish is not None
    assert wish.earliest.astimezone(LA).strftime("%Y-%m-%d %H:%M") == "2026-03-04 15:00"
    assert wish.earliest.astimezone(NY).hour == 18


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError, match="aware"):
        understand_time("3pm", now=datetime(2026, 3, 3, 12, 0), tz=NY)


# -- clamped into the calendar and quiet hours ---------------------------------------------------------

OFFICE = BusinessCalendar(tz=NY, weekdays=(Window(time(9, 0), time(17, 0)),), weekend=())
EARLY_OFFICE = BusinessCalendar(tz=NY, weekdays=(Window(time(7, 30), time(17, 0)),), weekend=())
ALWAYS = BusinessCalendar(tz=NY, weekdays=(), weekend=(), always_open=True)
QUIET = QuietHours()  # 08:00 to 21:00 in the lead's zone

SLOTS: list[tuple[datetime, str, BusinessCalendar, str, str]] = [
    # (now, text, calendar, lead, the call's time in the lead's zone)
    (TUE_NOON, "tomorrow 3pm", OFFICE, LEAD_NY, "2026-03-04 15:00"),
    (TUE_NOON, "after 5", OFFICE, LEAD_NY, "2026-03-04 09:00"),  # closed at 17:00: next opening
    (TUE_NOON, "Friday morning", OFFICE, LEAD_NY, "2026-03-06 09:00"),
    (TUE_NOON, "Friday morning", EARLY_OFFICE, LEAD_NY, "2026-03-06 08:00"),  # quiet hours start at 8
    (TUE_NOON, "Friday morning", ALWAYS, LEAD_NY, "2026-03-06 09:00"),  # always open: 9:00
    (FRI_4PM, "not today", OFFICE, LEAD_NY, "2026-03-09 09:00"),  # the weekend is closed: Monday
    (SAT_EVE, "tomorrow at 9", OFFICE, LEAD_NY, "2026-03-09 09:00"),
    (SAT_EVE, "tomorrow at 9", ALWAYS, LEAD_NY, "2026-03-08 09:00"),  # 09:00 EDT, after the change
    (TUE_NOON, "tonight", ALWAYS, LEAD_NY, "2026-03-03 18:00"),
    (TUE_NOON, "in 2 hours", OFFICE, LEAD_NY, "2026-03-03 14:00"),
    # A lead in Los Angeles, the business in New York (open 9 to 5 there: 6 AM to 2 PM in LA).
    (TUE_NOON, "tomorrow at 3", OFFICE, LEAD_LA, "2026-03-05 08:00"),  # 3 PM LA is closed: next allowed
    (TUE_NOON, "tomorrow at 11", OFFICE, LEAD_LA, "2026-03-04 11:00"),
    (TUE_NOON, "Friday morning", OFFICE, LEAD_LA, "2026-03-06 08:00"),  # opens 6 AM LA, quiet hours 8
]


@pytest.mark.parametrize(("now", "text", "calendar", "lead", "expected"), SLOTS)
def test_a_wish_is_clamped_into_the_calendar_and_quiet_hours(
    now: datetime, text: str, calendar: BusinessCalendar, lead: str, expected: str
) -> None:
    tz = LA if lead == LEAD_LA else NY
    wish = understand_time(text, now=now, tz=tz)
    assert wish is not None
    slot = wish_slot(wish, calendar=calendar, quiet=QUIET, lead_e164=lead)
    assert slot.at.astimezone(tz).strftime("%Y-%m-%d %H:%M") == expected
    assert slot.evidence["allowed"] is True
    assert slot.evidence["asked_by_lead"]["understood"]
