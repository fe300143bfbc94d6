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
from datetime import datetime
from typing import Literal, Protocol

from ..ari.dispatch import Subscription
from ..ari.errors import AriError, AriNotFound
from ..ari.events import Event, RecordingFailed, RecordingFinished, StasisEnd, StasisStart
from ..domain.attempts import AttemptPlan
from ..domain.phone import dial_digits
from ..domain.return_calls import (
    ReturnCallEnd,
    ReturnDecision,
    ReturnOutcome,
    caller_e164,
    parse_inbound_args,
    whisper_text,
)
from ..domain.statuses import LegStatus
from ..settings import AdminSettings
from .admins import AdminPool
from .call import Call
from .legs import LegState, PlaybackState, observe_leg, observe_playback, talk_seconds
from .runner import CallRunner

log = logging.getLogger(__name__)
calls_log = logging.getLogger("callback.calls")

# Business seconds: the longest a return call's conversation is followed.
_MAX_TALK_SECONDS = 4 * 3600.0
# Business seconds to wait for the admin phone beyond its ring timeout.
_RING_MARGIN = 10.0
# A message shorter than this (seconds) is a hang-up at the tone, not a message.
MIN_MESSAGE_SECONDS = 1.0
# Wall seconds to wait for an outbound attempt that gives way to end (it looks at least once a second).
_YIELD_WALL = 10.0
# Wall seconds to wait for RecordingFinished after the caller hung up.
_RECORDING_SETTLE_WALL = 5.0


class Recognised(Protocol):
    """Who is calling, as the store knows them, and what the call is."""

    @property
    def decision(self) -> ReturnDecision: ...

    @property
    def first_name(self) -> str: ...

    @property
    def last_name(self) -> str: ...

    @property
    def reason(self) -> str: ...

    @property
    def last_admin(self) -> str | None: ...


class InboundDesk(Protocol):
    """What a call to the business needs from the store (``scheduler/return_desk.py``)."""

    async def recognise(self, phone: str | None) -> Recognised: ...

    async def begin(self, request_id: int, caller: str) -> int: ...

    async def take_admin(self, attempt_id: int, admin: str) -> bool: ...

    async def release_admin(self, attempt_id: int) -> None: ...

    async def outbound_running(self, request_id: int) -> list[int]: ...

    async def busy_admins(self) -> frozenset[str]: ...

    async def wait_finished(self, attempt_ids: list[int], within: float) -> None: ...

    async def keep_message(self, attempt_id: int, data: bytes, seconds: float) -> dict[str, object]: ...

    async def finish(self, attempt_id: int, end: ReturnCallEnd) -> None: ...


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


