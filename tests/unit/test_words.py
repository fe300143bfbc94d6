"""The dashboard's words: times with their zone and the lead's own time, outcome sentences, why a call was
allowed, how a contact moved."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ari_app.domain.calendar import BusinessCalendar, QuietHours, Window, is_allowed
from ari_app.domain.outcomes import Outcome
from ari_app.domain.phone import timezones_of
from ari_app.web.words import (
    OUTCOME_SENTENCES,
    allowed_sentence,
    lead_times,
    outcome_sentence,
    stage_sentence,
    when_text,
    zone_name,
)

NEW_YORK = ZoneInfo("America/New_York")
CHICAGO_LEAD = "+13125550142"  # area code 312: Chicago
AT = datetime(2026, 12, 1, 20, 15, tzinfo=UTC)  # Tue 1 Dec: 15:15 in New York, 14:15 in Chicago


# ------------------------------------------------------------------------------------------ times


def test_the_business_time_names_its_zone_and_the_leads_time_stands_beside_it() -> None:
    assert timezones_of(CHICAGO_LEAD) == ("America/Chicago",)
    text = when_text(AT, NEW_YORK, timezones_of(CHICAGO_LEAD))
    assert text == "Tue 1 Dec, 15:15 EST (lead: 14:15 CST)"


def test_a_lead_in_the_business_zone_gets_no_second_time() -> None:
    assert when_text(AT, NEW_YORK, timezones_of("+12125550142")) == "Tue 1 Dec, 15:15 EST"
    assert when_text(AT, NEW_YORK) == "Tue 1 Dec, 15:15 EST"


def test_the_leads_day_is_named_when_it_is_another_day() -> None:
    late = datetime(2026, 12, 2, 4, 30, tzinfo=UTC)  # Tue 23:30 in New York, Wed 13:30 in Tokyo
    assert when_text(late, NEW_YORK, ["Asia/Tokyo"]) == "Tue 1 Dec, 23:30 EST (lead: Wed 2 Dec, 13:30 JST)"


def test_summer_time_is_named_as_such() -> None:
    july = datetime(2026, 7, 1, 19, 15, tzinfo=UTC)
    assert when_text(july, NEW_YORK, ["America/Los_Angeles"]) == "Wed 1 Jul, 15:15 EDT (lead: 12:15 PDT)"


def test_a_number_spanning_zones_shows_each_distinct_time_up_to_two() -> None:
    assert lead_times(AT, NEW_YORK, ["America/Chicago", "America/Denver"]) == "14:15 CST or 13:15 MST"
    assert lead_times(AT, NEW_YORK, ["America/Chicago", "America/Winnipeg"]) == "14:15 CST"
    many = ["America/Chicago", "America/Denver", "America/Los_Angeles", "America/Anchorage"]
    assert lead_times(AT, NEW_YORK, many) == "14:15 CST or 13:15 MST or …"


def test_no_time_says_nothing() -> None:
    assert when_text(None, NEW_YORK, ["America/Chicago"]) == ""


@pytest.mark.parametrize(
    ("zone", "name"),
    [("America/Chicago", "Central"), ("America/New_York", "Eastern"), ("Europe/Paris", "Paris"),
     ("America/Argentina/Buenos_Aires", "Buenos Aires")],
)  # fmt: skip
def test_zone_names_people_use(zone: str, name: str) -> None:
    assert zone_name(zone) == name


# --------------------------------------------------------------------------------------- outcomes


@pytest.mark.parametrize("outcome", list(Outcome))
def test_every_outcome_has_a_plain_sentence(outcome: Outcome) -> None:
    sentence = outcome_sentence(outcome.value)
    assert sentence == OUTCOME_SENTENCES[outcome]
    assert sentence[0].isupper() and sentence.endswith(".")
    assert "_" not in sentence and "cause" not in sentence.lower()


def test_outcome_sentences_are_all_different() -> None:
    assert len(set(OUTCOME_SENTENCES.values())) == len(Outcome)


def test_the_busy_line() -> None:
    assert outcome_sentence("lead_busy") == "The line was busy."
    assert outcome_sentence(None) == ""
    assert outcome_sentence("from_a_newer_release") == "from_a_newer_release"


# -------------------------------------------------------------------------------- status changes


def test_a_move_on_the_board_is_one_sentence() -> None:
    assert stage_sentence("Pending", "Incomplete") == "Moved from Pending to Incomplete."
    assert stage_sentence(None, "Callback requested") == "Added to Callback requested."
    assert stage_sentence("Connected", "Connected") == "Stayed in Connected."


# ------------------------------------------------------------------------------ why it was allowed


def _evidence(at: datetime, phone: str, **calendar: Any) -> dict[str, Any]:
    options: dict[str, Any] = {"weekdays": (), "weekend": (), "always_open": True, **calendar}
    cal = BusinessCalendar(tz=NEW_YORK, **options)
    _, evidence = is_allowed(at, calendar=cal, quiet=QuietHours(), lead_e164=phone)
    return evidence


def test_why_a_call_was_allowed_in_words() -> None:
    from datetime import time

    monday = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)  # Mon 11:00 in New York, 10:00 in Chicago
    hours = Window(time(9, 0), time(17, 0))
    evidence = _evidence(monday, CHICAGO_LEAD, always_open=False, weekdays=(hours,))
    assert allowed_sentence(evidence) == (
        "Allowed: inside business hours (Mon 09:00-17:00) and inside the lead's quiet hours "
        "(08:00-21:00 Central)."
    )


def test_an_always_open_business_and_a_call_asked_for_by_hand() -> None:
    evidence = {**_evidence(AT, CHICAGO_LEAD), "by_hand": "Ann"}
    assert allowed_sentence(evidence) == (
        "Allowed: the business takes calls at any time and inside the lead's quiet hours "
        "(08:00-21:00 Central). Asked for by Ann."
    )


def test_the_check_at_dial_time_is_the_one_told() -> None:
    night = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)  # 22:00 in Chicago: outside quiet hours
    evidence = {**_evidence(AT, CHICAGO_LEAD), "at_dial": _evidence(night, CHICAGO_LEAD)}
    assert allowed_sentence(evidence).startswith("Not allowed: the business takes calls at any time and "
                                                  "outside the lead's quiet hours")  # fmt: skip


def test_no_evidence_no_sentence() -> None:
    assert allowed_sentence({}) == ""
    assert allowed_sentence({"business": "?", "lead": None}) == ""


def test_a_call_at_the_time_the_lead_chose_says_so_before_and_after_dialling() -> None:
    planned = {**_evidence(AT, CHICAGO_LEAD), "preferred_at": AT.isoformat()}
    assert allowed_sentence(planned).endswith("(08:00-21:00 Central). At the time the lead chose.")
    dialled = {**planned, "at_dial": _evidence(AT, CHICAGO_LEAD)}
    assert allowed_sentence(dialled).endswith("At the time the lead chose.")
