"""Return calls: who is calling, whether it is a lead calling back, and what follows the call."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ari_app.domain.return_calls import (
    CallerRequest,
    ReturnOutcome,
    caller_e164,
    decide_after_return_call,
    decide_inbound,
    parse_inbound_args,
    whisper_text,
    within_hours,
)
from ari_app.domain.statuses import RequestStatus

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)


def test_the_dialplan_arguments_of_a_call_to_the_business_are_read() -> None:
    call = parse_inbound_args(["inbound", "+12125550199", "+12125550100"])
    assert call is not None and (call.caller, call.dialled) == ("+12125550199", "+12125550100")
    assert parse_inbound_args(["inbound"]) is not None
    assert parse_inbound_args(["amd", "HUMAN", "HUMAN-800-800"]) is None
    assert parse_inbound_args([]) is None


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+12125550199", "+12125550199"),
        ("2125550199", "+12125550199"),  # a national number from the carrier, as intake reads a form's
        ("12125550199", "+12125550199"),
        ("anonymous", None),
        ("", None),
        ("+442079460000", None),  # a region the business does not allow: not a contact we could have
        ("12", None),
    ],
)
def test_the_callers_number_is_normalised_as_intake_does(raw: str, e164: str | None) -> None:
    assert caller_e164(raw, default_region="US", allowed_regions=["US"]) == e164


def test_an_open_request_makes_a_return_call() -> None:
    for status in (RequestStatus.PENDING, RequestStatus.CALLING):
        d = decide_inbound(CallerRequest(7, status, None), now=NOW, recent_days=14, unknown="continue")
        assert (d.action, d.request_id) == ("return_call", 7)


def test_a_request_closed_recently_still_makes_a_return_call_and_an_older_one_does_not() -> None:
    recent = CallerRequest(7, RequestStatus.INCOMPLETE, NOW - timedelta(days=13, hours=23))
    old = CallerRequest(7, RequestStatus.COMPLETED, NOW - timedelta(days=14, seconds=1))
    assert decide_inbound(recent, now=NOW, recent_days=14, unknown="continue").action == "return_call"
    assert decide_inbound(old, now=NOW, recent_days=14, unknown="continue").action == "continue"
    assert decide_inbound(old, now=NOW, recent_days=14, unknown="ring").action == "ring_plain"


def test_an_unknown_caller_is_rung_through_or_handed_back_as_configured() -> None:
    assert decide_inbound(None, now=NOW, recent_days=14, unknown="ring").action == "ring_plain"
    d = decide_inbound(None, now=NOW, recent_days=14, unknown="continue")
    assert (d.action, d.request_id, d.why) == ("continue", None, "unknown caller")
    with pytest.raises(ValueError):
        decide_inbound(None, now=NOW, recent_days=-1, unknown="ring")


def test_what_follows_a_return_call() -> None:
    done = decide_after_return_call(ReturnOutcome.COMPLETED, request_open=True, may_call=True)
    assert done.complete and not done.call_now
    left = decide_after_return_call(ReturnOutcome.MESSAGE_LEFT, request_open=True, may_call=True)
    assert (left.complete, left.call_now, left.note) == (False, True, "called back, left a message")
    # Opt-out / do-not-call: their own call in is taken, nothing outbound follows.
    left = ReturnOutcome.MESSAGE_LEFT
    assert not decide_after_return_call(left, request_open=True, may_call=False).call_now
    assert not decide_after_return_call(left, request_open=False, may_call=True).call_now
    assert not decide_after_return_call(ReturnOutcome.SHORT_CALL, request_open=True, may_call=True).complete


def test_the_whisper_text_names_the_caller_and_the_reason() -> None:
    assert whisper_text("Ada", "Lovelace", "quote for a new roof") == (
        "Returning call from Ada Lovelace, about: quote for a new roof"
    )
    assert whisper_text("", "", "") == "Returning call from a caller"


def test_a_thank_you_sent_within_the_day_is_seen() -> None:
    assert within_hours([NOW - timedelta(hours=23)], NOW, 24)
    assert not within_hours([NOW - timedelta(hours=25)], NOW, 24)
    assert not within_hours([], NOW, 24)
