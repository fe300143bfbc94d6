"""Snoop channels, as ``callback``'s AMD clips use them (docs/simulator.md).

``POST /channels/{id}/snoop`` makes a ``Snoop/…`` channel, Up, that enters the given application shortly
after the answer (0.06 s on 22.10.1) and is hung up when the snooped channel goes. What it hears is recorded
like any channel (``recordings.py``).
"""

from __future__ import annotations

import asyncio
import itertools
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import dialplan
from .destination import Destination
from .errors import AriError
from .rest import json_response, params_of, pbx_of
from .state import CallRecord, Channel

if TYPE_CHECKING:
    from .engine import Pbx

SNOOP_TO_STASIS = 0.06  # wall seconds from the snoop's answer to its StasisStart (measured)
_SPY = ("none", "both", "out", "in")
_snoop_seq = itertools.count()


def snoop(pbx: Pbx, channel_id: str, params: dict[str, str]) -> dict[str, Any]:
    target = pbx.channel(channel_id)
    app = params.get("app", "")
    if not app:
        raise AriError.message(400, "Application name is required")
    spy, whisper = params.get("spy", "none"), params.get("whisper", "none")
    if spy not in _SPY or whisper not in _SPY:
        raise AriError.message(400, "Invalid direction specified for spy")
    if spy == "none" and whisper == "none":
        raise AriError.message(400, "Direction must be specified for at least spy or whisper")
    snoop_id = params.get("snoopId") or f"{target.id}-snoop-{next(_snoop_seq)}"
    if snoop_id in pbx.channels:
        raise AriError.message(409, "Channel with given unique ID already exists")
    ch = Channel(
        id=snoop_id,
        name=f"Snoop/{target.id}-{next(_snoop_seq):08x}",
        dest=Destination.parse(f"Snoop/{target.id}"),
        kind="create",
        created=pbx.now(),
        protocol_id="",
        caller={"name": "", "number": ""},
        connected={"name": "", "number": ""},
        dialplan={"context": "default", "exten": "s", "priority": 1, "app_name": "", "app_data": ""},
        state="Up",
    )
    ch.subscribers.add(app)
    pbx.channels[snoop_id] = ch
    pbx.calls[snoop_id] = CallRecord(
        channel_id=snoop_id, endpoint=ch.dest.endpoint, number="", created=ch.created
    )
    pbx.calls[snoop_id].answered = pbx.now()
    pbx.app(app)
    pbx.emit_channel("ChannelCreated", ch, apps=set())
    body = ch.to_json()
    pbx.spawn(_snoop_life(pbx, ch, target, app, params.get("appArgs", "")), channel=ch)
    return body


async def _snoop_life(pbx: Pbx, ch: Channel, target: Channel, app: str, args: str) -> None:
    await asyncio.sleep(SNOOP_TO_STASIS)
    if pbx.channels.get(ch.id) is not ch:
        return
    dialplan.enter_stasis(pbx, ch, app, [a for a in args.split(",") if a])
    while pbx.channels.get(target.id) is target and not target.hanging_up:
        await pbx.sleep(0.2)
    pbx.hangup(ch, cause=16, by="app", request_cause=None)


async def channel_snoop(request: web.Request) -> web.Response:
    params, _ = await params_of(request)
    if "snoopId" in request.match_info:
        params["snoopId"] = request.match_info["snoopId"]
    return json_response(snoop(pbx_of(request), request.match_info["channelId"], params))


def add_snoop_routes(r: web.UrlDispatcher) -> None:
    r.add_post("/ari/channels/{channelId}/snoop", channel_snoop)
    r.add_post("/ari/channels/{channelId}/snoop/{snoopId}", channel_snoop)
