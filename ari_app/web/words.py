"""What the dashboard says to a business admin, in plain words: times with their zone (and the lead's own
time beside them), what a call's outcome means, why a call was allowed, how a contact moved on the board.

Pure functions over values the reads already have; the technical detail (causes, tags, the evidence's
keys) stays available one click away in the templates, never in these sentences.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ..domain.outcomes import Outcome
from ..domain.preferred_time import zone_name

# What happened on one attempt, said to a person. One sentence per outcome; every Outcome has one.
OUTCOME_SENTENCES: Mapping[Outcome, str] = {
    Outcome.COMPLETED: "The lead answered and talked with the admin.",
    Outcome.SHORT_CALL: "The lead answered, but the call ended too soon to count as a conversation.",
    Outcome.LEAD_NO_ANSWER: "The lead did not answer.",
    Outcome.LEAD_BUSY: "The line was busy.",
    Outcome.LEAD_REJECTED: "The lead declined the call.",
    Outcome.LEAD_MACHINE: "An answering machine or voicemail picked up.",
    Outcome.VOICEMAIL_LEFT: "An answering machine picked up, and the voicemail message was left.",
    Outcome.LEAD_INVALID: "The number does not exist.",
    Outcome.LEAD_UNREACHABLE: "The lead's phone could not be reached (switched off, no signal, or a network "
    "problem).",
    Outcome.ADMIN_UNAVAILABLE: "No admin took the call, so the lead was not called.",
    Outcome.SYSTEM_ERROR: "The call failed on our side; the technical details say why.",
    Outcome.DIAL_UNKNOWN: "The call was lost while dialling; it counts as an attempt and is not retried "
    "blindly.",
    Outcome.SUPERSEDED: "The lead called us back while we were ringing the admin, so this call gave way.",
}

LEAD_TIMES_SHOWN = 2  # an area code spanning more zones than this shows the first ones and "…"


def outcome_sentence(outcome: str | None) -> str:
    """The sentence for a stored outcome value; an unknown value (a newer release's) is shown as it is."""
    if not outcome:
        return ""
    try:
        return OUTCOME_SENTENCES[Outcome(outcome)]
    except ValueError:
        return outcome


def _clock(local: datetime) -> str:
    return f"{local:%H:%M} {local.tzname()}"


def _day_and_clock(local: datetime) -> str:
    return f"{local:%a} {local.day} {local:%b}, {_clock(local)}"


def when_text(at: datetime | None, business_tz: ZoneInfo, lead_zones: Sequence[str] = ()) -> str:
    """An instant for the dashboard, in the business zone with the zone named, and the lead's own time
    beside it when it differs: ``Tue 3 Dec, 15:15 EST (lead: 14:15 CST)``. The lead's day is named only
    when it is not the business's day."""
    if at is None:
        return ""
    local = at.astimezone(business_tz)
    text = _day_and_clock(local)
    theirs = lead_times(at, business_tz, lead_zones)
    return f"{text} (lead: {theirs})" if theirs else text


def lead_times(at: datetime, business_tz: ZoneInfo, lead_zones: Sequence[str]) -> str:
    """The lead's local time(s) at ``at``, or "" when it reads the same as the business's."""
    local = at.astimezone(business_tz)
    shown: list[str] = []
    for name in lead_zones:
        theirs = at.astimezone(ZoneInfo(name))
        if theirs.utcoffset() == local.utcoffset() and theirs.tzname() == local.tzname():
            continue
        text = _clock(theirs) if theirs.date() == local.date() else _day_and_clock(theirs)
        if text not in shown:
            shown.append(text)
    if len(shown) > LEAD_TIMES_SHOWN:
        return " or ".join(shown[:LEAD_TIMES_SHOWN]) + " or …"
    return " or ".join(shown)


def stage_sentence(previous: str | None, stage: str | None) -> str:
    """How the contact moved on the board: ``Moved from Callback requested to Callback missed.``"""
    if stage and previous and stage != previous:
        return f"Moved from {previous} to {stage}."
    if stage and not previous:
        return f"Added to {stage}."
    if stage:
        return f"Stayed in {stage}."
    return "Status updated."


def reason_words(reason: str, labels: Mapping[str, str]) -> str:
    """A status change's reason: an outcome value in words (``lead_busy`` → ``Busy``), anything else as it
    is (it was written for people: "requeued by Ann")."""
    return labels.get(reason, reason)


def _window(window: Any) -> str:
    if isinstance(window, Mapping) and window.get("start") and window.get("end"):
        return f"{window['start']}-{window['end']}"
    return ""


def _local(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def _business_part(business: Mapping[str, Any]) -> str:
    if business.get("always_open"):
        return "the business takes calls at any time"
    local = _local(business.get("local"))
    window = _window(business.get("window"))
    if not business.get("open") or not window:
        return "outside business hours"
    day = f"{local:%a} " if local is not None else ""
    return f"inside business hours ({day}{window})"


def _lead_part(lead: Mapping[str, Any]) -> tuple[bool, str]:
    zones = [z for z in lead.get("zones") or () if isinstance(z, Mapping)]
    if not zones:
        return True, ""
    windows = {_window(z.get("window")) for z in zones} - {""}
    names = _unique(zone_name(str(z.get("tz", ""))) for z in zones)
    where = " / ".join(names[:LEAD_TIMES_SHOWN]) + (" / …" if len(names) > LEAD_TIMES_SHOWN else "")
    span = ", ".join(sorted(windows))
    inside = all(bool(z.get("allowed")) for z in zones)
    detail = " ".join(x for x in (span, where) if x)
    return inside, f"{'inside' if inside else 'outside'} the lead's quiet hours ({detail})"


def _unique(items: Iterable[str]) -> list[str]:
    out: list[str] = []
    for item in items:
        if item and item not in out:
            out.append(item)
    return out


def allowed_sentence(evidence: Mapping[str, Any]) -> str:
    """Why this call could happen when it did, from the evidence the calendar recorded:
    ``Allowed: inside business hours (Mon 09:00-17:00) and inside the lead's quiet hours (08:00-21:00
    Central).`` "" when there is no evidence (an attempt from before evidence was kept)."""
    checked = evidence.get("at_dial")  # the check made at the moment of dialling, when there was one
    if isinstance(checked, Mapping):
        evidence = {
            **checked,
            "by_hand": evidence.get("by_hand"),
            "preferred_at": evidence.get("preferred_at"),
        }
    business = evidence.get("business")
    lead = evidence.get("lead")
    if not isinstance(business, Mapping) or not isinstance(lead, Mapping):
        return ""
    lead_ok, lead_text = _lead_part(lead)
    business_text = _business_part(business)
    allowed = bool(evidence.get("allowed", business.get("open") and lead_ok))
    parts = " and ".join(p for p in (business_text, lead_text) if p)
    sentence = f"{'Allowed' if allowed else 'Not allowed'}: {parts}."
    by = evidence.get("by_hand")
    if by:
        sentence += f" Asked for by {by}."
    if evidence.get("preferred_at"):
        sentence += " At the time the lead chose."
    return sentence
