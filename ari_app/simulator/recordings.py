"""Snoop channels and recordings, as ``callback``'s AMD clips use them (docs/simulator.md).

``POST /channels/{id}/snoop`` makes a ``Snoop/…`` channel, Up, that enters the given application shortly
after the answer (0.06 s on 22.10.1) and is hung up when the snooped channel goes. ``POST
/channels/{id}/record`` (a channel in Stasis) records for ``maxDurationSeconds`` of simulated time, or until
the channel goes: RecordingStarted, then RecordingFinished with ``duration``; the stored recording is then
fetched as a ``.wav`` of that length (8 kHz 16-bit mono silence) and deleted like Asterisk's.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import wave
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import dialplan
from .destination import Destination
from .errors import AriError
from .rest import json_response, no_content, params_of, pbx_of
from .state import CallRecord, Channel, Recording

if TYPE_CHECKING:
    from .engine import Pbx

SNOOP_TO_STASIS = 0.06  # wall seconds from the snoop's answer to its StasisStart (measured)
_SPY = ("none", "both", "out", "in")
_snoop_seq = itertools.count()


def _store(pbx: Pbx) -> tuple[dict[str, Recording], dict[str, Recording]]:
    """(live, stored) recordings of this PBX."""
    return pbx.live_recordings, pbx.stored_recordings


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


def record(pbx: Pbx, channel_id: str, params: dict[str, str]) -> dict[str, Any]:
    ch = pbx.control(channel_id)
    name, fmt = params.get("name", ""), params.get("format", "")
    if not name:
        raise AriError.message(400, "Recording name is required")
    if not fmt:
        raise AriError.message(400, "Recording format is required")
    if fmt != "wav":
        raise AriError.message(422, f"Unrecognized format: {fmt}")
    live, stored = _store(pbx)
    if name in live:
        raise AriError.message(409, "A recording with the same name already exists on the system")
    if name in stored and params.get("ifExists", "fail") == "fail":
        raise AriError.message(409, "Recording already exists")
    try:
        max_seconds = float(params.get("maxDurationSeconds", "0") or 0)
    except ValueError:
        raise AriError.message(400, "maxDurationSeconds must be a number") from None
    rec = Recording(name, fmt, ch.id)
    live[name] = rec
    body = {**rec.to_json(), "state": "queued"}
    pbx.spawn(_recording(pbx, ch, rec, max_seconds))
    return body


async def _recording(pbx: Pbx, ch: Channel, rec: Recording, max_seconds: float) -> None:
    live, stored = _store(pbx)
    apps = pbx.recipients(ch)
    pbx.emit("RecordingStarted", apps, recording=rec.to_json())
    started = pbx.now()
    limit = max_seconds if max_seconds > 0 else 3600.0
    while (pbx.now() - started).total_seconds() < limit:
        if pbx.channels.get(ch.id) is not ch or ch.hanging_up:
            break
        await pbx.sleep(min(0.2, limit))
    rec.seconds = min(limit, (pbx.now() - started).total_seconds())
    rec.state = "done"
    live.pop(rec.name, None)
    stored[rec.name] = rec
    pbx.emit("RecordingFinished", apps, recording=rec.to_json())


def _wav(seconds: float) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * int(8000 * seconds))
    return buf.getvalue()


# ----------------------------------------------------------------------- routes
async def channel_snoop(request: web.Request) -> web.Response:
    params, _ = await params_of(request)
    if "snoopId" in request.match_info:
        params["snoopId"] = request.match_info["snoopId"]
    return json_response(snoop(pbx_of(request), request.match_info["channelId"], params))


async def channel_record(request: web.Request) -> web.Response:
    params, _ = await params_of(request)
    return json_response(record(pbx_of(request), request.match_info["channelId"], params), status=201)


async def live_get(request: web.Request) -> web.Response:
    live, _ = _store(pbx_of(request))
    rec = live.get(request.match_info["name"])
    if rec is None:
        raise AriError.message(404, "Recording not found")
    return json_response(rec.to_json())


async def stored_get(request: web.Request) -> web.Response:
    _, stored = _store(pbx_of(request))
    rec = stored.get(request.match_info["name"])
    if rec is None:
        raise AriError.message(404, "Recording not found")
    return json_response(rec.to_json())


async def stored_file(request: web.Request) -> web.Response:
    _, stored = _store(pbx_of(request))
    rec = stored.get(request.match_info["name"])
    if rec is None:
        raise AriError.message(404, "Recording not found")
    return web.Response(body=_wav(rec.seconds), content_type="audio/wav")


async def stored_delete(request: web.Request) -> web.Response:
    _, stored = _store(pbx_of(request))
    if stored.pop(request.match_info["name"], None) is None:
        raise AriError.message(404, "Recording not found")
    return no_content()


def add_recording_routes(r: web.UrlDispatcher) -> None:
    r.add_post("/ari/channels/{channelId}/snoop", channel_snoop)
    r.add_post("/ari/channels/{channelId}/snoop/{snoopId}", channel_snoop)
    r.add_post("/ari/channels/{channelId}/record", channel_record)
    r.add_get("/ari/recordings/live/{name}", live_get)
    r.add_get("/ari/recordings/stored/{name}", stored_get)
    r.add_get("/ari/recordings/stored/{name}/file", stored_file)
    r.add_delete("/ari/recordings/stored/{name}", stored_delete)
