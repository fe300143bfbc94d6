"""The simulated PBX's objects: channels, bridges, playbacks, applications, inspection records."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from .destination import Destination
from .events import ari_time
from .scenario import Callee

ChannelState = Literal["Down", "Ring", "Ringing", "Up"]  # Ring: an inbound call not yet answered
DialKind = Literal["originate", "dial"]


def _iso(moment: datetime | None) -> str | None:
    return ari_time(moment) if moment else None


@dataclass
class MediaItemRecord:
    """One item of a playback's media list as a channel heard it: whole, cut short, or never reached."""

    media_uri: str
    started: datetime | None = None
    ended: datetime | None = None
    played: Literal["whole", "cut", "failed", "not_played"] = "not_played"
    units_cut: int = 0  # digits:/number: items: sounds cut short by a stop while the item went on

    def to_json(self) -> dict[str, Any]:
        seconds = (self.ended - self.started).total_seconds() if self.started and self.ended else 0.0
        return {
            "media_uri": self.media_uri,
            "started": _iso(self.started),
            "ended": _iso(self.ended),
            "played": self.played,
            "units_cut": self.units_cut,
            "played_seconds": round(seconds, 3),
        }


@dataclass
class StopRequest:
    """A DELETE /playbacks/{id}: when, what it answered, which item was playing."""

    at: datetime
    status: int
    media_uri: str

    def to_json(self) -> dict[str, Any]:
        return {"at": ari_time(self.at), "status": self.status, "media_uri": self.media_uri}


@dataclass
class PlaybackRecord:
    """One playback as a channel heard it (kept after the channel is gone)."""

    channel_id: str
    media_uri: str
    playback_id: str
    target_uri: str
    started: datetime | None = None
    ended: datetime | None = None
    finished: bool = False
    cut: bool = False
    failed: bool = False
    early: bool = False
    played_seconds: float = 0.0
    items: list[MediaItemRecord] = field(default_factory=list)
    stops: list[StopRequest] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "media_uri": self.media_uri,
            "playback_id": self.playback_id,
            "target_uri": self.target_uri,
            "started": _iso(self.started),
            "ended": _iso(self.ended),
            "finished": self.finished,
            "cut": self.cut,
            "failed": self.failed,
            "early": self.early,
            "played_seconds": round(self.played_seconds, 3),
            "items": [i.to_json() for i in self.items],
            "stops": [s.to_json() for s in self.stops],
        }


@dataclass
class Playback:
    id: str
    media: list[str]
    target_kind: Literal["channel", "bridge"]
    target_id: str
    language: str = "en"
    state: str = "queued"
    current: int = 0
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    cut_unit: asyncio.Event = field(default_factory=asyncio.Event)  # a stop during a digits: item
    # Asterisk's flag: set once a sound:/recording:/tone: item has played, never cleared.
    controllable: bool = False
    records: list[PlaybackRecord] = field(default_factory=list)

    @property
    def target_uri(self) -> str:
        return f"{self.target_kind}:{self.target_id}"

    @property
    def media_uri(self) -> str:
        return self.media[min(self.current, len(self.media) - 1)]

    @property
    def next_media_uri(self) -> str | None:
        return self.media[self.current + 1] if self.current + 1 < len(self.media) else None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "media_uri": self.media_uri}
        if self.next_media_uri is not None:  # Asterisk sends the key only when there is a next item
            body["next_media_uri"] = self.next_media_uri
        body |= {"target_uri": self.target_uri, "language": self.language, "state": self.state}
        return body


@dataclass
class Channel:
    id: str
    name: str
    dest: Destination
    kind: Literal["originate", "create", "inbound"]
    created: datetime
    protocol_id: str
    caller: dict[str, str]
    connected: dict[str, str]
    dialplan: dict[str, Any]
    state: ChannelState = "Down"
    stasis_app: str | None = None
    pending_app: str | None = None  # originate: the app it enters when answered
    app_args: list[str] = field(default_factory=list)
    subscribers: set[str] = field(default_factory=set)  # explicit subscriptions
    variables: dict[str, str] = field(default_factory=dict)
    bridge_id: str | None = None
    dialed: bool = False
    dial_timeout: float = 0.0
    callee: Callee | None = None
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    playback_tail: asyncio.Event | None = None
    ever_bridged: bool = False
    hanging_up: bool = False
    last_app: str | None = None
    dtmf_scheduled: bool = False
    target_dialplan: tuple[str, str, int] | None = None  # originate into a context instead of an app
    inbound: Any = None  # a call to the PBX: its scripted caller (``inbound.InboundCaller``)
    recorded: bool = False  # a recording has started on it (the inbound caller speaks, then hangs up)

    @property
    def rtp(self) -> bool:
        """Media over RTP (a SIP leg), which Asterisk can bridge natively; Local channels can't."""
        return self.dest.tech.upper() != "LOCAL"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "protocol_id": self.protocol_id,
            "caller": dict(self.caller),
            "connected": dict(self.connected),
            "accountcode": "",
            "dialplan": dict(self.dialplan),
            "creationtime": ari_time(self.created),
            "language": "en",
        }


