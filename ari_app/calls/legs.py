"""What one attempt knows about its channels and playbacks, and how each ARI event changes it.

Pure bookkeeping (no I/O): ``observe`` applies one event and says what is worth journalling, so the rules
("Up" means answered, the cause is on ChannelDestroyed, a soft hang-up request is not a hang-up, talk time is
on the PBX's clock) are tested without a network.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

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
from ..domain.statuses import LegStatus

# Events kept in the leg journal as they came; the others only change the leg's state.
_KEPT = (StasisStart, Dial, ChannelDestroyed, ChannelEnteredBridge, ChannelHangupRequest)


def pbx_time(stamp: str) -> datetime | None:
    """An ARI event timestamp ("2026-11-26T06:59:04.681+0000"), or None when absent or unreadable."""
    # fromisoformat reads Asterisk's stamps (Python >= 3.11) for a fraction of strptime's cost (0.3 vs
    # 20 µs measured), which matters at ~14 stamps per attempt (bench/README.md, issue 17).
    try:
        when = datetime.fromisoformat(stamp)
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo is not None else None  # a stamp without its offset is unreadable


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
    # AMD and talk detection on the PBX's clock (our clock as the fallback): the answer, the leg leaving the
    # application for the AMD context, the far end's last talk end (a greeting and its beep).
    pbx_up: datetime | None = None
    left_stasis_at: datetime | None = None
    pbx_left_stasis: datetime | None = None
    amd_seconds: float | None = None
    pbx_talk_end: datetime | None = None

    @property
    def ended(self) -> bool:
        return self.destroyed or self.hangup_requested

    def describe(self) -> str:
        parts = []
        if self.cause is not None:
            parts.append(f"cause {self.cause} {self.cause_txt}".strip())
        if self.dial_status:
            parts.append(f"dial status {self.dial_status}")
        return ", ".join(parts) or "ended without a cause"


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


def observe_playback(playbacks: dict[str, PlaybackState], ev: Event, now: datetime) -> None:
    if isinstance(ev, (PlaybackStarted, PlaybackFinished)):
        pb = playbacks.get(ev.playback.id)
        if pb is None:
            return
        if isinstance(ev, PlaybackStarted):
            pb.started_at = pb.started_at or now
            pb.pbx_started = pb.pbx_started or pbx_time(ev.timestamp)
        else:
            pb.finished_at = now
            pb.pbx_finished = pbx_time(ev.timestamp)
            pb.state = ev.playback.state


def observe_leg(
    legs: dict[str, LegState], ev: Event, now: datetime
) -> tuple[LegState, Event | None, dict[str, Any]] | None:
    """Apply ``ev`` to the leg it is about. Returns the leg, the event if it is worth keeping as it came,
    and the journal fields it changed; None when the event is about none of our legs."""
    channel = getattr(ev, "peer", None) if isinstance(ev, Dial) else getattr(ev, "channel", None)
    if channel is None:
        return None
    leg = legs.get(channel.id)
    if leg is None:
        return None
    fields: dict[str, Any] = {}
    if getattr(channel, "state", None):
        if channel.state == "Up" and leg.up_at is None and not leg.destroyed:
            leg.up_at = now
            leg.pbx_up = pbx_time(ev.timestamp)
            fields.update(state=LegStatus.UP, answered_at=now)
        leg.state = channel.state
    if isinstance(ev, StasisStart):
        leg.in_stasis = True
        if len(ev.args) >= 2 and ev.args[0] == "amd":
            leg.amd = (ev.args[1], ev.args[2] if len(ev.args) > 2 else "")
            leg.amd_seconds = _amd_seconds(leg, pbx_time(ev.timestamp), now)
            fields.update(amd_status=leg.amd[0], amd_cause=leg.amd[1], amd_seconds=leg.amd_seconds)
    elif isinstance(ev, StasisEnd):
        leg.in_stasis = False
        if leg.amd is None:  # on its way into the AMD context (or gone): where AMD's time starts
            leg.left_stasis_at = now
            leg.pbx_left_stasis = pbx_time(ev.timestamp)
    elif isinstance(ev, Dial):
        if ev.dialstatus:
            leg.dial_status = ev.dialstatus
            fields["dial_status"] = ev.dialstatus
            if ev.dialstatus == "RINGING" and leg.up_at is None:
                fields.setdefault("state", LegStatus.RINGING)
    elif isinstance(ev, ChannelStateChange):
        if channel.state in ("Ring", "Ringing") and leg.up_at is None:
            fields.setdefault("state", LegStatus.RINGING)
    elif isinstance(ev, ChannelHangupRequest):
        if not ev.soft:  # a soft hang-up request is only a flag, not the end of the channel
            leg.hangup_requested = True
            leg.pbx_left = leg.pbx_left or pbx_time(ev.timestamp)
            leg.pbx_hung_up = leg.pbx_hung_up or pbx_time(ev.timestamp)
    elif isinstance(ev, ChannelDestroyed):
        leg.pbx_left = leg.pbx_left or pbx_time(ev.timestamp)
        leg.pbx_hung_up = leg.pbx_hung_up or pbx_time(ev.timestamp)
        leg.destroyed = True
        leg.gone_at = now
        leg.cause = ev.cause
        leg.cause_txt = ev.cause_txt
        fields.update(state=LegStatus.ENDED, cause=ev.cause, cause_txt=ev.cause_txt, ended_at=now)
    elif isinstance(ev, ChannelDtmfReceived):
        leg.digits.append(ev.digit)
    elif isinstance(ev, ChannelLeftBridge):
        leg.pbx_left = leg.pbx_left or pbx_time(ev.timestamp)
    elif isinstance(ev, ChannelEnteredBridge):
        leg.pbx_bridged = leg.pbx_bridged or pbx_time(ev.timestamp)
        if leg.bridged_at is None:
            leg.bridged_at = now
            fields.update(state=LegStatus.BRIDGED, bridged_at=now)
    elif isinstance(ev, ChannelTalkingStarted):
        leg.talking = True
        leg.talk_starts += 1
    elif isinstance(ev, ChannelTalkingFinished):
        leg.talking = False
        leg.talk_finished = True
        leg.pbx_talk_end = pbx_time(ev.timestamp)
    return leg, (ev if isinstance(ev, _KEPT) else None), fields


def _amd_seconds(leg: LegState, pbx_back: datetime | None, now: datetime) -> float | None:
    """From the leg leaving the application for the AMD context to its return with the verdict: on the
    PBX's clock when both events said it (the worker may read them late), else on ours."""
    if leg.pbx_left_stasis is not None and pbx_back is not None:
        return round(max(0.0, (pbx_back - leg.pbx_left_stasis).total_seconds()), 3)
    if leg.left_stasis_at is not None:
        return round(max(0.0, (now - leg.left_stasis_at).total_seconds()), 3)
    return None


