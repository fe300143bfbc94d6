"""One attempt on the wire: ring the admin, whisper, ringback, dial the lead once, AMD, bridge, talk, drop.

The orchestrator is the only code that talks ARI. It writes each leg's intent through a ``LegJournal`` before
any request that can make a phone ring, never re-sends a dial whose answer was lost, and ends every attempt
with an ``AttemptResult``: a failed call is an outcome, not an exception.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from .. import call_log
from ..ari.client import AriClient
from ..ari.dispatch import EventRouter, Subscription
from ..ari.errors import (
    AriError,
    AriNotFound,
    AriOutcomeUnknown,
    AriServerError,
    AriUnreachable,
)
from ..ari.events import (
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelEnteredBridge,
    ChannelHangupRequest,
    ChannelLeftBridge,
    ChannelStateChange,
    ChannelTalkingFinished,
    ChannelTalkingStarted,
    Dial,
    Event,
    PlaybackFinished,
    PlaybackStarted,
    StasisEnd,
    StasisStart,
)
from ..clock import Clock
from ..domain.outcomes import LeadLegFacts, Outcome, classify_lead
from ..domain.phone import dial_digits
from ..settings import AdminSettings, Settings
from .media import MediaCatalog

log = logging.getLogger(__name__)

T = TypeVar("T")

# Wall-time slice for waits: a wait re-checks its condition at least this often, so facts learned by a
# resync after a WebSocket reconnect are seen even when no event arrives.
_SLICE = 1.0
# Business-time margin on top of Asterisk's own ring timeouts before we stop waiting for its verdict.
_RING_MARGIN = 10.0
_MAX_TALK_SECONDS = 4 * 3600.0
# Business seconds to wait, at the end of an attempt, for the legs we hung up to be reported destroyed.
_SETTLE_SECONDS = 5.0


def _pbx_time(stamp: str) -> datetime | None:
    """An ARI event timestamp ("2026-11-26T06:59:04.681+0000"), or None when absent or unreadable."""
    try:
        return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z")
    except (TypeError, ValueError):
        return None


class LegJournal(Protocol):
    """Where the orchestrator writes what it is about to do and what it learned, before acting on it."""

    async def leg_intent(
        self, attempt_id: int, role: str, try_no: int, channel_id: str, endpoint: str
    ) -> None: ...

    async def leg_update(self, channel_id: str, **fields: Any) -> None: ...

    def observed(self, channel_id: str, event: Event | None, fields: dict[str, Any]) -> None:
        """An event seen on a leg (None: not worth keeping) and what it changed; stored soon, in order."""

    async def settle(self, channel_ids: Iterable[str]) -> None:
        """Everything journalled so far is stored; these legs (ended) can be forgotten."""


@dataclass(frozen=True)
class AttemptStart:
    """An attempt marked running, before the database has given it an admin."""

    attempt_id: int
    lead_phone: str  # E.164, validated at intake
    final: bool
    amd: bool

    def with_admin(self, admin: AdminSettings) -> AttemptPlan:
        return AttemptPlan(self.attempt_id, self.lead_phone, self.final, self.amd, admin)


@dataclass(frozen=True)
class AttemptPlan(AttemptStart):
    admin: AdminSettings


@dataclass
class AttemptResult:
    outcome: Outcome
    detail: str = ""
    admin_name: str | None = None
    talk_seconds: float | None = None
    drop_played_seconds: float | None = None
    lead_dialled: bool = False


@dataclass
class LegState:
    channel_id: str
    role: str
    state: str = "Down"
    in_stasis: bool = False
    up_at: datetime | None = None
    destroyed: bool = False
    gone_at: datetime | None = None
    cause: int | None = None
    cause_txt: str = ""
    dial_status: str | None = None
    hangup_requested: bool = False
    bridged_at: datetime | None = None
    # The PBX's own timestamps (event "timestamp"): talk time is measured on its clock, so a busy worker
    # that reads events late doesn't shorten a conversation.
    pbx_bridged: datetime | None = None
    pbx_left: datetime | None = None
    amd: tuple[str, str] | None = None
    digits: list[str] = field(default_factory=list)
    talking: bool | None = None  # None: no talk-detect event yet
    talk_finished: bool = False

    @property
    def ended(self) -> bool:
        return self.destroyed or self.hangup_requested


@dataclass
class PlaybackState:
    id: str
    started_at: datetime | None = None
    finished_at: datetime | None = None
    pbx_started: datetime | None = None
    pbx_finished: datetime | None = None
    state: str | None = None


class _End(Exception):  # noqa: N818 - control flow inside one attempt, never escapes it
    def __init__(self, outcome: Outcome, detail: str) -> None:
        super().__init__(detail)
        self.outcome = outcome
        self.detail = detail


class CallRunner:
    """Runs attempts. One instance per worker; each ``run`` owns its channels for its duration."""

    def __init__(
        self,
        *,
        ari: AriClient,
        router: EventRouter,
        journal: LegJournal,
        clock: Clock,
        settings: Settings,
        media: MediaCatalog,
        app: str,
    ) -> None:
        self.ari = ari
        self.router = router
        self.journal = journal
        self.clock = clock
        self.settings = settings
        self.media = media
        self.app = app
        self._live: dict[int, AttemptCall] = {}

    async def run(self, plan: AttemptPlan) -> AttemptResult:
        call = AttemptCall(self, plan)
        self._live[plan.attempt_id] = call
        try:
            return await call.run()
        finally:
            self._live.pop(plan.attempt_id, None)
            try:
                # The call's facts are stored before its outcome is (the caller records that next).
                await self.journal.settle(list(call.legs))
            except Exception as exc:  # already logged by the journal; the outcome must still be recorded
                log.warning("attempt %s: its last leg facts were not stored (%s)", plan.attempt_id, exc)

    async def resync(self) -> None:
        """After a WebSocket reconnect: re-read every live channel, since events may have been missed."""
        for call in list(self._live.values()):
            await call.resync()

    @property
    def live_calls(self) -> int:
        return len(self._live)


class AttemptCall:
    def __init__(self, runner: CallRunner, plan: AttemptPlan) -> None:
        self.r = runner
        self.plan = plan
        self.calls = runner.settings.calls
        a = plan.attempt_id
        self.admin_id = f"cb-{a}-admin-1"
        self.lead_id = f"cb-{a}-lead-1"
        self.bridge_id = f"cb-{a}-bridge"
        self.legs: dict[str, LegState] = {}
        self.playbacks: dict[str, PlaybackState] = {}
        self.bridge_created = False
        self.sub: Subscription | None = None
        self.lead_dialled = False

    # -- event bookkeeping ------------------------------------------------------------------------

    def _now(self) -> datetime:
        return self.r.clock.now()

    def _observe(self, ev: Event) -> None:
        for pb in self._playback_of(ev):
            if isinstance(ev, PlaybackStarted):
                pb.started_at = pb.started_at or self._now()
                pb.pbx_started = pb.pbx_started or _pbx_time(ev.timestamp)
            elif isinstance(ev, PlaybackFinished):
                pb.finished_at = self._now()
                pb.pbx_finished = _pbx_time(ev.timestamp)
                pb.state = ev.playback.state
        channel = getattr(ev, "peer", None) if isinstance(ev, Dial) else getattr(ev, "channel", None)
        leg = self.legs.get(channel.id) if channel is not None else None
        if leg is None:
            return
        fields: dict[str, Any] = {}
        if channel is not None and getattr(channel, "state", None):
            if channel.state == "Up" and leg.up_at is None and not leg.destroyed:
                leg.up_at = self._now()
                fields.update(state="up", answered_at=leg.up_at)
            leg.state = channel.state
        if isinstance(ev, StasisStart):
            leg.in_stasis = True
            if len(ev.args) >= 2 and ev.args[0] == "amd":
                leg.amd = (ev.args[1], ev.args[2] if len(ev.args) > 2 else "")
                fields.update(amd_status=leg.amd[0], amd_cause=leg.amd[1])
        elif isinstance(ev, StasisEnd):
            leg.in_stasis = False
        elif isinstance(ev, Dial):
            if ev.dialstatus:
                leg.dial_status = ev.dialstatus
                fields["dial_status"] = ev.dialstatus
                if ev.dialstatus == "RINGING" and leg.up_at is None:
                    fields.setdefault("state", "ringing")
        elif isinstance(ev, ChannelStateChange):
            if channel is not None and channel.state in ("Ring", "Ringing") and leg.up_at is None:
                fields.setdefault("state", "ringing")
        elif isinstance(ev, ChannelHangupRequest):
            if not ev.soft:
                leg.hangup_requested = True
                leg.pbx_left = leg.pbx_left or _pbx_time(ev.timestamp)
        elif isinstance(ev, ChannelDestroyed):
            leg.pbx_left = leg.pbx_left or _pbx_time(ev.timestamp)
            leg.destroyed = True
            leg.gone_at = self._now()
            leg.cause = ev.cause
            leg.cause_txt = ev.cause_txt
            fields.update(state="ended", cause=ev.cause, cause_txt=ev.cause_txt, ended_at=leg.gone_at)
        elif isinstance(ev, ChannelDtmfReceived):
            leg.digits.append(ev.digit)
        elif isinstance(ev, ChannelLeftBridge):
            leg.pbx_left = leg.pbx_left or _pbx_time(ev.timestamp)
        elif isinstance(ev, ChannelEnteredBridge):
            leg.pbx_bridged = leg.pbx_bridged or _pbx_time(ev.timestamp)
            if leg.bridged_at is None:
                leg.bridged_at = self._now()
                fields.update(state="bridged", bridged_at=leg.bridged_at)
        elif isinstance(ev, ChannelTalkingStarted):
            leg.talking = True
        elif isinstance(ev, ChannelTalkingFinished):
            leg.talking = False
            leg.talk_finished = True
        kept = isinstance(
            ev, (StasisStart, Dial, ChannelDestroyed, ChannelEnteredBridge, ChannelHangupRequest)
        )
        self.r.journal.observed(leg.channel_id, ev if kept else None, fields)

    def _playback_of(self, ev: Event) -> list[PlaybackState]:
        if isinstance(ev, (PlaybackStarted, PlaybackFinished)):
            pb = self.playbacks.get(ev.playback.id)
            return [pb] if pb is not None else []
        return []

    async def _until(self, cond: Callable[[], T | None], seconds: float) -> T | None:
        """Wait up to ``seconds`` of business time for ``cond`` to return something truthy."""
        assert self.sub is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, seconds) / self.r.clock.speed
        while True:
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
            self._observe(ev)

    async def resync(self) -> None:
        for leg in list(self.legs.values()):
            if leg.destroyed:
                continue
            try:
                ch = await self.r.ari.get_channel(leg.channel_id)
            except AriNotFound:
                # Gone while we were not listening: the cause is lost, the dial status we saw stays.
                leg.destroyed = True
                leg.gone_at = self._now()
                await self.r.journal.leg_update(leg.channel_id, state="ended", ended_at=leg.gone_at)
            except AriError as exc:
                log.warning("resync of %s failed: %s", leg.channel_id, exc)
            else:
                if ch.state == "Up" and leg.up_at is None:
                    leg.up_at = self._now()
                leg.state = ch.state

    # -- the attempt ------------------------------------------------------------------------------

    async def run(self) -> AttemptResult:
        self.sub = self.r.router.subscription()
        result: AttemptResult
        try:
            result = await self._run()
        except _End as end:
            result = AttemptResult(end.outcome, end.detail)
        except AriUnreachable as exc:
            result = AttemptResult(Outcome.SYSTEM_ERROR, f"PBX unreachable: {exc.ari_message or exc}")
        except AriError as exc:
            result = AttemptResult(Outcome.SYSTEM_ERROR, f"ARI error in {exc.operation}: {exc.status} {exc}")
        finally:
            await self._cleanup()
            self.sub.close()
        result.admin_name = result.admin_name or self.plan.admin.name
        result.lead_dialled = self.lead_dialled
        if result.outcome == Outcome.SYSTEM_ERROR and self.lead_dialled:
            # The phone may have rung: judge the lead leg by what Asterisk told us rather than retrying blind.
            lead = self.legs.get(self.lead_id)
            if lead is not None and (lead.destroyed or lead.up_at is not None):
                result.outcome = self._classify_lead(lead, talk=None)
        return result

    async def _run(self) -> AttemptResult:
        await self._ring_admin()
        if self.calls.whisper:
            await self._whisper()
        ringback = await self._play(self.admin_id, ["tone:ring;tonezone=us"], "ringback")
        lead = await self._ring_lead()
        await self._stop(ringback)
        if self.plan.amd:
            status = await self._detect_machine()
            if status == "MACHINE":
                if self.plan.final:
                    return await self._voicemail_drop()
                await self._release_admin("lead-machine-admin")
                raise _End(Outcome.LEAD_MACHINE, "answering machine (AMD); no drop before the final attempt")
        return await self._bridge_and_talk(lead)

    # -- admin ------------------------------------------------------------------------------------

    async def _ring_admin(self) -> None:
        admin = self.plan.admin
        assert self.sub is not None
        leg = self._add_leg(self.admin_id, "admin")
        await self.r.journal.leg_intent(self.plan.attempt_id, "admin", 1, self.admin_id, admin.endpoint)
        call_log.ringing_admin(admin.name, admin.endpoint)
        biz = self.r.settings.business
        try:
            await self.r.ari.originate(
                admin.endpoint,
                channel_id=self.admin_id,
                app=self.r.app,
                app_args=f"admin,{self.plan.attempt_id}",
                caller_id=f"Callback <{dial_digits(self.plan.lead_phone)}>",
                timeout=self.calls.admin_ring_timeout,
                variables={"CALLBACK_APP": self.r.app, "CALLERID(name)": biz.caller_id_name[:40]},
            )
        except AriServerError as exc:
            if exc.allocation_failed:
                await self.r.journal.leg_update(self.admin_id, state="ended", cause_txt="Allocation failed")
                raise _End(*await self._allocation_failed(admin.endpoint, "admin")) from None
            raise
        except AriOutcomeUnknown:
            await self.r.journal.leg_update(self.admin_id, state="dial_unknown")
            log.warning("attempt %s: originate answer lost; following events", self.plan.attempt_id)
        else:
            await self.r.journal.leg_update(self.admin_id, state="requested")

        answered = await self._until(
            lambda: "up" if leg.in_stasis and leg.up_at else ("gone" if leg.ended else None),
            self.calls.admin_ring_timeout + _RING_MARGIN,
        )
        if answered != "up":
            cause = f" (cause {leg.cause} {leg.cause_txt})" if leg.cause is not None else ""
            raise _End(Outcome.ADMIN_UNAVAILABLE, f"admin {admin.name} did not answer{cause}")

    async def _allocation_failed(self, endpoint: str, role: str) -> tuple[Outcome, str]:
        """Tell an offline phone (admin unavailable) from an endpoint that doesn't exist (configuration)."""
        tech, _, resource = endpoint.partition("/")
        resource = resource.split("@", 1)[-1] if "@" in resource else resource
        try:
            ep = await self.r.ari.get_endpoint(tech, resource)
        except AriNotFound:
            return (
                Outcome.SYSTEM_ERROR,
                f"{role} endpoint {tech}/{resource} does not exist (check the config)",
            )
        if role == "admin":
            return Outcome.ADMIN_UNAVAILABLE, f"admin phone {endpoint} is not registered ({ep.state})"
        return Outcome.SYSTEM_ERROR, f"trunk {tech}/{resource} is not reachable ({ep.state})"

    async def _whisper(self) -> None:
        leg = self.legs[self.admin_id]
        key = self.calls.accept_key
        digits = dial_digits(self.plan.lead_phone).lstrip("+")
        media = self.r.media
        length = media.duration("admin-whisper") + media.digits_duration(digits) + media.duration("press-1")
        for round_no in (1, 2):
            leg.digits.clear()
            prompt = [media.uri("admin-whisper"), f"digits:{digits}", media.uri("press-1")]
            pb = await self._play(self.admin_id, prompt, f"whisper-{round_no}")

            def heard(pb: PlaybackState = pb) -> str | None:
                if key in leg.digits:
                    return "accepted"
                if leg.ended:
                    return "gone"
                return "prompted" if pb.finished_at is not None else None

            got = await self._until(heard, length + 10.0)
            if got in (None, "prompted"):
                got = await self._until(
                    lambda: "accepted" if key in leg.digits else ("gone" if leg.ended else None),
                    self.calls.accept_timeout,
                )
            if got == "accepted":
                call_log.admin_accepted(self.plan.admin.name, key)
                await self._stop(pb)
                return
            if got == "gone":
                raise _End(Outcome.ADMIN_UNAVAILABLE, f"admin {self.plan.admin.name} hung up at the whisper")
        raise _End(Outcome.ADMIN_UNAVAILABLE, f"admin {self.plan.admin.name} did not press {key}")

    async def _release_admin(self, prompt: str | None) -> None:
        admin = self.legs[self.admin_id]
        if admin.ended:
            return
        if prompt is not None:
            pb = await self._play(self.admin_id, [self.r.media.uri(prompt)], "release")
            await self._until(
                lambda: pb.finished_at is not None or admin.ended, self.r.media.duration(prompt) + 5.0
            )
        await self._hangup(self.admin_id)

    # -- lead -------------------------------------------------------------------------------------

    async def _ring_lead(self) -> LegState:
        admin = self.legs[self.admin_id]
        leg = self._add_leg(self.lead_id, "lead")
        number = dial_digits(self.plan.lead_phone)
        endpoint = self.r.settings.ari.trunk_template.format(number=number)
        await self.r.journal.leg_intent(self.plan.attempt_id, "lead", 1, self.lead_id, endpoint)
        call_log.ringing_lead(self.plan.lead_phone, endpoint)
        biz = self.r.settings.business
        cid_num = dial_digits(biz.caller_id_number)
        cid_name = biz.caller_id_name[:40]
        variables = {
            # create has no caller-ID parameter; PJSIP builds From from the connected line (FIELD-NOTES).
            "CALLERID(num)": cid_num,
            "CALLERID(name)": cid_name,
            "CONNECTEDLINE(num,i)": cid_num,
            "CONNECTEDLINE(name,i)": cid_name,
            "CALLBACK_APP": self.r.app,
        }
        try:
            await self.r.ari.create_channel(
                endpoint,
                channel_id=self.lead_id,
                app=self.r.app,
                app_args=f"lead,{self.plan.attempt_id}",
                variables=variables,
            )
        except AriServerError as exc:
            if exc.allocation_failed:
                await self.r.journal.leg_update(self.lead_id, state="ended", cause_txt="Allocation failed")
                raise _End(*await self._allocation_failed(endpoint, "lead")) from None
            raise
        except AriOutcomeUnknown:
            # create does not ring anything: look whether the channel exists before dialling it.
            try:
                await self.r.ari.get_channel(self.lead_id)
            except AriNotFound:
                raise _End(Outcome.SYSTEM_ERROR, "lead channel create: answer lost, no channel") from None

        ring_timeout = self.calls.final_lead_ring_timeout if self.plan.final else self.calls.lead_ring_timeout
        await self.r.journal.leg_update(self.lead_id, state="requested")
        self.lead_dialled = True
        try:
            await self.r.ari.dial(self.lead_id, timeout=ring_timeout)
        except AriOutcomeUnknown:
            await self.r.journal.leg_update(self.lead_id, state="dial_unknown")
            log.warning("attempt %s: dial answer lost; resolving from events", self.plan.attempt_id)
        except AriNotFound:
            pass  # the channel ended before the dial: ChannelDestroyed tells why

        def rung() -> str | None:
            if leg.up_at is not None and not leg.destroyed:
                return "up"
            if leg.destroyed:
                return "gone"
            if admin.ended:
                return "admin-gone"
            return None

        got = await self._until(rung, ring_timeout + _RING_MARGIN)
        if got is None:
            got = await self._settle_unknown_lead(leg)
        if got == "up":
            return leg
        if got == "admin-gone":
            await self._hangup(self.lead_id)
            raise _End(Outcome.ADMIN_UNAVAILABLE, f"admin {self.plan.admin.name} hung up while the lead rang")
        # The lead leg ended without answering: wait briefly for the ChannelDestroyed cause if only the
        # hang-up request was seen.
        await self._until(lambda: leg.destroyed, 5.0)
        raise _End(self._classify_lead(leg, talk=None), self._describe(leg))

    async def _settle_unknown_lead(self, leg: LegState) -> str:
        """Nothing decisive within the ring time: ask Asterisk, then hang up what still rings."""
        try:
            ch = await self.r.ari.get_channel(leg.channel_id)
        except AriNotFound:
            leg.destroyed = True
            return "gone"
        if ch.state == "Up":
            leg.up_at = leg.up_at or self._now()
            return "up"
        await self._hangup(leg.channel_id)
        if leg.dial_status is None:
            leg.dial_status = "NOANSWER"
        return "gone"

    async def _detect_machine(self) -> str:
        """Send the answered lead through the AMD dialplan context and read the verdict on its way back."""
        leg = self.legs[self.lead_id]
        await self.r.ari.subscribe(self.r.app, f"channel:{self.lead_id}")
        await self.r.ari.continue_in_dialplan(
            self.lead_id, context=self.r.settings.ari.amd_context, extension=self.r.settings.ari.amd_extension
        )
        got = await self._until(lambda: leg.amd or ("gone" if leg.destroyed else None), 15.0)
        if got == "gone":
            raise _End(self._classify_lead(leg, talk=0.0), "lead hung up during answering-machine detection")
        status = got[0] if isinstance(got, tuple) else "NOTSURE"
        if status == "NOTSURE":
            status = "MACHINE" if self.calls.amd_notsure == "machine" else "HUMAN"
        if not leg.in_stasis:
            # No verdict came back into the application in time: the leg is somewhere in the dialplan.
            raise _End(Outcome.SYSTEM_ERROR, "lead did not return from the AMD context")
        return status

    # -- connected --------------------------------------------------------------------------------

    async def _bridge_and_talk(self, lead: LegState) -> AttemptResult:
        admin = self.legs[self.admin_id]
        if admin.ended:
            await self._hangup(self.lead_id)
            raise _End(Outcome.ADMIN_UNAVAILABLE, "admin hung up before the lead was connected")
        await self.r.ari.create_bridge(bridge_type="mixing", bridge_id=self.bridge_id, name=self.bridge_id)
        self.bridge_created = True
        assert self.sub is not None
        self.sub.add_bridge(self.bridge_id)
        await self.r.ari.add_channel(self.bridge_id, [self.admin_id, self.lead_id])
        await self._until(lambda: lead.bridged_at is not None or lead.ended or admin.ended, 5.0)
        bridged_at = lead.bridged_at or self._now()
        if not (lead.ended or admin.ended):
            call_log.bridged(self.plan.admin.name)
        if lead.bridged_at is None:
            lead.bridged_at = bridged_at
            await self.r.journal.leg_update(self.lead_id, state="bridged", bridged_at=bridged_at)
        drop_key = self.calls.drop_key

        def over() -> str | None:
            if lead.ended:
                return "lead"
            if admin.ended:
                return "admin"
            if not self.plan.final and drop_key and drop_key in admin.digits:
                return "drop"
            return None

        who = await self._until(over, _MAX_TALK_SECONDS)
        if who == "drop":
            return await self._admin_drop()
        talk = self._talk_seconds(lead, admin, bridged_at)
        outcome = self._classify_lead(lead, talk=talk)
        who_text = {"lead": "lead hung up", "admin": "admin hung up", None: "talk time limit"}[who]
        return AttemptResult(outcome, f"talked {talk:.0f} s; {who_text}", talk_seconds=talk)

    async def _admin_drop(self) -> AttemptResult:
        """The bridged admin pressed the drop key: a machine answered; leave the message and go."""
        await self._hangup(self.admin_id)
        try:
            await self.r.ari.remove_channel(self.bridge_id, [self.lead_id])
        except AriError:
            pass
        played, _whole = await self._play_drop()
        return AttemptResult(
            Outcome.LEAD_MACHINE, "admin pressed the drop key; voicemail left", drop_played_seconds=played
        )

    async def _voicemail_drop(self) -> AttemptResult:
        """Final attempt, machine: release the admin, wait for the beep, play the drop whole, hang up."""
        await self._release_admin("lead-machine-admin")
        lead = self.legs[self.lead_id]
        await self.r.ari.set_variable(self.lead_id, "TALK_DETECT(set)", str(self.calls.talk_detect_ms))
        # Talking starts at once while the greeting plays; if nothing starts, the greeting is already over.
        started = await self._until(lambda: lead.talking is not None or lead.ended, 3.0)
        if started and lead.talking:
            await self._until(lambda: lead.talk_finished or lead.ended, self.calls.greeting_timeout)
        if lead.ended:
            raise _End(Outcome.LEAD_MACHINE, "the machine hung up before the voicemail drop")
        played, whole = await self._play_drop()
        outcome = Outcome.VOICEMAIL_LEFT if whole else Outcome.LEAD_MACHINE
        detail = f"voicemail drop played {played:.1f} s" + ("" if whole else " (cut)")
        return AttemptResult(outcome, detail, drop_played_seconds=played)

    async def _play_drop(self) -> tuple[float, bool]:
        lead = self.legs[self.lead_id]
        length = self.r.media.known_length("voicemail-drop")
        pb = await self._play(self.lead_id, [self.r.media.uri("voicemail-drop")], "drop")
        await self._until(
            lambda: pb.finished_at is not None or lead.destroyed,
            self.r.media.duration("voicemail-drop") + 15.0,
        )
        started = pb.started_at
        finished = pb.finished_at
        if started is None or finished is None:
            return 0.0, False
        # On the PBX's clock when it gave both timestamps: events read late must not shorten the drop.
        if pb.pbx_started is not None and pb.pbx_finished is not None:
            played = (pb.pbx_finished - pb.pbx_started).total_seconds()
            hung_up_first = lead.pbx_left is not None and lead.pbx_left < pb.pbx_finished
        else:
            played = (finished - started).total_seconds()
            hung_up_first = lead.gone_at is not None and lead.gone_at < finished
        # PlaybackFinished says "done" for a stopped playback too: judge by the time played, before hang-up.
        # Without the file's length (not in our manifest) "done" before any hang-up is all we can go by.
        long_enough = length is None or played >= 0.9 * length
        whole = pb.state == "done" and not hung_up_first and long_enough
        await self._hangup(self.lead_id)
        return played, whole

    # -- helpers ----------------------------------------------------------------------------------

    def _add_leg(self, channel_id: str, role: str) -> LegState:
        assert self.sub is not None
        leg = LegState(channel_id, role)
        self.legs[channel_id] = leg
        self.sub.add_channel(channel_id)  # before the request: we choose the id, events may beat the answer
        return leg

    async def _play(self, channel_id: str, media: list[str], label: str) -> PlaybackState:
        pb_id = f"{channel_id}-{label}"
        pb = PlaybackState(pb_id)
        self.playbacks[pb_id] = pb
        await self.r.ari.play(channel_id, media, playback_id=pb_id)
        return pb

    async def _stop(self, pb: PlaybackState) -> None:
        if pb.finished_at is not None:
            return
        try:
            await self.r.ari.stop_playback(pb.id)
        except AriNotFound:
            pass

    async def _hangup(self, channel_id: str) -> None:
        leg = self.legs.get(channel_id)
        if leg is not None and leg.destroyed:
            return
        try:
            await self.r.ari.hangup(channel_id)
        except AriNotFound:
            pass
        except AriError as exc:
            log.warning("hangup of %s failed: %s", channel_id, exc)

    def _classify_lead(self, leg: LegState, *, talk: float | None) -> Outcome:
        facts = LeadLegFacts(
            cause=leg.cause,
            dial_status=leg.dial_status,
            answered=leg.up_at is not None,
            talk_seconds=talk,
            final_attempt=self.plan.final,
        )
        return classify_lead(facts, min_talk_seconds=self.calls.min_talk_seconds)

    def _talk_seconds(self, lead: LegState, admin: LegState, bridged_at: datetime) -> float:
        """From the lead entering the bridge to the first leg leaving it, on the PBX's clock when it said
        both (our clock only as a fallback: events read late would shorten the talk)."""
        ends = [t for t in (lead.pbx_left, admin.pbx_left) if t is not None]
        if lead.pbx_bridged is not None and ends:
            return max(0.0, (min(ends) - lead.pbx_bridged).total_seconds())
        ended_at = lead.gone_at or admin.gone_at or self._now()
        return max(0.0, (ended_at - bridged_at).total_seconds())

    @staticmethod
    def _describe(leg: LegState) -> str:
        parts = []
        if leg.cause is not None:
            parts.append(f"cause {leg.cause} {leg.cause_txt}".strip())
        if leg.dial_status:
            parts.append(f"dial status {leg.dial_status}")
        return ", ".join(parts) or "ended without a cause"

    async def _cleanup(self) -> None:
        for channel_id, leg in self.legs.items():
            if not leg.destroyed:
                await self._hangup(channel_id)
        # Let each leg's ChannelDestroyed (its cause) reach the journal before this attempt lets go of it.
        await self._until(lambda: all(leg.destroyed for leg in self.legs.values()), _SETTLE_SECONDS)
        for channel_id, leg in self.legs.items():
            if not leg.destroyed:
                await self.r.journal.leg_update(channel_id, state="ended", ended_at=self._now())
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
