"""A call *to* the business: who is calling, whether it is a lead calling back, and what follows the call.

The dialplan hands the call to the application as ``Stasis(app,inbound,<caller's number>,<number dialled>)``
(``asterisk_conf/extensions.conf``). The caller's number is normalised as intake normalises a form's number,
so it finds the same contact. A known caller whose request is open, or was closed within
``returns.recent_days``, is a *return call*: the admin hears who is calling and why. Anyone else is handled
as ``returns.unknown`` says: the admins rung with a plain whisper, or the call handed back to the dialplan.
Pure rules: no I/O, time passed in.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from .phone import PhoneError, normalise_phone
from .statuses import OPEN_REQUEST_STATUSES, RequestStatus

# The first StasisStart argument of a call to the business number.
INBOUND_ARG = "inbound"
# The attempt kind of a return call (``attempts.kind``): never one of the lead's attempts.
RETURN_CALL_KIND = "return_call"

UnknownCaller = Literal["ring", "continue"]


@dataclass(frozen=True)
class InboundCall:
    """What the dialplan said about a call to the business."""

    caller: str  # as the carrier sent it: "+12125550199", "2125550199", "anonymous", ""
    dialled: str


def parse_inbound_args(args: Sequence[str]) -> InboundCall | None:
    """``inbound,<caller>,<dialled>`` → the call; anything else (``admin,…``, ``amd,…``) → None."""
    if not args or args[0] != INBOUND_ARG:
        return None
    caller = args[1].strip() if len(args) > 1 else ""
    dialled = args[2].strip() if len(args) > 2 else ""
    return InboundCall(caller, dialled)


def caller_e164(raw: str, *, default_region: str, allowed_regions: Collection[str]) -> str | None:
    """The caller's number in E.164, as intake stores it; None when withheld or not a number we'd store."""
    if not raw or not any(ch.isdigit() for ch in raw):
        return None  # "anonymous", "Restricted", empty: a withheld number
    try:
        return normalise_phone(raw, default_region=default_region, allowed_regions=allowed_regions)
    except PhoneError:
        return None


@dataclass(frozen=True)
class CallerRequest:
    """The caller's latest request, as the store has it."""

    request_id: int
    status: RequestStatus
    closed_at: datetime | None


ReturnAction = Literal["return_call", "ring_plain", "continue"]


@dataclass(frozen=True)
class ReturnDecision:
    action: ReturnAction
    request_id: int | None  # the request the call is about (return_call only)
    why: str


def decide_inbound(
    request: CallerRequest | None, *, now: datetime, recent_days: float, unknown: UnknownCaller
) -> ReturnDecision:
    """A return call when the caller's request is open or closed within ``recent_days``; otherwise what
    ``unknown`` says: ``ring`` (admins, plain whisper) or ``continue`` (back to the dialplan)."""
    if recent_days < 0:
        raise ValueError("recent_days can't be negative")
    if request is not None:
        if request.status in OPEN_REQUEST_STATUSES:
            return ReturnDecision("return_call", request.request_id, "open request")
        closed = request.closed_at
        if closed is not None and now - closed <= timedelta(days=recent_days):
            return ReturnDecision("return_call", request.request_id, f"request {request.status} recently")
        why = f"request {request.status} more than {recent_days:g} days ago"
    else:
        why = "unknown caller"
    return ReturnDecision("ring_plain" if unknown == "ring" else "continue", None, why)


class ReturnOutcome(StrEnum):
    """How a return call ended (``attempts.outcome`` of a ``return_call`` attempt)."""

    COMPLETED = "completed"  # admin and lead talked long enough
    SHORT_CALL = "short_call"  # bridged, too short to count
    MESSAGE_LEFT = "message_left"  # no admin accepted; the lead left a message
    NO_MESSAGE = "no_message"  # no admin accepted; the lead hung up without a message
    SYSTEM_ERROR = "system_error"


@dataclass(frozen=True)
class ReturnCallEnd:
    """How one return call ended, as the call hands it to the lifecycle."""

    outcome: ReturnOutcome
    detail: str
    admin_name: str | None = None
    talk_seconds: float | None = None
    message: dict[str, Any] | None = None  # {"file", "seconds", "keep_until"} when a message was kept


@dataclass(frozen=True)
class ReturnFollowUp:
    """What the lifecycle does after a return call."""

    complete: bool  # close the request Complete (wf-1.3: tag, thank-you SMS, attempts cancelled)
    call_now: bool  # schedule an attempt at the first allowed instant
    note: str


def decide_after_return_call(outcome: ReturnOutcome, *, request_open: bool, may_call: bool) -> ReturnFollowUp:
    """``may_call``: no opt-out of calls and not on the do-not-call list (their own call in is never blocked,
    but nothing outbound follows from it)."""
    if outcome is ReturnOutcome.COMPLETED:
        return ReturnFollowUp(True, False, "the lead called back and talked with an admin")
    call_now = request_open and may_call
    if outcome is ReturnOutcome.MESSAGE_LEFT:
        return ReturnFollowUp(False, call_now, "called back, left a message")
    if outcome is ReturnOutcome.NO_MESSAGE:
        return ReturnFollowUp(False, call_now, "called back, no admin free, no message left")
    if outcome is ReturnOutcome.SHORT_CALL:
        return ReturnFollowUp(False, False, "called back, a short call with an admin")
    return ReturnFollowUp(False, call_now, "called back, the call failed on our side")


def whisper_text(first_name: str, last_name: str, reason: str) -> str:
    """What the admin is told (the spoken whisper is made of prompts; this is its text, for logs and UI)."""
    name = f"{first_name} {last_name}".strip() or "a caller"
    about = f", about: {reason.strip()}" if reason.strip() else ""
    return f"Returning call from {name}{about}"


def within_hours(sent_at: Sequence[datetime], now: datetime, hours: float) -> bool:
    """Did any of these messages go out within the last ``hours``?"""
    return any(now - at <= timedelta(hours=hours) for at in sent_at)
