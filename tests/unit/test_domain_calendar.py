"""Business windows and lead-local quiet hours, including DST days, holidays and multi-zone numbers."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ari_app.domain.calendar import (
    BusinessCalendar,
    NoSlotError,
    QuietHours,
    Window,
    first_call_at,
    is_allowed,
    next_allowed_slot,
)
from ari_app.settings import CalendarSettings, QuietHoursSettings, WindowSettings

NY = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
ALL_DAY = Window(time(0), time(0))

NJ_LEAD = "+12015550123"  # New Jersey, America/New_York (phonenumbers' US example)
FL_LEAD = "+13052345678"  # Miami, FL
LA_LEAD = "+12132345678"  # Los Angeles: three zones west of New York
AK_LEAD = "+19072345678"  # Alaska: America/Adak and America/Anchorage
GB_LEAD = "+441212345678"  # Birmingham

OFFICE = BusinessCalendar(
    tz=NY, weekdays=(Window(time(9), time(17)),), weekend=(), holidays=frozenset({date(2025, 1, 20)})
)
QUIET = QuietHours(default=Window(time(8), time(21)), regions={"US-FL": Window(time(8), time(20))})
NO_QUIET = QuietHours(default=ALL_DAY)
OPEN = BusinessCalendar(tz=NY, weekdays=(), weekend=(), always_open=True)


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY)  # type: ignore[misc]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def slot(
    earliest: datetime, lead: str = NJ_LEAD, calendar: BusinessCalendar = OFFICE, quiet: QuietHours = QUIET
):
    return next_allowed_slot(earliest, calendar=calendar, quiet=quiet, lead_e164=lead)


def allowed(
    at: datetime, lead: str = NJ_LEAD, calendar: BusinessCalendar = OFFICE, quiet: QuietHours = QUIET
):
    return is_allowed(at, calendar=calendar, quiet=quiet, lead_e164=lead)[0]


# --- windows ---------------------------------------------------------------------------------------------


def test_window_end_is_exclusive_and_midnight_means_end_of_day() -> None:
    w = Window(time(9), time(17))
    assert w.contains(time(9)) and w.contains(time(16, 59, 59))
    assert not w.contains(time(17)) and not w.contains(time(8, 59))
    late = Window(time(18), time(0))
    assert late.contains(time(23, 59, 59)) and late.contains(time(18)) and not late.contains(time(0))
    assert ALL_DAY.contains(time(0)) and ALL_DAY.contains(time(23, 59))


@pytest.mark.parametrize(("start", "end"), [(time(17), time(9)), (time(9), time(9)), (time(22), time(1))])
def test_windows_that_are_empty_or_cross_midnight_are_refused(start: time, end: time) -> None:
    with pytest.raises(ValueError):
        Window(start, end)


# --- business calendar -----------------------------------------------------------------------------------


def test_inside_a_window_the_earliest_time_itself_is_the_slot() -> None:
    at = ny(2025, 1, 14, 10, 30)  # Tuesday
    assert slot(at).at == at
    assert allowed(at)


def test_a_request_at_2359_on_friday_is_called_at_mondays_opening() -> None:
    result = slot(ny(2025, 1, 10, 23, 59))
    assert result.at == ny(2025, 1, 13, 9, 0)
    assert result.at.tzinfo is UTC


def test_closing_time_is_closed() -> None:
    assert not allowed(ny(2025, 1, 14, 17, 0))
    assert slot(ny(2025, 1, 14, 17, 0)).at == ny(2025, 1, 15, 9, 0)


def test_a_holiday_is_closed_all_day() -> None:
    assert not allowed(ny(2025, 1, 20, 10, 0))  # Martin Luther King Day, a Monday
    assert slot(ny(2025, 1, 17, 18, 0)).at == ny(2025, 1, 21, 9, 0)


def test_a_holiday_closes_an_always_open_calendar_too() -> None:
    cal = BusinessCalendar(
        tz=NY, weekdays=(), weekend=(), holidays=frozenset({date(2025, 12, 25)}), always_open=True
    )
    assert slot(ny(2025, 12, 25, 10, 0), calendar=cal).at == ny(2025, 12, 26, 8, 0)  # quiet hours: 08:00


def test_weekend_closed_vs_weekend_windows() -> None:
    saturday_morning = ny(2025, 1, 11, 8, 0)
    assert slot(saturday_morning).at == ny(2025, 1, 13, 9, 0)
    weekend = BusinessCalendar(
        tz=NY,
        weekdays=(Window(time(9), time(17)),),
        weekend=(Window(time(10), time(14)),),
        holidays=frozenset(),
    )
    assert slot(saturday_morning, calendar=weekend).at == ny(2025, 1, 11, 10, 0)
    assert slot(ny(2025, 1, 11, 14, 0), calendar=weekend).at == ny(2025, 1, 12, 10, 0)  # Sunday
    assert slot(ny(2025, 1, 12, 14, 0), calendar=weekend).at == ny(2025, 1, 13, 9, 0)  # Monday's hours


def test_several_windows_a_day_lunch_break() -> None:
    cal = BusinessCalendar(
        tz=NY, weekdays=(Window(time(9), time(12)), Window(time(13), time(17))), weekend=()
    )
    assert slot(ny(2025, 1, 14, 12, 15), calendar=cal).at == ny(2025, 1, 14, 13, 0)
    assert not allowed(ny(2025, 1, 14, 12, 59, 59), calendar=cal)


def test_a_calendar_that_never_opens_has_no_slot() -> None:
    closed = BusinessCalendar(tz=NY, weekdays=(), weekend=())
    with pytest.raises(NoSlotError) as info:
        slot(ny(2025, 1, 14, 10, 0), calendar=closed)
    assert info.value.error_id == "no-slot"


def test_the_horizon_bounds_the_search() -> None:
    with pytest.raises(NoSlotError):
        next_allowed_slot(
            ny(2025, 1, 10, 23, 59), calendar=OFFICE, quiet=QUIET, lead_e164=NJ_LEAD, horizon_days=2
        )


def test_earliest_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError):
        slot(datetime(2025, 1, 14, 10, 0))


# --- lead-local quiet hours ------------------------------------------------------------------------------


def test_a_lead_three_zones_away_is_called_at_8_am_their_time() -> None:
    at = ny(2025, 1, 14, 9, 0)  # 06:00 in Los Angeles
    assert not allowed(at, lead=LA_LEAD)
    result = slot(at, lead=LA_LEAD)
    assert result.at == ny(2025, 1, 14, 11, 0)  # 08:00 PST
    assert result.evidence["lead"]["zones"][0]["local"].startswith("2025-01-14T08:00:00-08:00")


def test_quiet_hours_end_at_20_in_florida_and_21_in_new_jersey() -> None:
    evening = ny(2025, 1, 14, 20, 30)
    assert not allowed(evening, lead=FL_LEAD, calendar=OPEN)
    assert allowed(evening, lead=NJ_LEAD, calendar=OPEN)
    assert slot(evening, lead=FL_LEAD, calendar=OPEN).at == ny(2025, 1, 15, 8, 0)
    assert slot(ny(2025, 1, 14, 21, 0), lead=NJ_LEAD, calendar=OPEN).at == ny(2025, 1, 15, 8, 0)


def test_the_most_specific_quiet_hours_rule_applies() -> None:
    quiet = QuietHours(
        default=Window(time(8), time(21)),
        regions={"US": Window(time(9), time(20, 30)), "us-fl": Window(time(8), time(20))},
    )
    assert quiet.window_for("US", "US-FL") == ("US-FL", Window(time(8), time(20)))
    assert quiet.window_for("US", "US-NJ") == ("US", Window(time(9), time(20, 30)))
    assert quiet.window_for("GB", None) == ("default", Window(time(8), time(21)))
    assert slot(ny(2025, 1, 14, 7, 0), lead=FL_LEAD, calendar=OPEN, quiet=quiet).at == ny(2025, 1, 14, 8, 0)
    assert slot(ny(2025, 1, 14, 7, 0), lead=NJ_LEAD, calendar=OPEN, quiet=quiet).at == ny(2025, 1, 14, 9, 0)
    _, evidence = is_allowed(ny(2025, 1, 14, 10, 0), calendar=OPEN, quiet=quiet, lead_e164=FL_LEAD)
    assert evidence["lead"]["quiet_hours_rule"] == "US-FL"
    assert evidence["lead"]["subdivision"] == "US-FL"


def test_a_number_with_several_zones_gets_the_hours_allowed_in_all_of_them() -> None:
    anchorage = ZoneInfo("America/Anchorage")
    # In January Adak is one hour behind Anchorage: 08:00 in Adak is 09:00 in Anchorage.
    result = slot(datetime(2025, 1, 14, 7, 0, tzinfo=anchorage), lead=AK_LEAD, calendar=OPEN)
    assert result.at == datetime(2025, 1, 14, 9, 0, tzinfo=anchorage)
    zones = {z["tz"]: z["local"] for z in result.evidence["lead"]["zones"]}
    assert zones["America/Adak"].startswith("2025-01-14T08:00:00")
    assert zones["America/Anchorage"].startswith("2025-01-14T09:00:00")
    assert allowed(datetime(2025, 1, 14, 20, 59, tzinfo=anchorage), lead=AK_LEAD, calendar=OPEN)
    assert not allowed(datetime(2025, 1, 14, 21, 0, tzinfo=anchorage), lead=AK_LEAD, calendar=OPEN)


def test_business_hours_and_quiet_hours_that_never_overlap_have_no_slot() -> None:
    quiet = QuietHours(default=Window(time(6), time(8)))  # 09:00-11:00 in New York: the office is closed
    cal = BusinessCalendar(tz=NY, weekdays=(Window(time(12), time(17)),), weekend=())
    with pytest.raises(NoSlotError):
        slot(ny(2025, 1, 14, 9, 0), lead=LA_LEAD, calendar=cal, quiet=quiet)


# --- DST -------------------------------------------------------------------------------------------------


def test_spring_forward_new_york_a_window_starting_in_the_gap_opens_at_the_jump() -> None:
    # 2025-03-09: 02:00 EST jumps to 03:00 EDT (07:00 UTC); 02:30 never happens.
    cal = BusinessCalendar(tz=NY, weekdays=(), weekend=(Window(time(2, 30), time(5)),))
    result = slot(ny(2025, 3, 9, 1, 0), calendar=cal, quiet=NO_QUIET)
    assert result.at == utc(2025, 3, 9, 7, 0)
    assert result.evidence["business"]["local"] == "2025-03-09T03:00:00-04:00"
    assert not allowed(result.at - timedelta(seconds=1), calendar=cal, quiet=NO_QUIET)


def test_spring_forward_new_york_a_day_is_23_hours() -> None:
    cal = BusinessCalendar(tz=NY, weekdays=(), weekend=(Window(time(9), time(17)),))
    assert slot(ny(2025, 3, 9, 0, 0), calendar=cal, quiet=NO_QUIET).at == utc(2025, 3, 9, 13, 0)  # EDT
    assert slot(ny(2025, 3, 8, 0, 0), calendar=cal, quiet=NO_QUIET).at == utc(2025, 3, 8, 14, 0)  # EST


def test_fall_back_new_york_a_window_inside_the_repeated_hour_opens_twice() -> None:
    # 2025-11-02: 01:00-02:00 happens twice, first EDT (05:00-06:00 UTC) then EST (06:00-07:00 UTC).
    cal = BusinessCalendar(tz=NY, weekdays=(), weekend=(Window(time(1, 15), time(1, 45)),))
    assert slot(ny(2025, 11, 2, 0, 0), calendar=cal, quiet=NO_QUIET).at == utc(2025, 11, 2, 5, 15)
    assert not allowed(utc(2025, 11, 2, 5, 50), calendar=cal, quiet=NO_QUIET)
    assert slot(utc(2025, 11, 2, 5, 50), calendar=cal, quiet=NO_QUIET).at == utc(2025, 11, 2, 6, 15)
    assert slot(utc(2025, 11, 2, 6, 50), calendar=cal, quiet=NO_QUIET).at == utc(
        2025, 11, 8, 6, 15
    )  # Sat EST


def test_fall_back_new_york_a_window_across_the_change_stays_open() -> None:
    cal = BusinessCalendar(tz=NY, weekdays=(), weekend=(Window(time(0, 30), time(3)),))
    for minutes in range(0, 150, 5):
        at = utc(2025, 11, 2, 4, 30) + timedelta(minutes=minutes)  # 00:30 EDT .. 01:55 EST
        assert allowed(at, calendar=cal, quiet=NO_QUIET), at
    assert not allowed(utc(2025, 11, 2, 8, 0), calendar=cal, quiet=NO_QUIET)  # 03:00 EST


def test_spring_forward_london() -> None:
    # 2025-03-30: 01:00 GMT jumps to 02:00 BST (01:00 UTC).
    cal = BusinessCalendar(tz=LONDON, weekdays=(), weekend=(Window(time(1, 30), time(3)),))
    result = slot(datetime(2025, 3, 30, 0, 30, tzinfo=LONDON), lead=GB_LEAD, calendar=cal, quiet=NO_QUIET)
    assert result.at == utc(2025, 3, 30, 1, 0)
    office = BusinessCalendar(tz=LONDON, weekdays=(Window(time(9), time(17)),), weekend=())
    after = slot(datetime(2025, 3, 28, 18, 0, tzinfo=LONDON), lead=GB_LEAD, calendar=office, quiet=QUIET)
    assert after.at == utc(2025, 3, 31, 8, 0)  # Monday 09:00 BST


def test_fall_back_london() -> None:
    office = BusinessCalendar(tz=LONDON, weekdays=(Window(time(9), time(17)),), weekend=())
    friday = slot(datetime(2025, 10, 24, 8, 0, tzinfo=LONDON), lead=GB_LEAD, calendar=office, quiet=QUIET)
    assert friday.at == utc(2025, 10, 24, 8, 0)  # 09:00 BST
    monday = slot(datetime(2025, 10, 24, 18, 0, tzinfo=LONDON), lead=GB_LEAD, calendar=office, quiet=QUIET)
    assert monday.at == utc(2025, 10, 27, 9, 0)  # 09:00 GMT


def test_a_lead_zone_changing_dst_on_another_day_than_the_business() -> None:
    # New York moved to EDT on 2025-03-09, London only on 03-30: for those weeks London is 4 hours ahead.
    london_office = BusinessCalendar(tz=LONDON, weekdays=(Window(time(9), time(17)),), weekend=())
    result = slot(
        datetime(2025, 3, 11, 9, 0, tzinfo=LONDON), lead=NJ_LEAD, calendar=london_office, quiet=QUIET
    )
    assert result.at == utc(2025, 3, 11, 12, 0)  # 12:00 GMT = 08:00 EDT
    result = slot(
        datetime(2025, 3, 4, 9, 0, tzinfo=LONDON), lead=NJ_LEAD, calendar=london_office, quiet=QUIET
    )
    assert result.at == utc(2025, 3, 4, 13, 0)  # 13:00 GMT = 08:00 EST


# --- evidence --------------------------------------------------------------------------------------------


def test_evidence_says_why_and_is_json() -> None:
    earliest = ny(2025, 1, 14, 8, 0)
    result = slot(earliest, lead=LA_LEAD)
    evidence = json.loads(json.dumps(result.evidence))
    assert evidence["allowed"] is True
    assert evidence["requested_earliest"] == "2025-01-14T13:00:00+00:00"
    assert evidence["business"]["window"] == {"start": "09:00", "end": "17:00"}
    assert evidence["business"]["local"] == "2025-01-14T11:00:00-05:00"
    assert evidence["lead"]["zones"] == [
        {
            "tz": "America/Los_Angeles",
            "local": "2025-01-14T08:00:00-08:00",
            "window": {"start": "08:00", "end": "21:00"},
            "allowed": True,
        }
    ]
    assert LA_LEAD not in json.dumps(evidence)


def test_is_allowed_explains_a_refusal() -> None:
    ok, evidence = is_allowed(ny(2025, 1, 20, 10, 0), calendar=OFFICE, quiet=QUIET, lead_e164=NJ_LEAD)
    assert not ok
    assert evidence["business"]["holiday"] is True
    assert evidence["business"]["open"] is False


# --- first call --------------------------------------------------------------------------------------------


def test_first_call_inside_a_window_waits_the_delay() -> None:
    result = first_call_at(
        ny(2025, 1, 14, 10, 0), calendar=OFFICE, quiet=QUIET, lead_e164=NJ_LEAD, delay_seconds=60
    )
    assert result.at == ny(2025, 1, 14, 10, 1)
    assert result.evidence["inside_window_at_request"] is True
    assert result.evidence["delay_seconds"] == 60


def test_first_call_outside_a_window_is_at_the_next_opening_without_delay() -> None:
    result = first_call_at(
        ny(2025, 1, 14, 7, 0), calendar=OFFICE, quiet=QUIET, lead_e164=NJ_LEAD, delay_seconds=60
    )
    assert result.at == ny(2025, 1, 14, 9, 0)
    assert result.evidence["inside_window_at_request"] is False


def test_first_call_whose_delay_runs_past_closing_goes_to_the_next_opening() -> None:
    result = first_call_at(
        ny(2025, 1, 17, 16, 59, 30), calendar=OFFICE, quiet=QUIET, lead_e164=NJ_LEAD, delay_seconds=60
    )
    assert result.at == ny(2025, 1, 21, 9, 0)  # Monday is a holiday


# --- settings ----------------------------------------------------------------------------------------------


def test_calendar_from_default_settings_is_always_open() -> None:
    cal = BusinessCalendar.from_settings(CalendarSettings(), "America/New_York")
    assert cal.always_open and cal.tz == NY


def test_calendar_from_settings_with_windows_uses_them_unless_always_open_is_set() -> None:
    raw = {
        "weekdays": [{"start": "09:00", "end": "17:00"}],
        "weekend": [{"start": "10:00", "end": "14:00"}],
        "holidays": ["2025-12-25"],
    }
    cal = BusinessCalendar.from_settings(CalendarSettings.model_validate(raw), "Europe/London")
    assert not cal.always_open
    assert cal.weekdays == (Window(time(9), time(17)),)
    assert cal.weekend == (Window(time(10), time(14)),)
    assert cal.holidays == frozenset({date(2025, 12, 25)})
    forced = BusinessCalendar.from_settings(
        CalendarSettings.model_validate({**raw, "always_open": True}), "UTC"
    )
    assert forced.always_open
    closed = BusinessCalendar.from_settings(CalendarSettings(always_open=False), "UTC")
    assert not closed.always_open and closed.weekdays == ()


def test_quiet_hours_from_settings() -> None:
    q = QuietHours.from_settings(
        QuietHoursSettings(regions={"us-fl": WindowSettings(start=time(8), end=time(20))})
    )
    assert q.default == Window(time(8), time(21))
    assert q.window_for("US", "US-FL") == ("US-FL", Window(time(8), time(20)))


# --- properties --------------------------------------------------------------------------------------------

INSTANTS = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
)


@settings(max_examples=60, deadline=None)
@given(earliest=INSTANTS, lead=st.sampled_from([NJ_LEAD, FL_LEAD, LA_LEAD, AK_LEAD]))
def test_the_slot_is_allowed_and_nothing_earlier_is(earliest: datetime, lead: str) -> None:
    result = slot(earliest, lead=lead)
    assert result.at >= earliest
    assert allowed(result.at, lead=lead)
    if result.at > earliest:
        # the slot is where "allowed" turns true: just before it, and at a few points in between, it is not
        span = result.at - earliest
        for fraction in (0, 0.25, 0.5, 0.75):
            probe = earliest + span * fraction
            assert not allowed(probe, lead=lead), probe
        assert not allowed(result.at - timedelta(seconds=1), lead=lead)


DST_DAYS = [utc(2025, 3, 9), utc(2025, 11, 2), utc(2026, 3, 8), utc(2026, 11, 1)]
NEAR_DST = st.builds(
    lambda day, seconds: day + timedelta(seconds=seconds),
    st.sampled_from(DST_DAYS),
    st.integers(min_value=-86400, max_value=2 * 86400),
)


@settings(max_examples=80, deadline=None)
@given(earliest=NEAR_DST)
def test_slots_around_dst_agree_with_is_allowed(earliest: datetime) -> None:
    cal = BusinessCalendar(
        tz=NY,
        weekdays=(Window(time(1, 30), time(2, 30)), Window(time(9), time(17))),
        weekend=(Window(time(1, 15), time(1, 45)), Window(time(2, 15), time(3, 15))),
    )
    result = slot(earliest, calendar=cal, quiet=NO_QUIET)
    assert allowed(result.at, calendar=cal, quiet=NO_QUIET)
    if result.at > earliest:
        assert not allowed(result.at - timedelta(seconds=1), calendar=cal, quiet=NO_QUIET)
        span = result.at - earliest
        for step in range(0, 20):
            probe = earliest + span * (step / 20)
            assert not allowed(probe, calendar=cal, quiet=NO_QUIET), probe
