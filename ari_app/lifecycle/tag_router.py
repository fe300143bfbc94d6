"""The tag router: the only code that changes status tags and the pipeline stage.

Within the caller's transaction it makes exactly one status tag present (or none when the request leaves the
module), derives the stage, writes a note and an integration event, and queues one webhook delivery per URL.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.tags import StageNames, Status, TagChange, TagNames, route_status
from ..store.models import Contact, ContactEvent, ContactTag, Note, WebhookDelivery
from ..store.rows import Row, delivery_row, event_row, note_row, tag_rows


async def add_contact_event(
    session: AsyncSession,
    contact_id: int,
    type_: str,
    data: dict[str, Any],
    *,
    now: datetime,
    webhook_urls: Sequence[str] = (),
) -> ContactEvent:
    """Append to the contact's event log; events sent to other systems get one delivery row per URL."""
    return await _add_event(session, event_row(contact_id, type_, data, now), webhook_urls, now)


async def _add_event(
    session: AsyncSession, row: dict[str, Any], webhook_urls: Sequence[str], now: datetime
) -> ContactEvent:
    event = ContactEvent(**row)
    session.add(event)
    if webhook_urls:
        await session.flush()
        session.add_all([WebhookDelivery(**delivery_row(event.id, url, now)) for url in webhook_urls])
    return event


def status_note(change: TagChange, reason: str) -> str:
    parts = [f"+{t}" for t in sorted(change.add)] + [f"-{t}" for t in sorted(change.remove)]
    return f"Status: {', '.join(parts) or 'unchanged'}; stage: {change.stage} ({reason})"


def status_event(
    contact_id: int,
    request_id: int | None,
    new: Status | None,
    change: TagChange,
    current: Collection[str],
    previous_stage: str | None,
    reason: str,
    now: datetime,
) -> dict[str, Any]:
    """The ``tag.changed`` event's data (what webhooks receive)."""
    return {
        "contact_id": contact_id,
        "request_id": request_id,
        "status": None if new is None else new.value,
        "added": sorted(change.add),
        "removed": sorted(change.remove),
        "tags": sorted(change.apply(current)),
        "stage": change.stage,
        "previous_stage": previous_stage,
        "reason": reason,
        "at": now.isoformat(),
    }


class TagRouter:
    def __init__(self, tags: TagNames, stages: StageNames, webhook_urls: Sequence[str] = ()) -> None:
        self.tags = tags
        self.stages = stages
        self.webhook_urls = tuple(webhook_urls)

    async def current_tags(self, session: AsyncSession, contact_id: int) -> list[str]:
        rows = await session.scalars(select(ContactTag.tag).where(ContactTag.contact_id == contact_id))
        return list(rows)

    async def set_status(
        self,
        session: AsyncSession,
        contact: Contact,
        new: Status | None,
        *,
        now: datetime,
        request_id: int | None,
        reason: str,
        by_lead: bool = False,
    ) -> TagChange:
        current = await self.current_tags(session, contact.id)
        change, rows = self.route(
            contact.id,
            current,
            contact.pipeline_stage,
            new,
            now=now,
            request_id=request_id,
            reason=reason,
            by_lead=by_lead,
        )
        if rows is None:
            return change
        if change.remove:
            await session.execute(
                delete(ContactTag).where(
                    ContactTag.contact_id == contact.id, ContactTag.tag.in_(sorted(change.remove))
                )
            )
        tags, note, event = rows
        session.add_all([ContactTag(**row) for row in tags])
        contact.pipeline_stage = change.stage
        contact.updated_at = now
        session.add(Note(**note))
        await _add_event(session, event, self.webhook_urls, now)
        return change

    def route(
        self,
        contact_id: int,
        current: Collection[str],
        stage: str | None,
        new: Status | None,
        *,
        now: datetime,
        request_id: int | None,
        reason: str,
        by_lead: bool = False,
    ) -> tuple[TagChange, tuple[list[Row], Row, Row] | None]:
        """The change from the contact's ``current`` tags and ``stage``, and its rows (``status_rows``), or
        None when neither the tags nor the stage change. The caller removes ``change.remove``, writes the
        rows and the stage: ``set_status`` through the ORM, an attempt's end as Core batches
        (``Attempts.finish``)."""
        change = route_status(current, new, tags=self.tags, stages=self.stages, by_lead=by_lead)
        if not change.changed and stage == change.stage:
            return change, None
        rows = self.status_rows(
            contact_id, new, change, current, stage, now=now, request_id=request_id, reason=reason
        )
        return change, rows

    def status_rows(
        self,
        contact_id: int,
        new: Status | None,
        change: TagChange,
        current: Collection[str],
        previous_stage: str | None,
        *,
        now: datetime,
        request_id: int | None,
        reason: str,
    ) -> tuple[list[Row], Row, Row]:
        """What a status change adds: ``(contact_tags rows, the tag note, the tag.changed event)``.
        ``set_status`` writes them through the ORM; intake's hot path inserts them for a new contact (no tags,
        no stage) in one batch with its own rows. The event's webhook deliveries need its id:
        ``delivery_rows`` once it is inserted."""
        data = status_event(contact_id, request_id, new, change, current, previous_stage, reason, now)
        return (
            tag_rows(contact_id, change.add, now),
            note_row(contact_id, request_id, "tag", status_note(change, reason), now),
            event_row(contact_id, "tag.changed", data, now),
        )

    async def publish(
        self, session: AsyncSession, contact_id: int, type_: str, data: dict[str, Any], *, now: datetime
    ) -> ContactEvent:
        """An event other systems learn of (one webhook delivery per URL) that changes no tag: a call the
        lead moved by SMS, say. Tag and stage changes go through ``set_status``."""
        return await add_contact_event(
            session, contact_id, type_, data, now=now, webhook_urls=self.webhook_urls
        )

    # -- a contact created in this transaction (intake's hot path) ---------------------------------

    def first_status(self, new: Status) -> TagChange:
        """The change for a contact with no tags and no stage yet; its stage goes into the contact's row."""
        return route_status((), new, tags=self.tags, stages=self.stages)

    def delivery_rows(self, event_id: int, *, now: datetime) -> list[dict[str, Any]]:
        """One webhook delivery row per configured URL, for an event already inserted."""
        return [delivery_row(event_id, url, now) for url in self.webhook_urls]
