"""wf-1.1 / 1.2 / 1.3 decisions after each attempt, and the "we'll call again {when}" text."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ari_app.domain.outcomes import Outcome
from ari_app.domain.tags import Status
from ari_app.domain.workflow import (
    AttemptPolicy,
    Decision,
    OutcomeNotResolved,
    amd_enabled,
    attempt_is_final,
    decide_after_attempt,
    missed_call_when_text,
    system_backoff,
)
from ari_app.settings import CallsSettings, SmsSettings

POLICY = AttemptPolicy()
MISSES = [
    Outcome.SHORT_CALL,
    Outcome.LEAD_NO_ANSWER,
    Outcome.LEAD_BUSY,
    Outcome.LEAD_REJECTED,
    Outcome.LEAD_MACHINE,
    Outcome.LEAD_UNREACHABLE,
]


def decide(outcome: Outcome, before: int = 0, failures: int = 0, policy: AttemptPolicy = POLICY) -> Decision:
    return decide_after_attempt(
        outcome, lead_attempts_used_before=before, system_failures=failures, policy=policy
    )


@pytest.mark.parametrize("before", [0, 1])
def test_completed_on_either_attempt(before: int) -> None:
    d = decide(Outcome.COMPLETED, before)
    assert (d.status, d.request_status, d.sms, d.retry, d.lead_attempts_used) == (
        Status.COMPLETE,
        "completed",
        "confirmation",
        "none",
        before + 1,
    )
    assert not d.flag_invalid_number


@pytest.mark.parametrize("outcome", MISSES)
def test_a_miss_on_the_first_attempt_texts_and_calls_again(outcome: Outcome) -> None:
    d = decide(outcome, before=0)
    assert d.status is Status.INCOMPLETE
    assert d.request_status == "pending"
    assert d.sms == "missed_call"
    assert (d.retry, d.retry_after) == ("lead", 1800.0)
    assert d.lead_attempts_used == 1
    assert outcome.value in d.note


@pytest.mark.parametrize("outcome", MISSES)
@pytest.mark.parametrize(("sms_after_final", "sms"), [(False, None), (True, "final_miss")])
def test_a_miss_on_the_final_attempt_stays_incomplete(
    outcome: Outcome, sms_after_final: bool, sms: str | None
) -> None:
    d = decide(outcome, before=1, policy=AttemptPolicy(sms_after_final_miss=sms_after_final))
    assert (d.status, d.request_status, d.sms, d.retry, d.retry_after) == (
        Status.INCOMPLETE,
        "incomplete",
        sms,
        "none",
        0.0,
    )
    assert d.lead_attempts_used == 2


def test_three_attempts_allow_two_retries() -> None:
    policy = AttemptPolicy(max_attempts=3, retry_delay=600)
    assert decide(Outcome.LEAD_BUSY, 0, policy=policy).retry == "lead"
    assert decide(Outcome.LEAD_BUSY, 1, policy=policy).retry_after == 600
    assert decide(Outcome.LEAD_BUSY, 2, policy=policy).request_status == "incomplete"


def test_one_attempt_only_is_final_at_once() -> None:
    d = decide(Outcome.LEAD_NO_ANSWER, 0, policy=AttemptPolicy(max_attempts=1))
    assert d.retry == "none" and d.sms is None


@pytest.mark.parametrize(("sms_after_final", "sms"), [(False, None), (True, "final_miss")])
def test_voicemail_left_ends_the_request_as_incomplete(sms_after_final: bool, sms: str | None) -> None:
    d = decide(Outcome.VOICEMAIL_LEFT, 1, policy=AttemptPolicy(sms_after_final_miss=sms_after_final))
    assert (d.status, d.request_status, d.sms, d.retry) == (Status.INCOMPLETE, "incomplete", sms, "none")


@pytest.mark.parametrize("before", [0, 1])
def test_an_invalid_number_is_flagged_and_never_retried_or_texted(before: int) -> None:
    d = decide(Outcome.LEAD_INVALID, before, policy=AttemptPolicy(sms_after_final_miss=True))
    assert (d.status, d.request_status, d.sms, d.retry) == (Status.INCOMPLETE, "incomplete", None, "none")
    assert d.flag_invalid_number
    assert d.lead_attempts_used == before + 1


@pytest.mark.parametrize("before", [0, 1])
def test_admin_unavailable_keeps_the_tag_and_the_leads_attempts(before: int) -> None:
    d = decide(Outcome.ADMIN_UNAVAILABLE, before)
    assert d.status is None
    assert (d.request_status, d.sms, d.retry, d.retry_after) == ("pending", None, "admin", 300.0)
    assert d.lead_attempts_used == before


def test_system_errors_back_off_exponentially_up_to_a_cap() -> None:
    delays = [decide(Outcome.SYSTEM_ERROR, 1, failures=n).retry_after for n in range(10)]
    assert delays == [120, 240, 480, 960, 1920, 3600, 3600, 3600, 3600, 3600]
    d = decide(Outcome.SYSTEM_ERROR, 1, failures=3)
    assert (d.status, d.request_status, d.sms, d.retry, d.lead_attempts_used) == (
        None,
        "pending",
        None,
        "system",
        1,
    )
    assert system_backoff(10_000, POLICY) == 3600


def test_after_max_system_retries_the_request_gives_up_as_incomplete() -> None:
    d = decide(Outcome.SYSTEM_ERROR, 0, failures=10)
    assert (d.status, d.request_status, d.sms, d.retry) == (Status.INCOMPLETE, "incomplete", None, "none")
    assert "11 system errors" in d.note
    assert d.lead_attempts_used == 0


def test_dial_unknown_must_be_resolved_before_deciding() -> None:
    with pytest.raises(OutcomeNotResolved) as info:
        decide(Outcome.DIAL_UNKNOWN)
    assert info.value.error_id == "outcome-not-resolved"


def test_negative_counts_are_refused() -> None:
    with pytest.raises(ValueError):
        decide(Outcome.COMPLETED, before=-1)


@given(
    outcome=st.sampled_from([o for o in Outcome if o is not Outcome.DIAL_UNKNOWN]),
    before=st.integers(min_value=0, max_value=5),
    failures=st.integers(min_value=0, max_value=15),
    max_attempts=st.integers(min_value=1, max_value=4),
    sms_final=st.booleans(),
)
def test_decision_invariants(
    outcome: Outcome, before: int, failures: int, max_attempts: int, sms_final: bool
) -> None:
    policy = AttemptPolicy(max_attempts=max_attempts, sms_after_final_miss=sms_final)
    d = decide(outcome, before, failures, policy)
    assert (d.retry == "lead") == (d.sms == "missed_call")
    assert (d.request_status == "completed") == (d.status is Status.COMPLETE) == (d.sms == "confirmation")
    assert (d.retry == "none") == (d.request_status in {"completed", "incomplete"})
    assert (d.retry != "none") == (d.request_status == "pending")
    assert d.request_status not in {"calling", "cancelled"}
    assert (d.retry == "none") == (d.retry_after == 0)
    assert d.lead_attempts_used in {before, before + 1}
    assert d.sms != "final_miss" or sms_final
    assert d.flag_invalid_number == (outcome is Outcome.LEAD_INVALID)
    if d.retry == "lead":
        assert d.lead_attempts_used < max_attempts


@pytest.mark.parametrize(
    ("before", "max_attempts", "final"),
    [(0, 2, False), (1, 2, True), (0, 1, True), (1, 3, False), (2, 3, True)],
)
def test_attempt_is_final(before: int, max_attempts: int, final: bool) -> None:
    assert attempt_is_final(before, AttemptPolicy(max_attempts=max_attempts)) is final


@pytest.mark.parametrize(
    ("mode", "final", "enabled"),
    [
        ("never", False, False),
        ("never", True, False),
        ("final", False, False),
        ("final", True, True),
        ("every", False, True),
        ("every", True, True),
    ],
)
def test_amd_enabled(mode: str, final: bool, enabled: bool) -> None:
    assert amd_enabled(AttemptPolicy(amd=mode), final) is enabled  # type: ignore[arg-type]


def test_policy_from_settings() -> None:
    policy = AttemptPolicy.from_settings(
        CallsSettings(
            max_attempts=3, retry_delay=900, admin_retry_delay=60, system_retry_delay=30, amd="every"
        ),
        SmsSettings(send_after_final_miss=True),
    )
    assert policy == AttemptPolicy(
        max_attempts=3,
        retry_delay=900,
        admin_retry_delay=60,
        system_retry_delay=30,
        sms_after_final_miss=True,
        amd="every",
    )
    assert AttemptPolicy.from_settings(CallsSettings(), SmsSettings()) == AttemptPolicy()


@pytest.mark.parametrize("bad", [{"max_attempts": 0}, {"retry_delay": -1}, {"amd": "sometimes"}])
def test_nonsense_policies_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        AttemptPolicy(**bad)  # type: ignore[arg-type]


# --- "we'll call again {when}" -----------------------------------------------------------------------------

NY = ZoneInfo("America/New_York")
NOW = datetime(2025, 1, 14, 14, 0, tzinfo=NY)  # Tuesday 2 PM in New York


@pytest.mark.parametrize(
    ("slot", "text"),
    [
        (datetime(2025, 1, 14, 15, 30, tzinfo=NY), "today at 3:30 PM"),
        (datetime(2025, 1, 14, 23, 59, tzinfo=NY), "today at 11:59 PM"),
        (datetime(2025, 1, 15, 9, 0, tzinfo=NY), "tomorrow at 9:00 AM"),
        (datetime(2025, 1, 15, 0, 5, tzinfo=NY), "tomorrow at 12:05 AM"),
        (datetime(2025, 1, 15, 12, 0, tzinfo=NY), "tomorrow at 12:00 PM"),
        (datetime(2025, 1, 20, 9, 0, tzinfo=NY), "on Monday at 9:00 AM"),
        (datetime(2025, 1, 21, 9, 0, tzinfo=NY), "on Tuesday, January 21 at 9:00 AM"),
    ],
)
def test_missed_call_when_text(slot: datetime, text: str) -> None:
    assert missed_call_when_text(slot, "America/New_York", NOW) == text


def test_missed_call_when_text_is_in_the_leads_zone() -> None:
    # 02:30 UTC on the 15th is still the 14th, 6:30 PM, in Los Angeles.
    slot = datetime(2025, 1, 15, 2, 30, tzinfo=UTC)
    assert missed_call_when_text(slot, "America/Los_Angeles", NOW) == "today at 6:30 PM"
    assert missed_call_when_text(slot, "America/New_York", NOW) == "today at 9:30 PM"
    assert missed_call_when_text(slot, "Europe/London", NOW) == "tomorrow at 2:30 AM"


def test_missed_call_when_text_needs_aware_times() -> None:
    with pytest.raises(ValueError):
        missed_call_when_text(datetime(2025, 1, 15, 9, 0), "America/New_York", NOW)
