"""Outcome classification from what Asterisk 22 really said (tests/recordings) and the architecture."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ari_app.domain.outcomes import (
    DIAL_STATUSES,
    GENERIC_CAUSES,
    LEAD_CAUSES,
    LeadLegFacts,
    Outcome,
    classify_admin,
    classify_lead,
    counts_as_lead_attempt,
    is_unexpected_cause,
)

MIN_TALK = 15.0


def lead(cause: int | None, dial_status: str | None, **kw: object) -> Outcome:
    facts = LeadLegFacts(cause=cause, dial_status=dial_status, answered=bool(kw.pop("answered", False)), **kw)  # type: ignore[arg-type]
    return classify_lead(facts, min_talk_seconds=MIN_TALK)


def test_outcome_values_are_the_lowercase_names() -> None:
    assert {o.value for o in Outcome} == {
        "completed", "short_call", "lead_no_answer", "lead_busy", "lead_rejected", "lead_machine",
        "voicemail_left", "lead_invalid", "lead_unreachable", "admin_unavailable", "system_error",
        "dial_unknown", "superseded",
    }  # fmt: skip
    assert Outcome("lead_busy") is Outcome.LEAD_BUSY


# (cause on ChannelDestroyed, last Dial status) as recorded on Asterisk 22.10.1 for the lead's channel.
RECORDED = [
    # 04: plain originate through the PJSIP trunk
    ("pjsip answers, talks, hangs up", 16, "ANSWER", True, Outcome.COMPLETED),
    ("pjsip busy 486", 17, "BUSY", False, Outcome.LEAD_BUSY),
    ("pjsip rings out", 19, "RINGING", False, Outcome.LEAD_NO_ANSWER),
    ("pjsip rejects 603", 21, "NOANSWER", False, Outcome.LEAD_REJECTED),
    ("pjsip forbidden 403", 21, "NOANSWER", False, Outcome.LEAD_REJECTED),
    ("pjsip unallocated 404", 1, "NOANSWER", False, Outcome.LEAD_INVALID),
    ("pjsip congestion 503", 34, "CONGESTION", False, Outcome.LEAD_UNREACHABLE),
    # 04: plain originate to a Local channel (;1 side ends with cause 0, the Dial status has the answer)
    ("local busy", 0, "BUSY", False, Outcome.LEAD_BUSY),
    ("local congestion", 0, "CONGESTION", False, Outcome.LEAD_UNREACHABLE),
    ("local reject", 21, "NOANSWER", False, Outcome.LEAD_REJECTED),
    ("local unallocated", 1, "NOANSWER", False, Outcome.LEAD_INVALID),
    ("local rings out", 19, "RINGING", False, Outcome.LEAD_NO_ANSWER),
    # 05: create + dial (PJSIP: usually no final Dial status, the cause is all there is)
    ("create+dial pjsip busy", 17, "", False, Outcome.LEAD_BUSY),
    ("create+dial pjsip congestion", 34, "", False, Outcome.LEAD_UNREACHABLE),
    ("create+dial pjsip reject", 21, "", False, Outcome.LEAD_REJECTED),
    ("create+dial pjsip rings out", 19, "RINGING", False, Outcome.LEAD_NO_ANSWER),
    ("create+dial pjsip ring-answer", 16, "ANSWER", True, Outcome.COMPLETED),
    # 05: create + dial to Local: generic cause 16, the Dial status decides
    ("create+dial local busy", 16, "BUSY", False, Outcome.LEAD_BUSY),
    ("create+dial local congestion", 16, "CONGESTION", False, Outcome.LEAD_UNREACHABLE),
    ("create+dial local reject", 21, "", False, Outcome.LEAD_REJECTED),
    ("create+dial local rings out", 19, "RINGING", False, Outcome.LEAD_NO_ANSWER),
]


@pytest.mark.parametrize(
    ("name", "cause", "status", "answered", "outcome"), RECORDED, ids=[r[0] for r in RECORDED]
)
def test_recorded_asterisk_outcomes(
    name: str, cause: int, status: str, answered: bool, outcome: Outcome
) -> None:
    talk = 30.0 if answered else None
    assert lead(cause, status, answered=answered, talk_seconds=talk) is outcome


def test_a_rejection_or_bad_number_is_not_misread_as_no_answer() -> None:
    assert lead(21, "NOANSWER") is Outcome.LEAD_REJECTED
    assert lead(1, "NOANSWER") is Outcome.LEAD_INVALID
    assert lead(28, "NOANSWER") is Outcome.LEAD_INVALID


@pytest.mark.parametrize(
    ("cause", "outcome"),
    [
        (1, Outcome.LEAD_INVALID),
        (28, Outcome.LEAD_INVALID),
        (17, Outcome.LEAD_BUSY),
        (18, Outcome.LEAD_NO_ANSWER),
        (19, Outcome.LEAD_NO_ANSWER),
        (21, Outcome.LEAD_REJECTED),
        (2, Outcome.LEAD_UNREACHABLE),
        (3, Outcome.LEAD_UNREACHABLE),
        (20, Outcome.LEAD_UNREACHABLE),
        (27, Outcome.LEAD_UNREACHABLE),
        (34, Outcome.LEAD_UNREACHABLE),
        (38, Outcome.LEAD_UNREACHABLE),
        (41, Outcome.LEAD_UNREACHABLE),
        (42, Outcome.LEAD_UNREACHABLE),
        (44, Outcome.LEAD_UNREACHABLE),
        (102, Outcome.LEAD_UNREACHABLE),
    ],
)
def test_a_specific_cause_decides_whatever_the_dial_status(cause: int, outcome: Outcome) -> None:
    assert LEAD_CAUSES[cause] is outcome
    for status in (None, "", "BUSY", "NOANSWER", "CONGESTION", "RINGING", "CHANUNAVAIL"):
        assert lead(cause, status) is outcome
    assert not is_unexpected_cause(cause)


@pytest.mark.parametrize("cause", [None, 0, 16, 31])
@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        ("BUSY", Outcome.LEAD_BUSY),
        ("busy", Outcome.LEAD_BUSY),
        ("NOANSWER", Outcome.LEAD_NO_ANSWER),
        ("RINGING", Outcome.LEAD_NO_ANSWER),
        ("PROGRESS", Outcome.LEAD_NO_ANSWER),
        ("CANCEL", Outcome.LEAD_NO_ANSWER),
        ("CONGESTION", Outcome.LEAD_UNREACHABLE),
        ("CHANUNAVAIL", Outcome.LEAD_UNREACHABLE),
        ("DONTCALL", Outcome.LEAD_REJECTED),
        ("TORTURE", Outcome.LEAD_REJECTED),
        ("INVALIDARGS", Outcome.SYSTEM_ERROR),
        ("", Outcome.LEAD_UNREACHABLE),
        (None, Outcome.LEAD_UNREACHABLE),
        ("SOMETHINGNEW", Outcome.LEAD_UNREACHABLE),
    ],
)
def test_a_generic_cause_defers_to_the_dial_status(
    cause: int | None, status: str | None, outcome: Outcome
) -> None:
    assert lead(cause, status) is outcome
    assert not is_unexpected_cause(cause)


@pytest.mark.parametrize("cause", [5, 22, 26, 29, 32, 50, 58, 66, 88, 127, 999, -1])
def test_any_other_cause_is_unreachable_and_flagged_for_review(cause: int) -> None:
    assert lead(cause, "BUSY") is Outcome.LEAD_UNREACHABLE
    assert is_unexpected_cause(cause)


@pytest.mark.parametrize(
    ("talk", "outcome"),
    [
        (None, Outcome.SHORT_CALL),
        (0.0, Outcome.SHORT_CALL),
        (14.99, Outcome.SHORT_CALL),
        (15.0, Outcome.COMPLETED),
        (600.0, Outcome.COMPLETED),
    ],
)
def test_an_answered_leg_is_judged_by_its_talk_time(talk: float | None, outcome: Outcome) -> None:
    assert lead(16, "ANSWER", answered=True, talk_seconds=talk) is outcome
    assert lead(0, None, answered=True, talk_seconds=talk) is outcome  # a lone hang-up: cause 0


@pytest.mark.parametrize(
    ("final", "whole", "outcome"),
    [
        (True, True, Outcome.VOICEMAIL_LEFT),
        (True, False, Outcome.LEAD_MACHINE),
        (False, True, Outcome.LEAD_MACHINE),
        (False, False, Outcome.LEAD_MACHINE),
    ],
)
def test_a_machine(final: bool, whole: bool, outcome: Outcome) -> None:
    assert (
        lead(
            16,
            "ANSWER",
            answered=True,
            talk_seconds=40.0,
            machine=True,
            final_attempt=final,
            drop_played_whole=whole,
        )
        is outcome
    )


@given(
    cause=st.one_of(st.none(), st.integers(min_value=-5, max_value=200)),
    status=st.one_of(st.none(), st.sampled_from([*DIAL_STATUSES, "ANSWER", ""]), st.text(max_size=12)),
    answered=st.booleans(),
    talk=st.one_of(st.none(), st.floats(min_value=0, max_value=7200)),
    machine=st.booleans(),
    whole=st.booleans(),
    final=st.booleans(),
)
def test_classification_is_total_and_never_blames_admin_or_resolution(
    cause: int | None,
    status: str | None,
    answered: bool,
    talk: float | None,
    machine: bool,
    whole: bool,
    final: bool,
) -> None:
    facts = LeadLegFacts(cause, status, answered, talk, machine, whole, final)
    outcome = classify_lead(facts, min_talk_seconds=MIN_TALK)
    assert outcome not in {Outcome.ADMIN_UNAVAILABLE, Outcome.DIAL_UNKNOWN}
    if outcome is Outcome.VOICEMAIL_LEFT:
        assert machine and final and whole
    if outcome is Outcome.SYSTEM_ERROR:
        assert (status or "").strip().upper() == "INVALIDARGS" and cause in GENERIC_CAUSES
    if (
        not machine
        and not answered
        and (status or "").strip().upper() != "ANSWER"
        and cause not in GENERIC_CAUSES
    ):
        assert outcome is LEAD_CAUSES.get(cause, Outcome.LEAD_UNREACHABLE)  # type: ignore[arg-type]


# --- admin leg ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cause", "status", "answered", "accepted", "outcome"),
    [
        (16, "ANSWER", True, True, None),
        (16, "ANSWER", True, False, Outcome.ADMIN_UNAVAILABLE),  # no key press, voicemail, hung up
        (0, None, True, False, Outcome.ADMIN_UNAVAILABLE),
        (19, "RINGING", False, False, Outcome.ADMIN_UNAVAILABLE),
        (19, "NOANSWER", False, False, Outcome.ADMIN_UNAVAILABLE),
        (17, "BUSY", False, False, Outcome.ADMIN_UNAVAILABLE),
        (21, "NOANSWER", False, False, Outcome.ADMIN_UNAVAILABLE),  # declined
        (None, "CHANUNAVAIL", False, False, Outcome.ADMIN_UNAVAILABLE),  # not registered
        (20, None, False, False, Outcome.ADMIN_UNAVAILABLE),
        (34, "CONGESTION", False, False, Outcome.ADMIN_UNAVAILABLE),
        (1, "NOANSWER", False, False, Outcome.SYSTEM_ERROR),  # our admin endpoint doesn't exist
        (28, None, False, False, Outcome.SYSTEM_ERROR),
        (66, None, False, False, Outcome.SYSTEM_ERROR),
        (16, "INVALIDARGS", False, False, Outcome.SYSTEM_ERROR),
        (16, None, False, True, Outcome.SYSTEM_ERROR),  # "accepted" without ever answering: nonsense
    ],
)
def test_classify_admin(
    cause: int | None, status: str | None, answered: bool, accepted: bool, outcome: Outcome | None
) -> None:
    assert classify_admin(cause, status, answered, accepted) is outcome


# --- attempts ----------------------------------------------------------------------------------------------

# Outcomes that use one of the lead's attempts: admin and system failures don't; dial_unknown doesn't until
# it is resolved.
NOT_THE_LEADS = {Outcome.ADMIN_UNAVAILABLE, Outcome.SYSTEM_ERROR, Outcome.DIAL_UNKNOWN, Outcome.SUPERSEDED}


@pytest.mark.parametrize("outcome", list(Outcome))
def test_which_outcomes_use_one_of_the_leads_attempts(outcome: Outcome) -> None:
    assert counts_as_lead_attempt(outcome) is (outcome not in NOT_THE_LEADS)
