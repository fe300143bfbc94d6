"""The simulated PBX: channel, bridge and playback life cycles, in Asterisk's event order.

Everything runs on one event loop. Operations called from HTTP handlers are synchronous state changes that
emit events; timed behaviour (ringing, callees, playbacks, AMD) runs in tasks owned by the PBX, and by the
channel they belong to so a hang-up cancels them.

`Pbx` is the façade the routes, the callee scripts and the tests use; each piece of state has one owner:
Runtime (tasks, HTTP client), Records (inspection records, faults), AppRegistry (applications, who gets
each event), ChannelRegistry (live channels), Dialler (dial counts; dial to hang-up), BridgeRegistry
(bridges), PlaybackRegistry (playbacks). Stasis, the dialplan, AMD and variables live in dialplan.py.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Coroutine
from datetime import datetime
from typing import Any

import aiohttp

from ari_app.clock import Clock

from . import channels as channel_ops
from . import dialplan, media
from .applications import AppRegistry
from .arguments import parse_caller_id
from .bridging import BridgeRegistry
from .channels import ChannelRegistry
from .dialling import Dialler
from .errors import AriError
from .playbacks import PlaybackRegistry
from .recordings import RecordingRegistry
from .records import Records
from .runtime import Runtime
from .scenario import Scenario
from .state import Application, Bridge, CallRecord, Channel, DialRecord, Playback

__all__ = ["AriError", "Pbx", "parse_caller_id"]


class Pbx:
    """One simulated Asterisk: the operations ARI asks for, delegated to the owner of what they change."""

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
        self.runtime = Runtime(clock)
        self.records = Records()
        self.app_registry = AppRegistry(self)
        self.channel_registry = ChannelRegistry(self)
        self.dialler = Dialler(self)
        self.bridge_registry = BridgeRegistry(self)
        self.playback_registry = PlaybackRegistry(self)
        self.recording_registry = RecordingRegistry(self)

    def replace_scenario(self, scenario: Scenario) -> None:
        """A new scenario counts dials afresh: its ``sequence`` entries start again at the first step."""
        self.scenario = scenario
        self.dialler.reset_counts()

    # ----------------------------------------------------------------- state, read through its owners
    @property
    def channels(self) -> dict[str, Channel]:
        return self.channel_registry.channels

    @property
    def bridges(self) -> dict[str, Bridge]:
        return self.bridge_registry.bridges

    @property
    def playbacks(self) -> dict[str, Playback]:
        return self.playback_registry.playbacks

    @property
    def apps(self) -> dict[str, Application]:
        return self.app_registry.apps

    @property
    def dials(self) -> list[DialRecord]:
        return self.records.dials

    @property
    def calls(self) -> dict[str, CallRecord]:
        return self.records.calls

    @property
    def faults(self) -> Counter[str]:
        return self.records.faults

    # ----------------------------------------------------------------- time and tasks
    def now(self) -> datetime:
        return self.runtime.now()

    def wall(self, seconds: float) -> float:
        """Simulated seconds → wall seconds."""
        return self.runtime.wall(seconds)

    async def sleep(self, seconds: float) -> None:
        await self.runtime.sleep(seconds)

    def spawn(self, coro: Coroutine[Any, Any, Any], channel: Channel | None = None) -> asyncio.Task[Any]:
        return self.runtime.spawn(coro, channel)

    def http(self) -> aiohttp.ClientSession:
        """The client that fetches ``sound:http…`` media (opened on first use, closed with the PBX)."""
        return self.runtime.http()

    async def close(self) -> None:
        await self.runtime.cancel_tasks()
        self.app_registry.close()
        await self.runtime.close_http()

    # ----------------------------------------------------------------- applications and events
    def app(self, name: str) -> Application:
        return self.app_registry.app(name)

    def recipients(self, ch: Channel) -> set[str]:
        return self.app_registry.recipients(ch)

    def emit(self, kind: str, apps: set[str], **fields: Any) -> None:
        self.app_registry.emit(kind, apps, **fields)

    def emit_channel(self, kind: str, ch: Channel, apps: set[str] | None = None, **fields: Any) -> None:
        self.app_registry.emit_channel(kind, ch, apps, **fields)

    def application_json(self, name: str) -> dict[str, Any]:
        return self.app_registry.application_json(name)

    def subscribe(self, app_name: str, sources: list[str], subscribe: bool) -> dict[str, Any]:
        return self.app_registry.subscribe(app_name, sources, subscribe)

    def set_filter(self, app_name: str, body: Any) -> dict[str, Any]:
        return self.app_registry.set_filter(app_name, body)

    # ----------------------------------------------------------------- channels
    def channel(self, channel_id: str) -> Channel:
        return self.channel_registry.channel(channel_id)

    def control(self, channel_id: str) -> Channel:
        """A channel in a Stasis application (Asterisk's find_control)."""
        return self.channel_registry.control(channel_id)

    @staticmethod
    def require_answered(ch: Channel) -> None:
        channel_ops.require_answered(ch)

    def endpoints(self) -> list[dict[str, Any]]:
        return self.channel_registry.endpoints()

    def originate(self, params: dict[str, str], variables: dict[str, str]) -> dict[str, Any]:
        return self.channel_registry.originate(params, variables)

    def create(self, params: dict[str, str], variables: dict[str, str]) -> dict[str, Any]:
        return self.channel_registry.create(params, variables)

    def answer(self, channel_id: str) -> None:
        self.channel_registry.answer(channel_id)

    def ring(self, channel_id: str) -> None:
        self.channel_registry.ring(channel_id)

    def send_dtmf(self, channel_id: str, dtmf: str | None) -> None:
        self.channel_registry.send_dtmf(channel_id, dtmf)

    # ----------------------------------------------------------------- dialling, dial progress, hang-up
    def dial(self, channel_id: str, timeout: str | None) -> None:
        self.dialler.dial(channel_id, timeout)

    def dialstring(self, ch: Channel, progress: bool) -> str:
        return self.dialler.dialstring(ch, progress)

    def emit_dial(self, ch: Channel, status: str, progress: bool = True) -> None:
        self.dialler.emit_dial(ch, status, progress)

    def ringing(self, ch: Channel) -> None:
        self.dialler.ringing(ch)

    def answered(self, ch: Channel) -> None:
        self.dialler.answered(ch)

    def failed(self, ch: Channel, behaviour: str) -> None:
        self.dialler.failed(ch, behaviour)

    def ring_timeout(self, ch: Channel) -> None:
        self.dialler.ring_timeout(ch)

    def callee_hangs_up(self, ch: Channel) -> None:
        self.dialler.callee_hangs_up(ch)

    def callee_presses(self, ch: Channel, digit: str) -> None:
        self.dialler.callee_presses(ch, digit)

    def hangup_request(self, channel_id: str, reason: str | None, reason_code: str | None) -> None:
        self.dialler.hangup_request(channel_id, reason, reason_code)

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
        self.dialler.hangup(
            ch,
            cause=cause,
            by=by,
            request_cause=request_cause,
            soft=soft,
            tech_cause=tech_cause,
            final_dial=final_dial,
        )

    # ----------------------------------------------------------------- Stasis, dialplan, variables
    def continue_in_dialplan(self, channel_id: str, params: dict[str, str]) -> None:
        dialplan.continue_in_dialplan(self, channel_id, params)

    def move(self, channel_id: str, app: str, app_args: str) -> None:
        dialplan.move(self, channel_id, app, app_args)

    def get_variable(self, channel_id: str, name: str | None) -> dict[str, str]:
        return dialplan.get_variable(self, channel_id, name)

    def set_variable(self, channel_id: str, name: str | None, value: str) -> None:
        dialplan.set_variable(self, channel_id, name, value)

    # ----------------------------------------------------------------- playbacks
    def play(
        self, target_kind: str, target_id: str, media: list[str], playback_id: str | None, lang: str | None
    ) -> dict[str, Any]:
        return self.playback_registry.play(target_kind, target_id, media, playback_id, lang)

    def media_seconds(self, uri: str) -> float | None:
        return media.media_seconds(self, uri)

    def playback(self, playback_id: str) -> Playback:
        return self.playback_registry.playback(playback_id)

    def stop_playback(self, playback_id: str) -> None:
        self.playback_registry.stop(playback_id)

    # ----------------------------------------------------------------- recordings, calls to the PBX
    def record(self, channel_id: str, params: dict[str, str]) -> dict[str, Any]:
        return self.recording_registry.record(channel_id, params)

    def place_inbound(self, call: Any, channel_id: str | None = None) -> str:
        """A scripted caller (``inbound.InboundCaller``) calls the PBX, now or ``call.after`` seconds on."""
        from . import inbound

        channel_id = channel_id or inbound.new_inbound_id(self)
        if call.after:
            self.spawn(inbound.place_later(self, channel_id, call))
        else:
            inbound.place(self, channel_id, call)
        return channel_id

    # ----------------------------------------------------------------- bridges
    def bridge(self, bridge_id: str) -> Bridge:
        return self.bridge_registry.bridge(bridge_id)

    def create_bridge(
        self, bridge_id: str | None, bridge_type: str | None, name: str | None
    ) -> dict[str, Any]:
        return self.bridge_registry.create(bridge_id, bridge_type, name)

    def check_addable(self, bridge_id: str, channel_ids: list[str]) -> tuple[Bridge, list[Channel]]:
        return self.bridge_registry.check_addable(bridge_id, channel_ids)

    def add_channels(self, bridge_id: str, channel_ids: list[str]) -> None:
        self.bridge_registry.add_channels(bridge_id, channel_ids)

    def remove_channels(self, bridge_id: str, channel_ids: list[str]) -> None:
        self.bridge_registry.remove_channels(bridge_id, channel_ids)

    def destroy_bridge(self, bridge_id: str) -> None:
        self.bridge_registry.destroy(bridge_id)

    # ----------------------------------------------------------------- inspection
    def reset(self) -> None:
        for ch in list(self.channels.values()):
            self.hangup(ch, cause=16, by="reset", request_cause=16)
        for bid in list(self.bridges):
            self.destroy_bridge(bid)
        self.records.clear()
        self.dialler.reset_counts()
