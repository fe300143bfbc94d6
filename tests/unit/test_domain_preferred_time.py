"""The times the form offers and the check of a chosen time: weekends, the US DST change (9 March 2025)
while London has not changed yet, zones with odd offsets, and the error naming the next allowed time."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from ari_app.domain.calendar import BusinessCalendar, QuietHours, Window, is_allowed, may_call_at
from ari_app.domain.preferred_time import (
    PreferredTimeRefused,
    check_preferred_time,
    chosen_by_lead,
    lead_zone,
    offered_slots,
    parse_zone,
    time_text,
    zone_label,
)

NY = ZoneInfo("America/New_York")
LA = ZoneInfo("America/Los_Angeles")
LONDON = ZoneInfo("Europe/London")
KATHMANDU = ZoneInfo("Asia/Kathmandu")
NJ_LEAD = "+12015550123"  # New Jersey: America/New_York
LA_LEAD = "+12132345678"  # Los Angeles

OFFICE = BusinessCalendar(
    tz=NY, weekdays=(Window(time(9), time(17)),), weekend=(), holidays=frozenset({date(2025, 3, 11)})
)
QUIET = QuietHours(default=Window(time(8), time(21)))
# Friday 7 March 2025, 15:00 in New York (EST). The US goes to summer time on Sunday 9 March.
FRIDAY_3PM = datetime(2025, 3, 7, 20, 0, tzinfo=UTC)


def offered(zone: ZoneInfo, lead: str | None = None, now: datetime = FRIDAY_3PM, **kw: object):
    return offered_slots(
        now,
        calendar=OFFICE,
        quiet=QUIET,
        zone=zone,
        lead_e164=lead,
        region="US",
        **kw,  # type: ignore[arg-type]
    )


def check(at: datetime, lead: str = NJ_LEAD, now: datetime = FRIDAY_3PM, zone: ZoneInfo | None = None):
    return check_preferred_time(at, now, calendar=OFFICE, quiet=QUIET, lead_e164=lead, zone=zone)


def test_the_offer_skips_the_weekend_and_the_holiday_and_keeps_three_days() -> None:
    days = offered(NY, NJ_LEAD)
    # Friday's last hour and a half, then Monday and Wednesday: the weekend is closed, Tuesday a holiday.
    assert [d.day for d in days] == [date(2025, 3, 7), date(2025, 3, 10), date(2025, 3, 12)]
    friday = [s.local.time() for s in days[0].slots]
    assert friday == [time(15, 30), time(16, 0), time(16, 30)]  # 15:15 is too soon; 17:00 is closed
    monday = [s.local.time() for s in days[1].slots]
    assert monday[0] == time(9, 0) and monday[-1] == time(16, 30) and len(monday) == 16


def test_after_the_dst_change_the_same_wall_time_is_an_hour_earlier_in_utc() -> None:
    days = offered(NY, NJ_LEAD)
    assert days[0].slots[0].at == datetime(2025, 3, 7, 20, 30, tzinfo=UTC)  # 15:30 EST = UTC-5
    assert days[1].slots[0].at == datetime(2025, 3, 10, 13, 0, tzinfo=UTC)  # 09:00 EDT = UTC-4


def test_shown_in_london_before_the_uk_changes_the_gap_is_four_hours() -> None:
    days = offered(LONDON)
    monday = days[1].slots
    assert monday[0].local.time() == time(13, 0) and monday[0].local.tzname() == "GMT"
    assert all(s.local.tzinfo == LONDON for s in monday)


def test_a_lead_three_zones_west_gets_only_times_inside_their_own_quiet_hours() -> None:
    days = offered(LA, LA_LEAD)
    monday = [s.local.time() for s in days[1].slots]
    # The office opens at 06:00 in Los Angeles; the lead may be called from 08:00 their time.
    assert monday[0] == time(8, 0) and monday[-1] == time(13, 30)
    assert all(s.local.utcoffset() == timedelta(hours=-7) for s in days[1].slots)  # PDT after the change


def test_without_a_number_the_zone_shown_decides_the_quiet_hours() -> None:
    days = offered(LA)
    assert days[1].slots[0].local.time() == time(8, 0)


def test_half_hours_of_the_zone_shown_even_with_a_45_minute_offset() -> None:
    always = BusinessCalendar(tz=NY, weekdays=(), weekend=(), always_open=True)
    days = offered_slots(
        FRIDAY_3PM,
        calendar=always,
        quiet=QuietHours(default=Window(time(0), time(0))),
        zone=KATHMANDU,
        lead_e164=None,
        region="NP",
        days=1,
    )
    assert days and all(s.local.minute in (0, 30) and s.local.second == 0 for s in days[0].slots)
    assert all(b.at - a.at == timedelta(minutes=30) for a, b in itertools.pairwise(days[0].slots))


def test_nothing_offered_on_a_closed_calendar() -> None:
    closed = BusinessCalendar(tz=NY, weekdays=(), weekend=(), always_open=False)
    assert offered_slots(FRIDAY_3PM, calendar=closed, quiet=QUIET, zone=NY, lead_e164=None, region="US") == []


def test_an_allowed_time_is_the_first_attempts_slot() -> None:
    at = datetime(2025, 3, 10, 14, 30, tzinfo=UTC)  # Monday 10:30 EDT
    slot = check(at.astimezone(LA))
    assert slot.at == at and slot.at.tzinfo == UTC
    assert chosen_by_lead(slot.evidence) and slot.evidence["allowed"] is True


def test_a_saturday_is_refused_naming_monday_after_the_change_in_the_leads_zone() -> None:
    saturday = datetime(2025, 3, 8, 10, 0, tzinfo=NY)
    with pytest.raises(PreferredTimeRefused) as caught:
        check(saturday, zone=LA)
    err = caught.value
    assert err.code == "outside_hours" and err.http_status == 422
    assert err.next_allowed_at == datetime(2025, 3, 10, 13, 0, tzinfo=UTC)
    assert err.details["next_allowed_at"] == "2025-03-10T13:00:00+00:00"
    assert err.details["fields"]["preferred_at"]["code"] == "outside_hours"
    assert "Mon 10 Mar at 6:00 AM Pacific time (PDT)" in err.message


def test_a_time_in_quiet_hours_of_the_lead_is_refused_though_the_office_is_open() -> None:
    with pytest.raises(PreferredTimeRefused) as caught:
        check(datetime(2025, 3, 10, 9, 0, tzinfo=NY), lead=LA_LEAD)  # 06:00 in Los Angeles
    assert caught.value.next_allowed_at == datetime(2025, 3, 10, 8, 0, tzinfo=LA)
    assert "8:00 AM Pacific time (PDT)" in caught.value.message


def test_a_past_time_is_refused_naming_the_next_allowed_time_from_now() -> None:
    with pytest.raises(PreferredTimeRefused) as caught:
        check(FRIDAY_3PM - timedelta(minutes=1))
    assert caught.value.code == "in_the_past"
    assert caught.value.next_allowed_at == FRIDAY_3PM
    with pytest.raises(PreferredTimeRefused):
        check(FRIDAY_3PM)  # now is not a choice of time: that is "as soon as possible"


def test_a_time_too_far_ahead_is_refused() -> None:
    with pytest.raises(PreferredTimeRefused) as caught:
        check(FRIDAY_3PM + timedelta(days=40))
    assert caught.value.code == "too_far_ahead"


def test_a_naive_time_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        check(datetime(2025, 3, 10, 10, 0))


def test_zones_named_for_people() -> None:
    winter = datetime(2025, 1, 15, 12, tzinfo=UTC)
    assert zone_label(LA, winter) == "Pacific time (PST)"
    assert zone_label(ZoneInfo("Europe/Paris"), winter) == "Paris time (CET)"
    assert zone_label(ZoneInfo("Europe/Istanbul"), winter) == "Istanbul time (UTC+03)"
    assert zone_label(ZoneInfo("UTC"), winter) == "UTC"
    assert time_text(winter, LA) == "Wed 15 Jan at 4:00 AM Pacific time (PST)"


@pytest.mark.parametrize(
    "name", ["", "../../etc/passwd", "America/Nowhere", "posixrules/../x", "a" * 80, "/etc/localtime"]
)
def test_a_zone_a_browser_sends_that_is_not_a_zone_is_ignored(name: str) -> None:
    assert parse_zone(name) is None


def test_the_zone_shown_browser_then_number_then_business() -> None:
    assert parse_zone("America/Los_Angeles") == LA
    assert lead_zone(NJ_LEAD, LA, NY) == LA
    assert lead_zone(LA_LEAD, None, NY) == LA
    assert lead_zone(None, None, LONDON) == LONDON


@pytest.mark.parametrize("lead", [NJ_LEAD, LA_LEAD, "+19072345678"])  # Alaska: two zones
def test_the_quick_answer_agrees_with_is_allowed_every_quarter_hour_across_the_change(lead: str) -> None:
    quiet = QuietHours(default=Window(time(8), time(21)), regions={"US-AK": Window(time(9), time(20))})
    at = datetime(2025, 3, 7, 0, 0, tzinfo=UTC)
    while at < datetime(2025, 3, 12, tzinfo=UTC):
        expected = is_allowed(at, calendar=OFFICE, quiet=quiet, lead_e164=lead)[0]
        quick = may_call_at(at, calendar=OFFICE, quiet=quiet, lead_e164=lead, zone=NY, region="US")
        assert quick == expected, at
        at += timedelta(minutes=15)
