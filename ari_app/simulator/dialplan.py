"""Stasis in and out, the dialplan a channel runs outside it (answering machine detection), and channel
variables (dialplan functions included: CALLERID, TALK_DETECT, CHANNEL(rtcp,rxcount))."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from . import callee as callee_script
from .arguments import number_param, split_args
from .errors import AriError
from .scenario import AMD_PARAMETERS
from .state import Channel

if TYPE_CHECKING:
    from .engine import Pbx


# ----------------------------------------------------------------- Stasis
def enter_stasis(pbx: Pbx, ch: Channel, app: str, args: list[str]) -> None:
    pbx.app(app)
    # Only apps already subscribed see the variable set just before the channel enters Stasis.
    pbx.emit_channel("ChannelVarset", ch, variable="STASISSTATUS", value="")
    ch.stasis_app = app
    ch.last_app = app
    pbx.emit_channel("StasisStart", ch, args=list(args))


def leave_stasis(pbx: Pbx, ch: Channel) -> None:
    if ch.stasis_app is None:
        return
    pbx.emit_channel("StasisEnd", ch)
    ch.stasis_app = None
    pbx.emit_channel("ChannelVarset", ch, variable="STASISSTATUS", value="SUCCESS")


def continue_in_dialplan(pbx: Pbx, channel_id: str, params: dict[str, str]) -> None:
    ch = pbx.control(channel_id)
    pbx.require_answered(ch)
    context = params.get("context") or ch.dialplan.get("context", "default")
    exten = params.get("extension") or "s"
    priority = int(number_param(params.get("priority"), 1))
    if ch.bridge_id:
        pbx.bridge_registry.remove(ch, pbx.bridges[ch.bridge_id])
    leave_stasis(pbx, ch)
    if ch.kind == "inbound" and not params.get("context"):
        from . import inbound

        inbound.handed_back(pbx, ch)  # on to the next priority: the fallback phone
        return
    enter_dialplan(pbx, ch, context, exten, priority)


def move(pbx: Pbx, channel_id: str, app: str, app_args: str) -> None:
    ch = pbx.control(channel_id)
    if not app:
        raise AriError.message(400, "app parameter is required")
    pbx.emit_channel("StasisEnd", ch)
    ch.stasis_app = None
    args = split_args(app_args)
    ch.dialplan.update(app_name="Stasis", app_data=",".join([app, *args]))
    enter_stasis(pbx, ch, app, args)


# ----------------------------------------------------------------- dialplan and AMD
def enter_dialplan(pbx: Pbx, ch: Channel, context: str, exten: str, priority: int) -> None:
    if context == pbx.amd_context:
        _step(pbx, ch, context, exten, 1, "NoOp", f"AMD on {ch.name}")
        given = ",".join(ch.variables.get(f"AMD_{n.upper()}", "") for n in AMD_PARAMETERS)
        _step(pbx, ch, context, exten, 2, "AMD", given.strip(","))
        pbx.spawn(_run_amd(pbx, ch, context, exten), channel=ch)
    else:
        _step(pbx, ch, context, exten, priority, "NoOp", "")


def _step(pbx: Pbx, ch: Channel, context: str, exten: str, priority: int, app: str, data: str) -> None:
    ch.dialplan = {
        "context": context,
        "exten": exten,
        "priority": priority,
        "app_name": app,
        "app_data": data,
    }
    pbx.emit_channel("ChannelDialplan", ch, dialplan_app=app, dialplan_app_data=data)


def amd_parameters(ch: Channel) -> dict[str, int]:
    """What AMD() runs with: each ``AMD_<NAME>`` channel variable the context passes, where set to a whole
    number; amd.conf's value where it is empty or unset (as app_amd does with an empty argument)."""
    given = dict(AMD_PARAMETERS)
    for name in AMD_PARAMETERS:
        raw = ch.variables.get(f"AMD_{name.upper()}", "").strip()
        if raw.isdigit():
            given[name] = int(raw)
    return given


async def _run_amd(pbx: Pbx, ch: Channel, context: str, exten: str) -> None:
    callee = ch.callee
    machine = callee is not None and callee.behaviour == "machine"
    given = amd_parameters(ch)
    scripted = next((a for a in callee.amd if a.matches(given)), None) if callee else None
    default_after = 3.0 if machine else 2.5
    after = callee.amd_after if callee and callee.amd_after is not None else default_after
    if scripted is not None and scripted.after is not None:
        after = scripted.after
    record = pbx.calls[ch.id]
    record.amd_params = given
    await pbx.sleep(after)
    if ch.id not in pbx.channels or ch.hanging_up:
        return
    if scripted is not None:
        status, cause = scripted.status, scripted.cause
    else:
        status, cause = ("MACHINE", "LONGGREETING-1500-1500") if machine else ("HUMAN", "HUMAN-800-800")
    record.amd_status, record.amd_cause = status, cause
    for name, value in (("AMDSTATUS", status), ("AMDCAUSE", cause)):
        ch.variables[name] = value
        pbx.emit_channel("ChannelVarset", ch, variable=name, value=value)
    app = ch.variables.get("CALLBACK_APP") or ch.last_app
    if not app and len(pbx.apps) == 1:
        app = next(iter(pbx.apps))
    _step(pbx, ch, context, exten, 3, "NoOp", f"AMD result {status} {cause}")
    if not app:
        return
    args = ["amd", status, cause]
    _step(pbx, ch, context, exten, 4, "Stasis", ",".join([app, *args]))
    enter_stasis(pbx, ch, app, args)


# ----------------------------------------------------------------- variables
def get_variable(pbx: Pbx, channel_id: str, name: str | None) -> dict[str, str]:
    ch = pbx.control(channel_id)
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
        return {"value": str(callee_script.received_packets(pbx, ch))}
    if name not in ch.variables:
        raise AriError.message(404, "Provided variable was not found")
    return {"value": ch.variables[name]}


def set_variable(pbx: Pbx, channel_id: str, name: str | None, value: str) -> None:
    ch = pbx.control(channel_id)
    if not name:
        raise AriError.message(400, "Variable name is required")
    set_channel_variable(pbx, ch, name, value, announce=True)


def set_channel_variable(pbx: Pbx, ch: Channel, name: str, value: str, announce: bool) -> None:
    fn = re.fullmatch(r"(CALLERID|CONNECTEDLINE)\((num|name)(?:,i)?\)", name)
    if fn:
        party = ch.caller if fn.group(1) == "CALLERID" else ch.connected
        party["number" if fn.group(2) == "num" else "name"] = value
        return
    if name == "TALK_DETECT(set)":
        callee_script.arm_talk_detect(pbx, ch, value)
        return
    if "(" in name:  # other dialplan functions: accepted, no event
        return
    ch.variables[name] = value
    if announce:
        pbx.emit_channel("ChannelVarset", ch, variable=name, value=value)