class ReturnCall(Call):
    """One return call's hold on the PBX: the lead's channel (Asterisk's id, not ours), the admins rung."""

    def __init__(
        self,
        owner: InboundCalls,
        attempt_id: int,
        phone: str,
        known: Recognised,
        channel_id: str,
        sub: Subscription,
    ) -> None:
        first = owner.admins[0]
        super().__init__(owner.r, AttemptPlan(attempt_id, phone, False, False, first))
        self.owner = owner
        self.desk = owner.desk
        self.known = known
        self.sub = sub
        self.lead_id = channel_id
        self.admin_name: str | None = None
        self.returns = owner.r.settings.returns
        self.recordings: dict[str, RecordingFinished | RecordingFailed] = {}  # how each one ended

    async def run(self) -> ReturnCallEnd:
        assert self.sub is not None
        lead = self.add_leg(self.lead_id, "lead")
        lead.created = lead.in_stasis = True  # in our application: ours to answer and to hang up
        end: ReturnCallEnd
        try:
            await self.r.journal.leg_intent(self.plan.attempt_id, "lead", 1, self.lead_id, "inbound")
            end = await self._script(lead)
        except AriError as exc:
            end = ReturnCallEnd(
                ReturnOutcome.SYSTEM_ERROR, f"ARI error in {exc.operation}: {exc.status} {exc}"
            )
        except Exception as exc:  # a bug: the caller must still be let go and the admin freed
            log.exception("return call %s failed", self.plan.attempt_id)
            end = ReturnCallEnd(ReturnOutcome.SYSTEM_ERROR, f"unexpected error: {exc!r}")
        finally:
            await self.cleanup()
            self.sub.close()
            try:
                await self.r.journal.settle(list(self.legs))
            except Exception as exc:
                log.warning(
                    "return call %s: its last leg facts were not stored (%s)", self.plan.attempt_id, exc
                )
        if end.admin_name is None and self.admin_name is not None:
            end = ReturnCallEnd(end.outcome, end.detail, self.admin_name, end.talk_seconds, end.message)
        return end

    def observe(self, ev: Event) -> None:
        super().observe(ev)
        if isinstance(ev, StasisEnd) and ev.channel.id == self.lead_id:
            # Out of our application, whichever way: a channel that came from the dialplan gets no
            # ChannelDestroyed to us, and is no longer ours to hang up.
            lead = self.legs[self.lead_id]
            lead.hangup_requested = lead.destroyed = True
            lead.gone_at = lead.gone_at or self.now()
        elif isinstance(ev, RecordingFinished | RecordingFailed):
            self.recordings[ev.name] = ev

    async def _script(self, lead: LegState) -> ReturnCallEnd:
        k = self.known
        calls_log.info(
            "%s (%s): %s",
            whisper_text(k.first_name, k.last_name, k.reason),
            self.plan.lead_phone,
            k.decision.why,
        )
        await self.r.ari.answer(self.lead_id)
        hold = await self.play(
            self.lead_id,
            [self.r.media.uri("return-call-welcome"), "tone:ring;tonezone=us"],
            "hold",
            length=self.r.media.duration("return-call-welcome"),
        )
        for try_no, admin in enumerate(self._admin_order(), start=1):
            if lead.ended:
                break
            if not await self.desk.take_admin(self.plan.attempt_id, admin.name):
                continue
            accepted = await self._offer(admin, try_no, lead)
            if accepted is not None:
                await self.stop(hold)
                return await self._bridge(admin, accepted, lead)
            await self.desk.release_admin(self.plan.attempt_id)
        await self.stop(hold)
        if lead.ended:
            return ReturnCallEnd(ReturnOutcome.NO_MESSAGE, "the lead hung up before an admin answered")
        return await self._take_message(lead)

    def _admin_order(self) -> list[AdminSettings]:
        """The contact's most recent admin first, then the roster in its order."""
        admins = list(self.owner.admins)
        last = self.known.last_admin
        admins.sort(key=lambda a: a.name != last)
        return admins

    async def _offer(self, admin: AdminSettings, try_no: int, lead: LegState) -> LegState | None:
        """Ring one admin, whisper who is calling back; their leg when they pressed the accept key."""
        calls = self.calls
        admin_id = self.ids.leg("admin", try_no)
        leg = self.add_leg(admin_id, "admin")
        await self.r.journal.leg_intent(self.plan.attempt_id, "admin", try_no, admin_id, admin.endpoint)
        try:
            await self.r.ari.originate(
                admin.endpoint,
                channel_id=admin_id,
                app=self.r.app,
                app_args=f"admin,{self.plan.attempt_id}",
                caller_id=f"Callback <{dial_digits(self.plan.lead_phone)}>",
                timeout=calls.admin_ring_timeout,
                variables={"CALLBACK_APP": self.r.app},
            )
        except AriError as exc:
            log.warning("return call %s: admin %s not rung (%s)", self.plan.attempt_id, admin.name, exc)
            await self.r.journal.leg_update(admin_id, state=LegStatus.ENDED, cause_txt=str(exc)[:200])
            return None
        leg.created = True
        await self.r.journal.leg_update(admin_id, state=LegStatus.REQUESTED)
        answered: Literal["up", "gone"] | None = await self.until(
            lambda: "gone" if lead.ended or leg.ended else ("up" if leg.in_stasis and leg.up_at else None),
            calls.admin_ring_timeout + _RING_MARGIN,
        )
        if answered != "up":
            await self.hangup(admin_id)
            return None
        digits = dial_digits(self.plan.lead_phone).lstrip("+")
        items = ["return-call-whisper", *(f"digit-{d}" for d in digits), "press-1"]
        key = calls.accept_key
        for round_no in (1, 2):
            leg.digits.clear()
            pb = await self.play_prompts(admin_id, items, f"whisper-{round_no}")

            def heard(pb: PlaybackState = pb) -> Literal["accepted", "gone", "prompted"] | None:
                if key in leg.digits:
                    return "accepted"
                if leg.ended or lead.ended:
                    return "gone"
                return "prompted" if pb.finished_at is not None else None

            got = await self.until(heard, pb.length + 10.0)
            if got in (None, "prompted"):
                got = await self.until(
                    lambda: (
                        "accepted" if key in leg.digits else ("gone" if leg.ended or lead.ended else None)
                    ),
                    calls.accept_timeout,
                )
            if got == "accepted":
                await self.stop(pb)
                self.admin_name = admin.name
                calls_log.info("admin %s accepted the return call", admin.name)
                return leg
            if got == "gone":
                break
        await self.hangup(admin_id)
        return None

    async def _bridge(self, admin: AdminSettings, admin_leg: LegState, lead: LegState) -> ReturnCallEnd:
        if lead.ended:
            return ReturnCallEnd(
                ReturnOutcome.NO_MESSAGE, "the lead hung up as the admin accepted", admin.name
            )
        await self.r.ari.create_bridge(bridge_type="mixing", bridge_id=self.bridge_id, name=self.bridge_id)
        self.bridge_created = True
        assert self.sub is not None
        self.sub.add_bridge(self.bridge_id)
        await self.r.ari.add_channel(self.bridge_id, [admin_leg.channel_id, self.lead_id])
        await self.until(lambda: lead.bridged_at is not None or lead.ended or admin_leg.ended, 5.0, wall=True)
        bridged_at: datetime = lead.bridged_at or self.now()
        who = await self.until(
            lambda: "lead" if lead.ended else ("admin" if admin_leg.ended else None), _MAX_TALK_SECONDS
        )
        talk = talk_seconds(lead, admin_leg, bridged_at, self.now())
        done = talk >= self.calls.min_talk_seconds
        outcome = ReturnOutcome.COMPLETED if done else ReturnOutcome.SHORT_CALL
        who_text = {"lead": "lead hung up", "admin": "admin hung up", None: "talk time limit"}[who]
        return ReturnCallEnd(outcome, f"talked {talk:.0f} s with {admin.name}; {who_text}", admin.name, talk)

    async def _take_message(self, lead: LegState) -> ReturnCallEnd:
        told = await self.play_prompts(self.lead_id, ["return-call-message"], "message-prompt")
        await self.until(lambda: told.finished_at is not None or lead.ended, told.length + 5.0)
        if lead.ended:
            return ReturnCallEnd(ReturnOutcome.NO_MESSAGE, "no admin free; the lead hung up at the prompt")
        name = f"{self.ids.bridge.removesuffix('-bridge')}-message"

        def recorded() -> RecordingFinished | RecordingFailed | None:
            return self.recordings.get(name)

        await self.r.ari.record(
            self.lead_id,
            name,
            fmt="wav",
            max_duration=self.returns.message_max_seconds,
            beep=True,
            terminate_on="#",
            if_exists="overwrite",
        )
        await self.until(lambda: recorded() or lead.ended, self.returns.message_max_seconds + 10.0)
        if recorded() is None:  # hung up: Asterisk finishes the recording with what was said
            await self.until(recorded, _RECORDING_SETTLE_WALL, wall=True)
        end = recorded()
        if end is None or isinstance(end, RecordingFailed):
            cause = end.cause if end is not None else "no RecordingFinished"
            return ReturnCallEnd(ReturnOutcome.NO_MESSAGE, f"no admin free; the recording failed ({cause})")
        seconds = float(end.duration or 0)
        if seconds < MIN_MESSAGE_SECONDS:
            await self._forget_recording(name)
            return ReturnCallEnd(ReturnOutcome.NO_MESSAGE, "no admin free; the lead left no message")
        data = await self.r.ari.stored_recording_file(name)
        message = await self.desk.keep_message(self.plan.attempt_id, data, seconds)
        await self._forget_recording(name)  # kept by callback now, not left only on the PBX
        calls_log.info("return call %s: a message of %.0f s kept", self.plan.attempt_id, seconds)
        return ReturnCallEnd(
            ReturnOutcome.MESSAGE_LEFT, f"no admin free; a message of {seconds:.0f} s", message=dict(message)
        )

    async def _forget_recording(self, name: str) -> None:
        try:
            await self.r.ari.delete_stored_recording(name)
        except AriNotFound:
            pass
        except AriError as exc:
            log.warning("return call %s: recording %s left on the PBX (%s)", self.plan.attempt_id, name, exc)


