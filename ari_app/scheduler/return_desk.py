"""The store's side of a call to the business number (``calls.inbound.InboundDesk``): who is calling, the
return call's attempt, its admin, its message, its end; each step one transaction through the lifecycle."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..clock import Clock
from ..domain.return_calls import ReturnCallEnd, ReturnDecision, decide_inbound
from ..lifecycle import Lifecycle
from ..settings import Settings
from ..store.errors import retry_while_unavailable
from ..store.recordings import delete_expired, message_record, write_message
from .admission import trunk_load

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recognised:
    decision: ReturnDecision
    first_name: str = ""
    last_name: str = ""
    reason: str = ""
    last_admin: str | None = None


class ReturnDesk:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        lifecycle: Lifecycle,
        settings: Settings,
        clock: Clock,
        app: str,
    ) -> None:
        self.sessions = sessions
        self.lifecycle = lifecycle
        self.settings = settings
        self.clock = clock
        self.app = app
        self.recordings_dir = Path(settings.returns.recordings_dir)

    async def start(self) -> None:
        """Return calls a previous life of this worker left running are ended; old messages deleted."""
        async with self.sessions.begin() as session:
            left = await self.lifecycle.return_calls.end_abandoned(session, self.app)
            gone = await delete_expired(session, self.recordings_dir, self.clock.now())
        if left or gone:
            log.info("return calls: %d left running were ended, %d old messages deleted", len(left), gone)

    async def recognise(self, phone: str | None) -> Recognised:
        returns = self.settings.returns
        now = self.clock.now()
        caller = None
        if phone is not None:
            async with self.sessions() as session:
                caller = await self.lifecycle.return_calls.find_caller(session, phone)
        decision = decide_inbound(
            caller.request if caller else None,
            now=now,
            recent_days=returns.recent_days,
            unknown=returns.unknown,
        )
        if caller is None:
            return Recognised(decision)
        return Recognised(decision, caller.first_name, caller.last_name, caller.reason, caller.last_admin)

    async def begin(self, request_id: int, caller: str) -> int:
        async with self.sessions.begin() as session:
            return await self.lifecycle.return_calls.begin(session, request_id, app=self.app, caller=caller)

    async def take_admin(self, attempt_id: int, admin: str) -> bool:
        try:
            async with self.sessions.begin() as session:
                return await self.lifecycle.return_calls.take_admin(session, attempt_id, admin)
        except IntegrityError:
            return False  # an outbound start took them at this very instant (the one-call-per-admin index)

    async def release_admin(self, attempt_id: int) -> None:
        async with self.sessions.begin() as session:
            await self.lifecycle.return_calls.release_admin(session, attempt_id)

    async def outbound_running(self, request_id: int) -> list[int]:
        async with self.sessions() as session:
            return await self.lifecycle.return_calls.outbound_running(session, request_id)

    async def busy_admins(self) -> frozenset[str]:
        """Admins on a running call, every worker's."""
        return (await trunk_load(self.sessions)).busy

    async def wait_finished(self, attempt_ids: list[int], within: float) -> None:
        """Until none of these attempts runs (its outcome stored, its admin free), at most ``within`` s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            async with self.sessions() as session:
                if not await self.lifecycle.return_calls.any_running(session, attempt_ids):
                    return
            await asyncio.sleep(0.05)

    async def keep_message(self, attempt_id: int, data: bytes, seconds: float) -> dict[str, object]:
        name = write_message(self.recordings_dir, attempt_id, data)
        return message_record(name, seconds, self.clock.now(), self.settings.returns.retention_days)

    async def finish(self, attempt_id: int, end: ReturnCallEnd) -> None:
        async def finish() -> None:
            async with self.sessions.begin() as session:
                await self.lifecycle.return_calls.finish(session, attempt_id, end)
                await delete_expired(session, self.recordings_dir, self.clock.now())

        await retry_while_unavailable(finish, what=f"return call {attempt_id} outcome")
