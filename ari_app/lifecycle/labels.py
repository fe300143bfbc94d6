"""An admin says what answered an attempt: a person or a machine (the AMD report's ground truth).

Given after the call from the dashboard or the API, or during it by pressing the drop key (a machine,
labelled by that admin). One label per attempt: a later one replaces the earlier, and each is a note and an
``attempt.labelled`` event on the contact's timeline, with the label it replaced.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.amd import Label
from ..domain.statuses import AttemptStatus
from ..errors import Conflict, NotFound, ValidationFailed
from ..store.models import Attempt, CallbackRequest, Leg
from .context import Context

LABEL_WORDS = {Label.PERSON: "a person", Label.MACHINE: "a machine"}


def parse_label(raw: object) -> Label:
    if isinstance(raw, str) and raw in set(Label):
        return Label(raw)
    raise ValidationFailed(
        "label must be person or machine",
        fields={"label": {"code": "enum", "message": "one of person, machine"}},
    )


class Labels:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def label(self, session: AsyncSession, attempt_id: int, label: Label, *, by: str) -> Attempt:
        """Label a finished attempt whose lead answered."""
        attempt = await session.get(Attempt, attempt_id)
        if attempt is None:
            raise NotFound("no such attempt", id=attempt_id)
        if attempt.status != AttemptStatus.DONE:
            raise Conflict("the attempt has not ended yet; label it after the call", id=attempt_id)
        answered = await session.scalar(
            select(Leg.id)
            .where(Leg.attempt_id == attempt_id, Leg.role == "lead", Leg.answered_at.is_not(None))
            .limit(1)
        )
        if answered is None:
            raise Conflict("nobody answered the lead's side of this attempt: nothing to label", id=attempt_id)
        await self.record(session, attempt, label, by=by)
        return attempt

    async def record(self, session: AsyncSession, attempt: Attempt, label: Label, *, by: str) -> None:
        """Write the label on ``attempt`` (replacing any earlier one) with a note and an event."""
        now = self.ctx.clock.now()
        request = await session.get(CallbackRequest, attempt.request_id)
        assert request is not None
        previous = attempt.lead_label
        attempt.lead_label, attempt.lead_label_by, attempt.lead_label_at = label.value, by[:200], now
        attempt.updated_at = now
        text = f"Attempt {attempt.number}: {by} says {LABEL_WORDS[label]} answered"
        if previous and previous != label.value:
            text += f" (was labelled {previous})"
        self.ctx.note(session, request.contact_id, request.id, "label", text + ".")
        await self.ctx.event(
            session,
            request.contact_id,
            "attempt.labelled",
            {
                "request_id": request.id,
                "attempt_id": attempt.id,
                "label": label.value,
                "previous": previous,
                "by": by,
            },
        )
