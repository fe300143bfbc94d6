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
from datetime import datetime, timedelta
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
from .ids import CallIds
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
# Wall seconds to wait for a created channel's StasisStart: Asterisk answers the create, then hands the
# channel to the application on another thread (1.4-4.6 ms measured); a dial sent before it is refused.
_STASIS_WAIT_WALL = 5.0
# Business seconds after talk detection is armed within which a greeting still playing is reported.
_FIRST_WORD = 3.0
# Business seconds between looks at the lead's received RTP packets while waiting for a greeting's end.
_AUDIO_CHECK = 1.0
# Wall seconds, on top of what is left to play, to wait for a stopped playback's PlaybackFinished.
_STOP_MARGIN_WALL = 2.0


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
    # Asterisk answered our create/originate with this id: only then is the channel ours to hang up. A
    # refused create (409: the id is taken) leaves nothing of ours to clean up.
    created: bool = False
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
    pbx_left: datetime | None = None  # left the bridge, or hung up
    pbx_hung_up: datetime | None = None
    amd: tuple[str, str] | None = None
    digits: list[str] = field(default_factory=list)
    talking: bool | None = None  # None: no talk-detect event yet
    talk_finished: bool = False
    talk_starts: int = 0
    talk_armed_at: datetime | None = None

    @property
    def ended(self) -> bool:
        return self.destroyed or self.hangup_requested