def greeting_end_seconds(lead: LegState) -> float | None:
    """When talk detection last heard the far end stop (a greeting and its beep), in seconds after the
    answer on the PBX's clock; None when it heard no end or the answer's time is unknown."""
    if lead.pbx_talk_end is None or lead.pbx_up is None:
        return None
    return round(max(0.0, (lead.pbx_talk_end - lead.pbx_up).total_seconds()), 3)


def talk_seconds(lead: LegState, admin: LegState, bridged_at: datetime, now: datetime) -> float:
    """From the lead entering the bridge to the first leg leaving it, on the PBX's clock when it said both
    (our clock only as a fallback: events read late would shorten the talk)."""
    ends = [t for t in (lead.pbx_left, admin.pbx_left) if t is not None]
    if lead.pbx_bridged is not None and ends:
        return max(0.0, (min(ends) - lead.pbx_bridged).total_seconds())
    ended_at = lead.gone_at or admin.gone_at or now
    return max(0.0, (ended_at - bridged_at).total_seconds())


def drop_played(pb: PlaybackState, lead: LegState, known_length: float | None) -> tuple[float, bool]:
    """How long the drop played and whether it played whole: PlaybackFinished says "done" for a stopped
    playback too, so it is judged by the time played before the lead hung up (on the PBX's clock when it
    gave both timestamps). Without the file's length, "done" before any hang-up is all we can go by."""
    if pb.started_at is None or pb.finished_at is None:
        return 0.0, False
    if pb.pbx_started is not None and pb.pbx_finished is not None:
        played = (pb.pbx_finished - pb.pbx_started).total_seconds()
        # Hung up, not merely out of the bridge: after a press of 9 the lead leaves it before the drop.
        hung_up_first = lead.pbx_hung_up is not None and lead.pbx_hung_up < pb.pbx_finished
    else:
        played = (pb.finished_at - pb.started_at).total_seconds()
        hung_up_first = lead.gone_at is not None and lead.gone_at < pb.finished_at
    long_enough = known_length is None or played >= 0.9 * known_length
    return played, pb.state == "done" and not hung_up_first and long_enough
