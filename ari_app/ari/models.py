"""Asterisk's ARI objects as frozen dataclasses, parsed from the JSON Asterisk sends.

Parsing is lenient about missing optional fields (Asterisk 20 and 22 differ a little) and strict
about identity: an object without an ``id`` is malformed and raises ``ValueError``.

These objects are built for every event (thousands a second under load), so ``from_json`` builds them
with ``assemble`` instead of the generated ``__init__``, and ``Channel`` parses only what every event
needs (``id``, ``name``, ``state``); the rest is built from its JSON on first use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

T = TypeVar("T")

_new = object.__new__


def assemble(cls: type[T], /, **fields: Any) -> T:
    """An instance of the frozen dataclass ``cls`` from every one of its fields, without its generated
    ``__init__``: that one sets each field through ``object.__setattr__`` and costs ~4x as much, which
    showed on the per-event path. Only for classes without ``slots`` or ``__post_init__``."""
    obj = _new(cls)
    obj.__dict__.update(fields)
    return obj


def _str(d: Mapping[str, Any], key: str) -> str:
    value = d.get(key)
    if type(value) is str:
        return value
    return "" if value is None else str(value)


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _require_id(d: Any, what: str, key: str = "id") -> str:
    if type(d) is not dict and not isinstance(d, Mapping):  # the exact check first: it is cheap
        raise ValueError(f"{what} without {key!r}")
    value = d.get(key)
    if type(value) is not str or not value:
        raise ValueError(f"{what} without {key!r}")
    return value


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
            priority=_int(d.get("priority")),
            app_name=_str(d, "app_name"),
            app_data=_str(d, "app_data"),
        )


@dataclass(frozen=True)
class Channel:
    """A channel; ``raw`` is its JSON as Asterisk sent it.

    ``id``, ``name`` and ``state`` are parsed at once; the caller ids, the dialplan location and the
    variables are built from ``raw`` on first use. Every channel event carries a whole channel and
    almost none of them is read past its state: building the nested objects eagerly was three quarters
    of the time spent parsing an event (bench/README.md, ari_load).
    """

    id: str
    name: str
    state: str  # Down, Rsrved, OffHook, Dialing, Ring, Ringing, Up, Busy, Dialing Offhook, Pre-ring, Unknown
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, hash=False)

    @classmethod
    def from_json(cls, d: Any) -> Channel:
        cid = _require_id(d, "channel")
        return assemble(cls, id=cid, name=_str(d, "name"), state=_str(d, "state"), raw=d)

    @cached_property
    def caller(self) -> CallerId:
        return CallerId.from_json(self.raw.get("caller"))

    @cached_property
    def connected(self) -> CallerId:
        return CallerId.from_json(self.raw.get("connected"))

    @cached_property
    def dialplan(self) -> DialplanCEP | None:
        return DialplanCEP.from_json(self.raw.get("dialplan"))

    @cached_property
    def channelvars(self) -> Mapping[str, str]:
        raw_vars = self.raw.get("channelvars")
        if not isinstance(raw_vars, Mapping):
            return {}
        return {str(k): "" if v is None else str(v) for k, v in raw_vars.items()}

    @property
    def creationtime(self) -> str:
        return _str(self.raw, "creationtime")

    @property
    def language(self) -> str:
        return _str(self.raw, "language")

    @property
    def protocol_id(self) -> str:
        return _str(self.raw, "protocol_id")


@dataclass(frozen=True)
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
        return assemble(
            cls,
            id=bid,
            technology=_str(d, "technology"),
            bridge_type=_str(d, "bridge_type"),
            bridge_class=_str(d, "bridge_class"),
            name=_str(d, "name"),
            channels=tuple(map(str, d.get("channels") or ())),
        )


@dataclass(frozen=True)
class Playback:
    id: str
    media_uri: str
    target_uri: str  # "channel:ID" or "bridge:ID"
    language: str
    state: str  # queued, playing, continuing, done, failed

    @classmethod
    def from_json(cls, d: Any) -> Playback:
        pid = _require_id(d, "playback")
        return assemble(
            cls,
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
