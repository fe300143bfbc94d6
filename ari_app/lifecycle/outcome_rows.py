"""The rows an attempt's end adds, collected while the outcome is applied and written at the end as one
statement per table (``store/outcome.py``), the way intake's fast path writes a new number's rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from ..domain.statuses import SmsStatus
from ..store import outcome as store
from ..store.queued import Topic, mark
from ..store.rows import Row, event_row
from .outreach import queued_event
from .tag_router import TagRouter


@dataclass
class OutcomeRows:
    contact_id: int
    now: datetime
    notes: list[Row] = field(default_factory=list)
    events: list[Row] = field(default_factory=list)
    tags_removed: frozenset[str] = frozenset()
    tags_added: list[Row] = field(default_factory=list)
    hooked: str | None = None  # the type of the one event that has webhook deliveries
    attempt: Row | None = None  # the request's next attempt
    sms: Row | None = None  # its ``sms.queued`` event follows the other events, with the message's id

    def write(self, session: Session, router: TagRouter) -> None:
        """Synchronous, on the session's connection (``AsyncSession.run_sync``). The ORM's changes to the
        attempt, its request and contact are flushed first (one UPDATE each), then the new rows."""
        session.flush()
        conn = session.connection()
        store.replace_tags(conn, self.contact_id, self.tags_removed, self.tags_added)
        # Core inserts: the session's commit hook can't see these rows, so say what they queued.
        if self.attempt is not None:
            store.insert_attempt(conn, self.attempt)
            mark(session, Topic.ATTEMPTS, self.attempt["due_at"])
        events = list(self.events)
        if self.sms is not None:
            sms_id = store.insert_sms(conn, self.sms)
            if self.sms["status"] == SmsStatus.QUEUED:
                mark(session, Topic.SMS, self.sms["next_try_at"])
            data = queued_event(sms_id, self.sms["kind"], self.sms["status"])
            events.append(event_row(self.contact_id, "sms.queued", data, self.now))
        store.insert_notes(conn, self.notes)
        event_id = store.insert_events(conn, events, id_of=self.hooked)
        if event_id is not None:
            store.insert_deliveries(conn, router.delivery_rows(event_id, now=self.now))
            mark(session, Topic.WEBHOOKS, self.now)