@dataclass
class Bridge:
    id: str
    name: str
    bridge_type: str
    created: datetime
    channels: list[str] = field(default_factory=list)
    subscribers: set[str] = field(default_factory=set)
    playback_tail: asyncio.Event | None = None
    dtmf_events: bool = False  # asked for with type `dtmf_events` (or `proxy_media`): never native
    native: bool = False  # two RTP legs switched to native_rtp: their keys bypass the application

    def to_json(self) -> dict[str, Any]:
        technology = "holding_bridge" if self.bridge_type == "holding" else "simple_bridge"
        if self.bridge_type == "mixing" and len(self.channels) > 2:
            technology = "softmix"
        if self.native:
            technology = "native_rtp"
        return {
            "id": self.id,
            "technology": technology,
            "bridge_type": self.bridge_type,
            "bridge_class": "stasis",
            "creator": "Stasis",
            "name": self.name,
            "channels": list(self.channels),
            "creationtime": ari_time(self.created),
            "video_mode": "talker",
        }


@dataclass
class DialRecord:
    channel_id: str
    endpoint: str
    destination: str
    number: str
    kind: DialKind
    at: datetime
    behaviour: str
    allocated: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "channel_id": self.channel_id,
            "endpoint": self.endpoint,
            "destination": self.destination,
            "number": self.number,
            "kind": self.kind,
            "at": ari_time(self.at),
            "behaviour": self.behaviour,
            "allocated": self.allocated,
        }


@dataclass
class CallRecord:
    """A channel's whole story, kept after it is destroyed."""

    channel_id: str
    endpoint: str
    number: str
    behaviour: str | None = None
    created: datetime | None = None
    dialed: datetime | None = None
    answered: datetime | None = None
    bridged: datetime | None = None
    greeting_end: datetime | None = None
    beep_end: datetime | None = None
    amd_status: str | None = None
    amd_cause: str | None = None
    amd_params: dict[str, int] | None = None  # the parameters AMD ran with (channel variables, else amd.conf)
    dtmf_sent: str = ""
    dtmf_to_app: str = ""  # keys pressed here that reached the application as ChannelDtmfReceived
    dtmf_heard: str = ""  # keys pressed by the other party of a bridge, heard on this leg
    dtmf_received_from_app: str = ""
    dials_refused: int = 0  # dials answered 409 (e.g. sent before StasisStart): nothing was dialled
    hangups_asked: int = 0  # DELETE /channels/{id} received, answered or not (404 once it is gone)
    hangup_cause: int | None = None
    hangup_by: str | None = None
    destroyed: datetime | None = None
    playbacks: list[PlaybackRecord] = field(default_factory=list)
    inbound: dict[str, Any] | None = None  # a call to the PBX: caller, dialled, Stasis status, fallback

    def to_json(self) -> dict[str, Any]:
        return {
            "inbound": self.inbound,
            "channel_id": self.channel_id,
            "endpoint": self.endpoint,
            "number": self.number,
            "behaviour": self.behaviour,
            "created": _iso(self.created),
            "dialed": _iso(self.dialed),
            "answered": _iso(self.answered),
            "bridged": _iso(self.bridged),
            "greeting_end": _iso(self.greeting_end),
            "beep_end": _iso(self.beep_end),
            "amd": {"status": self.amd_status, "cause": self.amd_cause, "params": self.amd_params}
            if self.amd_status
            else None,
            "dtmf_pressed": self.dtmf_sent,
            "dtmf_to_app": self.dtmf_to_app,
            "dtmf_heard": self.dtmf_heard,
            "dials_refused": self.dials_refused,
            "hangups_asked": self.hangups_asked,
            "dtmf_sent_by_app": self.dtmf_received_from_app,
            "hangup_cause": self.hangup_cause,
            "hangup_by": self.hangup_by,
            "destroyed": _iso(self.destroyed),
            "alive": self.destroyed is None,
            "playbacks": [p.to_json() for p in self.playbacks],
        }


@dataclass
class Application:
    """A Stasis application; it stays registered (with its channels) when its socket drops."""

    name: str
    sink: asyncio.Queue[dict[str, Any] | None] | None = None
    subscribe_all: bool = False
    # PUT /applications/{app}/eventFilter, kept as given (lists of {"type": ...}), as Asterisk keeps them.
    events_allowed: list[Any] = field(default_factory=list)
    events_disallowed: list[Any] = field(default_factory=list)

    def sends(self, kind: str) -> bool:
        """Asterisk's rule (res/stasis/app.c, stasis_app_event_allowed): not disallowed, and allowed when
        the allowed list is empty or names the type."""
        if any(f.get("type") == kind for f in self.events_disallowed):
            return False
        return not self.events_allowed or any(f.get("type") == kind for f in self.events_allowed)
