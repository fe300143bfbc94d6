"""A call to the business number: a lead calling back, on the wire.

The dialplan hands the call over as ``StasisStart`` with ``inbound,<caller>,<dialled>``
(``asterisk_conf/extensions.conf``); nobody owns the channel yet, so the event reaches
``InboundCalls.on_event`` through the router's fallback. What the call is (a return call, someone else) is
the domain's to decide (``domain/return_calls.py``) from what the desk (the store, through the lifecycle)
knows of the caller.

A return call, as a short script: answer; the lead hears a welcome and ringback; the admins are rung one at
a time (the contact's most recent admin first, each one only if no running call has them: the same database
rule as outbound calls), whispered who is calling back and asked to press 1; the first to accept is bridged
with the lead. Nobody accepts: the lead is told, and may leave a message after the tone; it is recorded on
the channel, fetched from Asterisk's stored recordings and kept by callback. Every return call ends as a
``ReturnCallEnd`` handed to the desk: an error of ours is an outcome, not an exception.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Sequence

from ..ari.dispatch import Subscription
from ..ari.errors import AriError
from ..ari.events import Event, StasisStart
from ..domain.return_calls import (
    caller_e164,
    parse_inbound_args,
)
from ..settings import AdminSettings
from .admins import AdminPool
from .inbound_desk import InboundDesk
from .plain_call import PlainCall
from .return_call import ReturnCall
from .runner import CallRunner

log = logging.getLogger(__name__)

# Wall seconds to wait for an outbound attempt that gives way to end (it looks at least once a second).
_YIELD_WALL = 10.0


class InboundCalls:
    """Takes every call to the business number this worker's application receives; one task per call."""

    def __init__(
        self,
        runner: CallRunner,
        desk: InboundDesk,
        admins: Sequence[AdminSettings],
        pool: AdminPool | None = None,
    ) -> None:
        self.r = runner
        self.desk = desk
        self.admins = list(admins)
        # The worker's roster: an unknown caller's call holds its admin there (it has no attempt row).
        self.pool = pool or AdminPool(admins)
        self._tasks: set[asyncio.Task[None]] = set()
        self._plain_calls = itertools.count(1)

    @property
    def live_calls(self) -> int:
        return len(self._tasks)

    def on_event(self, ev: Event) -> None:
        """The router's fallback: a StasisStart nobody owns, with ``inbound`` args, is a call to us."""
        if not isinstance(ev, StasisStart):
            return
        inbound = parse_inbound_args(ev.args)
        if inbound is None:
            return
        sub = self.r.router.subscription()
        try:
            sub.add_channel(ev.channel.id)  # at once: the next event on it must not go astray
        except ValueError:
            sub.close()
            return
        task = asyncio.get_running_loop().create_task(
            self._take(ev, inbound.caller, sub), name=f"inbound-{ev.channel.id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self, grace: float = 35.0) -> None:
        """Let live calls end (wall seconds), then cancel what is left."""
        if not self._tasks:
            return
        _done, pending = await asyncio.wait(set(self._tasks), timeout=grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _take(self, start: StasisStart, raw_caller: str, sub: Subscription) -> None:
        channel_id = start.channel.id
        settings = self.r.settings
        try:
            biz = settings.business
            phone = caller_e164(raw_caller, default_region=biz.region, allowed_regions=biz.allowed_regions)
            if not settings.returns.enabled:
                await self._hand_back(channel_id, "return calls are off (returns.enabled)")
                return
            known = await self.desk.recognise(phone)
            decision = known.decision
            if decision.action == "ring_plain":
                plain = PlainCall(self, next(self._plain_calls), phone or raw_caller, channel_id, sub)
                if not await plain.run():
                    await self._hand_back(channel_id, "no admin took the call")
                return
            if decision.action == "continue" or decision.request_id is None:
                await self._hand_back(channel_id, decision.why)
                return
            attempt_id = await self.desk.begin(decision.request_id, phone or raw_caller)
            # An outbound attempt of this request still ringing or whispering to an admin gives way: one
            # person is not rung twice, and its admin is free for the lead's own call.
            yielding = [
                a for a in await self.desk.outbound_running(decision.request_id) if self.r.supersede(a)
            ]
            if yielding:
                await self.desk.wait_finished(yielding, _YIELD_WALL)
        except Exception:
            log.exception("inbound call %s from %s: not taken; handed back", channel_id, raw_caller)
            sub.close()
            await self._hand_back(channel_id, "error")
            return
        call = ReturnCall(self, attempt_id, phone or raw_caller, known, channel_id, sub)
        end = await call.run()
        try:
            await self.desk.finish(attempt_id, end)
        except Exception:
            log.exception("return call %s: its end was not stored", attempt_id)

    async def _hand_back(self, channel_id: str, why: str) -> None:
        log.info("inbound call %s handed back to the dialplan: %s", channel_id, why)
        try:
            await self.r.ari.continue_next(channel_id)
        except AriError as exc:
            log.warning("inbound call %s could not be handed back: %s", channel_id, exc)
