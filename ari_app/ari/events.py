"""ARI WebSocket events as typed, frozen dataclasses.

``parse_event`` turns one decoded frame into an ``Event``. A type we don't model becomes
``UnknownEvent`` (kept whole, never dropped); a frame that names a known type but lacks what that
type requires raises ``MalformedEvent``. Each event says which channels and bridges it concerns
(``channel_ids()``, ``bridge_ids()``) so the router can hand it to the object that owns the call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

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


def _channel(d: Mapping[str, Any], key: str = "channel") -> Channel:
    if key not in d:
        raise MalformedEvent(f"{d.get('type')} without {key!r}")
    try:
        return Channel.from_json(d[key])
    except ValueError as exc:
        raise MalformedEvent(f"{d.get('type')}: {exc}") from None


def _opt_channel(d: Mapping[str, Any], key: str) -> Channel | None:
    return _channel(d, key) if d.get(key) else None


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


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


_Parser = Callable[[Mapping[str, Any]], dict[str, Any]]

_PARSERS: dict[str, tuple[type[Event], _Parser]] = {
    "StasisStart": (
        StasisStart,
        lambda d: {
            "channel": _channel(d),
            "args": tuple(str(a) for a in d.get("args") or ()),
            "replace_channel": _opt_channel(d, "replace_channel"),
        },
    ),
    "StasisEnd": (StasisEnd, lambda d: {"channel": _channel(d)}),
    "ChannelStateChange": (ChannelStateChange, lambda d: {"channel": _channel(d)}),
    "ChannelDestroyed": (
        ChannelDestroyed,
        lambda d: {
            "channel": _channel(d),
            "cause": _int(d.get("cause")),
            "cause_txt": str(d.get("cause_txt") or ""),
            "tech_cause": _int(d["tech_cause"]) if d.get("tech_cause") is not None else None,
        },
    ),
    "ChannelHangupRequest": (
        ChannelHangupRequest,
        lambda d: {
            "channel": _channel(d),
            "cause": _int(d["cause"]) if d.get("cause") is not None else None,
            "soft": bool(d.get("soft", False)),
        },
    ),
    "ChannelDtmfReceived": (
        ChannelDtmfReceived,
        lambda d: {
            "channel": _channel(d),
            "digit": str(d.get("digit") or ""),
            "duration_ms": _int(d.get("duration_ms")),
        },
    ),
    "ChannelVarset": (
        ChannelVarset,
        lambda d: {
            "channel": _opt_channel(d, "channel"),
            "variable": str(d.get("variable") or ""),
            "value": "" if d.get("value") is None else str(d.get("value")),
        },
    ),
    "ChannelTalkingStarted": (ChannelTalkingStarted, lambda d: {"channel": _channel(d)}),
    "ChannelTalkingFinished": (
        ChannelTalkingFinished,
        lambda d: {"channel": _channel(d), "duration": _int(d.get("duration"))},
    ),
    "ChannelDialplan": (
        ChannelDialplan,
        lambda d: {
            "channel": _channel(d),
            "dialplan_app": str(d.get("dialplan_app") or ""),
            "dialplan_app_data": str(d.get("dialplan_app_data") or ""),
        },
    ),
    "ChannelCallerId": (
        ChannelCallerId,
        lambda d: {
            "channel": _channel(d),
            "caller_presentation": _int(d.get("caller_presentation")),
            "caller_presentation_txt": str(d.get("caller_presentation_txt") or ""),
        },
    ),
    "ChannelConnectedLine": (ChannelConnectedLine, lambda d: {"channel": _channel(d)}),
    "Dial": (
        Dial,
        lambda d: {
            "peer": _channel(d, "peer"),
            "caller": _opt_channel(d, "caller"),
            "dialstatus": str(d.get("dialstatus") or ""),
            "dialstring": str(d.get("dialstring") or ""),
            "forward": str(d.get("forward") or ""),
        },
    ),
    "PlaybackStarted": (PlaybackStarted, lambda d: {"playback": _playback(d)}),
    "PlaybackFinished": (PlaybackFinished, lambda d: {"playback": _playback(d)}),
    "ChannelEnteredBridge": (
        ChannelEnteredBridge,
        lambda d: {"bridge": _bridge(d), "channel": _opt_channel(d, "channel")},
    ),
    "ChannelLeftBridge": (
        ChannelLeftBridge,
        lambda d: {"bridge": _bridge(d), "channel": _opt_channel(d, "channel")},
    ),
    "BridgeDestroyed": (BridgeDestroyed, lambda d: {"bridge": _bridge(d)}),
    "ApplicationReplaced": (ApplicationReplaced, lambda d: {}),
}


def parse_event(data: Mapping[str, Any]) -> Event:
    """One decoded WebSocket frame → a typed event. Raises ``MalformedEvent``."""
    if not isinstance(data, Mapping):
        raise MalformedEvent("an event must be a JSON object")
    etype = data.get("type")
    if not isinstance(etype, str) or not etype:
        raise MalformedEvent("event without 'type'")
    common: dict[str, Any] = {
        "type": etype,
        "timestamp": str(data.get("timestamp") or ""),
        "application": str(data.get("application") or ""),
        "asterisk_id": str(data.get("asterisk_id") or ""),
        "raw": data,
    }
    known = _PARSERS.get(etype)
    if known is None:
        return UnknownEvent(**common)
    cls, parse = known
    return cls(**common, **parse(data))


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
    "StasisEnd",
    "StasisStart",
    "UnknownEvent",
    "parse_event",
]
