"""A return call on the wire: the lead calling back, their admins rung with a whisper, a bridge or a
recorded message (the script is described in ``calls/inbound.py``)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from ..ari.dispatch import Subscription
from ..ari.errors import AriError, AriNotFound
from ..ari.events import Event, RecordingFailed, RecordingFinished, StasisEnd
from ..domain.attempts import AttemptPlan
from ..domain.phone import dial_digits
from ..domain.return_calls import (
    ReturnCallEnd,
    ReturnOutcome,
    whisper_text,
)
from ..domain.statuses import LegStatus
from ..settings import AdminSettings
from .call import Call
from .inbound_desk import Recognised
from .legs import LegState, PlaybackState, talk_seconds

if TYPE_CHECKING:
    from .inbound import InboundCalls

log = logging.getLogger(__name__)
calls_log = logging.getLogger("callback.calls")

# Business seconds: the longest a return call's conversation is followed.
MAX_TALK_SECONDS = 4 * 3600.0
# Business seconds to wait for the admin phone beyond its ring timeout.
RING_MARGIN = 10.0
# A message shorter than this (seconds) is a hang-up at the tone, not a message.
MIN_MESSAGE_SECONDS = 1.0
# Wall seconds to wait for RecordingFinished after the caller hung up.
_RECORDING_SETTLE_WALL = 5.0


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
        # Not awaited: recovery tells an admin leg only by whether it ended (see ``admin_side``).
        self.r.journal.leg_note(admin_id, state=LegStatus.REQUESTED)
        answered: Literal["up", "gone"] | None = await self.until(
            lambda: "gone" if lead.ended or leg.ended else ("up" if leg.in_stasis and leg.up_at else None),
            calls.admin_ring_timeout + RING_MARGIN,
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
            lambda: "lead" if lead.ended else ("admin" if admin_leg.ended else None), MAX_TALK_SECONDS
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
