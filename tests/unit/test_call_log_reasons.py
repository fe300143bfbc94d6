"""Why the first call is planned when it is, in the words the log uses (from the calendar's own evidence)."""

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from ari_app.domain.calendar import BusinessCalendar, QuietHours, Window, is_allowed
from ari_app.logs.call_log import plan_reason, when_text

NY = ZoneInfo("America/New_York")
OFFICE = BusinessCalendar(
    tz=NY, weekdays=(Window(time(9), time(17)),), weekend=(), holidays=frozenset({date(2025, 1, 20)})
)
OPEN = BusinessCalendar(tz=NY, weekdays=(), weekend=(), always_open=True)
QUIET = QuietHours(default=Window(time(8), time(21)))
LA_LEAD = "+12132345678"


def blocked(at: datetime, calendar: BusinessCalendar) -> dict[str, object]:
    return is_allowed(at, calendar=calendar, quiet=QUIET, lead_e164=LA_LEAD)[1]


def test_inside_the_hours_the_call_waits_for_the_first_call_delay_only() -> None:
    at = datetime(2025, 1, 21, 12, tzinfo=NY)
    assert plan_reason({"delay_seconds": 120.0}, at, None) == "after the 2 min first-call delay"
    assert plan_reason({"delay_seconds": 0.0}, at, None) == "at once"


def test_a_closed_business_a_holiday_and_the_lead_s_quiet_hours_are_named() -> None:
    evening = datetime(2025, 1, 21, 18, tzinfo=NY)
    assert plan_reason({}, evening, blocked(evening, OFFICE)) == (
        "business calendar: closed until then (America/New_York)"
    )
    holiday = datetime(2025, 1, 20, 12, tzinfo=NY)
    assert plan_reason({}, holiday, blocked(holiday, OFFICE)).startswith("business calendar: a holiday")
    early_in_la = datetime(2025, 1, 21, 10, tzinfo=NY)  # 07:00 in Los Angeles
    assert plan_reason({}, early_in_la, blocked(early_in_la, OPEN)) == (
        "the lead's quiet hours: calls only 08:00-21:00 America/Los_Angeles"
    )


def test_times_carry_their_zone() -> None:
    assert when_text(datetime(2025, 7, 1, 19, 15, tzinfo=ZoneInfo("UTC")), NY) == "2025-07-01 15:15 EDT"
