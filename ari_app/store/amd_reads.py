"""The AMD report's facts from the store: each answered attempt's lead leg, what AMD said, the label."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.amd import Label, route_of, verdict_of
from ..domain.amd_accuracy import LabelledCall
from .models import Attempt, Leg


async def labelled_calls(
    session: AsyncSession, since: datetime, until: datetime, *, notsure: str
) -> list[LabelledCall]:
    """Attempts started in [since, until) whose lead answered, one per attempt (its first answered lead
    leg), with AMD's verdict as the call used it (``notsure``: ``calls.amd_notsure``)."""
    rows = await session.execute(
        select(Attempt.id, Attempt.lead_label, Leg.endpoint, Leg.amd_status, Leg.amd_seconds, Leg.drop_early)
        .join(Leg, Leg.attempt_id == Attempt.id)
        .where(
            Attempt.started_at >= since,
            Attempt.started_at < until,
            Leg.role == "lead",
            Leg.answered_at.is_not(None),
        )
        .order_by(Attempt.id, Leg.id)
    )
    seen: set[int] = set()
    calls: list[LabelledCall] = []
    for attempt_id, label, endpoint, status, seconds, drop_early in rows.all():
        if attempt_id in seen:
            continue
        seen.add(attempt_id)
        calls.append(
            LabelledCall(
                route=route_of(endpoint),
                label=Label(label) if label in set(Label) else None,
                verdict=verdict_of(status, notsure),
                decide_seconds=seconds,
                drop_early=drop_early,
            )
        )
    return calls
