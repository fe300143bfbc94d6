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

from .domain.tags import StageNames, Status, TagChange, TagNames, route_status
from .store.models import Contact, ContactEvent, ContactTag, Note, WebhookDelivery


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
    event = ContactEvent(contact_id=contact_id, type=type_, data=data, created_at=now)
    session.add(event)
    if webhook_urls:
        await session.flush()
        for url in webhook_urls:
            session.add(WebhookDelivery(**_delivery_row(event.id, url, now)))
    return event


def _delivery_row(event_id: int, url: str, now: datetime) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "url": url,
        "status": "pending",
        "tries": 0,
        "next_try_at": now,
        "created_at": now,
        "updated_at": now,
    }


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
    ) -> TagChange:
        current = await self.current_tags(session, contact.id)
        change = route_status(current, new, tags=self.tags, stages=self.stages)
        if not change.changed and contact.pipeline_stage == change.stage:
            return change
        if change.remove:
            await session.execute(
                delete(ContactTag).where(
                    ContactTag.contact_id == contact.id, ContactTag.tag.in_(sorted(change.remove))
                )
            )
        for tag in sorted(change.add):
            session.add(ContactTag(contact_id=contact.id, tag=tag, added_at=now))
        previous_stage = contact.pipeline_stage
        contact.pipeline_stage = change.stage
        contact.updated_at = now
        text = status_note(change, reason)
        session.add(Note(contact_id=contact.id, request_id=request_id, kind="tag", text=text, created_at=now))
        await add_contact_event(
            session,
            contact.id,
            "tag.changed",
            status_event(contact.id, request_id, new, change, current, previous_stage, reason, now),
            now=now,
            webhook_urls=self.webhook_urls,
        )
        return change

    # -- a contact created in this transaction (intake's hot path) ---------------------------------

    def first_status(self, new: Status) -> TagChange:
        """The change for a contact with no tags and no stage yet; its stage goes into the contact's row."""
        return route_status((), new, tags=self.tags, stages=self.stages)

    def first_status_rows(
        self,
        contact_id: int,
        new: Status,
        change: TagChange,
        *,
        now: datetime,
        request_id: int | None,
        reason: str,
    ) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
        """What ``set_status`` writes for a new contact, as rows the caller inserts in one batch with its
        own: ``(contact_tags rows, the tag note, the tag.changed event)``. The event's webhook deliveries
        need its id: ``delivery_rows`` once it is inserted."""
        tags = [{"contact_id": contact_id, "tag": tag, "added_at": now} for tag in sorted(change.add)]
        note = {
            "contact_id": contact_id,
            "request_id": request_id,
            "kind": "tag",
            "text": status_note(change, reason),
            "created_at": now,
        }
        event = {
            "contact_id": contact_id,
            "type": "tag.changed",
            "data": status_event(contact_id, request_id, new, change, (), None, reason, now),
            "created_at": now,
        }
        return tags, note, event

    def delivery_rows(self, event_id: int, *, now: datetime) -> list[dict[str, Any]]:
        """One webhook delivery row per configured URL, for an event already inserted."""
        return [_delivery_row(event_id, url, now) for url in self.webhook_urls]
