"""What a transaction queued for a background loop, told to the process once it commits.

An attempt, an SMS of the outbox or a webhook delivery added (or put back in the queue) through one of our
sessions is seen when it is flushed; Core inserts say so with ``mark``. When the transaction commits,
``on_commit`` (given to ``make_sessionmaker``) gets each topic with the earliest due time among its rows, so
the process wakes its worker and senders at once, or sets one timer for a row that is due later. On
PostgreSQL ``notify`` names the topics to announce to other processes: the NOTIFY is sent inside the same
transaction (PostgreSQL delivers it at commit), so it costs no transaction of its own.

The attempts' NOTIFY names them when it can: ``<due iso>;<id>,<id>,…`` (``attempts_payload``), so each worker
knows which attempts a later ``callback_claimed`` (sent by the claim that took them) settles, and only one
worker claims them (``scheduler/announced.py``). When an attempt was queued without its id, the attempts
differ in due time, or there are too many to name, the payload is the due time alone: every worker claims.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import event, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, UOWTransaction

from ..domain.statuses import LEASED_ATTEMPT_STATUSES, AttemptStatus, SmsStatus, WebhookStatus
from .models import Attempt, SmsOutbox, WebhookDelivery


class Topic(StrEnum):
    ATTEMPTS = "attempts"
    SMS = "sms"
    WEBHOOKS = "webhooks"


Queued = dict[Topic, datetime]  # topic -> the earliest due time among the rows queued for it
OnCommit = Callable[[Queued], None]

_QUEUED = "callback.queued"
_ON_COMMIT = "callback.on_commit"
_NOTIFY = "callback.notify"
_NAMED = "callback.named"  # attempt id -> its due time, for the attempts queued with their id
_UNNAMED = "callback.unnamed"  # some attempt was queued without its id: announce the due time alone

# At most this many attempt ids in one NOTIFY (its payload must stay under 8,000 bytes); more are announced
# by their due time alone, and every worker claims as it would without names.
MAX_NAMED = 100
CLAIMED_CHANNEL = "callback_claimed"  # payload: the claimer and the ids it took, "<worker>;<id>,<id>,…"
# Workers' hellos ("+<worker>", on start and every safety_poll seconds) and goodbyes ("-<worker>").
WORKERS_CHANNEL = "callback_workers"


def channel(topic: Topic) -> str:
    """The PostgreSQL NOTIFY channel of a topic."""
    return f"callback_{topic.value}"


class QueueingSession(Session):
    """The sessions of a process's sessionmaker: they collect what was queued and report it at commit."""


def session_info(on_commit: OnCommit | None, notify: Collection[Topic]) -> dict[str, Any]:
    """``info`` for ``async_sessionmaker``: every session it makes reports to ``on_commit``."""
    return {_ON_COMMIT: on_commit, _NOTIFY: frozenset(notify)}


def mark(
    session: Session | AsyncSession, topic: Topic, due: datetime, ids: Iterable[int] | None = None
) -> None:
    """Rows written without the ORM (Core inserts) that are due at ``due``; for attempts, ``ids`` names
    them (None: not known, the NOTIFY then gives the due time alone)."""
    queued: Queued = session.info.setdefault(_QUEUED, {})
    if topic not in queued or due < queued[topic]:
        queued[topic] = due
    if topic is Topic.ATTEMPTS:
        if ids is None:
            session.info[_UNNAMED] = True
        else:
            named: dict[int, datetime] = session.info.setdefault(_NAMED, {})
            named.update(dict.fromkeys(ids, due))


def announces(session: Session | AsyncSession, topic: Topic) -> bool:
    """Whether this session's transactions NOTIFY other processes of ``topic`` (PostgreSQL)."""
    return topic in session.info.get(_NOTIFY, frozenset())


def attempts_payload(due: datetime, ids: Collection[int]) -> str:
    """The NOTIFY payload for attempts made due at ``due``: the due time, then the ids when they are few."""
    if not ids or len(ids) > MAX_NAMED:
        return due.isoformat()
    return f"{due.isoformat()};{','.join(str(i) for i in sorted(ids))}"


def read_attempts_payload(payload: str) -> tuple[datetime | None, list[int]]:
    """The due time and ids of an attempts NOTIFY; (None, []) for a bare or unreadable one (look now)."""
    when, _, names = payload.partition(";")
    try:
        due = datetime.fromisoformat(when)
    except ValueError:
        return None, []
    return (due, read_ids(names)) if due.tzinfo is not None else (None, [])


