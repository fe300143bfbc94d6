"""What happened on one attempt, from what Asterisk told us about each leg.

The lead leg is judged by (in this order): a machine answering; an answered leg's talk time; the cause on
ChannelDestroyed when it is specific; the last Dial status when the cause is generic. Recorded on Asterisk
22.10.1 (see ``tests/recordings``): rejections and unallocated numbers come with Dial NOANSWER, so the cause
must win over the Dial status; create + dial on PJSIP often brings no final Dial status at all; Local channels
end busy/congestion with cause 0 or 16 and the answer in the Dial status.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Outcome(StrEnum):
    COMPLETED = "completed"
    SHORT_CALL = "short_call"
    LEAD_NO_ANSWER = "lead_no_answer"
    LEAD_BUSY = "lead_busy"
    LEAD_REJECTED = "lead_rejected"
    LEAD_MACHINE = "lead_machine"
    VOICEMAIL_LEFT = "voicemail_left"
    LEAD_INVALID = "lead_invalid"
    LEAD_UNREACHABLE = "lead_unreachable"
    ADMIN_UNAVAILABLE = "admin_unavailable"
    SYSTEM_ERROR = "system_error"
    DIAL_UNKNOWN = "dial_unknown"
    # The lead called the business back while this attempt was still ringing or whispering to the admin:
    # it gave way (the admin goes to the lead's own call); not the lead's attempt.
    SUPERSEDED = "superseded"


# Asterisk hangup causes we rely on (include/asterisk/causes.h, Q.850 numbering), with the SIP responses
# chan_pjsip maps to them:
#   0   AST_CAUSE_NOTDEFINED              "Unknown" (Local channels, a lone channel hung up)   generic
#   1   AST_CAUSE_UNALLOCATED             SIP 404, 485, 604                                    lead_invalid
#   2   AST_CAUSE_NO_ROUTE_TRANSIT_NET                                                         unreachable
#   3   AST_CAUSE_NO_ROUTE_DESTINATION    SIP 420                                              unreachable
#   16  AST_CAUSE_NORMAL_CLEARING         after any normal hang-up                             generic
#   17  AST_CAUSE_USER_BUSY               SIP 486, 600                                         lead_busy
#   18  AST_CAUSE_NO_USER_RESPONSE        SIP 408                                              lead_no_answer
#   19  AST_CAUSE_NO_ANSWER               ring timeout, SIP 480                                lead_no_answer
#   20  AST_CAUSE_SUBSCRIBER_ABSENT       phone off / out of coverage                          unreachable
#   21  AST_CAUSE_CALL_REJECTED           SIP 403, 603                                         lead_rejected
#   27  AST_CAUSE_DESTINATION_OUT_OF_ORDER  SIP 502                                            unreachable
#   28  AST_CAUSE_INVALID_NUMBER_FORMAT   SIP 484                                              lead_invalid
#   31  AST_CAUSE_NORMAL_UNSPECIFIED                                                           generic
#   34  AST_CAUSE_NORMAL_CIRCUIT_CONGESTION  SIP 503                                           unreachable
#   38  AST_CAUSE_NETWORK_OUT_OF_ORDER    SIP 500                                              unreachable
#   41  AST_CAUSE_NORMAL_TEMPORARY_FAILURE  SIP 409                                            unreachable
#   42  AST_CAUSE_SWITCH_CONGESTION                                                            unreachable
#   44  AST_CAUSE_REQUESTED_CHAN_UNAVAIL                                                       unreachable
#   102 AST_CAUSE_RECOVERY_ON_TIMER_EXPIRE  SIP 504                                            unreachable
# Any other cause: lead_unreachable, and ``is_unexpected_cause`` says to log it for review.
CAUSE_UNKNOWN = 0
CAUSE_UNALLOCATED = 1
CAUSE_NO_ROUTE_TRANSIT_NET = 2
CAUSE_NO_ROUTE_DESTINATION = 3
CAUSE_NORMAL_CLEARING = 16
CAUSE_USER_BUSY = 17
CAUSE_NO_USER_RESPONSE = 18
CAUSE_NO_ANSWER = 19
CAUSE_SUBSCRIBER_ABSENT = 20
CAUSE_CALL_REJECTED = 21
CAUSE_DESTINATION_OUT_OF_ORDER = 27
CAUSE_INVALID_NUMBER_FORMAT = 28
CAUSE_NORMAL_UNSPECIFIED = 31
CAUSE_CONGESTION = 34
CAUSE_NETWORK_OUT_OF_ORDER = 38
CAUSE_TEMPORARY_FAILURE = 41
CAUSE_SWITCH_CONGESTION = 42
CAUSE_REQUESTED_CHAN_UNAVAIL = 44
CAUSE_RECOVERY_ON_TIMER_EXPIRE = 102

# A generic cause says "the channel ended" and nothing about why: the Dial status decides.
GENERIC_CAUSES: frozenset[int | None] = frozenset(
    {None, CAUSE_UNKNOWN, CAUSE_NORMAL_CLEARING, CAUSE_NORMAL_UNSPECIFIED}
)

LEAD_CAUSES: dict[int, Outcome] = {
    CAUSE_UNALLOCATED: Outcome.LEAD_INVALID,
    CAUSE_INVALID_NUMBER_FORMAT: Outcome.LEAD_INVALID,
    CAUSE_USER_BUSY: Outcome.LEAD_BUSY,
    CAUSE_NO_USER_RESPONSE: Outcome.LEAD_NO_ANSWER,
    CAUSE_NO_ANSWER: Outcome.LEAD_NO_ANSWER,
    CAUSE_CALL_REJECTED: Outcome.LEAD_REJECTED,
    CAUSE_NO_ROUTE_TRANSIT_NET: Outcome.LEAD_UNREACHABLE,
    CAUSE_NO_ROUTE_DESTINATION: Outcome.LEAD_UNREACHABLE,
    CAUSE_SUBSCRIBER_ABSENT: Outcome.LEAD_UNREACHABLE,
    CAUSE_DESTINATION_OUT_OF_ORDER: Outcome.LEAD_UNREACHABLE,
    CAUSE_CONGESTION: Outcome.LEAD_UNREACHABLE,
    CAUSE_NETWORK_OUT_OF_ORDER: Outcome.LEAD_UNREACHABLE,
    CAUSE_TEMPORARY_FAILURE: Outcome.LEAD_UNREACHABLE,
    CAUSE_SWITCH_CONGESTION: Outcome.LEAD_UNREACHABLE,
    CAUSE_REQUESTED_CHAN_UNAVAIL: Outcome.LEAD_UNREACHABLE,
    CAUSE_RECOVERY_ON_TIMER_EXPIRE: Outcome.LEAD_UNREACHABLE,
}

# The last Dial event's ``dialstatus`` (app_dial's DIALSTATUS values), used only under a generic cause.
# RINGING/PROGRESS as the last word: it rang and nobody picked up. CANCEL: we stopped the ringing.
# INVALIDARGS: our dial string was wrong, not the lead's fault.
DIAL_STATUSES: dict[str, Outcome] = {
    "BUSY": Outcome.LEAD_BUSY,
    "NOANSWER": Outcome.LEAD_NO_ANSWER,
    "RINGING": Outcome.LEAD_NO_ANSWER,
    "PROGRESS": Outcome.LEAD_NO_ANSWER,
    "CANCEL": Outcome.LEAD_NO_ANSWER,
    "CONGESTION": Outcome.LEAD_UNREACHABLE,
    "CHANUNAVAIL": Outcome.LEAD_UNREACHABLE,
    "DONTCALL": Outcome.LEAD_REJECTED,
    "TORTURE": Outcome.LEAD_REJECTED,
    "INVALIDARGS": Outcome.SYSTEM_ERROR,
}


@dataclass(frozen=True)
class LeadLegFacts:
    cause: int | None  # ChannelDestroyed ``cause`` (not ChannelHangupRequest's soft flag)
    dial_status: str | None  # the last Dial event's ``dialstatus`` ("" and None: none seen)
    answered: bool  # the lead leg went Up
    talk_seconds: float | None = None  # from the bridge to the first hang-up
    machine: bool = False  # AMD said MACHINE, or the admin pressed the drop key
    drop_played_whole: bool = False  # PlaybackFinished after (nearly) the file's length, no stop or hang-up
    final_attempt: bool = False


def is_unexpected_cause(cause: int | None) -> bool:
    """A cause outside our table: it still counts (as lead_unreachable) but should be logged for review."""
    return cause not in GENERIC_CAUSES and cause not in LEAD_CAUSES


def classify_lead(facts: LeadLegFacts, *, min_talk_seconds: float) -> Outcome:
    if facts.machine:
        if facts.final_attempt and facts.drop_played_whole:
            return Outcome.VOICEMAIL_LEFT
        return Outcome.LEAD_MACHINE
    status = (facts.dial_status or "").strip().upper()
    if facts.answered or status == "ANSWER":
        talk = facts.talk_seconds or 0.0
        return Outcome.COMPLETED if talk >= min_talk_seconds else Outcome.SHORT_CALL
    if facts.cause in LEAD_CAUSES:
        return LEAD_CAUSES[facts.cause]
    if facts.cause in GENERIC_CAUSES:
        return DIAL_STATUSES.get(status, Outcome.LEAD_UNREACHABLE)
    return Outcome.LEAD_UNREACHABLE


# Causes on the admin leg that mean our configuration is wrong (the admin endpoint or its dial string), not
# that the admin is away: retrying "another admin soon" would hide it.
ADMIN_SYSTEM_CAUSES = frozenset(
    {CAUSE_UNALLOCATED, CAUSE_NO_ROUTE_DESTINATION, CAUSE_INVALID_NUMBER_FORMAT, 66}
)


def classify_admin(
    cause: int | None, dial_status: str | None, answered: bool, accepted: bool
) -> Outcome | None:
    """``None``: the admin accepted, carry on with the lead. ``admin_unavailable``: no answer, busy, declined,
    no key press, their voicemail, not registered (CHANUNAVAIL). ``system_error``: nonsense that says our
    configuration is wrong (an accepted leg that never answered, unallocated endpoint, bad dial arguments)."""
    status = (dial_status or "").strip().upper()
    if accepted:
        return None if answered else Outcome.SYSTEM_ERROR
    if answered:
        return Outcome.ADMIN_UNAVAILABLE  # picked up, but no accept key: voicemail, a decline, a hang-up
    if status == "INVALIDARGS" or cause in ADMIN_SYSTEM_CAUSES:
        return Outcome.SYSTEM_ERROR
    return Outcome.ADMIN_UNAVAILABLE


_LEAD_ATTEMPT_OUTCOMES = frozenset(
    {
        Outcome.COMPLETED,
        Outcome.SHORT_CALL,
        Outcome.LEAD_NO_ANSWER,
        Outcome.LEAD_BUSY,
        Outcome.LEAD_REJECTED,
        Outcome.LEAD_MACHINE,
        Outcome.VOICEMAIL_LEFT,
        Outcome.LEAD_INVALID,
        Outcome.LEAD_UNREACHABLE,
    }
)


def counts_as_lead_attempt(outcome: Outcome) -> bool:
    """Whether the attempt used one of the lead's attempts (admin and system failures don't; dial_unknown
    doesn't until it is resolved)."""
    return outcome in _LEAD_ATTEMPT_OUTCOMES
