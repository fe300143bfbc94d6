"""Channels: looking them up as Asterisk does, and making them (originate, create)."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from typing import TYPE_CHECKING, Any

from . import dialplan
from .arguments import number_param, parse_caller_id, split_args
from .destination import Destination
from .errors import AriError
from .scenario import TRUNK_ENDPOINT
from .state import CallRecord, Channel

if TYPE_CHECKING:
    from .engine import Pbx

# Wall seconds from a create's answer to its StasisStart. Asterisk took 1.4-4.6 ms (recording 14); a little
# more here, so that a client dialling without waiting for StasisStart is refused every time, not 1 in 30.
CREATE_TO_STASIS = 0.025


def require_answered(ch: Channel) -> None:
    if ch.state in ("Down", "Ringing"):
        raise AriError.message(412, "Channel in invalid state")


class ChannelRegistry:
    """Owns the live channels and the counters their ids and names come from."""

    def __init__(self, pbx: Pbx) -> None:
        self.pbx = pbx
        self.channels: dict[str, Channel] = {}
        self._names = itertools.count(0x20)
        self._ids = itertools.count(1)

    # ----------------------------------------------------------------- lookups
    def channel(self, channel_id: str) -> Channel:
        ch = self.channels.get(channel_id)
        if ch is None:
            raise AriError.message(404, "Channel not found")
        return ch

    def control(self, channel_id: str) -> Channel:
        """A channel in a Stasis application (Asterisk's find_control)."""
        ch = self.channel(channel_id)
        if ch.stasis_app is None:
            raise AriError.message(409, "Channel not in Stasis application")
        return ch

    def alive(self, ch: Channel) -> bool:
        return self.channels.get(ch.id) is ch and not ch.hanging_up

    def forget(self, ch: Channel) -> None:
        """The channel is destroyed: it leaves the list (its call record stays)."""
        del self.channels[ch.id]

    def endpoints(self) -> list[dict[str, Any]]:
        out = []
        for resource, online in self.pbx.scenario.local_endpoints().items():
            ids = [c.id for c in self.channels.values() if c.name.startswith(f"PJSIP/{resource}-")]
            out.append(
                {
                    "technology": "PJSIP",
                    "resource": resource,
                    "state": "online" if online else "offline",
                    "channel_ids": ids,
                }
            )
        return out

    # ----------------------------------------------------------------- making channels
    def _new_channel_id(self) -> str:
        return f"{self.pbx.now().timestamp():.0f}.{next(self._ids)}"

    def _allocate(self, endpoint: str) -> Destination:
        """Check that Asterisk could request a channel to ``endpoint`` (else its 500 Allocation failed)."""
        if "/" not in endpoint:
            raise AriError.message(400, "Invalid endpoint specified")
        dest = Destination.parse(endpoint)
        tech = dest.tech.upper()
        scenario = self.pbx.scenario
        if tech == "PJSIP":
            endpoints = scenario.local_endpoints()
            name = dest.host if dest.host is not None else dest.resource
            if not endpoints.get(name, False):
                raise AriError.allocation_failed()
            if dest.host is not None and scenario.callee_for(dest, 0).behaviour == "offline":
                raise AriError.allocation_failed()
        elif tech != "LOCAL" or scenario.callee_for(dest, 0).behaviour == "offline":
            raise AriError.allocation_failed()
        return dest

    def _build_channel(self, channel_id: str, dest: Destination, kind: str, caller_id: str | None) -> Channel:
        seq = next(self._names)
        if dest.tech.upper() == "LOCAL":
            name, protocol_id = f"Local/{dest.resource}-{seq:08x};1", ""
        else:
            base = dest.host if dest.host is not None else dest.resource
            name, protocol_id = f"{dest.tech}/{base}-{seq:08x}", str(uuid.uuid4())
        caller = parse_caller_id(caller_id)
        if caller is not None:
            connected = dict(caller)
        else:
            connected = {"name": "", "number": ""}
            caller = {"name": "", "number": ""}
            if dest.host == TRUNK_ENDPOINT or dest.resource == TRUNK_ENDPOINT:
                caller = {"name": "Trunk", "number": "3000"}
            elif dest.is_local_endpoint:
                caller = {"name": dest.resource.capitalize(), "number": "1000"}
        dialplan_json = {"context": "from-internal", "exten": "s", "priority": 1}
        dialplan_json |= (
            {"app_name": "AppDial2", "app_data": "(Outgoing Line)"}
            if kind == "originate"
            else {"app_name": "", "app_data": ""}
        )
        ch = Channel(
            id=channel_id,
            name=name,
            dest=dest,
            kind="originate" if kind == "originate" else "create",
            created=self.pbx.now(),
            protocol_id=protocol_id,
            caller=caller,
            connected=connected,
            dialplan=dialplan_json,
        )
        self.pbx.calls[channel_id] = CallRecord(
            channel_id=channel_id, endpoint=dest.endpoint, number=dest.number, created=ch.created
        )
        return ch

    def _unused_id(self, params: dict[str, str]) -> str:
        channel_id = params.get("channelId") or self._new_channel_id()
        if channel_id in self.channels:
            raise AriError.message(409, "Channel with given unique ID already exists")
        return channel_id

    def originate(self, params: dict[str, str], variables: dict[str, str]) -> dict[str, Any]:
        pbx = self.pbx
        endpoint = params.get("endpoint", "")
        app = params.get("app", "")
        extension = params.get("extension", "")
        if not endpoint:
            raise AriError.message(400, "Endpoint must be specified")
        if not app and not extension:
            raise AriError.message(400, "Application or extension must be specified")
        channel_id = self._unused_id(params)
        try:
            dest = self._allocate(endpoint)
        except AriError as exc:
            if exc.status == 500:
                pbx.records.failed_dial(channel_id, endpoint, "originate", pbx.now())
            raise
        timeout = number_param(params.get("timeout"), 30.0)
        ch = self._build_channel(channel_id, dest, "originate", params.get("callerId"))
        ch.variables.update(variables)
        if app:
            pbx.app(app)
            ch.pending_app = app
            ch.subscribers.add(app)  # Asterisk subscribes the app at originate, before StasisStart
            ch.app_args = split_args(params.get("appArgs", ""))
        else:
            ch.target_dialplan = (
                params.get("context") or "default",
                extension,
                int(number_param(params.get("priority"), 1)),
            )
        self.channels[channel_id] = ch
        pbx.emit_channel("ChannelCreated", ch, apps=set())
        body = ch.to_json()
        pbx.dialler.start(ch, timeout if timeout > 0 else 0.0, "originate")
        return body

    def create(self, params: dict[str, str], variables: dict[str, str]) -> dict[str, Any]:
        pbx = self.pbx
        endpoint = params.get("endpoint", "")
        app = params.get("app", "")
        if not endpoint:
            raise AriError.message(400, "Endpoint must be specified")
        if not app:
            raise AriError.message(400, "Application must be specified")
        channel_id = self._unused_id(params)
        dest = self._allocate(endpoint)
        ch = self._build_channel(channel_id, dest, "create", None)
        for name, value in variables.items():
            dialplan.set_channel_variable(pbx, ch, name, value, announce=False)
        pbx.app(app)
        ch.subscribers.add(app)
        self.channels[channel_id] = ch
        pbx.emit_channel("ChannelCreated", ch, apps=set())
        body = ch.to_json()
        pbx.spawn(self._hand_to_app(ch, app, split_args(params.get("appArgs", ""))), channel=ch)
        return body

    async def _hand_to_app(self, ch: Channel, app: str, args: list[str]) -> None:
        """Asterisk answers the create first and puts the channel into Stasis on another thread:
        until StasisStart the channel is not the application's (recording 14)."""
        await asyncio.sleep(CREATE_TO_STASIS)
        if not self.alive(ch):
            return
        ch.dialplan.update(app_name="Stasis", app_data=",".join([app, *args]))
        self.pbx.emit_channel(
            "ChannelDialplan", ch, dialplan_app="Stasis", dialplan_app_data=ch.dialplan["app_data"]
        )
        dialplan.enter_stasis(self.pbx, ch, app, args)

    # ----------------------------------------------------------------- operations on a channel in Stasis
    def answer(self, channel_id: str) -> None:
        ch = self.control(channel_id)
        require_answered(ch)
        if ch.state == "Ring":  # a call to the PBX, answered by the application
            ch.state = "Up"
            self.pbx.calls[ch.id].answered = self.pbx.now()
            self.pbx.emit_channel("ChannelStateChange", ch)

    def ring(self, channel_id: str) -> None:
        require_answered(self.control(channel_id))

    def send_dtmf(self, channel_id: str, dtmf: str | None) -> None:
        ch = self.control(channel_id)
        require_answered(ch)
        if not dtmf:
            raise AriError.message(400, "DTMF is required")
        self.pbx.calls[ch.id].dtmf_received_from_app += dtmf
