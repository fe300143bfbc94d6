"""/_simulator/: what happened (dials, media, calls), the scenario, fault injection, reset."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .engine import AriError
from .rest import PBX_KEY, json_response
from .scenario import Scenario, ScenarioError, number_key

FAULT_KINDS = ("originate", "create", "dial")


async def get_scenario(request: web.Request) -> web.Response:
    return json_response(request.app[PBX_KEY].scenario.to_dict())


async def put_scenario(request: web.Request) -> web.Response:
    body = await _json(request)
    try:
        request.app[PBX_KEY].replace_scenario(Scenario.from_dict(body))
    except ScenarioError as exc:
        raise AriError.message(400, str(exc)) from None
    return json_response(request.app[PBX_KEY].scenario.to_dict())


async def get_dials(request: web.Request) -> web.Response:
    dials = request.app[PBX_KEY].dials
    wanted = request.query.get("number")
    if wanted:
        key = number_key(wanted)
        dials = [d for d in dials if d.number == key or d.destination.lower() == wanted.lower()]
    return json_response([d.to_json() for d in dials])


async def get_media(request: web.Request) -> web.Response:
    calls = request.app[PBX_KEY].calls
    return json_response({cid: [p.to_json() for p in call.playbacks] for cid, call in calls.items()})


async def get_channels(request: web.Request) -> web.Response:
    pbx = request.app[PBX_KEY]
    out = []
    for ch in pbx.channels.values():
        body = ch.to_json()
        body |= {
            "stasis_app": ch.stasis_app,
            "bridge_id": ch.bridge_id,
            "behaviour": ch.callee.behaviour if ch.callee else None,
            "subscribers": sorted(pbx.recipients(ch)),
        }
        out.append(body)
    return json_response(out)


async def get_bridges(request: web.Request) -> web.Response:
    return json_response([b.to_json() for b in request.app[PBX_KEY].bridges.values()])


async def get_call(request: web.Request) -> web.Response:
    call = request.app[PBX_KEY].calls.get(request.match_info["channelId"])
    if call is None:
        raise AriError.message(404, "Channel not found")
    return json_response(call.to_json())


async def post_faults(request: web.Request) -> web.Response:
    body = await _json(request)
    kind = body.get("drop_after")
    if kind not in FAULT_KINDS:
        raise AriError.message(400, f"drop_after must be one of {', '.join(FAULT_KINDS)}")
    count = body.get("count", 1)
    if not isinstance(count, int) or count < 0:
        raise AriError.message(400, "count must be a non-negative integer")
    faults = request.app[PBX_KEY].faults
    faults[kind] = count
    return json_response(dict(faults))


async def post_reset(request: web.Request) -> web.Response:
    request.app[PBX_KEY].reset()
    return web.Response(status=204)


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise AriError.message(400, "Body must be JSON") from None
    if not isinstance(body, dict):
        raise AriError.message(400, "Body must be a JSON object")
    return body


def fault_kind(request: web.Request) -> str | None:
    """Which injectable request this is: originate, create or dial."""
    if request.method != "POST":
        return None
    parts = request.path.strip("/").split("/")
    if parts[:2] != ["ari", "channels"]:
        return None
    if len(parts) == 2:
        return "originate"
    if len(parts) == 3:
        return "create" if parts[2] == "create" else "originate"
    if len(parts) == 4 and parts[3] == "dial":
        return "dial"
    return None


async def post_inbound(request: web.Request) -> web.Response:
    """A scripted caller calls the PBX (``inbound.InboundCaller``); answers the channel id it will have."""
    from .inbound import InboundCaller

    body = await _json(request)
    call = InboundCaller.from_dict(body)
    channel_id = request.app[PBX_KEY].place_inbound(call)
    return json_response({"channel_id": channel_id}, status=201)


async def get_recordings(request: web.Request) -> web.Response:
    """Every stored recording: name, format, seconds, the channel it came from, what ended it."""
    stored = request.app[PBX_KEY].recording_registry.stored.values()
    return json_response(
        [
            {
                **r.to_json(),
                "seconds": round(r.seconds, 3),
                "channel_id": r.channel_id,
                "ended_by": r.ended_by,
            }
            for r in stored
        ]
    )


def add_inspection_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/_simulator/scenario", get_scenario)
    r.add_put("/_simulator/scenario", put_scenario)
    r.add_get("/_simulator/dials", get_dials)
    r.add_get("/_simulator/media", get_media)
    r.add_get("/_simulator/channels", get_channels)
    r.add_get("/_simulator/bridges", get_bridges)
    r.add_get("/_simulator/calls/{channelId}", get_call)
    r.add_post("/_simulator/faults", post_faults)
    r.add_post("/_simulator/reset", post_reset)
    r.add_post("/_simulator/inbound", post_inbound)
    r.add_get("/_simulator/recordings", get_recordings)
