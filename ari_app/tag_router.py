"""The tag router: the only code that changes status tags and the pipeline stage.

Within the caller's transaction it makes exactly one status tag present (or none when the request leaves the
module), derives the stage, writes a note and an integration event, and queues one webhook delivery per URL.
"""

from __future__ import annotations

from collections.abc import Sequence
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
            session.add(
                WebhookDelivery(
                    event_id=event.id,
                    url=url,
                    status="pending",
                    tries=0,
                    next_try_at=now,
                    created_at=now,
                    updated_at=now,
                )
            )
    return event


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
        parts = [f"+{t}" for t in sorted(change.add)] + [f"-{t}" for t in sorted(change.remove)]
        text = f"Status: {', '.join(parts) or 'unchanged'}; stage: {change.stage} ({reason})"
        session.add(Note(contact_id=contact.id, request_id=request_id, kind="tag", text=text, created_at=now))
        await add_contact_event(
            session,
            contact.id,
            "tag.changed",
            {
                "contact_id": contact.id,
                "request_id": request_id,
                "status": None if new is None else new.value,
                "added": sorted(change.add),
                "removed": sorted(change.remove),
                "tags": sorted(change.apply(current)),
                "stage": change.stage,
                "previous_stage": previous_stage,
                "reason": reason,
                "at": now.isoformat(),
            },
            now=now,
            webhook_urls=self.webhook_urls,
        )
        return change