def read_claimed_payload(payload: str) -> tuple[str | None, list[int]]:
    """The claimer and the ids of a ``callback_claimed`` NOTIFY (no claimer: an older sender's bare ids)."""
    worker, _, ids = payload.rpartition(";")
    return worker or None, read_ids(ids)


def read_ids(payload: str) -> list[int]:
    """Attempt ids as a NOTIFY gives them, "<id>,<id>,…" (none if unreadable)."""
    try:
        return [int(i) for i in payload.split(",") if i]
    except ValueError:
        return []


_EARLIEST = select(
    select(func.min(Attempt.due_at)).where(Attempt.status == AttemptStatus.SCHEDULED).scalar_subquery(),
    select(func.min(Attempt.lease_until))
    .where(Attempt.status.in_(LEASED_ATTEMPT_STATUSES))
    .scalar_subquery(),
    select(func.min(SmsOutbox.next_try_at)).where(SmsOutbox.status == SmsStatus.QUEUED).scalar_subquery(),
    select(func.min(WebhookDelivery.next_try_at))
    .where(WebhookDelivery.status == WebhookStatus.PENDING)
    .scalar_subquery(),
)


async def earliest_due(sessions: async_sessionmaker[AsyncSession]) -> Queued:
    """What waits in the store, in one read: per topic, the earliest due row (for attempts, also the earliest
    lease that may run out); topics with nothing waiting are left out."""
    async with sessions() as session:
        attempt, lease, sms, webhook = (await session.execute(_EARLIEST)).one()
    found: Queued = {}
    attempts = [t for t in (attempt, lease) if t is not None]
    if attempts:
        found[Topic.ATTEMPTS] = min(attempts)
    if sms is not None:
        found[Topic.SMS] = sms
    if webhook is not None:
        found[Topic.WEBHOOKS] = webhook
    return found


def _due(obj: object) -> tuple[Topic, datetime | None] | None:
    if isinstance(obj, Attempt):
        return (Topic.ATTEMPTS, obj.due_at) if obj.status == AttemptStatus.SCHEDULED else None
    if isinstance(obj, SmsOutbox):
        return (Topic.SMS, obj.next_try_at) if obj.status == SmsStatus.QUEUED else None
    if isinstance(obj, WebhookDelivery):
        return (Topic.WEBHOOKS, obj.next_try_at) if obj.status == WebhookStatus.PENDING else None
    return None


@event.listens_for(QueueingSession, "after_flush")
def _seen(session: Session, _flush: UOWTransaction) -> None:
    # Still the flush's "before" view here: new rows, and rows changed back to waiting (a requeue).
    for obj in (*session.new, *session.dirty):
        seen = _due(obj)
        if seen is not None and seen[1] is not None:
            # After the INSERT: a new attempt has its id here.
            ids = (obj.id,) if isinstance(obj, Attempt) and obj.id is not None else None
            mark(session, seen[0], seen[1], ids)


@event.listens_for(QueueingSession, "before_commit")
def _announce(session: Session) -> None:
    notify: frozenset[Topic] = session.info.get(_NOTIFY, frozenset())
    if not notify:
        return
    session.flush()  # rows added since the last flush are seen by _seen first
    queued: Queued = session.info.get(_QUEUED, {})
    for topic, due in queued.items():
        if topic in notify:
            payload = due.isoformat()
            if topic is Topic.ATTEMPTS:
                payload = attempts_payload(due, _named_at(session, due))
            session.execute(
                text("SELECT pg_notify(:channel, :payload)"), {"channel": channel(topic), "payload": payload}
            )


def _named_at(session: Session, due: datetime) -> list[int]:
    """The attempts to name in the NOTIFY: all of them, when every one is known by id and due at ``due``
    (the payload has one due time); otherwise none."""
    named: dict[int, datetime] = session.info.get(_NAMED, {})
    if session.info.get(_UNNAMED) or any(at != due for at in named.values()):
        return []
    return list(named)


@event.listens_for(QueueingSession, "after_commit")
def _committed(session: Session) -> None:
    queued: Queued | None = session.info.pop(_QUEUED, None)
    session.info.pop(_NAMED, None)
    session.info.pop(_UNNAMED, None)
    on_commit: OnCommit | None = session.info.get(_ON_COMMIT)
    if queued and on_commit is not None:
        on_commit(queued)


@event.listens_for(QueueingSession, "after_rollback")
def _rolled_back(session: Session) -> None:
    for key in (_QUEUED, _NAMED, _UNNAMED):
        session.info.pop(key, None)
