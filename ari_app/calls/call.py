"""One attempt's hold on the PBX: its legs, its playbacks, its event stream, and the few ARI moves every
step makes (wait for a fact, play, stop for real, hang up only what is ours, clean up).

The steps themselves (``admin_side``, ``lead_side``, ``connected``, ``drop``) are functions of a ``Call``;
``attempt.AttemptCall`` runs them as a short script.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from ..ari.errors import AriError, AriNotFound, AriServerError
from ..ari.events import Event
from ..domain.attempts import AttemptPlan
from ..domain.outcomes import LeadLegFacts, Outcome, classify_lead, is_unexpected_cause
from ..domain.statuses import LegStatus
from .ids import CallIds
from .legs import LegState, PlaybackState, observe_leg, observe_playback

if TYPE_CHECKING:
    from ..ari.dispatch import Subscription
    from .runner import CallRunner

log = logging.getLogger(__name__)

T = TypeVar("T")

# Wall-time slice for waits: a wait re-checks its condition at least this often, so facts learned by a
# resync after a WebSocket reconnect are seen even when no event arrives.
_SLICE = 1.0
# Business seconds to wait, at the end of an attempt, for the legs we hung up to be reported destroyed.
_SETTLE_SECONDS = 5.0
# Wall seconds, on top of what is left to play, to wait for a stopped playback's PlaybackFinished.
_STOP_MARGIN_WALL = 2.0


class End(Exception):  # noqa: N818 - control flow inside one attempt, never escapes it
    """The attempt is over with this outcome (a failed call is an outcome, not an error)."""

    def __init__(self, outcome: Outcome, detail: str) -> None:
        super().__init__(detail)
        self.outcome = outcome
        self.detail = detail


class Call:
    def __init__(self, runner: CallRunner, plan: AttemptPlan) -> None:
        self.r = runner
        self.plan = plan
        self.calls = runner.settings.calls
        self.ids = CallIds(runner.installation, plan.attempt_id)
        self.admin_id = self.ids.leg("admin")
        self.lead_id = self.ids.leg("lead")
        self.bridge_id = self.ids.bridge
        self.legs: dict[str, LegState] = {}
        self.playbacks: dict[str, PlaybackState] = {}
        self.bridge_created = False
        self.sub: Subscription | None = None
        self.lead_dialled = False
        self.no_packet_count = False
        self.admin_said_machine = False  # the admin pressed the drop key
        self.superseded = False  # the lead called back: give way, unless the lead was dialled already
        self._gave_way = False

    def now(self) -> datetime:
        return self.r.clock.now()

    def observe(self, ev: Event) -> None:
        observe_playback(self.playbacks, ev, self.now())
        seen = observe_leg(self.legs, ev, self.now())
        if seen is not None:
            leg, kept, fields = seen
            self.r.journal.observed(leg.channel_id, kept, fields)

    async def until(self, cond: Callable[[], T | None], seconds: float, *, wall: bool = False) -> T | None:
        """Wait up to ``seconds`` of business (or wall) time for ``cond`` to return something truthy."""
        assert self.sub is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, seconds) / (1.0 if wall else self.r.clock.speed)
        while True:
            if self.superseded and not self.lead_dialled and not self._gave_way:
                self._gave_way = True  # once: the clean-up's own waits go on
                raise End(Outcome.SUPERSEDED, "the lead called back; the admin went to their call")
            result = cond()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            try:
                ev = await self.sub.next(min(remaining, _SLICE))
            except TimeoutError:
                continue
            self.observe(ev)

    async def resync(self) -> None:
        for leg in list(self.legs.values()):
            if leg.destroyed:
                continue
            try:
                ch = await self.r.ari.get_channel(leg.channel_id)
            except AriNotFound:
                # Gone while we were not listening: the cause is lost, the dial status we saw stays.
                leg.destroyed = True
                leg.gone_at = self.now()
                await self.r.journal.leg_update(leg.channel_id, state=LegStatus.ENDED, ended_at=leg.gone_at)
            except AriError as exc:
                log.warning("resync of %s failed: %s", leg.channel_id, exc)
            else:
                if ch.state == "Up" and leg.up_at is None:
                    leg.up_at = self.now()
                leg.state = ch.state

    def add_leg(self, channel_id: str, role: str) -> LegState:
        assert self.sub is not None
        leg = LegState(channel_id, role)
        self.legs[channel_id] = leg
        self.sub.add_channel(channel_id)  # before the request: we choose the id, events may beat the answer
        return leg

    async def play(
        self, channel_id: str, media: list[str], label: str, *, length: float = 0.0
    ) -> PlaybackState:
        pb_id = CallIds.playback(channel_id, label)
        pb = PlaybackState(pb_id, channel_id, length)
        self.playbacks[pb_id] = pb
        await self.r.ari.play(channel_id, media, playback_id=pb_id)
        return pb

    async def play_prompts(self, channel_id: str, names: list[str], label: str) -> PlaybackState:
        """Our named prompts as one playlist of sound items."""
        media = self.r.media
        length = sum(media.duration(name) for name in names)
        return await self.play(channel_id, [media.uri(name) for name in names], label, length=length)

    async def stop(self, pb: PlaybackState) -> None:
        """Stop a playback for real. Asterisk's 204 does not mean the audio stopped, and a playback it cannot
        stop answers 500 and plays on (recording 15): go on only after its PlaybackFinished, or once what is
        left of it has had time to play."""
        if pb.finished_at is not None:
            return
        try:
            await self.r.ari.stop_playback(pb.id)
        except AriNotFound:
            pb.finished_at = pb.finished_at or self.now()  # already over
            return
        except AriServerError as exc:
            log.info(
                "attempt %s: %s could not be stopped (%s); waiting for its end",
                self.plan.attempt_id,
                pb.id,
                exc.ari_message or exc.status,
            )
        leg = self.legs.get(pb.channel_id)
        played = (self.now() - pb.started_at).total_seconds() if pb.started_at else 0.0
        await self.until(
            lambda: pb.finished_at is not None or (leg is not None and leg.ended),
            max(0.0, pb.length - played) / self.r.clock.speed + _STOP_MARGIN_WALL,
            wall=True,
        )
        if pb.finished_at is None:
            log.warning("attempt %s: %s still playing after its stop", self.plan.attempt_id, pb.id)

    async def hangup(self, channel_id: str) -> None:
        leg = self.legs.get(channel_id)
        if leg is not None and (leg.destroyed or not leg.created):
            return  # never hang up a channel Asterisk did not create for us: the id may be someone else's
        try:
            await self.r.ari.hangup(channel_id)
        except AriNotFound:
            pass
        except AriError as exc:
            log.warning("hangup of %s failed: %s", channel_id, exc)

    def classify_lead(
        self, leg: LegState, *, talk: float | None, machine: bool = False, whole: bool = False
    ) -> Outcome:
        """The lead leg's facts, classified by the domain (``classify_lead``)."""
        if is_unexpected_cause(leg.cause):
            log.warning(
                "attempt %s: lead leg ended with cause %s %r, which our table does not know: counted as "
                "unreachable (please report it)",
                self.plan.attempt_id,
                leg.cause,
                leg.cause_txt,
            )
        facts = LeadLegFacts(
            cause=leg.cause,
            dial_status=leg.dial_status,
            answered=leg.up_at is not None,
            talk_seconds=talk,
            machine=machine,
            drop_played_whole=whole,
            final_attempt=self.plan.final,
        )
        return classify_lead(facts, min_talk_seconds=self.calls.min_talk_seconds)

    def lead_evidence(self) -> str:
        """What the lead leg did, for the detail of an attempt that ended on an error of ours."""
        lead = self.legs.get(self.lead_id)
        if lead is None:
            return "; the lead was not dialled"
        if not self.lead_dialled:
            return "; the lead's channel was never dialled"
        seen = ["answered" if lead.up_at else "not answered"]
        if lead.bridged_at:
            seen.append("bridged")
        if lead.destroyed:
            seen.append(lead.describe())
        return "; lead leg: " + ", ".join(seen)

    async def cleanup(self) -> None:
        # A leg whose far end hung up (a hard ChannelHangupRequest) is on its way out: its ChannelDestroyed
        # follows within milliseconds, and a DELETE only raced it (one request per call, answered 404).
        # It is hung up below only if it is still there once the others are gone.
        for channel_id, leg in self.legs.items():
            if not leg.destroyed and not leg.hangup_requested:
                await self.hangup(channel_id)
        # Let each leg's ChannelDestroyed (its cause) reach the journal before this attempt lets go of it.
        await self.until(
            lambda: all(leg.destroyed or not leg.created for leg in self.legs.values()), _SETTLE_SECONDS
        )
        for channel_id, leg in self.legs.items():
            if not leg.destroyed and leg.hangup_requested:
                await self.hangup(channel_id)  # said it would go, and didn't: make sure
        for channel_id, leg in self.legs.items():
            if not leg.destroyed:
                # Not awaited (the call's settle waits for it, before its outcome is written): a leg not
                # ``ended`` is only looked up on the PBX by recovery, where it is gone or hung up.
                self.r.journal.leg_note(channel_id, state=LegStatus.ENDED, ended_at=self.now())
        if self.bridge_created:
            try:
                await self.r.ari.destroy_bridge(self.bridge_id)
            except AriError:
                pass
        if self.plan.amd and self.lead_id in self.legs:
            try:
                await self.r.ari.unsubscribe(self.r.app, f"channel:{self.lead_id}")
            except AriError:
                pass
