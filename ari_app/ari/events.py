"""ARI WebSocket events as typed, frozen dataclasses.

``parse_event`` turns one decoded frame into an ``Event``. A type we don't model becomes
``UnknownEvent`` (kept whole, never dropped); a frame that names a known type but lacks what that
type requires raises ``MalformedEvent``. Each event says which channels and bridges it concerns
(``channel_ids()``, ``bridge_ids()``) so the router can hand it to the object that owns the call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .models import Bridge, Channel, Playback


class MalformedEvent(ValueError):
    """A frame that is JSON but not an event we can read (no type, a required object missing)."""


@dataclass(frozen=True, kw_only=True)
class Event:
    type: str
    timestamp: str
    application: str
    asterisk_id: str
    raw: Mapping[str, Any] = field(repr=False, compare=False, hash=False)

    def channel_ids(self) -> tuple[str, ...]:
        return ()

    def bridge_ids(self) -> tuple[str, ...]:
        return ()


@dataclass(frozen=True, kw_only=True)
class _ChannelEvent(Event):
    channel: Channel

    def channel_ids(self) -> tuple[str, ...]:
        return (self.channel.id,)


@dataclass(frozen=True, kw_only=True)
class StasisStart(_ChannelEvent):
    args: tuple[str, ...]
    replace_channel: Channel | None = None

    def channel_ids(self) -> tuple[str, ...]:
        if self.replace_channel is not None:
            return (self.channel.id, self.replace_channel.id)
        return (self.channel.id,)


@dataclass(frozen=True, kw_only=True)
class StasisEnd(_ChannelEvent):
    pass


@dataclass(frozen=True, kw_only=True)
class ChannelStateChange(_ChannelEvent):
    pass


@dataclass(frozen=True, kw_only=True)
class ChannelDestroyed(_ChannelEvent):
    cause: int
    cause_txt: str
    tech_cause: int | None = None


@dataclass(frozen=True, kw_only=True)
class ChannelHangupRequest(_ChannelEvent):
    """``soft`` only says a soft hangup was requested; the leg's outcome is ChannelDestroyed's cause."""

    cause: int | None
    soft: bool


@dataclass(frozen=True, kw_only=True)
class ChannelDtmfReceived(_ChannelEvent):
    digit: str
    duration_ms: int


@dataclass(frozen=True, kw_only=True)
class ChannelVarset(Event):
    channel: Channel | None  # None for a global variable
    variable: str
    value: str

    def channel_ids(self) -> tuple[str, ...]:
        return (self.channel.id,) if self.channel is not None else ()


@dataclass(frozen=True, kw_only=True)
class ChannelTalkingStarted(_ChannelEvent):
    pass


@dataclass(frozen=True, kw_only=True)
class ChannelTalkingFinished(_ChannelEvent):
    duration: int  # milliseconds of talking


@dataclass(frozen=True, kw_only=True)
class ChannelDialplan(_ChannelEvent):
    dialplan_app: str
    dialplan_app_data: str


@dataclass(frozen=True, kw_only=True)
class ChannelCallerId(_ChannelEvent):
    caller_presentation: int
    caller_presentation_txt: str


@dataclass(frozen=True, kw_only=True)
class ChannelConnectedLine(_ChannelEvent):
    pass


@dataclass(frozen=True, kw_only=True)
class Dial(Event):
    """``dialstatus`` is "" at the start, then RINGING, ANSWER, BUSY, NOANSWER, CONGESTION, CANCEL...
    On PJSIP legs made by create + dial a failure often ends with no final status at all."""

    peer: Channel
    caller: Channel | None
    dialstatus: str
    dialstring: str
    forward: str

    def channel_ids(self) -> tuple[str, ...]:
        if self.caller is not None and self.caller.id != self.peer.id:
            return (self.peer.id, self.caller.id)
        return (self.peer.id,)


@dataclass(frozen=True, kw_only=True)
class _PlaybackEvent(Event):
    playback: Playback

    def channel_ids(self) -> tuple[str, ...]:
        kind, ident = self.playback.target()
        return (ident,) if kind == "channel" and ident else ()

    def bridge_ids(self) -> tuple[str, ...]:
        kind, ident = self.playback.target()
        return (ident,) if kind == "bridge" and ident else ()


@dataclass(frozen=True, kw_only=True)
class PlaybackStarted(_PlaybackEvent):
    pass


@dataclass(frozen=True, kw_only=True)
class PlaybackFinished(_PlaybackEvent):
    """State ``done`` also follows a stopped playback; ``failed`` follows a missing file."""


@dataclass(frozen=True, kw_only=True)
class _RecordingEvent(Event):
    """A live recording's news; routed by its ``target_uri`` (``channel:ID`` or ``bridge:ID``)."""

    name: str
    state: str  # queued, recording, paused, done, failed, canceled
    target_uri: str
    duration: int | None  # seconds, on RecordingFinished
    cause: str

    def channel_ids(self) -> tuple[str, ...]:
        kind, _, ident = self.target_uri.partition(":")
        return (ident,) if kind == "channel" and ident else ()

    def bridge_ids(self) -> tuple[str, ...]:
        kind, _, ident = self.target_uri.partition(":")
        return (ident,) if kind == "bridge" and ident else ()


