"""wf-1.1 / 1.2 / 1.3: what to do after an attempt, as data the lifecycle applies in one transaction.

Business re-attempts live here (a miss, an admin away, a PBX failure); technical retries of one request
(a timeout, a 503) belong to the ARI client's retry policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from ..errors import CallbackError
from .outcomes import Outcome, counts_as_lead_attempt
from .statuses import RequestStatus
from .tags import Status

if TYPE_CHECKING:
    from ..settings import CallsSettings, SmsSettings

SmsKind = Literal["missed_call", "final_miss", "confirmation"]
RetryKind = Literal["none", "lead", "admin", "system"]
AmdMode = Literal["never", "final", "every"]


class OutcomeNotResolved(CallbackError):
    """``dial_unknown`` must be resolved from Asterisk (events, GET /channels/{id}) before any decision:
    deciding now could re-dial a lead whose phone is ringing."""

    error_id = "outcome-not-resolved"
    http_status = 409


@dataclass(frozen=True)
class AttemptPolicy:
    max_attempts: int = 2
    retry_delay: float = 1800.0
    admin_retry_delay: float = 300.0
    system_retry_delay: float = 120.0
    system_retry_max_delay: float = 3600.0
    max_system_retries: int = 10
    sms_after_final_miss: bool = False
    amd: AmdMode = "final"

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if min(self.retry_delay, self.admin_retry_delay, self.system_retry_delay) < 0:
            raise ValueError("delays can't be negative")
        if self.amd not in ("never", "final", "every"):
            raise ValueError(f"amd must be never, final or every, not {self.amd!r}")

    @classmethod
    def from_settings(cls, calls: CallsSettings, sms: SmsSettings) -> AttemptPolicy:
        # system_retry_max_delay and max_system_retries have no settings keys yet: defaults.
        return cls(
            max_attempts=calls.max_attempts,
            retry_delay=calls.retry_delay,
            admin_retry_delay=calls.admin_retry_delay,
            system_retry_delay=calls.system_retry_delay,
            sms_after_final_miss=sms.send_after_final_miss,
            amd=calls.amd,
        )


@dataclass(frozen=True)
class Decision:
    """``status`` None means: leave the status tag as it is (admin or system trouble is not news for the
    contact). Cancelling is never decided here; it comes from an admin or a STOP.

    ``request_status`` "pending" means waiting for a scheduled attempt; "calling" is what the orchestrator
    sets while an attempt runs and is never returned here. ``retry_after`` is seconds from now, before the
    calendar's next allowed slot is applied.
    """

    status: Status | None
    request_status: RequestStatus
    sms: SmsKind | None
    retry: RetryKind
    retry_after: float
    note: str
    flag_invalid_number: bool
    lead_attempts_used: int


_MISSES = frozenset(
    {
        Outcome.SHORT_CALL,
        Outcome.LEAD_NO_ANSWER,
        Outcome.LEAD_BUSY,
        Outcome.LEAD_REJECTED,
        Outcome.LEAD_MACHINE,
        Outcome.LEAD_UNREACHABLE,
    }
)


def attempt_is_final(lead_attempts_used_before: int, policy: AttemptPolicy) -> bool:
    """Whether the next attempt is the lead's last (ring longer, run AMD by default, drop voicemail)."""
    return lead_attempts_used_before + 1 >= policy.max_attempts


def amd_enabled(policy: AttemptPolicy, final: bool) -> bool:
    return policy.amd == "every" or (policy.amd == "final" and final)


def system_backoff(system_failures: int, policy: AttemptPolicy) -> float:
    """Delay before retrying after the (system_failures + 1)-th system error in a row: doubling, capped."""
    exponent = min(system_failures, 32)  # 2**32 already passes any sane cap
    return float(min(policy.system_retry_delay * 2**exponent, policy.system_retry_max_delay))


