"""Stasis applications, their subscriptions, and who gets each event."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import AriError
from .events import event
from .state import Application, Channel

if TYPE_CHECKING:
    from .engine import Pbx


class AppRegistry:
    """Owns the applications (an application stays registered, with its channels, when its socket drops)."""

    def __init__(self, pbx: Pbx) -> None:
        self.pbx = pbx
        self.apps: dict[str, Application] = {}

    def app(self, name: str) -> Application:
        if name not in self.apps:
            self.apps[name] = Application(name=name)
        return self.apps[name]

    def recipients(self, ch: Channel) -> set[str]:
        """The channel's Stasis app, the apps subscribed to it, and those subscribed to its bridge."""
        apps = set(ch.subscribers)
        if ch.stasis_app:
            apps.add(ch.stasis_app)
        bridges = self.pbx.bridges
        if ch.bridge_id and ch.bridge_id in bridges:
            apps |= bridges[ch.bridge_id].subscribers
        return apps

    def emit(self, kind: str, apps: set[str], **fields: Any) -> None:
        targets = set(apps) | {a.name for a in self.apps.values() if a.subscribe_all}
        moment = self.pbx.now()
        for name in sorted(targets):
            app = self.apps.get(name)
            if app is not None and app.sink is not None and app.sends(kind):
                app.sink.put_nowait(event(kind, moment, name, **fields))

    def emit_channel(self, kind: str, ch: Channel, apps: set[str] | None = None, **fields: Any) -> None:
        self.emit(kind, self.recipients(ch) if apps is None else apps, **fields, channel=ch.to_json())

    def application_json(self, name: str) -> dict[str, Any]:
        app = self.apps.get(name)
        return {
            "name": name,
            "channel_ids": [c.id for c in self.pbx.channels.values() if name in self.recipients(c)],
            "bridge_ids": [b.id for b in self.pbx.bridges.values() if name in b.subscribers],
            "endpoint_ids": [],
            "device_names": [],
            "events_allowed": list(app.events_allowed) if app else [],
            "events_disallowed": list(app.events_disallowed) if app else [],
        }

    def set_filter(self, app_name: str, body: Any) -> dict[str, Any]:
        """PUT /applications/{app}/eventFilter as Asterisk 22 does it (res/stasis/app.c,
        app_event_filter_set): no body or ``{}`` clears both lists; in an object, a missing key leaves its
        list alone; a list must hold objects with a non-empty ``type``. Disallowed is set first, so a bad
        allowed list after a good disallowed one still changes the disallowed list, as in Asterisk."""
        app = self.apps.get(app_name)
        if app is None:
            raise AriError.message(404, "Application not found")
        for key in ("disallowed", "allowed"):
            if isinstance(body, dict) and body:
                if key not in body:
                    continue
                value = body[key]
            elif isinstance(body, dict) or body is None:
                value = []
            else:
                value = body  # Asterisk takes a bare array as both lists
            if not isinstance(value, list) or not all(
                isinstance(f, dict) and isinstance(f.get("type"), str) and f["type"] for f in value
            ):
                raise AriError.message(400, "Invalid format definition")
            setattr(app, f"events_{key}", list(value))
        return self.application_json(app_name)

    def subscribe(self, app_name: str, sources: list[str], subscribe: bool) -> dict[str, Any]:
        if app_name not in self.apps:
            raise AriError.message(404, "Application not found")
        if not sources:
            raise AriError.message(400, "Missing parameter eventSource")
        channels, bridges = self.pbx.channels, self.pbx.bridges
        resolved: list[set[str]] = []
        for source in sources:
            scheme, _, ident = source.partition(":")
            if scheme == "channel":
                if ident not in channels:
                    raise AriError.message(422, "Event source does not exist")
                resolved.append(channels[ident].subscribers)
            elif scheme == "bridge":
                if ident not in bridges:
                    raise AriError.message(422, "Event source does not exist")
                resolved.append(bridges[ident].subscribers)
            elif scheme in ("endpoint", "deviceState"):
                resolved.append(set())
            else:
                raise AriError.message(400, "Invalid event source URI scheme")
        for subs in resolved:
            if subscribe:
                subs.add(app_name)
            else:
                subs.discard(app_name)
        return self.application_json(app_name)

    def close(self) -> None:
        """End every event socket's writer (the PBX is shutting down)."""
        for app in self.apps.values():
            if app.sink is not None:
                app.sink.put_nowait(None)
                app.sink = None