@dataclass(frozen=True, kw_only=True)
class RecordingStarted(_RecordingEvent):
    pass


@dataclass(frozen=True, kw_only=True)
class RecordingFinished(_RecordingEvent):
    """Also after the caller hung up mid-recording: what was said is kept."""


@dataclass(frozen=True, kw_only=True)
class RecordingFailed(_RecordingEvent):
    pass


@dataclass(frozen=True, kw_only=True)
class _BridgeChannelEvent(Event):
    bridge: Bridge
    channel: Channel | None  # optional in the API description; present in every recording

    def channel_ids(self) -> tuple[str, ...]:
        return (self.channel.id,) if self.channel is not None else ()

    def bridge_ids(self) -> tuple[str, ...]:
        return (self.bridge.id,)


@dataclass(frozen=True, kw_only=True)
class ChannelEnteredBridge(_BridgeChannelEvent):
    pass


@dataclass(frozen=True, kw_only=True)
class ChannelLeftBridge(_BridgeChannelEvent):
    pass


@dataclass(frozen=True, kw_only=True)
class BridgeDestroyed(Event):
    bridge: Bridge

    def bridge_ids(self) -> tuple[str, ...]:
        return (self.bridge.id,)


@dataclass(frozen=True, kw_only=True)
class ApplicationReplaced(Event):
    """Another WebSocket took our application name; this socket gets nothing more."""


@dataclass(frozen=True, kw_only=True)
class UnknownEvent(Event):
    """A type we don't model. Routed by the ``channel``/``bridge`` ids it carries, if any."""

    def channel_ids(self) -> tuple[str, ...]:
        ch = self.raw.get("channel")
        if isinstance(ch, Mapping) and isinstance(ch.get("id"), str):
            return (ch["id"],)
        return ()

    def bridge_ids(self) -> tuple[str, ...]:
        br = self.raw.get("bridge")
        if isinstance(br, Mapping) and isinstance(br.get("id"), str):
            return (br["id"],)
        return ()


# -- parsing: one function per type, found through one dict look-up ----------------------------------


def _text(d: Mapping[str, Any], key: str) -> str:
    value = d.get(key)
    if type(value) is str:
        return value
    return str(value) if value else ""


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _opt_int(value: Any) -> int | None:
    return None if value is None else _int(value)


def _channel(d: Mapping[str, Any], key: str = "channel") -> Channel:
    value = d.get(key)
    if value is None:
        raise MalformedEvent(f"{d.get('type')} without {key!r}")
    try:
        return Channel.from_json(value)
    except ValueError as exc:
        raise MalformedEvent(f"{d.get('type')}: {exc}") from None


