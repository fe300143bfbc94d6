"""What every use case of the lifecycle shares: the settings read once into rules (calendar, quiet hours,
attempt policy, tag router), the clock, and the few writes they all make (a note, an event, an attempt)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ..clock import Clock
from ..domain.calendar import BusinessCalendar, QuietHours, Slot, next_allowed_slot
from ..domain.tags import StageNames, TagNames
from ..domain.workflow import AttemptPolicy, attempt_is_final
from ..settings import Settings
from ..store.models import Attempt, CallbackRequest, Note
from ..store.requests import next_attempt_number
from ..store.rows import Row, attempt_row, note_row
from .tag_router import TagRouter, add_contact_event


class Context:
    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.calendar = BusinessCalendar.from_settings(settings.calendar, settings.business.timezone)
        # SMS obey the lead's quiet hours only.
        self.sms_calendar = BusinessCalendar(
            tz=self.calendar.tz, weekdays=(), weekend=(), holidays=frozenset(), always_open=True
        )
        self.quiet = QuietHours.from_settings(settings.quiethours)
        self.policy = AttemptPolicy.from_settings(settings.calls, settings.sms)
        self.router = TagRouter(
            TagNames.from_settings(settings.tags),
            StageNames.from_settings(settings.stages),
            settings.webhooks.urls,
        )

    def note(
        self, session: AsyncSession, contact_id: int, request_id: int | None, kind: str, text: str
    ) -> None:
        session.add(Note(**note_row(contact_id, request_id, kind, text, self.clock.now())))

    async def event(self, session: AsyncSession, contact_id: int, type_: str, data: dict[str, Any]) -> None:
        await add_contact_event(session, contact_id, type_, data, now=self.clock.now())

    def slot_after(self, earliest: datetime, phone: str) -> Slot:
        """The first instant from ``earliest`` when the lead may be called (raises ``NoSlotError``)."""
        return next_allowed_slot(earliest, calendar=self.calendar, quiet=self.quiet, lead_e164=phone)

    async def schedule(
        self, session: AsyncSession, request: CallbackRequest, slot: Slot, *, kind: str
    ) -> Attempt:
        """The request's next attempt, due at ``slot``."""
        number = await next_attempt_number(session, request.id)
        attempt = Attempt(**self.next_attempt_row(request, slot, kind=kind, number=number))
        session.add(attempt)
        await session.flush()
        return attempt

    def next_attempt_row(self, request: CallbackRequest, slot: Slot, *, kind: str, number: int) -> Row:
        """The row of the request's next attempt (its ``number`` given), due at ``slot``."""
        return attempt_row(
            request.id,
            number=number,
            lead_attempt=request.lead_attempts_used + 1,
            final=attempt_is_final(request.lead_attempts_used, self.policy),
            kind=kind,
            due_at=slot.at,
            evidence=slot.evidence,
            now=self.clock.now(),
        )
