"""ARI channel and playback routes: parse the request, call the PBX, answer as Asterisk does."""

from __future__ import annotations

from aiohttp import web

from .rest import json_response, media_list, no_content, params_of, pbx_of


# ----------------------------------------------------------------------- channels
async def channels_list(request: web.Request) -> web.Response:
    return json_response([c.to_json() for c in pbx_of(request).channels.values()])


async def channels_originate(request: web.Request) -> web.Response:
    params, variables = await params_of(request)
    if "channelId" in request.match_info:
        params["channelId"] = request.match_info["channelId"]
    return json_response(pbx_of(request).originate(params, variables))


async def channels_create(request: web.Request) -> web.Response:
    params, variables = await params_of(request)
    return json_response(pbx_of(request).create(params, variables))


async def channel_get(request: web.Request) -> web.Response:
    return json_response(pbx_of(request).channel(request.match_info["channelId"]).to_json())


async def channel_hangup(request: web.Request) -> web.Response:
    record = pbx_of(request).calls.get(request.match_info["channelId"])
    if record is not None:
        record.hangups_asked += 1
    pbx_of(request).hangup_request(
        request.match_info["channelId"], request.query.get("reason"), request.query.get("reason_code")
    )
    return no_content()


async def channel_dial(request: web.Request) -> web.Response:
    params, _ = await params_of(request)
    pbx_of(request).dial(request.match_info["channelId"], params.get("timeout"))
    return no_content()


async def channel_answer(request: web.Request) -> web.Response:
    pbx_of(request).answer(request.match_info["channelId"])
    return no_content()


async def channel_ring(request: web.Request) -> web.Response:
    pbx_of(request).ring(request.match_info["channelId"])
    return no_content()


async def play_on(request: web.Request, kind: str, target_key: str) -> web.Response:
    """POST /channels/{id}/play and /bridges/{id}/play: the same playback, on a channel or a bridge."""
    params, _ = await params_of(request)
    playback_id = request.match_info.get("playbackId") or params.get("playbackId")
    body = pbx_of(request).play(
        kind,
        request.match_info[target_key],
        media_list(request, params),
        playback_id,
        params.get("lang"),
    )
    return json_response(body, status=201)


async def channel_play(request: web.Request) -> web.Response:
    return await play_on(request, "channel", "channelId")


async def channel_continue(request: web.Request) -> web.Response:
    params, _ = await params_of(request)
    pbx_of(request).continue_in_dialplan(request.match_info["channelId"], params)
    return no_content()


async def channel_move(request: web.Request) -> web.Response:
    params, _ = await params_of(request)
    pbx_of(request).move(request.match_info["channelId"], params.get("app", ""), params.get("appArgs", ""))
    return no_content()


async def channel_variable_get(request: web.Request) -> web.Response:
    return json_response(
        pbx_of(request).get_variable(request.match_info["channelId"], request.query.get("variable"))
    )


async def channel_variable_set(request: web.Request) -> web.Response:
    params, _ = await params_of(request)
    pbx_of(request).set_variable(
        request.match_info["channelId"], params.get("variable"), params.get("value", "")
    )
    return no_content()


async def channel_dtmf(request: web.Request) -> web.Response:
    params, _ = await params_of(request)
    pbx_of(request).send_dtmf(request.match_info["channelId"], params.get("dtmf"))
    return no_content()


# ----------------------------------------------------------------------- playbacks
async def playback_get(request: web.Request) -> web.Response:
    return json_response(pbx_of(request).playback(request.match_info["playbackId"]).to_json())


async def playback_stop(request: web.Request) -> web.Response:
    pbx_of(request).stop_playback(request.match_info["playbackId"])
    return no_content()
