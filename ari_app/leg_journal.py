"""The orchestrator's journal on the store: each leg's intent and facts, each in its own short transaction.

Committed before the request it announces, so a restarted worker reads what was in flight instead of guessing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .ari.events import Event
from .clock import Clock
from .store.errors import retry_while_unavailable
from .store.models import Leg, LegEvent

# How long a live call waits (wall time) for the database to come back before a fact about it is given up.
_FACT_RETRY_SECONDS = 15.0


class StoreJournal:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self.sessions = sessions
        self.clock = clock
        self._leg_ids: dict[str, int] = {}

    async def leg_intent(
        self, attempt_id: int, role: str, try_no: int, channel_id: str, endpoint: str
    ) -> None:
        now = self.clock.now()
        async with self.sessions.begin() as session:
            leg = Leg(
                attempt_id=attempt_id,
                role=role,
                try_no=try_no,
                channel_id=channel_id,
                endpoint=endpoint,
                state="intent",
                created_at=now,
                updated_at=now,
            )
            session.add(leg)
            await session.flush()
            self._leg_ids[channel_id] = leg.id

    async def leg_update(self, channel_id: str, **fields: Any) -> None:
        fields["updated_at"] = self.clock.now()

        async def write() -> None:  # setting the same values twice is harmless
            async with self.sessions.begin() as session:
                await session.execute(update(Leg).where(Leg.channel_id == channel_id).values(**fields))

        # A database restart must not abandon a live call: its facts wait for the database to be back.
        await retry_while_unavailable(write, what=f"leg {channel_id}", within=_FACT_RETRY_SECONDS)

    async def leg_event(self, channel_id: str, event: Event) -> None:
        # At worst an event is recorded twice (the answer to a commit was lost): it is an audit trail.
        await retry_while_unavailable(
            lambda: self._add_event(channel_id, event),
            what=f"event of {channel_id}",
            within=_FACT_RETRY_SECONDS,
        )

    async def _add_event(self, channel_id: str, event: Event) -> None:
        async with self.sessions.begin() as session:
            leg_id = self._leg_ids.get(channel_id)
            if leg_id is None:
                leg_id = await session.scalar(select(Leg.id).where(Leg.channel_id == channel_id))
                if leg_id is None:
                    return
                self._leg_ids[channel_id] = leg_id
            session.add(
                LegEvent(leg_id=leg_id, type=event.type, data=event.raw, received_at=self.clock.now())
            )

    def forget(self, channel_ids: list[str]) -> None:
        for channel_id in channel_ids:
            self._leg_ids.pop(channel_id, None)