def _opt_channel(d: Mapping[str, Any], key: str) -> Channel | None:
    return _channel(d, key) if d.get(key) else None


def _bridge(d: Mapping[str, Any]) -> Bridge:
    try:
        return Bridge.from_json(d.get("bridge"))
    except ValueError as exc:
        raise MalformedEvent(f"{d.get('type')}: {exc}") from None


def _playback(d: Mapping[str, Any]) -> Playback:
    try:
        return Playback.from_json(d.get("playback"))
    except ValueError as exc:
        raise MalformedEvent(f"{d.get('type')}: {exc}") from None


E = TypeVar("E", bound=Event)
_new = object.__new__


def _event(cls: type[E], d: Mapping[str, Any], **fields: Any) -> E:
    """``cls`` from the fields every event has plus ``fields`` (which must name all the others),
    built like ``models.assemble`` (not through the generated ``__init__``) and written out here
    because it runs for every event."""
    fields["type"] = d["type"]
    fields["timestamp"] = _text(d, "timestamp")
    fields["application"] = _text(d, "application")
    fields["asterisk_id"] = _text(d, "asterisk_id")
    fields["raw"] = d
    event = _new(cls)
    event.__dict__.update(fields)
    return event


def _channel_event(cls: type[_ChannelEvent]) -> Callable[[Mapping[str, Any]], Event]:
    return lambda d: _event(cls, d, channel=_channel(d))


def _bridge_channel_event(cls: type[_BridgeChannelEvent]) -> Callable[[Mapping[str, Any]], Event]:
    return lambda d: _event(cls, d, bridge=_bridge(d), channel=_opt_channel(d, "channel"))


def _playback_event(cls: type[_PlaybackEvent]) -> Callable[[Mapping[str, Any]], Event]:
    return lambda d: _event(cls, d, playback=_playback(d))


def _stasis_start(d: Mapping[str, Any]) -> Event:
    return _event(
        StasisStart,
        d,
        channel=_channel(d),
        args=tuple(map(str, d.get("args") or ())),
        replace_channel=_opt_channel(d, "replace_channel"),
    )


def _channel_destroyed(d: Mapping[str, Any]) -> Event:
    return _event(
        ChannelDestroyed,
        d,
        channel=_channel(d),
        cause=_int(d.get("cause")),
        cause_txt=_text(d, "cause_txt"),
        tech_cause=_opt_int(d.get("tech_cause")),
    )


def _hangup_request(d: Mapping[str, Any]) -> Event:
    return _event(
        ChannelHangupRequest,
        d,
        channel=_channel(d),
        cause=_opt_int(d.get("cause")),
        soft=bool(d.get("soft", False)),
    )


def _dtmf(d: Mapping[str, Any]) -> Event:
    return _event(
        ChannelDtmfReceived,
        d,
        channel=_channel(d),
        digit=_text(d, "digit"),
        duration_ms=_int(d.get("duration_ms")),
    )


def _varset(d: Mapping[str, Any]) -> Event:
    value = d.get("value")
    return _event(
        ChannelVarset,
        d,
        channel=_opt_channel(d, "channel"),
        variable=_text(d, "variable"),
        value="" if value is None else str(value),
    )


def _talking_finished(d: Mapping[str, Any]) -> Event:
    return _event(ChannelTalkingFinished, d, channel=_channel(d), duration=_int(d.get("duration")))


def _dialplan(d: Mapping[str, Any]) -> Event:
    return _event(
        ChannelDialplan,
        d,
        channel=_channel(d),
        dialplan_app=_text(d, "dialplan_app"),
        dialplan_app_data=_text(d, "dialplan_app_data"),
    )


def _caller_id(d: Mapping[str, Any]) -> Event:
    return _event(
        ChannelCallerId,
        d,
        channel=_channel(d),
        caller_presentation=_int(d.get("caller_presentation")),
        caller_presentation_txt=_text(d, "caller_presentation_txt"),
    )