class PlainCall(Call):
    """A caller callback does not know (``returns.unknown = "ring"``): the admins are rung in the roster's
    order with a plain whisper (the caller's number), the first to press 1 is bridged. Nobody: the call goes
    back to the dialplan's own routing. It has no request and no attempt row: its admin is held in this
    worker's roster and checked against every worker's running calls, not reserved in the database.
    Its ids are ``cb-{installation}-0-admin-{n}``: attempt 0 is never a real attempt."""

    def __init__(
        self, owner: InboundCalls, number: int, phone: str, channel_id: str, sub: Subscription
    ) -> None:
        super().__init__(owner.r, AttemptPlan(0, phone, False, False, owner.admins[0]))
        self.owner = owner
        self.number = number
        self.sub = sub
        self.lead_id = channel_id
        self.bridge_id = f"{self.ids.bridge}-{number}"  # attempt 0 is shared by every plain call

    def observe(self, ev: Event) -> None:
        # No attempt row, so nothing to journal: the legs' bookkeeping only.
        observe_playback(self.playbacks, ev, self.now())
        observe_leg(self.legs, ev, self.now())
        if isinstance(ev, StasisEnd) and ev.channel.id == self.lead_id:
            lead = self.legs[self.lead_id]
            lead.hangup_requested = lead.destroyed = True

    async def run(self) -> bool:
        """True when an admin took the call (it is over now); False: hand it back (still ours, unanswered)."""
        assert self.sub is not None
        lead = self.add_leg(self.lead_id, "lead")
        lead.created = lead.in_stasis = True
        taken = False
        try:
            taken = await self._script(lead)
        except AriError as exc:
            log.warning("inbound call %s: %s", self.lead_id, exc)
        finally:
            if not taken:
                self.legs.pop(self.lead_id, None)  # handed back: not ours to hang up
            await self.cleanup()
            self.sub.close()
        return taken

    async def _script(self, lead: LegState) -> bool:
        busy = await self.owner.desk.busy_admins()
        for try_no in itertools.count(1):
            admin = self.owner.pool.offer(busy=busy)
            if admin is None or lead.ended:
                return False
            busy = busy | {admin.name}
            try:
                if await self._offer(admin, try_no, lead):
                    return True
            finally:
                self.owner.pool.release(admin.name)
        return False

    async def _offer(self, admin: AdminSettings, try_no: int, lead: LegState) -> bool:
        calls = self.calls
        admin_id = self.ids.leg("admin", self.number * 100 + try_no)
        leg = self.add_leg(admin_id, "admin")
        await self.r.ari.originate(
            admin.endpoint,
            channel_id=admin_id,
            app=self.r.app,
            app_args="admin,0",
            caller_id=f"Caller <{dial_digits(self.plan.lead_phone)}>",
            timeout=calls.admin_ring_timeout,
            variables={"CALLBACK_APP": self.r.app},
        )
        leg.created = True
        if try_no == 1:
            await self.r.ari.ring(self.lead_id)  # the caller hears ringing; the call is not answered yet

        def answered() -> str | None:
            return "gone" if lead.ended or leg.ended else ("up" if leg.up_at else None)

        if await self.until(answered, calls.admin_ring_timeout + _RING_MARGIN) != "up":
            await self.hangup(admin_id)
            return False
        digits = [d for d in dial_digits(self.plan.lead_phone).lstrip("+") if d.isdigit()]
        pb = await self.play_prompts(
            admin_id, ["inbound-call-whisper", *(f"digit-{d}" for d in digits), "press-1"], "whisper"
        )
        key = calls.accept_key

        def accepted() -> str | None:
            return "yes" if key in leg.digits else ("gone" if leg.ended or lead.ended else None)

        if await self.until(accepted, pb.length + calls.accept_timeout) != "yes":
            await self.hangup(admin_id)
            return False
        await self.stop(pb)
        await self.r.ari.answer(self.lead_id)
        bridge = self.bridge_id
        await self.r.ari.create_bridge(bridge_type="mixing", bridge_id=bridge, name=bridge)
        self.bridge_created = True
        assert self.sub is not None
        self.sub.add_bridge(bridge)
        await self.r.ari.add_channel(bridge, [admin_id, self.lead_id])
        await self.until(lambda: lead.ended or leg.ended, _MAX_TALK_SECONDS)
        calls_log.info("a call from %s taken by %s", self.plan.lead_phone, admin.name)
        return True
