"""A channel's call from the dial to its end: Dial events, ringing, answer, failure, ring timeout, hang-up."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import TYPE_CHECKING, Any

from . import bridging, dialplan
from . import callee as callee_script
from .arguments import number_param
from .errors import AriError
from .events import HANGUP_REASONS, cause_text
from .state import Channel, DialKind, DialRecord

if TYPE_CHECKING:
    from .engine import Pbx

# SIP response codes behind each failure, as Asterisk reports them in `tech_cause`.
FAILURE_SIGNALS: dict[str, tuple[int, str, int]] = {
    "busy": (17, "BUSY", 486),
    "reject": (21, "NOANSWER", 603),
    "unallocated": (1, "NOANSWER", 404),
    "congestion": (34, "CONGESTION", 503),
}
RING_TIMEOUT_TECH_CAUSE = 480


class Dialler:
    """Owns how many times each destination has been dialled (a scenario's ``sequence`` goes by it)."""

    def __init__(self, pbx: Pbx) -> None:
        self.pbx = pbx
        self._dial_counts: Counter[str] = Counter()

    def reset_counts(self) -> None:
        self._dial_counts.clear()

    # ----------------------------------------------------------------- dialling
    def dial(self, channel_id: str, timeout: str | None) -> None:
        pbx = self.pbx
        try:
            ch = pbx.control(channel_id)
        except AriError as exc:
            if exc.status == 409:  # before StasisStart: Asterisk dials nothing, the channel stays Down
                pbx.calls[channel_id].dials_refused += 1
            raise
        if ch.kind != "create":
            raise AriError.message(409, "Dialing a channel not created by ARI")
        if ch.state != "Down" or ch.dialed:
            raise AriError.message(409, "Channel is not in the 'Down' state")
        self.start(ch, max(0.0, number_param(timeout, 0.0)), "dial")

    def start(self, ch: Channel, timeout: float, kind: DialKind) -> None:
        pbx = self.pbx
        dest = ch.dest
        nth = self._dial_counts[dest.key]
        self._dial_counts[dest.key] += 1
        ch.callee = pbx.scenario.callee_for(dest, nth)
        ch.dialed = True
        ch.dial_timeout = timeout
        record = pbx.calls[ch.id]
        record.behaviour = ch.callee.behaviour
        record.dialed = pbx.now()
        pbx.dials.append(
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
        pbx.spawn(callee_script.run_dial(pbx, ch), channel=ch)

    # ----------------------------------------------------------------- dial progress (callee scripts)
    @staticmethod
    def dialstring(ch: Channel, progress: bool) -> str:
        # Asterisk leaves the dialstring empty on progress Dial events of a created+dialled channel.
        return "" if (progress and ch.kind == "create") else ch.dest.resource

    def emit_dial(self, ch: Channel, status: str, progress: bool = True) -> None:
        self.pbx.emit(
            "Dial",
            self.pbx.recipients(ch),
            dialstatus=status,
            forward="",
            dialstring=self.dialstring(ch, progress and status != ""),
            peer=ch.to_json(),
        )

    def ringing(self, ch: Channel) -> None:
        self.emit_dial(ch, "RINGING")
        ch.state = "Ringing"
        self.pbx.emit_channel("ChannelStateChange", ch)

    def answered(self, ch: Channel) -> None:
        pbx = self.pbx
        ch.state = "Up"
        pbx.calls[ch.id].answered = pbx.now()
        pbx.emit_channel("ChannelStateChange", ch)
        self.emit_dial(ch, "ANSWER")
        if ch.kind == "originate":
            if ch.pending_app:
                app, ch.pending_app = ch.pending_app, None
                ch.dialplan.update(app_name="Stasis", app_data=",".join([app, *ch.app_args]))
                dialplan.enter_stasis(pbx, ch, app, ch.app_args)
            elif ch.target_dialplan is not None:
                dialplan.enter_dialplan(pbx, ch, *ch.target_dialplan)
        pbx.spawn(callee_script.run_answered(pbx, ch), channel=ch)

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
        bridging.key_pressed(self.pbx, ch, digit)

    # ----------------------------------------------------------------- hang-up
    def hangup_request(self, channel_id: str, reason: str | None, reason_code: str | None) -> None:
        ch = self.pbx.channel(channel_id)
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
        pbx = self.pbx
        if ch.hanging_up or pbx.channels.get(ch.id) is not ch:
            return
        ch.hanging_up = True
        apps = pbx.recipients(ch)
        if request_cause is not None:
            extra: dict[str, Any] = {"cause": request_cause}
            if soft:
                extra["soft"] = True
            if tech_cause is not None and not soft:
                extra["tech_cause"] = tech_cause
            pbx.emit_channel("ChannelHangupRequest", ch, apps=apps, **extra)
        pbx.playback_registry.channel_gone(ch)
        pbx.recording_registry.channel_gone(ch)
        if final_dial:
            pbx.emit(
                "Dial",
                apps,
                dialstatus=final_dial,
                forward="",
                dialstring=ch.dest.resource,
                peer=ch.to_json(),
            )
        if ch.bridge_id and ch.bridge_id in pbx.bridges:
            pbx.bridge_registry.remove(ch, pbx.bridges[ch.bridge_id])
        dialplan.leave_stasis(pbx, ch)
        destroyed: dict[str, Any] = {"cause": cause, "cause_txt": cause_text(cause)}
        if tech_cause is not None:
            destroyed["tech_cause"] = tech_cause
        pbx.emit_channel("ChannelDestroyed", ch, **destroyed)
        pbx.channel_registry.forget(ch)
        record = pbx.calls[ch.id]
        record.hangup_cause, record.hangup_by, record.destroyed = cause, by, pbx.now()
        current = asyncio.current_task()
        for task in list(ch.tasks):
            if task is not current:
                task.cancel()