def _dial(d: Mapping[str, Any]) -> Event:
    return _event(
        Dial,
        d,
        peer=_channel(d, "peer"),
        caller=_opt_channel(d, "caller"),
        dialstatus=_text(d, "dialstatus"),
        dialstring=_text(d, "dialstring"),
        forward=_text(d, "forward"),
    )


def _recording_event(cls: type[_RecordingEvent]) -> Callable[[Mapping[str, Any]], Event]:
    def parse(d: Mapping[str, Any]) -> Event:
        rec = d.get("recording")
        if not isinstance(rec, Mapping) or not isinstance(rec.get("name"), str):
            raise MalformedEvent(f"{d.get('type')} without a recording")
        return _event(
            cls,
            d,
            name=rec["name"],
            state=_text(rec, "state"),
            target_uri=_text(rec, "target_uri"),
            duration=_opt_int(rec.get("duration")),
            cause=_text(rec, "cause"),
        )

    return parse


_PARSERS: dict[str, Callable[[Mapping[str, Any]], Event]] = {
    "StasisStart": _stasis_start,
    "StasisEnd": _channel_event(StasisEnd),
    "ChannelStateChange": _channel_event(ChannelStateChange),
    "ChannelDestroyed": _channel_destroyed,
    "ChannelHangupRequest": _hangup_request,
    "ChannelDtmfReceived": _dtmf,
    "ChannelVarset": _varset,
    "ChannelTalkingStarted": _channel_event(ChannelTalkingStarted),
    "ChannelTalkingFinished": _talking_finished,
    "ChannelDialplan": _dialplan,
    "ChannelCallerId": _caller_id,
    "ChannelConnectedLine": _channel_event(ChannelConnectedLine),
    "Dial": _dial,
    "PlaybackStarted": _playback_event(PlaybackStarted),
    "PlaybackFinished": _playback_event(PlaybackFinished),
    "ChannelEnteredBridge": _bridge_channel_event(ChannelEnteredBridge),
    "ChannelLeftBridge": _bridge_channel_event(ChannelLeftBridge),
    "BridgeDestroyed": lambda d: _event(BridgeDestroyed, d, bridge=_bridge(d)),
    "ApplicationReplaced": lambda d: _event(ApplicationReplaced, d),
    "RecordingStarted": _recording_event(RecordingStarted),
    "RecordingFinished": _recording_event(RecordingFinished),
    "RecordingFailed": _recording_event(RecordingFailed),
}


def parse_event(data: Mapping[str, Any]) -> Event:
    """One decoded WebSocket frame → a typed event. Raises ``MalformedEvent``."""
    if type(data) is not dict and not isinstance(data, Mapping):  # the exact check first: it is cheap
        raise MalformedEvent("an event must be a JSON object")
    etype = data.get("type")
    if type(etype) is not str or not etype:
        raise MalformedEvent("event without 'type'")
    parse = _PARSERS.get(etype)
    if parse is None:
        return _event(UnknownEvent, data)
    return parse(data)


__all__ = [
    "ApplicationReplaced",
    "BridgeDestroyed",
    "ChannelCallerId",
    "ChannelConnectedLine",
    "ChannelDestroyed",
    "ChannelDialplan",
    "ChannelDtmfReceived",
    "ChannelEnteredBridge",
    "ChannelHangupRequest",
    "ChannelLeftBridge",
    "ChannelStateChange",
    "ChannelTalkingFinished",
    "ChannelTalkingStarted",
    "ChannelVarset",
    "Dial",
    "Event",
    "MalformedEvent",
    "PlaybackFinished",
    "PlaybackStarted",
    "RecordingFailed",
    "RecordingFinished",
    "RecordingStarted",
    "StasisEnd",
    "StasisStart",
    "UnknownEvent",
    "parse_event",
]
