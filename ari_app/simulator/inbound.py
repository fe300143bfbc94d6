"""Calls *to* the PBX: a scripted caller dials the business number and the dialplan hands the call over.

Shaped as a real Asterisk 22 shapes a call entering ``Stasis()`` from the dialplan (see
``asterisk_conf/extensions.conf``, ``[callback-inbound]``): no ChannelCreated for the application (it is
subscribed to nothing yet), then StasisStart with ``args = ["inbound", <caller's number>, <number dialled>]``,
the channel in state ``Ring`` (not answered: the application answers it), ``caller.number`` as the carrier
sent it and ``dialplan`` at the ``Stasis`` step of the context. When the application is not connected,
Stasis() fails at once (STASISSTATUS=FAILED) and the call goes on in the dialplan to the fallback phone.

The caller (``InboundCaller``): talks ``talk`` seconds once bridged, then hangs up; when a recording starts
on their channel, speaks ``message`` seconds and hangs up (0: hangs up without a word); left alone (never
bridged, never recorded) hangs up after ``patience`` seconds.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from .destination import Destination
from .errors import AriError
from .scenario import Callee
from .state import CallRecord, Channel

if TYPE_CHECKING:
    from .engine import Pbx

INBOUND_ARG = "inbound"
FALLBACK = "PJSIP/admin,30"


@dataclass(frozen=True)
class InboundCaller:
    caller: str  # the number as the carrier sends it ("+12125550199", "2125550199", "anonymous")
    dialled: str = "+12125550100"
    name: str = ""
    app: str = "callback-app"
    context: str = "callback-inbound"
    talk: float | None = 30.0
    message: float = 0.0
    patience: float = 120.0
    after: float = 0.0  # seconds from the request before the call arrives

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InboundCaller:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise AriError.message(400, f"unknown key: {unknown[0]}")
        if not isinstance(data.get("caller"), str):
            raise AriError.message(400, "caller: a string (the caller's number) is required")
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key in ("talk", "message", "patience", "after"):
                if value is None and key == "talk":
                    values[key] = None
                    continue
                if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                    raise AriError.message(400, f"{key}: must be a number of seconds")
                values[key] = float(value)
            else:
                if not isinstance(value, str):
                    raise AriError.message(400, f"{key}: must be a string")
                values[key] = value
        return cls(**values)


def inbound_channel(pbx: Pbx, channel_id: str, call: InboundCaller) -> Channel:
    seq = next(pbx.channel_registry._names)
    ch = Channel(
        id=channel_id,
        name=f"PJSIP/trunk-{seq:08x}",
        dest=Destination("PJSIP", "trunk", "trunk", None),
        kind="inbound",
        created=pbx.now(),
        protocol_id=str(uuid.uuid4()),
        caller={"name": call.name, "number": call.caller},
        connected={"name": "", "number": ""},
        dialplan={
            "context": call.context,
            "exten": call.dialled,
            "priority": 1,
            "app_name": "",
            "app_data": "",
        },
        state="Ring",
    )
    ch.callee = Callee(behaviour="answer", answer_after=0.0, talk=call.talk, unbridged_hangup=0.0)
    record = CallRecord(
        channel_id=channel_id,
        endpoint="PJSIP/trunk",
        number=call.caller,
        behaviour="inbound",
        created=ch.created,
    )
    record.inbound = {
        "caller": call.caller,
        "dialled": call.dialled,
        "app": call.app,
        "stasis_status": None,
        "handed_back": False,
        "fallback_dialled": None,
    }
    pbx.calls[channel_id] = record
    ch.inbound = call
    return ch


def new_inbound_id(pbx: Pbx) -> str:
    return pbx.channel_registry._new_channel_id()


async def place_later(pbx: Pbx, channel_id: str, call: InboundCaller) -> None:
    if call.after:
        await pbx.sleep(call.after)
    place(pbx, channel_id, call)


def place(pbx: Pbx, channel_id: str, call: InboundCaller) -> Channel:
    """The call arrives now: into the application when it is connected, else on to the fallback phone."""
    from . import dialplan

    if channel_id in pbx.channels:
        raise AriError.message(409, "Channel with given unique ID already exists")
    ch = inbound_channel(pbx, channel_id, call)
    pbx.channel_registry.channels[channel_id] = ch
    app_data = ",".join([call.app, INBOUND_ARG, call.caller, call.dialled])
    ch.dialplan.update(priority=2, app_name="Stasis", app_data=app_data)
    registered = pbx.apps.get(call.app)
    if registered is not None and registered.sink is not None:
        _inbound_record(pbx, channel_id)["stasis_status"] = "RUNNING"
        dialplan.enter_stasis(pbx, ch, call.app, [INBOUND_ARG, call.caller, call.dialled])
    else:
        _inbound_record(pbx, channel_id)["stasis_status"] = "FAILED"
        fall_back(pbx, ch)
    pbx.spawn(_patience(pbx, ch, call.patience), channel=ch)
    return ch


def _inbound_record(pbx: Pbx, channel_id: str) -> dict[str, Any]:
    record = pbx.calls[channel_id].inbound
    assert record is not None
    return record


def fall_back(pbx: Pbx, ch: Channel) -> None:
    """Out of Stasis (never in, or handed back): the dialplan rings the fallback phone."""
    ch.dialplan = {
        "context": ch.dialplan.get("context", "callback-inbound"),
        "exten": ch.dialplan.get("exten", "s"),
        "priority": 4,
        "app_name": "Dial",
        "app_data": FALLBACK,
    }
    _inbound_record(pbx, ch.id)["fallback_dialled"] = FALLBACK


def handed_back(pbx: Pbx, ch: Channel) -> None:
    """``continue`` on an inbound channel: Stasis() returns SUCCESS and the dialplan goes on."""
    record = pbx.calls[ch.id]
    if record.inbound is not None:
        record.inbound["handed_back"] = True
        record.inbound["stasis_status"] = "SUCCESS"
        fall_back(pbx, ch)


async def _patience(pbx: Pbx, ch: Channel, seconds: float) -> None:
    await pbx.sleep(seconds)
    if pbx.channel_registry.alive(ch) and not ch.ever_bridged and not ch.recorded:
        pbx.callee_hangs_up(ch)


async def _speak_then_hang_up(pbx: Pbx, ch: Channel, seconds: float) -> None:
    await pbx.sleep(seconds)
    if pbx.channel_registry.alive(ch):
        pbx.callee_hangs_up(ch)


def on_recording_started(pbx: Pbx, ch: Channel) -> None:
    call = ch.inbound
    if call is None or ch.recorded:
        return
    ch.recorded = True
    pbx.spawn(_speak_then_hang_up(pbx, ch, max(call.message, 0.2)), channel=ch)
