"""The simulated PBX: channel, bridge and playback life cycles, in Asterisk's event order.

Everything runs on one event loop. Operations called from HTTP handlers are synchronous state changes that
emit events; timed behaviour (ringing, callees, playbacks, AMD) runs in tasks owned by the PBX, and by the
channel they belong to so a hang-up cancels them.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import uuid
from collections import Counter
from collections.abc import Coroutine
from datetime import datetime
from typing import Any

import aiohttp

from ari_app.clock import Clock

from . import bridging, playbacks
from . import callee as callee_script
from .errors import AriError
from .events import HANGUP_REASONS, cause_text, event
from .scenario import TRUNK_ENDPOINT, Destination, Scenario
from .state import (
    Application,
    Bridge,
    CallRecord,
    Channel,
    DialKind,
    DialRecord,
    MediaItemRecord,
    Playback,
    PlaybackRecord,
)

__all__ = ["AriError", "Pbx", "parse_caller_id"]

BRIDGE_TYPES = {"mixing", "holding", "dtmf_events", "proxy_media", "video_sfu", "video_single", "sdp_label"}
# SIP response codes behind each failure, as Asterisk reports them in `tech_cause`.
FAILURE_SIGNALS: dict[str, tuple[int, str, int]] = {
    "busy": (17, "BUSY", 486),
    "reject": (21, "NOANSWER", 603),
    "unallocated": (1, "NOANSWER", 404),
    "congestion": (34, "CONGESTION", 503),
}
RING_TIMEOUT_TECH_CAUSE = 480
# Wall seconds from a create's answer to its StasisStart. Asterisk took 1.4-4.6 ms (recording 14); a little
# more here, so that a client dialling without waiting for StasisStart is refused every time, not 1 in 30.
CREATE_TO_STASIS = 0.025


def parse_caller_id(text: str | None) -> dict[str, str] | None:
    """`Name <number>` or a bare number."""
    if not text:
        return None
    m = re.fullmatch(r'\s*"?([^"<]*?)"?\s*<([^>]*)>\s*', text)
    if m:
        return {"name": m.group(1).strip(), "number": m.group(2).strip()}
    return {"name": "", "number": text.strip()}


class Pbx:
    def __init__(
        self,
        scenario: Scenario,
        clock: Clock,
        sounds_durations: dict[str, float] | None = None,
        amd_context: str = "callback-amd",
    ) -> None:
        self.scenario = scenario
        self.clock = clock
        self.sounds_durations = dict(sounds_durations or {})
        self.amd_context = amd_context
        self.channels: dict[str, Channel] = {}
        self.bridges: dict[str, Bridge] = {}
        self.playbacks: dict[str, Playback] = {}
        self.apps: dict[str, Application] = {}
        self.dials: list[DialRecord] = []
        self.calls: dict[str, CallRecord] = {}
        self.faults: Counter[str] = Counter()
        self._dial_counts: Counter[str] = Counter()
        self._names = itertools.count(0x20)
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        self._http_session: aiohttp.ClientSession | None = None

    def replace_scenario(self, scenario: Scenario) -> None:
        """A new scenario counts dials afresh: its ``sequence`` entries start again at the first step."""
        self.scenario = scenario
        self._dial_counts.clear()

    # ----------------------------------------------------------------- time and tasks
    def now(self) -> datetime:
        return self.clock.now()

    def wall(self, seconds: float) -> float:
        """Simulated seconds → wall seconds."""
        return seconds / self.clock.speed

    async def sleep(self, seconds: float) -> None:
        await self.clock.sleep(seconds)

    def spawn(self, coro: Coroutine[Any, Any, Any], channel: Channel | None = None) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if channel is not None:
            channel.tasks.add(task)
            task.add_done_callback(channel.tasks.discard)
        return task

    def http(self) -> aiohttp.ClientSession:
        """The client that fetches ``sound:http…`` media (opened on first use, closed with the PBX)."""
        if self._http_session is None:
            self._http_session = aiohttp.ClientSession()
        return self._http_session

    async def close(self) -> None:
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        for app in self.apps.values():
            if app.sink is not None:
                app.sink.put_nowait(None)
                app.sink = None
        if self._http_session is not None:
            await self._http_session.close()

    # ----------------------------------------------------------------- applications and events
    def app(self, name: str) -> Application:
        if name not in self.apps:
            self.apps[name] = Application(name=name)
        return self.apps[name]

    def recipients(self, ch: Channel) -> set[str]:
        apps = set(ch.subscribers)
        if ch.stasis_app:
            apps.add(ch.stasis_app)
        if ch.bridge_id and ch.bridge_id in self.bridges:
            apps |= self.bridges[ch.bridge_id].subscribers
        return apps

    def emit(self, kind: str, apps: set[str], **fields: Any) -> None:
        targets = set(apps) | {a.name for a in self.apps.values() if a.subscribe_all}
        moment = self.now()
        for name in sorted(targets):
            app = self.apps.get(name)
            if app is not None and app.sink is not None:
                app.sink.put_nowait(event(kind, moment, name, **fields))

    def emit_channel(self, kind: str, ch: Channel, apps: set[str] | None = None, **fields: Any) -> None:
        self.emit(kind, self.recipients(ch) if apps is None else apps, **fields, channel=ch.to_json())

    def application_json(self, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "channel_ids": [c.id for c in self.channels.values() if name in self.recipients(c)],
            "bridge_ids": [b.id for b in self.bridges.values() if name in b.subscribers],
            "endpoint_ids": [],
            "device_names": [],
            "events_allowed": [],
            "events_disallowed": [],
        }

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

    @staticmethod
    def require_answered(ch: Channel) -> None:
        if ch.state in ("Down", "Ringing"):
            raise AriError.message(412, "Channel in invalid state")

    def bridge(self, bridge_id: str) -> Bridge:
        br = self.bridges.get(bridge_id)
        if br is None:
            raise AriError.message(404, "Bridge not found")
        return br

    def endpoints(self) -> list[dict[str, Any]]:
        out = []
        for resource, online in self.scenario.local_endpoints().items():
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
        return f"{self.now().timestamp():.0f}.{next(self._ids)}"

    def _allocate(self, endpoint: str) -> Destination:
        """Check that Asterisk could request a channel to ``endpoint`` (else its 500 Allocation failed)."""
        if "/" not in endpoint:
            raise AriError.message(400, "Invalid endpoint specified")
        dest = Destination.parse(endpoint)
        tech = dest.tech.upper()
        if tech == "PJSIP":
            endpoints = self.scenario.local_endpoints()
            name = dest.host if dest.host is not None else dest.resource
            if not endpoints.get(name, False):
                raise AriError.allocation_failed()
            if dest.host is not None and self.scenario.callee_for(dest, 0).behaviour == "offline":
                raise AriError.allocation_failed()
        elif tech != "LOCAL" or self.scenario.callee_for(dest, 0).behaviour == "offline":
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
        dialplan = {"context": "from-internal", "exten": "s", "priority": 1}
        dialplan |= (
            {"app_name": "AppDial2", "app_data": "(Outgoing Line)"}
            if kind == "originate"
            else {"app_name": "", "app_data": ""}
        )
        ch = Channel(
            id=channel_id,
            name=name,
            dest=dest,
            kind="originate" if kind == "originate" else "create",
            created=self.now(),
            protocol_id=protocol_id,
            caller=caller,
            connected=connected,
            dialplan=dialplan,
        )
        self.calls[channel_id] = CallRecord(
            channel_id=channel_id, endpoint=dest.endpoint, number=dest.number, created=ch.created
        )
        return ch

    def _record_failed_dial(self, channel_id: str, endpoint: str, kind: DialKind) -> None:
        dest = (
            Destination.parse(endpoint)
            if "/" in endpoint
            else Destination(endpoint, endpoint, endpoint, None)
        )
        self.dials.append(
            DialRecord(
                channel_id=channel_id,
                endpoint=dest.endpoint,
                destination=dest.resource,
                number=dest.number,
                kind=kind,
                at=self.now(),
                behaviour="allocation_failed",
                allocated=False,
            )
        )

    def originate(self, params: dict[str, str], variables: dict[str, str]) -> dict[str, Any]:
        endpoint = params.get("endpoint", "")
        app = params.get("app", "")
        extension = params.get("extension", "")
        if not endpoint:
            raise AriError.message(400, "Endpoint must be specified")
        if not app and not extension:
            raise AriError.message(400, "Application or extension must be specified")
        channel_id = params.get("channelId") or self._new_channel_id()
        if channel_id in self.channels:
            raise AriError.message(409, "Channel with given unique ID already exists")
        try:
            dest = self._allocate(endpoint)
        except AriError as exc:
            if exc.status == 500:
                self._record_failed_dial(channel_id, endpoint, "originate")
            raise
        timeout = _number(params.get("timeout"), 30.0)
        ch = self._build_channel(channel_id, dest, "originate", params.get("callerId"))
        ch.variables.update(variables)
        if app:
            self.app(app)
            ch.pending_app = app
            ch.subscribers.add(app)  # Asterisk subscribes the app at originate, before StasisStart
            ch.app_args = _split_args(params.get("appArgs", ""))
        else:
            ch.target_dialplan = (
                params.get("context") or "default",
                extension,
                int(_number(params.get("priority"), 1)),
            )
        self.channels[channel_id] = ch
        self.emit_channel("ChannelCreated", ch, apps=set())
        body = ch.to_json()
        self._start_dial(ch, timeout if timeout > 0 else 0.0, "originate")
        return body

    def create(self, params: dict[str, str], variables: dict[str, str]) -> dict[str, Any]:
        endpoint = params.get("endpoint", "")
        app = params.get("app", "")
        if not endpoint:
            raise AriError.message(400, "Endpoint must be specified")
        if not app:
            raise AriError.message(400, "Application must be specified")
        channel_id = params.get("channelId") or self._new_channel_id()
        if channel_id in self.channels:
            raise AriError.message(409, "Channel with given unique ID already exists")
        dest = self._allocate(endpoint)
        ch = self._build_channel(channel_id, dest, "create", None)
        for name, value in variables.items():
            self._set_variable(ch, name, value, announce=False)
        self.app(app)
        ch.subscribers.add(app)
        self.channels[channel_id] = ch
        self.emit_channel("ChannelCreated", ch, apps=set())
        body = ch.to_json()
        self.spawn(self._hand_to_app(ch, app, _split_args(params.get("appArgs", ""))), channel=ch)
        return body

    async def _hand_to_app(self, ch: Channel, app: str, args: list[str]) -> None:
        """Asterisk answers the create first and puts the channel into Stasis on another thread:
        until StasisStart the channel is not the application's (recording 14)."""
        await asyncio.sleep(CREATE_TO_STASIS)
        if self.channels.get(ch.id) is not ch or ch.hanging_up:
            return
        ch.dialplan.update(app_name="Stasis", app_data=",".join([app, *args]))
        self.emit_channel(
            "ChannelDialplan", ch, dialplan_app="Stasis", dialplan_app_data=ch.dialplan["app_data"]
        )
        self._enter_stasis(ch, app, args)

    def dial(self, channel_id: str, timeout: str | None) -> None:
        try:
            ch = self.control(channel_id)
        except AriError as exc:
            if exc.status == 409:  # before StasisStart: Asterisk dials nothing, the channel stays Down
                self.calls[channel_id].dials_refused += 1
            raise
        if ch.kind != "create":
            raise AriError.message(409, "Dialing a channel not created by ARI")
        if ch.state != "Down" or ch.dialed:
            raise AriError.message(409, "Channel is not in the 'Down' state")
        self._start_dial(ch, max(0.0, _number(timeout, 0.0)), "dial")

    def _start_dial(self, ch: Channel, timeout: float, kind: DialKind) -> None:
        dest = ch.dest
        nth = self._dial_counts[dest.key]
        self._dial_counts[dest.key] += 1
        ch.callee = self.scenario.callee_for(dest, nth)
        ch.dialed = True
        ch.dial_timeout = timeout
        record = self.calls[ch.id]
        record.behaviour = ch.callee.behaviour
        record.dialed = self.now()
        self.dials.append(
            DialRecord(
                channel_id=ch.id,
                endpoint=dest.endpoint,
                destination=dest.resource,
                number=dest.number,
                kind=kind,
                at=record.dialed,
                behaviour=ch.callee.behaviour,
            )
        )
        self.spawn(callee_script.run_dial(self, ch), channel=ch)

    # ----------------------------------------------------------------- dial progress (callee scripts)
    def dialstring(self, ch: Channel, progress: bool) -> str:
        # Asterisk leaves the dialstring empty on progress Dial events of a created+dialled channel.
        return "" if (progress and ch.kind == "create") else ch.dest.resource

    def emit_dial(self, ch: Channel, status: str, progress: bool = True) -> None:
        self.emit(
            "Dial",
            self.recipients(ch),
            dialstatus=status,
            forward="",
            dialstring=self.dialstring(ch, progress and status != ""),
            peer=ch.to_json(),
        )

    def ringing(self, ch: Channel) -> None:
        self.emit_dial(ch, "RINGING")
        ch.state = "Ringing"
        self.emit_channel("ChannelStateChange", ch)

    def answered(self, ch: Channel) -> None:
        ch.state = "Up"
        self.calls[ch.id].answered = self.now()
        self.emit_channel("ChannelStateChange", ch)
        self.emit_dial(ch, "ANSWER")
        if ch.kind == "originate":
            if ch.pending_app:
                app, ch.pending_app = ch.pending_app, None
                ch.dialplan.update(app_name="Stasis", app_data=",".join([app, *ch.app_args]))
                self._enter_stasis(ch, app, ch.app_args)
            elif ch.target_dialplan is not None:
                self._enter_dialplan(ch, *ch.target_dialplan)
        self.spawn(callee_script.run_answered(self, ch), channel=ch)

    def failed(self, ch: Channel, behaviour: str) -> None:
        cause, dialstatus, tech_cause = FAILURE_SIGNALS[behaviour]
        self.hangup(
            ch,
            cause=cause,
            by="callee",
            request_cause=cause,
            tech_cause=tech_cause,
            final_dial=dialstatus if ch.kind == "originate" else None,
        )

    def ring_timeout(self, ch: Channel) -> None:
        # A plain originate ends with ChannelDestroyed alone; a dialled channel in Stasis is soft-hung-up.
        if ch.kind == "originate":
            self.hangup(ch, cause=19, by="timeout", request_cause=None, tech_cause=RING_TIMEOUT_TECH_CAUSE)
        else:
            self.hangup(
                ch, cause=19, by="timeout", request_cause=32, soft=True, tech_cause=RING_TIMEOUT_TECH_CAUSE
            )

    def callee_hangs_up(self, ch: Channel) -> None:
        callee = ch.callee
        cause = callee.hangup_cause if callee and callee.hangup_cause is not None else None
        if cause is None:
            cause = 16 if ch.bridge_id else 0
        self.hangup(ch, cause=cause, by="callee", request_cause=cause)

    def callee_presses(self, ch: Channel, digit: str) -> None:
        bridging.key_pressed(self, ch, digit)

    # ----------------------------------------------------------------- Stasis and dialplan
    def _enter_stasis(self, ch: Channel, app: str, args: list[str]) -> None:
        self.app(app)
        # Only apps already subscribed see the variable set just before the channel enters Stasis.
        self.emit_channel("ChannelVarset", ch, variable="STASISSTATUS", value="")
        ch.stasis_app = app
        ch.last_app = app
        self.emit_channel("StasisStart", ch, args=list(args))

    def _leave_stasis(self, ch: Channel) -> None:
        if ch.stasis_app is None:
            return
        self.emit_channel("StasisEnd", ch)
        ch.stasis_app = None
        self.emit_channel("ChannelVarset", ch, variable="STASISSTATUS", value="SUCCESS")

    def _enter_dialplan(self, ch: Channel, context: str, exten: str, priority: int) -> None:
        if context == self.amd_context:
            self._dialplan_step(ch, context, exten, 1, "NoOp", f"AMD on {ch.name}")
            self._dialplan_step(ch, context, exten, 2, "AMD", "")
            self.spawn(self._run_amd(ch, context, exten), channel=ch)
        else:
            self._dialplan_step(ch, context, exten, priority, "NoOp", "")

    def _dialplan_step(
        self, ch: Channel, context: str, exten: str, priority: int, app: str, data: str
    ) -> None:
        ch.dialplan = {
            "context": context,
            "exten": exten,
            "priority": priority,
            "app_name": app,
            "app_data": data,
        }
        self.emit_channel("ChannelDialplan", ch, dialplan_app=app, dialplan_app_data=data)

    async def _run_amd(self, ch: Channel, context: str, exten: str) -> None:
        callee = ch.callee
        machine = callee is not None and callee.behaviour == "machine"
        default_after = 3.0 if machine else 2.5
        after = callee.amd_after if callee and callee.amd_after is not None else default_after
        await self.sleep(after)
        if ch.id not in self.channels or ch.hanging_up:
            return
        status, cause = ("MACHINE", "LONGGREETING-1500-1500") if machine else ("HUMAN", "HUMAN-800-800")
        record = self.calls[ch.id]
        record.amd_status, record.amd_cause = status, cause
        for name, value in (("AMDSTATUS", status), ("AMDCAUSE", cause)):
            ch.variables[name] = value
            self.emit_channel("ChannelVarset", ch, variable=name, value=value)
        app = ch.variables.get("CALLBACK_APP") or ch.last_app
        if not app and len(self.apps) == 1:
            app = next(iter(self.apps))
        self._dialplan_step(ch, context, exten, 3, "NoOp", f"AMD result {status} {cause}")
        if not app:
            return
        args = ["amd", status, cause]
        self._dialplan_step(ch, context, exten, 4, "Stasis", ",".join([app, *args]))
        self._enter_stasis(ch, app, args)

    def continue_in_dialplan(self, channel_id: str, params: dict[str, str]) -> None:
        ch = self.control(channel_id)
        self.require_answered(ch)
        context = params.get("context") or ch.dialplan.get("context", "default")
        exten = params.get("extension") or "s"
        priority = int(_number(params.get("priority"), 1))
        if ch.bridge_id:
            self._remove_from_bridge(ch, self.bridges[ch.bridge_id])
        self._leave_stasis(ch)
        self._enter_dialplan(ch, context, exten, priority)

    def move(self, channel_id: str, app: str, app_args: str) -> None:
        ch = self.control(channel_id)
        if not app:
            raise AriError.message(400, "app parameter is required")
        self.emit_channel("StasisEnd", ch)
        ch.stasis_app = None
        ch.dialplan.update(app_name="Stasis", app_data=",".join([app, *_split_args(app_args)]))
        self._enter_stasis(ch, app, _split_args(app_args))

    # ----------------------------------------------------------------- hang-up
    def hangup_request(self, channel_id: str, reason: str | None, reason_code: str | None) -> None:
        ch = self.channel(channel_id)
        cause = 16
        if reason_code:
            try:
                cause = int(reason_code)
            except ValueError:
                raise AriError.message(400, "Invalid reason for hangup provided") from None
        elif reason:
            if reason not in HANGUP_REASONS:
                raise AriError.message(400, "Invalid reason for hangup provided")
            cause = HANGUP_REASONS[reason]
        pending = ch.kind == "originate" and ch.state != "Up" and ch.dialed
        self.hangup(
            ch,
            cause=cause,
            by="app",
            request_cause=32,
            soft=True,
            final_dial="CANCEL" if pending else None,
            # A created channel never dialled ends with SIP 603 as its technology cause (recording 14).
            tech_cause=603 if ch.kind == "create" and not ch.dialed else None,
        )

    def hangup(
        self,
        ch: Channel,
        *,
        cause: int,
        by: str,
        request_cause: int | None,
        soft: bool = False,
        tech_cause: int | None = None,
        final_dial: str | None = None,
    ) -> None:
        if ch.hanging_up or self.channels.get(ch.id) is not ch:
            return
        ch.hanging_up = True
        apps = self.recipients(ch)
        if request_cause is not None:
            extra: dict[str, Any] = {"cause": request_cause}
            if soft:
                extra["soft"] = True
            if tech_cause is not None and not soft:
                extra["tech_cause"] = tech_cause
            self.emit_channel("ChannelHangupRequest", ch, apps=apps, **extra)
        for pb in list(self.playbacks.values()):
            if pb.target_kind == "channel" and pb.target_id == ch.id:
                self._finish_playback(pb, stopped=True)
            else:
                for rec in pb.records:
                    if rec.channel_id == ch.id and rec.ended is None:
                        self._close_record(rec, stopped=True)
        if final_dial:
            self.emit(
                "Dial",
                apps,
                dialstatus=final_dial,
                forward="",
                dialstring=ch.dest.resource,
                peer=ch.to_json(),
            )
        if ch.bridge_id and ch.bridge_id in self.bridges:
            self._remove_from_bridge(ch, self.bridges[ch.bridge_id])
        self._leave_stasis(ch)
        destroyed: dict[str, Any] = {"cause": cause, "cause_txt": cause_text(cause)}
        if tech_cause is not None:
            destroyed["tech_cause"] = tech_cause
        self.emit_channel("ChannelDestroyed", ch, **destroyed)
        del self.channels[ch.id]
        record = self.calls[ch.id]
        record.hangup_cause, record.hangup_by, record.destroyed = cause, by, self.now()
        current = asyncio.current_task()
        for task in list(ch.tasks):
            if task is not current:
                task.cancel()

    # ----------------------------------------------------------------- channel operations
    def answer(self, channel_id: str) -> None:
        self.require_answered(self.control(channel_id))

    def ring(self, channel_id: str) -> None:
        self.require_answered(self.control(channel_id))

    def send_dtmf(self, channel_id: str, dtmf: str | None) -> None:
        ch = self.control(channel_id)
        self.require_answered(ch)
        if not dtmf:
            raise AriError.message(400, "DTMF is required")
        self.calls[ch.id].dtmf_received_from_app += dtmf

    def get_variable(self, channel_id: str, name: str | None) -> dict[str, str]:
        ch = self.control(channel_id)
        if not name:
            raise AriError.message(400, "Variable name is required")
        special = {
            "CALLERID(num)": ch.caller["number"],
            "CALLERID(name)": ch.caller["name"],
            "CONNECTEDLINE(num)": ch.connected["number"],
            "CONNECTEDLINE(name)": ch.connected["name"],
        }
        if name in special:
            return {"value": special[name]}
        if name == "CHANNEL(rtcp,rxcount)":
            return {"value": str(callee_script.received_packets(self, ch))}
        if name not in ch.variables:
            raise AriError.message(404, "Provided variable was not found")
        return {"value": ch.variables[name]}

    def set_variable(self, channel_id: str, name: str | None, value: str) -> None:
        ch = self.control(channel_id)
        if not name:
            raise AriError.message(400, "Variable name is required")
        self._set_variable(ch, name, value, announce=True)

    def _set_variable(self, ch: Channel, name: str, value: str, announce: bool) -> None:
        fn = re.fullmatch(r"(CALLERID|CONNECTEDLINE)\((num|name)(?:,i)?\)", name)
        if fn:
            party = ch.caller if fn.group(1) == "CALLERID" else ch.connected
            party["number" if fn.group(2) == "num" else "name"] = value
            return
        if name == "TALK_DETECT(set)":
            callee_script.arm_talk_detect(self, ch, value)
            return
        if "(" in name:  # other dialplan functions: accepted, no event
            return
        ch.variables[name] = value
        if announce:
            self.emit_channel("ChannelVarset", ch, variable=name, value=value)

    # ----------------------------------------------------------------- playbacks
    def play(
        self, target_kind: str, target_id: str, media: list[str], playback_id: str | None, lang: str | None
    ) -> dict[str, Any]:
        if not media:
            raise AriError.message(400, "media is required")
        tail_owner: Channel | Bridge
        if target_kind == "channel":
            ch = self.control(target_id)
            self.require_answered(ch)
            members = [ch]
            tail_owner = ch
        else:
            br = self.bridge(target_id)
            members = [self.channels[c] for c in br.channels if c in self.channels]
            tail_owner = br
        pb_id = playback_id or str(uuid.uuid4())
        if pb_id in self.playbacks:
            raise AriError.message(409, "Playback with the same id already exists")
        pb = Playback(
            id=pb_id,
            media=media,
            target_kind="channel" if target_kind == "channel" else "bridge",
            target_id=target_id,
        )
        pb.language = lang or "en"
        for member in members:
            rec = PlaybackRecord(
                channel_id=member.id,
                media_uri=",".join(media),
                playback_id=pb_id,
                target_uri=pb.target_uri,
                items=[MediaItemRecord(media_uri=uri) for uri in media],
            )
            pb.records.append(rec)
            self.calls[member.id].playbacks.append(rec)
        self.playbacks[pb_id] = pb
        body = pb.to_json()
        previous = tail_owner.playback_tail
        done = asyncio.Event()
        tail_owner.playback_tail = done
        owner = tail_owner if isinstance(tail_owner, Channel) else None
        self.spawn(playbacks.run_playback(self, pb, previous, done), channel=owner)
        return body

    def media_seconds(self, uri: str) -> float | None:
        return playbacks.media_seconds(self, uri)

    def _close_record(self, rec: PlaybackRecord, stopped: bool, failed: bool = False) -> None:
        playbacks.close_record(self, rec, stopped, failed)

    def _finish_playback(self, pb: Playback, stopped: bool, failed: bool = False) -> None:
        playbacks.finish_playback(self, pb, stopped, failed)

    def playback(self, playback_id: str) -> Playback:
        pb = self.playbacks.get(playback_id)
        if pb is None:
            raise AriError.message(404, "Playback not found")
        return pb

    def stop_playback(self, playback_id: str) -> None:
        playbacks.stop_playback(self, self.playback(playback_id))

    # ----------------------------------------------------------------- bridges
    def create_bridge(
        self, bridge_id: str | None, bridge_type: str | None, name: str | None
    ) -> dict[str, Any]:
        types = [t.strip() for t in (bridge_type or "mixing").split(",") if t.strip()]
        if not types or any(t not in BRIDGE_TYPES for t in types):
            raise AriError.message(500, "Unable to create bridge. Possible duplicate bridge id '(null)'")
        bid = bridge_id or str(uuid.uuid4())
        if bid in self.bridges:
            raise AriError.message(409, "Bridge with the same bridgeId already exists")
        kind = "holding" if "holding" in types else "mixing"
        br = Bridge(
            id=bid,
            name=name or "",
            bridge_type=kind,
            created=self.now(),
            dtmf_events=bool(bridging.NO_NATIVE_TYPES & set(types)),
        )
        self.bridges[bid] = br
        self.emit("BridgeCreated", set(), bridge=br.to_json())
        return br.to_json()

    def check_addable(self, bridge_id: str, channel_ids: list[str]) -> tuple[Bridge, list[Channel]]:
        br = self.bridge(bridge_id)
        if not channel_ids:
            raise AriError.message(400, "Missing parameter channel")
        chans = []
        for cid in channel_ids:
            ch = self.channels.get(cid)
            if ch is None:
                raise AriError.message(400, "Channel not found")
            if ch.stasis_app is None:
                raise AriError.message(422, "Channel not in Stasis application")
            chans.append(ch)
        return br, chans

    def add_channels(self, bridge_id: str, channel_ids: list[str]) -> None:
        br, chans = self.check_addable(bridge_id, channel_ids)
        for ch in chans:
            if ch.bridge_id == br.id:
                continue
            if ch.bridge_id and ch.bridge_id in self.bridges:
                self._remove_from_bridge(ch, self.bridges[ch.bridge_id])
            br.channels.append(ch.id)
            br.subscribers.add(ch.stasis_app or "")
            ch.bridge_id = br.id
            record = self.calls[ch.id]
            if record.bridged is None:
                record.bridged = self.now()
            self.emit_channel("ChannelEnteredBridge", ch, bridge=br.to_json())
            bridging.settle(self, br)
            if not ch.ever_bridged:
                ch.ever_bridged = True
                callee_script.on_bridged(self, ch)

    def remove_channels(self, bridge_id: str, channel_ids: list[str]) -> None:
        br = self.bridge(bridge_id)
        chans = []
        for cid in channel_ids:
            ch = self.channels.get(cid)
            if ch is None:
                raise AriError.message(400, "Channel not found")
            if ch.stasis_app is None:
                raise AriError.message(422, "Channel not in Stasis application")
            if ch.bridge_id != br.id:
                raise AriError.message(422, "Channel not in this bridge")
            chans.append(ch)
        for ch in chans:
            self._remove_from_bridge(ch, br)

    def _remove_from_bridge(self, ch: Channel, br: Bridge) -> None:
        if ch.id in br.channels:
            br.channels.remove(ch.id)
        ch.bridge_id = None
        apps = self.recipients(ch) | br.subscribers
        self.emit_channel("ChannelLeftBridge", ch, apps=apps, bridge=br.to_json())
        bridging.settle(self, br)

    def destroy_bridge(self, bridge_id: str) -> None:
        br = self.bridge(bridge_id)
        for cid in list(br.channels):
            if cid in self.channels:
                self._remove_from_bridge(self.channels[cid], br)
        for pb in list(self.playbacks.values()):
            if pb.target_kind == "bridge" and pb.target_id == br.id:
                self._finish_playback(pb, stopped=True)
        self.emit("BridgeDestroyed", br.subscribers, bridge=br.to_json())
        del self.bridges[bridge_id]

    # ----------------------------------------------------------------- subscriptions
    def subscribe(self, app_name: str, sources: list[str], subscribe: bool) -> dict[str, Any]:
        if app_name not in self.apps:
            raise AriError.message(404, "Application not found")
        if not sources:
            raise AriError.message(400, "Missing parameter eventSource")
        resolved: list[set[str]] = []
        for source in sources:
            scheme, _, ident = source.partition(":")
            if scheme == "channel":
                if ident not in self.channels:
                    raise AriError.message(422, "Event source does not exist")
                resolved.append(self.channels[ident].subscribers)
            elif scheme == "bridge":
                if ident not in self.bridges:
                    raise AriError.message(422, "Event source does not exist")
                resolved.append(self.bridges[ident].subscribers)
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

    # ----------------------------------------------------------------- inspection
    def reset(self) -> None:
        for ch in list(self.channels.values()):
            self.hangup(ch, cause=16, by="reset", request_cause=16)
        for bid in list(self.bridges):
            self.destroy_bridge(bid)
        self.dials.clear()
        self.calls.clear()
        self.faults.clear()
        self._dial_counts.clear()


def _number(text: str | None, default: float) -> float:
    if text is None or text == "":
        return default
    try:
        return float(text)
    except ValueError:
        raise AriError.message(400, f"Invalid number: {text}") from None


def _split_args(text: str) -> list[str]:
    return [a for a in text.split(",")] if text else []