def decide_after_attempt(
    outcome: Outcome, *, lead_attempts_used_before: int, system_failures: int, policy: AttemptPolicy
) -> Decision:
    """``system_failures``: system errors in a row before this attempt. Raises ``OutcomeNotResolved`` for
    ``dial_unknown``."""
    if lead_attempts_used_before < 0 or system_failures < 0:
        raise ValueError("counts can't be negative")
    used = lead_attempts_used_before + (1 if counts_as_lead_attempt(outcome) else 0)
    final = used >= policy.max_attempts

    if outcome is Outcome.COMPLETED:
        return Decision(
            Status.COMPLETE, RequestStatus.COMPLETED, "confirmation", "none", 0.0, "connected", False, used
        )

    if outcome in _MISSES:
        if not final:
            note = f"{outcome.value}: attempt {used} of {policy.max_attempts}, calling again"
            return Decision(
                Status.INCOMPLETE,
                RequestStatus.PENDING,
                "missed_call",
                "lead",
                policy.retry_delay,
                note,
                False,
                used,
            )
        sms: SmsKind | None = "final_miss" if policy.sms_after_final_miss else None
        note = f"{outcome.value}: final attempt ({used} of {policy.max_attempts}), giving up"
        return Decision(Status.INCOMPLETE, RequestStatus.INCOMPLETE, sms, "none", 0.0, note, False, used)

    if outcome is Outcome.VOICEMAIL_LEFT:
        sms = "final_miss" if policy.sms_after_final_miss else None
        return Decision(
            Status.INCOMPLETE,
            RequestStatus.INCOMPLETE,
            sms,
            "none",
            0.0,
            "voicemail left, no further call",
            False,
            used,
        )

    if outcome is Outcome.LEAD_INVALID:
        note = "the number does not exist (unallocated or invalid format): flagged, no retry"
        return Decision(Status.INCOMPLETE, RequestStatus.INCOMPLETE, None, "none", 0.0, note, True, used)

    if outcome is Outcome.ADMIN_UNAVAILABLE:
        note = "no admin accepted the call; retrying soon, another admin first"
        return Decision(
            None, RequestStatus.PENDING, None, "admin", policy.admin_retry_delay, note, False, used
        )

    if outcome is Outcome.SUPERSEDED:
        # Called again later only if the return call doesn't complete the request (it cancels this retry).
        note = "the lead called back while we rang the admin; this call gave way to theirs"
        return Decision(
            None, RequestStatus.PENDING, None, "admin", policy.admin_retry_delay, note, False, used
        )

    if outcome is Outcome.SYSTEM_ERROR:
        failures = system_failures + 1
        if failures > policy.max_system_retries:
            note = f"gave up after {failures} system errors in a row"
            return Decision(Status.INCOMPLETE, RequestStatus.INCOMPLETE, None, "none", 0.0, note, False, used)
        delay = system_backoff(system_failures, policy)
        note = (
            f"system error {failures} of at most {policy.max_system_retries + 1}; retrying in {delay:.0f} s"
        )
        return Decision(None, RequestStatus.PENDING, None, "system", delay, note, False, used)

    if outcome is Outcome.DIAL_UNKNOWN:
        raise OutcomeNotResolved("resolve dial_unknown from Asterisk before deciding", outcome=outcome.value)
    raise AssertionError(f"unhandled outcome {outcome!r}")


_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def _clock_text(at: datetime) -> str:
    # Built by hand: strftime's %p and %-I depend on the locale and the platform.
    hour = at.hour % 12 or 12
    return f"{hour}:{at.minute:02d} {'AM' if at.hour < 12 else 'PM'}"


def missed_call_when_text(slot_at: datetime, lead_tz: str, now: datetime) -> str:
    """ "today at 3:30 PM", "tomorrow at 9:00 AM", "on Monday at 9:00 AM" (within a week), else
    "on Monday, March 9 at 9:00 AM" — in the lead's own time zone, for "we'll call again {when}"."""
    if slot_at.tzinfo is None or now.tzinfo is None:
        raise ValueError("slot_at and now must be timezone-aware")
    tz = ZoneInfo(lead_tz)
    local = slot_at.astimezone(tz)
    days = (local.date() - now.astimezone(tz).date()).days
    clock = _clock_text(local)
    if days <= 0:
        return f"today at {clock}"
    if days == 1:
        return f"tomorrow at {clock}"
    weekday = _WEEKDAYS[local.weekday()]
    if days < 7:
        return f"on {weekday} at {clock}"
    return f"on {weekday}, {_MONTHS[local.month - 1]} {local.day} at {clock}"