@dataclass
class PlaybackState:
    id: str
    channel_id: str = ""
    length: float = 0.0  # business seconds it lasts when played whole (an estimate where unknown)
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
        installation: str,
        ari: AriClient,
        router: EventRouter,
        journal: LegJournal,
        clock: Clock,
        settings: Settings,
        media: MediaCatalog,
        app: str,
    ) -> None:
        self.installation = installation
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
        self.ids = CallIds(runner.installation, plan.attempt_id)
        self.admin_id = self.ids.leg("admin")
        self.lead_id = self.ids.leg("lead")
        self.bridge_id = self.ids.bridge
        self.legs: dict[str, LegState] = {}
        self.playbacks: dict[str, PlaybackState] = {}
        self.bridge_created = False
        self.sub: Subscription | None = None
        self.lead_dialled = False
        self._no_packet_count = False

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
                leg.pbx_hung_up = leg.pbx_hung_up or _pbx_time(ev.timestamp)
        elif isinstance(ev, ChannelDestroyed):
            leg.pbx_left = leg.pbx_left or _pbx_time(ev.timestamp)
            leg.pbx_hung_up = leg.pbx_hung_up or _pbx_time(ev.timestamp)
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
            leg.talk_starts += 1
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

    async def _until(self, cond: Callable[[], T | None], seconds: float, *, wall: bool = False) -> T | None:
        """Wait up to ``seconds`` of business (or wall) time for ``cond`` to return something truthy."""
        assert self.sub is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, seconds) / (1.0 if wall else self.r.clock.speed)
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
            result = AttemptResult(
                Outcome.SYSTEM_ERROR, f"PBX unreachable: {exc.ari_message or exc}{self._lead_evidence()}"
            )
        except AriError as exc:
            # An error or timeout on our side of ARI is never the lead's outcome (it would spend one of their
            # attempts, or close the request, on our fault): system_error, with what the lead leg did.
            result = AttemptResult(
                Outcome.SYSTEM_ERROR,
                f"ARI error in {exc.operation}: {exc.status} {exc}{self._lead_evidence()}",
            )
        finally:
            await self._cleanup()
            self.sub.close()
        result.admin_name = result.admin_name or self.plan.admin.name
        result.lead_dialled = self.lead_dialled
        return result

    def _lead_evidence(self) -> str:
        lead = self.legs.get(self.lead_id)
        if lead is None:
            return "; the lead was not dialled"
        if not self.lead_dialled:
            return "; the lead's channel was never dialled"
        seen = ["answered" if lead.up_at else "not answered"]
        if lead.bridged_at:
            seen.append("bridged")
        if lead.destroyed:
            seen.append(self._describe(lead))
        return "; lead leg: " + ", ".join(seen)

    async def _run(self) -> AttemptResult:
        await self._ring_admin()
        if self.calls.whisper:
            await self._whisper()
        ringback = await self._play(self.admin_id, ["tone:ring;tonezone=us"], "ringback")
        lead = await self._ring_lead()
        # A tone stops at once; the admin joins the bridge only once it really has (recording 15).
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
            # Sent, answer lost: the id is this installation's alone, so a channel by that id is ours.
            leg.created = True
            await self.r.journal.leg_update(self.admin_id, state="dial_unknown")
            log.warning("attempt %s: originate answer lost; following events", self.plan.attempt_id)
        else:
            leg.created = True
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
        # Every item a sound: a stop during a digits: item is ignored by Asterisk and the rest plays on
        # (recording 15), while a stop during a sound item ends the whole list at once.
        items = ["admin-whisper", *(f"digit-{d}" for d in digits), "press-1"]
        for round_no in (1, 2):
            leg.digits.clear()
            pb = await self._play_prompts(self.admin_id, items, f"whisper-{round_no}")
            length = pb.length

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
                if pb.finished_at is None and not leg.ended:
                    raise _End(Outcome.SYSTEM_ERROR, "the whisper did not stop when the admin accepted")
                return
            if got == "gone":
                raise _End(Outcome.ADMIN_UNAVAILABLE, f"admin {self.plan.admin.name} hung up at the whisper")
        raise _End(Outcome.ADMIN_UNAVAILABLE, f"admin {self.plan.admin.name} did not press {key}")

    async def _release_admin(self, prompt: str | None) -> None:
        await self._let_admin_go(await self._tell_admin(prompt))

    async def _tell_admin(self, prompt: str | None) -> PlaybackState | None:
        """Start a last prompt to the admin (None: nothing to say, or the admin is gone)."""
        if prompt is None or self.legs[self.admin_id].ended:
            return None
        return await self._play_prompts(self.admin_id, [prompt], "release")

    async def _let_admin_go(self, told: PlaybackState | None) -> None:
        """Hang up the admin once their last prompt has played."""
        admin = self.legs[self.admin_id]
        if told is not None:
            await self._until(lambda: told.finished_at is not None or admin.ended, told.length + 5.0)
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
        leg.created = True

        # Asterisk answers the create before the channel is in the application; a dial sent before its
        # StasisStart is refused with 409 and dials nothing (recording 14). The subscription is older than
        # the create, so the StasisStart is never missed.
        entered = await self._until(
            lambda: "in" if leg.in_stasis else ("gone" if leg.ended else None), _STASIS_WAIT_WALL, wall=True
        )
        if entered != "in":
            raise _End(Outcome.SYSTEM_ERROR, "the lead's channel never entered the application; not dialled")

        ring_timeout = self.calls.final_lead_ring_timeout if self.plan.final else self.calls.lead_ring_timeout
        await self.r.journal.leg_update(self.lead_id, state="requested")
        try:
            await self.r.ari.dial(self.lead_id, timeout=ring_timeout)
        except AriOutcomeUnknown:
            # Sent, answer lost: the phone may ring. Resolve from events, never dial again.
            self.lead_dialled = True
            await self.r.journal.leg_update(self.lead_id, state="dial_unknown")
            log.warning("attempt %s: dial answer lost; resolving from events", self.plan.attempt_id)
        except AriError as exc:
            # Refused (or the channel vanished first): Asterisk dialled nothing, so it is not the lead's
            # outcome. A refused channel stays Down in the application until hung up (cleanup does).
            await self.r.journal.leg_update(self.lead_id, cause_txt=f"dial refused: {exc.status} {exc}"[:200])
            raise _End(
                Outcome.SYSTEM_ERROR, f"Asterisk refused the lead's dial ({exc.status} {exc}); not dialled"
            ) from None
        else:
            self.lead_dialled = True  # only once Asterisk accepted the dial

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
        if self.plan.final:
            # Listen from the answer: on a machine the drop must wait for the greeting's end, which may come
            # while AMD decides or while the admin hears the release prompt (a 3 s greeting did).
            await self._listen_for_talk(leg)
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
        drop_key = self.calls.drop_key if not self.plan.final else ""
        # With plain mixing Asterisk bridges two SIP legs natively the moment the second joins, and the
        # admin's keys never reach us (recording 16); dtmf_events keeps the media in Asterisk. The lead
        # still hears the keys.
        bridge_type = "mixing,dtmf_events" if drop_key else "mixing"
        await self.r.ari.create_bridge(bridge_type=bridge_type, bridge_id=self.bridge_id, name=self.bridge_id)
        self.bridge_created = True
        assert self.sub is not None
        self.sub.add_bridge(self.bridge_id)
        await self.r.ari.add_channel(self.bridge_id, [self.admin_id, self.lead_id])
        # Wall time: how long Asterisk takes to answer is not business time.
        await self._until(lambda: lead.bridged_at is not None or lead.ended or admin.ended, 5.0, wall=True)
        if lead.bridged_at is None and not (lead.ended or admin.ended):
            raise _End(Outcome.SYSTEM_ERROR, "the lead was added to the bridge but never entered it")
        bridged_at = lead.bridged_at or self._now()
        if not (lead.ended or admin.ended):
            call_log.bridged(self.plan.admin.name)
        if lead.bridged_at is None:
            lead.bridged_at = bridged_at
            await self.r.journal.leg_update(self.lead_id, state="bridged", bridged_at=bridged_at)
        admin.digits.clear()  # keys from the whisper are not a drop request

        def over() -> str | None:
            if lead.ended:
                return "lead"
            if admin.ended:
                return "admin"
            if drop_key and drop_key in admin.digits:
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
        # The admin presses 9 while the greeting plays: the message must wait for its beep.
        lead = self.legs[self.lead_id]
        await self._listen_for_talk(lead)
        waited = await self._until_greeting_over(lead)
        if lead.ended:
            raise _End(
                Outcome.LEAD_MACHINE, "admin pressed the drop key; the machine hung up before the drop"
            )
        talk_starts = lead.talk_starts
        played, whole = await self._finish_drop(await self._start_drop())
        detail = "admin pressed the drop key; voicemail " + ("left" if whole else "cut")
        return AttemptResult(
            Outcome.LEAD_MACHINE,
            detail + self._drop_notes(lead, talk_starts, waited),
            drop_played_seconds=played,
        )

    async def _voicemail_drop(self) -> AttemptResult:
        """Final attempt, machine: release the admin, wait for the beep, play the drop whole, hang up."""
        lead = self.legs[self.lead_id]
        # Talk detection has listened since the answer (_detect_machine). The admin hears why they are let
        # go while we wait for the beep: after a 3 s greeting, waiting for the admin's prompt first left
        # seconds of dead air on the recording.
        told = await self._tell_admin("lead-machine-admin")
        waited = await self._until_greeting_over(lead)
        if lead.ended:
            await self._let_admin_go(told)
            raise _End(Outcome.LEAD_MACHINE, "the machine hung up before the voicemail drop")
        talk_starts = lead.talk_starts
        drop = await self._start_drop()
        await self._let_admin_go(told)
        played, whole = await self._finish_drop(drop)
        over_greeting = lead.talk_starts > talk_starts
        outcome = Outcome.VOICEMAIL_LEFT if whole and not over_greeting else Outcome.LEAD_MACHINE
        detail = f"voicemail drop played {played:.1f} s" + ("" if whole else " (cut)")
        return AttemptResult(
            outcome, detail + self._drop_notes(lead, talk_starts, waited), drop_played_seconds=played
        )

    @staticmethod
    def _drop_notes(lead: LegState, talk_starts: int, waited: str) -> str:
        notes = ""
        if lead.talk_starts > talk_starts:
            # The far end spoke again while the drop played: the greeting was not over, so the start of the
            # message went onto the greeting, not the recording.
            notes += "; it began before the beep (the greeting went on)"
        if waited == "no-audio":
            notes += "; no end of the greeting was heard, dropped after the longest wait"
        elif waited == "quiet":
            notes += "; the box sent no audio after its greeting"
        return notes

    async def _listen_for_talk(self, lead: LegState) -> None:
        lead.talk_armed_at = self._now()
        await self.r.ari.set_variable(self.lead_id, "TALK_DETECT(set)", str(self.calls.talk_detect_ms))

    async def _until_greeting_over(self, lead: LegState) -> str:
        """Wait for the greeting and its beep to end: silence for ``talk_detect_ms`` after the far end last
        spoke; a pause shorter than that is a pause. Nothing heard at all soon after talk detection was
        armed: no greeting to wait for. A box that sends no audio after its beep never reports the
        silence, so the wait is bounded by ``greeting_timeout`` from when listening began."""
        armed = lead.talk_armed_at or self._now()
        since = (self._now() - armed).total_seconds()
        await self._until(lambda: lead.ended or lead.talking is not None, max(0.0, _FIRST_WORD - since))
        if lead.talking is None:
            return "silent"
        deadline = armed + timedelta(seconds=self.calls.greeting_timeout)
        quiet_for = timedelta(milliseconds=self.calls.talk_detect_ms)
        packets: int | None = None
        last_packet = self._now()
        while True:
            left = (deadline - self._now()).total_seconds()
            got = await self._until(
                lambda: lead.ended or (lead.talk_finished and lead.talking is False),
                max(0.0, min(left, _AUDIO_CHECK)),
            )
            if got:
                return "heard"
            if left <= _AUDIO_CHECK:
                return "no-audio"
            # A box that sends no audio after its beep (silence suppression) never lets talk detection hear
            # the silence: the RTP packets it sends stop instead.
            count = await self._received_packets()
            if count is None:
                continue
            if packets is None or count > packets:
                packets, last_packet = count, self._now()
            elif self._now() - last_packet >= quiet_for:
                return "quiet"

    async def _received_packets(self) -> int | None:
        """RTP packets received on the lead's leg (PJSIP channels), or None where Asterisk can't tell."""
        if self._no_packet_count:
            return None
        try:
            return int(await self.r.ari.get_variable(self.lead_id, "CHANNEL(rtcp,rxcount)"))
        except (AriError, ValueError):
            self._no_packet_count = True
            return None

    async def _start_drop(self) -> PlaybackState:
        return await self._play_prompts(self.lead_id, ["voicemail-drop"], "drop")

    async def _finish_drop(self, pb: PlaybackState) -> tuple[float, bool]:
        """Wait for the drop to end; how long it played, and whether it played whole before any hang-up."""
        lead = self.legs[self.lead_id]
        length = self.r.media.known_length("voicemail-drop")
        await self._until(lambda: pb.finished_at is not None or lead.destroyed, pb.length + 15.0)
        started = pb.started_at
        finished = pb.finished_at
        if started is None or finished is None:
            return 0.0, False
        # On the PBX's clock when it gave both timestamps: events read late must not shorten the drop.
        if pb.pbx_started is not None and pb.pbx_finished is not None:
            played = (pb.pbx_finished - pb.pbx_started).total_seconds()
            # Hung up, not merely out of the bridge: after a press of 9 the lead leaves it before the drop.
            hung_up_first = lead.pbx_hung_up is not None and lead.pbx_hung_up < pb.pbx_finished
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

    async def _play(
        self, channel_id: str, media: list[str], label: str, *, length: float = 0.0
    ) -> PlaybackState:
        pb_id = CallIds.playback(channel_id, label)
        pb = PlaybackState(pb_id, channel_id, length)
        self.playbacks[pb_id] = pb
        await self.r.ari.play(channel_id, media, playback_id=pb_id)
        return pb

    async def _play_prompts(self, channel_id: str, names: list[str], label: str) -> PlaybackState:
        """Our named prompts as one playlist of sound items."""
        media = self.r.media
        length = sum(media.duration(name) for name in names)
        return await self._play(channel_id, [media.uri(name) for name in names], label, length=length)

    async def _stop(self, pb: PlaybackState) -> None:
        """Stop a playback for real. Asterisk's 204 does not mean the audio stopped, and a playback it cannot
        stop answers 500 and plays on (recording 15): go on only after its PlaybackFinished, or once what is
        left of it has had time to play."""
        if pb.finished_at is not None:
            return
        try:
            await self.r.ari.stop_playback(pb.id)
        except AriNotFound:
            pb.finished_at = pb.finished_at or self._now()  # already over
            return
        except AriServerError as exc:
            log.info(
                "attempt %s: %s could not be stopped (%s); waiting for its end",
                self.plan.attempt_id,
                pb.id,
                exc.ari_message or exc.status,
            )
        leg = self.legs.get(pb.channel_id)
        played = (self._now() - pb.started_at).total_seconds() if pb.started_at else 0.0
        await self._until(
            lambda: pb.finished_at is not None or (leg is not None and leg.ended),
            max(0.0, pb.length - played) / self.r.clock.speed + _STOP_MARGIN_WALL,
            wall=True,
        )
        if pb.finished_at is None:
            log.warning("attempt %s: %s still playing after its stop", self.plan.attempt_id, pb.id)

    async def _hangup(self, channel_id: str) -> None:
        leg = self.legs.get(channel_id)
        if leg is not None and (leg.destroyed or not leg.created):
            return  # never hang up a channel Asterisk did not create for us: the id may be someone else's
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
        await self._until(
            lambda: all(leg.destroyed or not leg.created for leg in self.legs.values()), _SETTLE_SECONDS
        )
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
