"""Asterisk's ARI objects as frozen dataclasses, parsed from the JSON Asterisk sends.

Parsing is lenient about missing optional fields (Asterisk 20 and 22 differ a little) and strict
about identity: an object without an ``id`` is malformed and raises ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def _str(d: Mapping[str, Any], key: str) -> str:
    value = d.get(key)
    return "" if value is None else str(value)


def _require_id(d: Any, what: str, key: str = "id") -> str:
    if not isinstance(d, Mapping) or not isinstance(d.get(key), str) or not d[key]:
        raise ValueError(f"{what} without {key!r}")
    return str(d[key])


@dataclass(frozen=True, slots=True)
class CallerId:
    name: str = ""
    number: str = ""

    @classmethod
    def from_json(cls, d: Any) -> CallerId:
        if not isinstance(d, Mapping):
            return cls()
        return cls(name=_str(d, "name"), number=_str(d, "number"))


@dataclass(frozen=True, slots=True)
class DialplanCEP:
    context: str = ""
    exten: str = ""
    priority: int = 0
    app_name: str = ""
    app_data: str = ""

    @classmethod
    def from_json(cls, d: Any) -> DialplanCEP | None:
        if not isinstance(d, Mapping):
            return None
        return cls(
            context=_str(d, "context"),
            exten=_str(d, "exten"),
            priority=int(d.get("priority") or 0),
            app_name=_str(d, "app_name"),
            app_data=_str(d, "app_data"),
        )


@dataclass(frozen=True, slots=True)
class Channel:
    id: str
    name: str
    state: str  # Down, Rsrved, OffHook, Dialing, Ring, Ringing, Up, Busy, Dialing Offhook, Pre-ring, Unknown
    caller: CallerId
    connected: CallerId
    dialplan: DialplanCEP | None
    creationtime: str
    language: str
    protocol_id: str = ""
    channelvars: Mapping[str, str] = field(default_factory=dict, hash=False)

    @classmethod
    def from_json(cls, d: Any) -> Channel:
        cid = _require_id(d, "channel")
        raw_vars = d.get("channelvars")
        channelvars = (
            {str(k): "" if v is None else str(v) for k, v in raw_vars.items()}
            if isinstance(raw_vars, Mapping)
            else {}
        )
        return cls(
            id=cid,
            name=_str(d, "name"),
            state=_str(d, "state"),
            caller=CallerId.from_json(d.get("caller")),
            connected=CallerId.from_json(d.get("connected")),
            dialplan=DialplanCEP.from_json(d.get("dialplan")),
            creationtime=_str(d, "creationtime"),
            language=_str(d, "language"),
            protocol_id=_str(d, "protocol_id"),
            channelvars=channelvars,
        )


@dataclass(frozen=True, slots=True)
class Bridge:
    id: str
    technology: str
    bridge_type: str
    bridge_class: str
    name: str
    channels: tuple[str, ...]

    @classmethod
    def from_json(cls, d: Any) -> Bridge:
        bid = _require_id(d, "bridge")
        channels = d.get("channels") or []
        return cls(
            id=bid,
            technology=_str(d, "technology"),
            bridge_type=_str(d, "bridge_type"),
            bridge_class=_str(d, "bridge_class"),
            name=_str(d, "name"),
            channels=tuple(str(c) for c in channels),
        )


@dataclass(frozen=True, slots=True)
class Playback:
    id: str
    media_uri: str
    target_uri: str  # "channel:ID" or "bridge:ID"
    language: str
    state: str  # queued, playing, continuing, done, failed

    @classmethod
    def from_json(cls, d: Any) -> Playback:
        pid = _require_id(d, "playback")
        return cls(
            id=pid,
            media_uri=_str(d, "media_uri"),
            target_uri=_str(d, "target_uri"),
            language=_str(d, "language"),
            state=_str(d, "state"),
        )

    def target(self) -> tuple[str, str]:
        """("channel" | "bridge" | other kind, id) from ``target_uri``."""
        kind, _, ident = self.target_uri.partition(":")
        return kind, ident


@dataclass(frozen=True, slots=True)
class Endpoint:
    technology: str
    resource: str
    state: str  # unknown, offline, online
    channel_ids: tuple[str, ...]

    @classmethod
    def from_json(cls, d: Any) -> Endpoint:
        resource = _require_id(d, "endpoint", "resource")
        return cls(
            technology=_str(d, "technology"),
            resource=resource,
            state=_str(d, "state"),
            channel_ids=tuple(str(c) for c in d.get("channel_ids") or []),
        )
