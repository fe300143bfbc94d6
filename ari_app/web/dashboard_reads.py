"""What the dashboard shows: the pipeline board, a contact's timeline, the report, and a change marker.

Pure reads over the store, returned as small dataclasses the templates render (and escape).
Times are shown in the business time zone, named, with the lead's own time beside them when it differs;
the sentences come from ``words.py``, the technical detail goes one click away.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.amd import parse_cause
from ..domain.outcomes import Outcome, counts_as_lead_attempt
from ..domain.phone import PhoneError, timezones_of
from ..domain.preferred_time import zone_name
from ..domain.return_calls import RETURN_CALL_KIND
from ..domain.statuses import (
    ANSWERED_LEG_STATES,
    LEASED_ATTEMPT_STATUSES,
    OPEN_REQUEST_STATUSES,
    AttemptStatus,
    LegStatus,
    RequestStatus,
)
from ..settings import Settings
from ..store.models import (
    Attempt,
    CallbackRequest,
    Contact,
    ContactEvent,
    Leg,
    Note,
    SmsOutbox,
)
from ..store.timeline import read_timeline
from .words import allowed_sentence, outcome_sentence, reason_words, stage_sentence, when_text

BOARD_CARDS = 300  # the most recently active contacts; older ones are on the API's list
REASON_SHOWN = 140
ANSWERED = frozenset({Outcome.COMPLETED.value, Outcome.SHORT_CALL.value})

OUTCOME_LABELS = {
    "completed": "Connected",
    "short_call": "Short call",
    "lead_no_answer": "No answer",
    "lead_busy": "Busy",
    "lead_rejected": "Rejected",
    "lead_machine": "Machine",
    "voicemail_left": "Voicemail left",
    "lead_invalid": "Invalid number",
    "lead_unreachable": "Unreachable",
    "admin_unavailable": "No admin free",
    "system_error": "System error",
    "dial_unknown": "Unknown (dial lost)",
    "superseded": "Gave way to the lead's call",
    # a return call (the lead called us): ``domain.return_calls.ReturnOutcome``
    "message_left": "Left a message",
    "no_message": "Called, no message",
}
# What a return call's outcome means, said to a person (the "completed" and "short_call" ones differ from an
# outbound call's: the lead called).
RETURN_CALL_SENTENCES = {
    "completed": "The lead called back and talked with the admin.",
    "short_call": "The lead called back; the call with the admin was too short to count.",
    "message_left": "The lead called back; no admin was free, and they left a message.",
    "no_message": "The lead called back; no admin was free, and they left no message.",
    "system_error": "The lead called back; the call failed on our side.",
}


def outcome_label(outcome: str | None) -> str:
    return OUTCOME_LABELS.get(outcome or "", outcome or "")


def mask_phone(e164: str) -> str:
    """``+12015550123`` → ``+1 201 ••• 0123``: enough to recognise a number, not to dial it."""
    digits = e164.lstrip("+")
    if len(digits) < 8:
        return "+" + "•" * len(digits)
    head, tail = digits[:-7], digits[-4:]
    cc, area = (head[:1], head[1:]) if head.startswith("1") else (head[:2], head[2:])
    return f"+{cc} {area} ••• {tail}".replace("  ", " ")


def lead_zones(e164: str) -> tuple[str, ...]:
    """The lead's time zones from the number (as the SMS texts use them); none for a number we can't place."""
    try:
        return timezones_of(e164)
    except PhoneError:
        return ()


def _chosen_zones(request: CallbackRequest, phone: str) -> tuple[str, ...]:
    """The zone the lead read their chosen time in (the form's), else the number's."""
    return (request.preferred_tz,) if request.preferred_tz else lead_zones(phone)


def seconds_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


# -- the board -------------------------------------------------------------------------------------


@dataclass
class Card:
    contact_id: int
    request_id: int
    name: str
    phone: str  # masked
    reason: str
    status: str
    next_attempt: str
    preferred: str  # the time the lead chose, or "" (as soon as possible)
    last_outcome: str
    live: str  # what is happening on the phone right now, or ""
    # The latest finished attempt whose lead answered: it may be labelled a person or a machine.
    label_attempt_id: int | None = None
    label: str = ""


@dataclass
class Column:
    key: str  # pending | incomplete | complete | cancelled | other
    title: str
    cards: list[Card] = field(default_factory=list)


def _live_state(attempt: Attempt | None, legs: list[Leg]) -> str:
    if attempt is None:
        return ""
    if attempt.status == AttemptStatus.CLAIMED:
        return "Starting the call"
    if attempt.kind == RETURN_CALL_KIND:
        bridged = any(leg.role == "lead" and leg.state == LegStatus.BRIDGED for leg in legs)
        return (
            f"Talking with {attempt.admin_name or 'the admin'} (the lead called)"
            if bridged
            else ("The lead is calling back")
        )
    lead = [leg for leg in legs if leg.role == "lead"]
    admin = [leg for leg in legs if leg.role == "admin"]
    if lead:
        state = lead[-1].state
        if state == LegStatus.BRIDGED:
            return "On the call"
        if state == LegStatus.UP:
            return "Lead answered"
        if state != LegStatus.ENDED:
            return "Ringing the lead"
    if admin and admin[-1].state in ANSWERED_LEG_STATES:
        return f"{attempt.admin_name or 'Admin'} answered"
    if admin and admin[-1].state != LegStatus.ENDED:
        return f"Ringing {attempt.admin_name or 'the admin'}"
    return "Calling"


async def answered_attempts(session: AsyncSession, attempt_ids: list[int]) -> set[int]:
    """Of these attempts, those whose lead answered (the ones a label applies to)."""
    if not attempt_ids:
        return set()
    rows = await session.scalars(
        select(Leg.attempt_id)
        .where(Leg.attempt_id.in_(attempt_ids), Leg.role == "lead", Leg.answered_at.is_not(None))
        .distinct()
    )
    return set(rows)


async def board(session: AsyncSession, settings: Settings) -> list[Column]:
    """One column per pipeline stage; a card per contact, for its latest request."""
    tz = ZoneInfo(settings.business.timezone)
    stages = settings.stages
    columns = {
        stages.pending: Column("pending", stages.pending),
        stages.incomplete: Column("incomplete", stages.incomplete),
        stages.complete: Column("complete", stages.complete),
        stages.cancelled: Column("cancelled", stages.cancelled),
    }
    latest = select(func.max(CallbackRequest.id).label("id")).group_by(CallbackRequest.contact_id).subquery()
    rows = (
        await session.execute(
            select(CallbackRequest, Contact)
            .join(latest, latest.c.id == CallbackRequest.id)
            .join(Contact, Contact.id == CallbackRequest.contact_id)
            .order_by(CallbackRequest.updated_at.desc(), CallbackRequest.id.desc())
            .limit(BOARD_CARDS)
        )
    ).all()
    request_ids = [r.id for r, _ in rows]
    attempts: dict[int, list[Attempt]] = {}
    legs: dict[int, list[Leg]] = {}
    if request_ids:
        for a in await session.scalars(
            select(Attempt).where(Attempt.request_id.in_(request_ids)).order_by(Attempt.number)
        ):
            attempts.setdefault(a.request_id, []).append(a)
        running = [a.id for al in attempts.values() for a in al if a.status == AttemptStatus.RUNNING]
        labellable = await answered_attempts(
            session, [a.id for al in attempts.values() for a in al if a.status == AttemptStatus.DONE]
        )
        if running:
            for leg in await session.scalars(
                select(Leg).where(Leg.attempt_id.in_(running)).order_by(Leg.try_no, Leg.id)
            ):
                legs.setdefault(leg.attempt_id, []).append(leg)
    for request, contact in rows:
        mine = attempts.get(request.id, [])
        upcoming = [a for a in mine if a.status == AttemptStatus.SCHEDULED]
        active = next((a for a in mine if a.status in LEASED_ATTEMPT_STATUSES), None)
        done = [a for a in mine if a.outcome]
        answered = [a for a in done if a.id in labellable]
        stage = contact.pipeline_stage or stages.pending
        column = columns.setdefault(stage, Column("other", stage))
        column.cards.append(
            Card(
                contact_id=contact.id,
                request_id=request.id,
                name=f"{contact.first_name} {contact.last_name}".strip(),
                phone=mask_phone(contact.phone),
                reason=request.reason[:REASON_SHOWN] + ("…" if len(request.reason) > REASON_SHOWN else ""),
                status=request.status,
                next_attempt=when_text(
                    min((a.due_at for a in upcoming), default=None), tz, lead_zones(contact.phone)
                ),
                preferred=when_text(request.preferred_at, tz, _chosen_zones(request, contact.phone)),
                last_outcome=outcome_label(done[-1].outcome) if done else "",
                live=_live_state(active, legs.get(active.id, []) if active else []),
                label_attempt_id=answered[-1].id if answered else None,
                label=answered[-1].lead_label or "" if answered else "",
            )
        )
    return list(columns.values())


# -- one contact -----------------------------------------------------------------------------------


@dataclass
class LegView:
    role: str
    endpoint: str
    channel_id: str
    state: str
    dial_status: str
    cause: str
    rang_for: str
    amd: str


@dataclass
class Item:
    at: datetime
    when: str
    kind: str  # note | tag | attempt | sms | consent | request
    title: str
    text: str = ""
    status: str = ""
    facts: list[tuple[str, str]] = field(default_factory=list)
    allowed: str = ""  # why the call could happen then, in a sentence
    # One click away (<details>): codes, causes, tags, the log line, the legs and the evidence's keys.
    technical: list[tuple[str, str]] = field(default_factory=list)
    legs: list[LegView] = field(default_factory=list)
    evidence: list[tuple[str, str]] = field(default_factory=list)
    # An attempt whose lead answered: its id for the person / machine label, and the label so far.
    label_attempt_id: int | None = None
    label: str = ""
    audio: str = ""  # a message the lead left: its URL behind the dashboard's login


@dataclass
class ContactView:
    id: int
    name: str
    first_name: str
    last_name: str
    phone: str
    zone: str  # the lead's time zone(s), named: "Central (America/Chicago)"
    stage: str
    tags: list[str]
    sms_opted_out: bool
    number_invalid: bool
    open_request_id: int | None
    requeue_request_id: int | None  # the latest request, when it ended without a call
    latest_status: str
    live: str
    items: list[Item]


# The system note that closes an attempt ("Attempt 2 (lead attempt 1): lead_busy - cause 17 …", written by
# the lifecycle): its words are the attempt's own item; the line itself is that item's technical detail.
_ATTEMPT_LOG = re.compile(r"Attempt (\d+) \(lead attempt \d+\): ")
_KIND_LABELS = {
    "lead": "Planned for",
    "admin_retry": "Retry planned for",
    "system_retry": "Retry planned for",
}
_STATUS_LABELS: dict[str, str] = {
    AttemptStatus.SCHEDULED: "Planned",
    AttemptStatus.CLAIMED: "Starting",
    AttemptStatus.RUNNING: "On the phone",
    AttemptStatus.DONE: "Done",
}


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Evidence as readable ``key: value`` lines (nested tables joined with dots)."""
    out: list[tuple[str, str]] = []
    if isinstance(value, dict):
        for key, inner in value.items():
            out.extend(_flatten(inner, f"{prefix}{key}."))
        return out
    if isinstance(value, list):
        if any(isinstance(v, dict | list) for v in value):
            for i, inner in enumerate(value):
                out.extend(_flatten(inner, f"{prefix}{i + 1}."))
            return out
        return [(prefix.rstrip("."), ", ".join(str(v) for v in value))]
    return [(prefix.rstrip("."), "" if value is None else str(value))]


_AMD_REASONS = {
    "HUMAN": "silence after a short greeting",
    "LONGGREETING": "a long greeting",
    "INITIALSILENCE": "silence at first",
    "MAXWORDS": "too many words",
    "MAXWORDLENGTH": "one word too long",
    "TOOLONG": "no decision in time",
}


def amd_facts(leg: Leg) -> list[tuple[str, str]]:
    """What AMD said on the lead's leg, in words: the verdict with its reason and numbers, how long it
    took, when the greeting was over, whether the drop started before the beep."""
    facts: list[tuple[str, str]] = []
    if leg.amd_status:
        said = {"MACHINE": "a machine", "HUMAN": "a person", "NOTSURE": "not sure"}.get(
            leg.amd_status, leg.amd_status
        )
        cause = parse_cause(leg.amd_cause)
        if cause is not None:
            why = _AMD_REASONS.get(cause.reason, cause.reason.lower())
            # Asterisk appends what it measured, then the limit it compared with (TOOLONG: the time only).
            unit = " words" if cause.reason == "MAXWORDS" else " ms"
            measured = [f"{n}{unit}" for n in cause.numbers]
            if len(measured) >= 2:
                why += f": {measured[0]}, limit {measured[1]}"
            elif measured:
                why += f": {measured[0]}"
            said += f" ({why})"
        if leg.amd_seconds is not None:
            said += f", in {leg.amd_seconds:.1f} s"
        facts.append(("AMD said", said))
    if leg.greeting_end_seconds is not None:
        facts.append(("Greeting and beep over", f"{leg.greeting_end_seconds:.1f} s after the answer"))
    if leg.drop_early is not None:
        facts.append(
            ("Voicemail drop", "started before the beep" if leg.drop_early else "started after the beep")
        )
    return facts


def label_text(a: Attempt) -> str:
    words = {"person": "A person", "machine": "A machine"}.get(a.lead_label or "", a.lead_label or "")
    return f"{words}, said by {a.lead_label_by or 'an admin'}"


def _leg_view(leg: Leg) -> LegView:
    rang = (leg.answered_at or leg.ended_at or leg.created_at) - leg.created_at
    cause = f"{leg.cause} {leg.cause_txt or ''}".strip() if leg.cause is not None else ""
    return LegView(
        role=leg.role,
        endpoint=leg.endpoint,
        channel_id=leg.channel_id,
        state=leg.state,
        dial_status=leg.dial_status or "",
        cause=cause,
        rang_for=seconds_text(rang.total_seconds()),
        amd=" ".join(x for x in (leg.amd_status, leg.amd_cause) if x),
    )


async def contact_view(session: AsyncSession, settings: Settings, contact_id: int) -> ContactView | None:
    # The status items are said from the tag.changed events (they have the stages apart), all of them.
    t = await read_timeline(session, contact_id, event_type="tag.changed")
    if t is None:
        return None
    contact = t.contact
    tz = ZoneInfo(settings.business.timezone)
    zones = lead_zones(contact.phone)
    items: list[Item] = []

    def when(at: datetime | None, *, lead: bool = False) -> str:
        return when_text(at, tz, zones if lead else ())

    def item(at: datetime, kind: str, title: str, *, lead: bool = False, **kw: Any) -> None:
        items.append(Item(at=at, when=when(at, lead=lead), kind=kind, title=title, **kw))

    requests = sorted(t.requests, key=lambda r: r.id)
    attempt_logs: dict[tuple[int | None, int], str] = {}
    for note in t.notes:
        if note.kind == "tag":
            continue  # said from the tag.changed event below, which has the stages apart
        ended = _ATTEMPT_LOG.match(note.text) if note.kind == "system" else None
        if ended:  # the attempt's own item says it in words; the log line is its technical detail
            attempt_logs[(note.request_id, int(ended.group(1)))] = note.text
            continue
        title = {"admin": "Note", "merge": "Merged request", "sms_reply": "SMS reply", "label": "Label"}.get(
            note.kind, "System"
        )
        item(note.created_at, "note", title, text=note.text)
    for event in t.events:
        data = event.data or {}
        technical = [("Tags added", ", ".join(data.get("added") or [])),
                     ("Tags removed", ", ".join(data.get("removed") or [])),
                     ("Reason", str(data.get("reason") or ""))]  # fmt: skip
        item(
            event.created_at,
            "tag",
            "Status",
            text=stage_sentence(data.get("previous_stage"), data.get("stage")),
            facts=[("Why", reason_words(str(data.get("reason") or ""), OUTCOME_LABELS))],
            technical=[f for f in technical if f[1]],
        )
    attempts = sorted(t.attempts, key=lambda a: a.id)
    legs = {attempt_id: sorted(mine, key=lambda leg: leg.id) for attempt_id, mine in t.legs.items()}
    live = ""
    request_status = {r.id: r.status for r in requests}
    for a in attempts:
        mine = legs.get(a.id, [])
        if a.status in LEASED_ATTEMPT_STATUSES:
            live = _live_state(a, mine)
        facts = [(_KIND_LABELS.get(a.kind, "Call"), when(a.due_at, lead=True))]
        if a.admin_name:
            facts.append(("Admin", a.admin_name))
        if a.started_at and a.ended_at:
            facts.append(("Duration", seconds_text((a.ended_at - a.started_at).total_seconds())))
        if a.talk_seconds is not None:
            facts.append(("Talk time", seconds_text(a.talk_seconds)))
        lead_leg = next((leg for leg in mine if leg.role == "lead" and leg.answered_at is not None), None)
        if lead_leg is not None:
            facts.extend(amd_facts(lead_leg))
        if a.lead_label:
            facts.append(("Label", label_text(a)))
        technical = [("Outcome", a.outcome or ""), ("Detail", a.outcome_detail or ""), ("Kind", a.kind),
                     ("Log", attempt_logs.get((a.request_id, a.number), ""))]  # fmt: skip
        title = f"Attempt {a.number}" + (" (final)" if a.final else "")
        status = outcome_label(a.outcome) if a.outcome else _STATUS_LABELS.get(a.status, a.status)
        text = outcome_sentence(a.outcome)
        audio = ""
        if a.kind == RETURN_CALL_KIND:
            title = "The lead called back"
            facts[0] = ("Called", when(a.started_at or a.due_at, lead=True))
            text = RETURN_CALL_SENTENCES.get(a.outcome or "", "The lead is calling back.")
            message = (a.evidence or {}).get("message") or {}
            if message.get("file") and not message.get("deleted"):
                audio = f"/admin/contacts/{contact.id}/messages/{a.id}"
                facts.append(("Message", seconds_text(float(message.get("seconds") or 0))))
        if a.outcome:
            later = [b for b in attempts if b.request_id == a.request_id and b.number > a.number]
            if later:
                text += f" Next call: {when(later[0].due_at, lead=True)}."
            elif request_status.get(a.request_id) not in OPEN_REQUEST_STATUSES:
                text += " No further call."
        item(
            a.started_at or a.due_at,
            "attempt",
            title,
            lead=True,
            text=text,
            status=status,
            facts=facts,
            allowed=allowed_sentence(a.evidence or {}),
            technical=[f for f in technical if f[1]],
            legs=[_leg_view(leg) for leg in mine],
            evidence=_flatten(a.evidence or {}),
            label_attempt_id=a.id if lead_leg is not None and a.status == AttemptStatus.DONE else None,
            label=a.lead_label or "",
            audio=audio,
        )
    for m in t.sms:
        facts = [("To", m.to_phone), ("Tries", str(m.tries))]
        if m.sent_at:
            facts.append(("Sent", when(m.sent_at, lead=True)))
        if m.delivered_at:
            facts.append(("Delivered", when(m.delivered_at, lead=True)))
        if m.error:
            facts.append(("Error", m.error))
        item(
            m.created_at,
            "sms",
            f"SMS ({m.kind.replace('_', ' ')})",
            text=m.body,
            status=m.status,
            facts=facts,
        )
    for c in t.consents:
        facts = [
            ("Source", c.source),
            ("IP", c.ip or ""),
            ("Page", c.page_url or ""),
            ("Browser", c.user_agent or ""),
        ]
        item(c.given_at, "consent", "Consent given", text=c.text, facts=[f for f in facts if f[1]])
    for r in requests:
        facts = [("Status", r.status), ("Source", r.source)]
        if r.preferred_at is not None:
            facts.append(("Lead asked for", when_text(r.preferred_at, tz, _chosen_zones(r, contact.phone))))
        if r.close_reason:
            facts.append(("Closed", r.close_reason))
        item(r.created_at, "request", f"Callback request #{r.id}", text=r.reason, facts=facts)
    items.sort(key=lambda i: (i.at, i.kind), reverse=True)

    latest = requests[-1] if requests else None
    open_id = next((r.id for r in requests if r.status in OPEN_REQUEST_STATUSES), None)
    return ContactView(
        id=contact.id,
        name=f"{contact.first_name} {contact.last_name}".strip(),
        first_name=contact.first_name,
        last_name=contact.last_name,
        phone=contact.phone,
        zone=", ".join(f"{zone_name(z)} ({z})" for z in zones[:3]) + (", …" if len(zones) > 3 else ""),
        stage=contact.pipeline_stage or "",
        tags=sorted(t.tags),
        sms_opted_out=contact.sms_opted_out,
        number_invalid=contact.number_invalid,
        open_request_id=open_id,
        requeue_request_id=latest.id
        if latest is not None and latest.status == RequestStatus.INCOMPLETE
        else None,
        latest_status=latest.status if latest is not None else "",
        live=live,
        items=items,
    )


# -- the report ------------------------------------------------------------------------------------


@dataclass
class Bar:
    label: str
    value: int
    x: float = 0.0
    y: float = 0.0
    width: float = 0.0
    height: float = 0.0


@dataclass
class Report:
    days: int
    requests: int
    per_day: list[Bar]
    per_day_max: int
    answer_rate: float | None  # of the lead's attempts, the share a person answered
    lead_attempts: int
    median_to_connected: str
    connected: int
    outcomes: list[Bar]


CHART_W, CHART_H = 960.0, 200.0


def _layout_days(bars: list[Bar]) -> int:
    top = max((b.value for b in bars), default=0) or 1
    slot = CHART_W / max(len(bars), 1)
    for i, b in enumerate(bars):
        b.height = round(b.value / top * (CHART_H - 20), 1)
        b.width = round(slot * 0.7, 1)
        b.x = round(i * slot + slot * 0.15, 1)
        b.y = round(CHART_H - b.height, 1)
    return top


def _layout_outcomes(bars: list[Bar]) -> None:
    top = max((b.value for b in bars), default=0) or 1
    for i, b in enumerate(bars):
        b.y = i * 30.0
        b.height = 20.0
        b.width = round(b.value / top * (CHART_W - 260.0), 1)


async def report(session: AsyncSession, settings: Settings, now: datetime, days: int = 14) -> Report:
    """The last ``days`` business days (calendar days in the business time zone), today included."""
    tz = ZoneInfo(settings.business.timezone)
    today = now.astimezone(tz).date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, datetime.min.time(), tzinfo=tz)
    requests = list(await session.scalars(select(CallbackRequest).where(CallbackRequest.created_at >= since)))
    per_day = Counter(r.created_at.astimezone(tz).date() for r in requests)
    bars = [
        Bar(label=f"{d:%a} {d.day}", value=per_day.get(d, 0))
        for d in (first + timedelta(days=i) for i in range(days))
    ]
    top = _layout_days(bars)

    attempts = list(
        await session.scalars(
            select(Attempt).where(Attempt.created_at >= since, Attempt.outcome.is_not(None))
        )
    )
    outcomes = Counter(a.outcome for a in attempts if a.outcome)
    lead_attempts = [
        a
        for a in attempts
        if a.outcome in {o.value for o in Outcome} and counts_as_lead_attempt(Outcome(a.outcome))
    ]
    answered = sum(1 for a in lead_attempts if a.outcome in ANSWERED)

    created = {r.id: r.created_at for r in requests}
    completed_ids = [
        a.id for a in attempts if a.outcome == Outcome.COMPLETED.value and a.request_id in created
    ]
    waits: dict[int, float] = {}
    if completed_ids:
        rows = await session.execute(
            select(Attempt.request_id, Leg.bridged_at)
            .join(Leg, Leg.attempt_id == Attempt.id)
            .where(Attempt.id.in_(completed_ids), Leg.role == "lead", Leg.bridged_at.is_not(None))
        )
        for request_id, bridged in rows:  # the first connected call of each request counts
            if bridged is not None:
                wait = (bridged - created[request_id]).total_seconds()
                waits[request_id] = min(wait, waits.get(request_id, wait))
    outcome_bars = [Bar(label=outcome_label(o), value=n) for o, n in outcomes.most_common()]
    _layout_outcomes(outcome_bars)
    return Report(
        days=days,
        requests=len(requests),
        per_day=bars,
        per_day_max=top,
        answer_rate=answered / len(lead_attempts) if lead_attempts else None,
        lead_attempts=len(lead_attempts),
        median_to_connected=seconds_text(statistics.median(waits.values())) if waits else "",
        connected=len(waits),
        outcomes=outcome_bars,
    )


# -- what changed ----------------------------------------------------------------------------------


async def change_marker(session: AsyncSession) -> tuple[Any, ...]:
    """A value that changes whenever something the dashboard shows changes (events, notes, calls, SMS).

    Every write the app makes bumps one of these: a new row (ids) or an ``updated_at`` from the clock."""
    row = (
        await session.execute(
            select(
                select(func.max(ContactEvent.id)).scalar_subquery(),
                select(func.max(Note.id)).scalar_subquery(),
                select(func.max(Leg.id)).scalar_subquery(),
                select(func.max(Leg.updated_at)).scalar_subquery(),
                select(func.max(Attempt.updated_at)).scalar_subquery(),
                select(func.max(SmsOutbox.updated_at)).scalar_subquery(),
            )
        )
    ).one()
    return tuple(str(v) for v in row)
