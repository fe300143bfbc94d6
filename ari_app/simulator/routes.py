"""ARI REST routes under /ari/: parse the request, call the PBX, answer as Asterisk does (the channel and
playback routes are in channel_routes.py)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from . import bridging, channel_routes
from .engine import AriError
from .events import ASTERISK_ID, ari_time
from .rest import STARTED_KEY, json_body, json_response, no_content, params_of, pbx_of
from .snoop import add_snoop_routes

MODULES: dict[str, tuple[str, str]] = {
    "res_ari.so": ("Asterisk RESTful Interface", "core"),
    "res_ari_applications.so": ("RESTful API module - Stasis application resources", "core"),
    "res_ari_asterisk.so": ("RESTful API module - Asterisk resources", "core"),
    "res_ari_bridges.so": ("RESTful API module - Bridge resources", "core"),
    "res_ari_channels.so": ("RESTful API module - Channel resources", "core"),
    "res_ari_endpoints.so": ("RESTful API module - Endpoint resources", "core"),
    "res_ari_events.so": ("RESTful API module - WebSocket resource", "core"),
    "res_ari_playbacks.so": ("RESTful API module - Playback control resources", "core"),
    "res_ari_sounds.so": ("RESTful API module - Sound resources", "core"),
    "res_stasis.so": ("Stasis application support", "core"),
    "res_stasis_answer.so": ("Stasis application answer support", "core"),
    "res_stasis_playback.so": ("Stasis application playback support", "core"),
    "res_http_websocket.so": ("HTTP WebSocket Support", "core"),
    "app_stasis.so": ("Stasis dialplan application", "core"),
    "app_amd.so": ("Answering Machine Detection Application", "extended"),
    "chan_pjsip.so": ("PJSIP Channel Driver", "core"),
    "bridge_softmix.so": ("Multi-party software based channel mixing", "core"),
    "res_http_media_cache.so": ("HTTP Media Cache Backend", "core"),
    "func_talkdetect.so": ("Talk detection dialplan function", "core"),
}


# ----------------------------------------------------------------------- asterisk
async def asterisk_info(request: web.Request) -> web.Response:
    started = ari_time(request.app[STARTED_KEY])
    return json_response(
        {
            "build": {
                "os": "Linux",
                "kernel": "(simulated)",
                "machine": "x86_64",
                "options": "OPTIONAL_API",
                "date": started,
                "user": "callback-simulator",
            },
            "system": {"version": pbx_of(request).scenario.asterisk_version, "entity_id": ASTERISK_ID},
            "config": {
                "name": "callback-simulator",
                "default_language": "en",
                "setid": {"user": "", "group": ""},
            },
            "status": {"startup_time": started, "last_reload_time": started},
        }
    )


async def asterisk_ping(request: web.Request) -> web.Response:
    return json_response(
        {"ping": "pong", "timestamp": ari_time(pbx_of(request).now()), "asterisk_id": ASTERISK_ID}
    )


def _module_json(name: str) -> dict[str, Any]:
    description, level = MODULES[name]
    return {
        "name": name,
        "description": description,
        "use_count": 1,
        "status": "Running",
        "support_level": level,
    }


def _loaded_modules(request: web.Request) -> list[str]:
    missing = pbx_of(request).scenario.missing_modules
    return [name for name in MODULES if name.removesuffix(".so") not in missing]


async def asterisk_modules(request: web.Request) -> web.Response:
    return json_response([_module_json(name) for name in _loaded_modules(request)])


async def asterisk_module(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in _loaded_modules(request):
        raise AriError.message(404, "Module could not be found in running modules")
    return json_response(_module_json(name))


# ----------------------------------------------------------------------- bridges
async def bridges_list(request: web.Request) -> web.Response:
    return json_response([b.to_json() for b in pbx_of(request).bridges.values()])


async def bridges_create(request: web.Request) -> web.Response:
    params, _ = await params_of(request)
    bridge_id = request.match_info.get("bridgeId") or params.get("bridgeId")
    return json_response(pbx_of(request).create_bridge(bridge_id, params.get("type"), params.get("name")))


async def bridge_get(request: web.Request) -> web.Response:
    return json_response(pbx_of(request).bridge(request.match_info["bridgeId"]).to_json())


async def bridge_destroy(request: web.Request) -> web.Response:
    pbx_of(request).destroy_bridge(request.match_info["bridgeId"])
    return no_content()


def _channel_list(params: dict[str, str]) -> list[str]:
    return [c for c in params.get("channel", "").split(",") if c]


async def bridge_add(request: web.Request) -> web.Response:
    params, _ = await params_of(request)
    await bridging.add_when_free(pbx_of(request), request.match_info["bridgeId"], _channel_list(params))
    return no_content()


async def bridge_remove(request: web.Request) -> web.Response:
    params, _ = await params_of(request)
    pbx_of(request).remove_channels(request.match_info["bridgeId"], _channel_list(params))
    return no_content()


async def bridge_play(request: web.Request) -> web.Response:
    return await channel_routes.play_on(request, "bridge", "bridgeId")


async def bridge_moh(request: web.Request) -> web.Response:
    pbx_of(request).bridge(request.match_info["bridgeId"])
    return no_content()


# ----------------------------------------------------------------------- recordings
async def channel_record(request: web.Request) -> web.Response:
    params, _ = await params_of(request)
    body = pbx_of(request).record(request.match_info["channelId"], params)
    return json_response(body, status=201)


async def stored_list(request: web.Request) -> web.Response:
    return json_response([r.to_json() for r in pbx_of(request).recording_registry.stored.values()])


async def stored_get(request: web.Request) -> web.Response:
    name = request.match_info["recordingName"]
    return json_response(pbx_of(request).recording_registry.stored_recording(name).to_json())


async def stored_delete(request: web.Request) -> web.Response:
    pbx_of(request).recording_registry.delete_stored(request.match_info["recordingName"])
    return no_content()


async def stored_file(request: web.Request) -> web.Response:
    rec = pbx_of(request).recording_registry.stored_recording(request.match_info["recordingName"])
    return web.Response(
        body=rec.data, content_type="audio/wav" if rec.format == "wav" else "application/octet-stream"
    )


async def live_get(request: web.Request) -> web.Response:
    return json_response(
        pbx_of(request).recording_registry.live_recording(request.match_info["recordingName"]).to_json()
    )


async def live_cancel(request: web.Request) -> web.Response:
    pbx_of(request).recording_registry.cancel(request.match_info["recordingName"])
    return no_content()


async def live_stop(request: web.Request) -> web.Response:
    pbx_of(request).recording_registry.stop(request.match_info["recordingName"])
    return no_content()


# ----------------------------------------------------------------------- sounds
async def sound_get(request: web.Request) -> web.Response:
    """Every sound exists (in ``en``, as slin) unless the scenario lists it in ``missing_sounds``."""
    sound_id = request.match_info["soundId"]
    pbx = pbx_of(request)
    if "res_ari_sounds" in pbx.scenario.missing_modules:
        raise AriError.message(404, "Resource not found")  # as Asterisk without the module
    if pbx.media_seconds(f"sound:{sound_id}") is None:
        raise AriError.message(404, "Sound not found")
    return json_response({"id": sound_id, "formats": [{"language": "en", "format": "slin"}]})


# ----------------------------------------------------------------------- endpoints
async def endpoints_list(request: web.Request) -> web.Response:
    return json_response(pbx_of(request).endpoints())


async def endpoints_by_tech(request: web.Request) -> web.Response:
    tech = request.match_info["tech"]
    if tech.upper() != "PJSIP":
        raise AriError.message(404, "Endpoints not found")
    return json_response(pbx_of(request).endpoints())


async def endpoint_get(request: web.Request) -> web.Response:
    tech, resource = request.match_info["tech"], request.match_info["resource"]
    for endpoint in pbx_of(request).endpoints():
        if tech.upper() == "PJSIP" and endpoint["resource"] == resource:
            return json_response(endpoint)
    raise AriError.message(404, "Endpoint not found")


# ----------------------------------------------------------------------- applications
async def applications_list(request: web.Request) -> web.Response:
    pbx = pbx_of(request)
    return json_response([pbx.application_json(name) for name in pbx.apps])


async def application_get(request: web.Request) -> web.Response:
    pbx = pbx_of(request)
    name = request.match_info["app"]
    if name not in pbx.apps:
        raise AriError.message(404, "Application not found")
    return json_response(pbx.application_json(name))


async def application_subscription(request: web.Request) -> web.Response:
    params, _ = await params_of(request)
    sources = request.query.getall("eventSource", []) or (
        [params["eventSource"]] if "eventSource" in params else []
    )
    flat = [s for value in sources for s in value.split(",") if s]
    body = pbx_of(request).subscribe(request.match_info["app"], flat, subscribe=request.method == "POST")
    return json_response(body)


async def application_filter(request: web.Request) -> web.Response:
    body = await json_body(request)
    return json_response(pbx_of(request).set_filter(request.match_info["app"], body))


def add_ari_routes(app: web.Application) -> None:
    r = app.router
    add_snoop_routes(r)
    r.add_get("/ari/asterisk/info", asterisk_info)
    r.add_get("/ari/asterisk/ping", asterisk_ping)
    r.add_get("/ari/asterisk/modules", asterisk_modules)
    r.add_get("/ari/asterisk/modules/{name}", asterisk_module)
    r.add_get("/ari/channels", channel_routes.channels_list)
    r.add_post("/ari/channels", channel_routes.channels_originate)
    r.add_post("/ari/channels/create", channel_routes.channels_create)
    r.add_get("/ari/channels/{channelId}", channel_routes.channel_get)
    r.add_post("/ari/channels/{channelId}", channel_routes.channels_originate)
    r.add_delete("/ari/channels/{channelId}", channel_routes.channel_hangup)
    r.add_post("/ari/channels/{channelId}/dial", channel_routes.channel_dial)
    r.add_post("/ari/channels/{channelId}/answer", channel_routes.channel_answer)
    r.add_post("/ari/channels/{channelId}/ring", channel_routes.channel_ring)
    r.add_delete("/ari/channels/{channelId}/ring", channel_routes.channel_ring)
    r.add_post("/ari/channels/{channelId}/play", channel_routes.channel_play)
    r.add_post("/ari/channels/{channelId}/play/{playbackId}", channel_routes.channel_play)
    r.add_post("/ari/channels/{channelId}/continue", channel_routes.channel_continue)
    r.add_post("/ari/channels/{channelId}/move", channel_routes.channel_move)
    r.add_get("/ari/channels/{channelId}/variable", channel_routes.channel_variable_get)
    r.add_post("/ari/channels/{channelId}/variable", channel_routes.channel_variable_set)
    r.add_post("/ari/channels/{channelId}/dtmf", channel_routes.channel_dtmf)
    r.add_post("/ari/channels/{channelId}/record", channel_record)
    r.add_get("/ari/recordings/stored", stored_list)
    r.add_get("/ari/recordings/stored/{recordingName}", stored_get)
    r.add_delete("/ari/recordings/stored/{recordingName}", stored_delete)
    r.add_get("/ari/recordings/stored/{recordingName}/file", stored_file)
    r.add_get("/ari/recordings/live/{recordingName}", live_get)
    r.add_delete("/ari/recordings/live/{recordingName}", live_cancel)
    r.add_post("/ari/recordings/live/{recordingName}/stop", live_stop)
    r.add_get("/ari/bridges", bridges_list)
    r.add_post("/ari/bridges", bridges_create)
    r.add_get("/ari/bridges/{bridgeId}", bridge_get)
    r.add_post("/ari/bridges/{bridgeId}", bridges_create)
    r.add_delete("/ari/bridges/{bridgeId}", bridge_destroy)
    r.add_post("/ari/bridges/{bridgeId}/addChannel", bridge_add)
    r.add_post("/ari/bridges/{bridgeId}/removeChannel", bridge_remove)
    r.add_post("/ari/bridges/{bridgeId}/play", bridge_play)
    r.add_post("/ari/bridges/{bridgeId}/play/{playbackId}", bridge_play)
    r.add_post("/ari/bridges/{bridgeId}/moh", bridge_moh)
    r.add_delete("/ari/bridges/{bridgeId}/moh", bridge_moh)
    r.add_get("/ari/playbacks/{playbackId}", channel_routes.playback_get)
    r.add_delete("/ari/playbacks/{playbackId}", channel_routes.playback_stop)
    r.add_get("/ari/sounds/{soundId:.+}", sound_get)
    r.add_get("/ari/endpoints", endpoints_list)
    r.add_get("/ari/endpoints/{tech}", endpoints_by_tech)
    r.add_get("/ari/endpoints/{tech}/{resource}", endpoint_get)
    r.add_get("/ari/applications", applications_list)
    r.add_get("/ari/applications/{app}", application_get)
    r.add_post("/ari/applications/{app}/subscription", application_subscription)
    r.add_delete("/ari/applications/{app}/subscription", application_subscription)
    r.add_put("/ari/applications/{app}/eventFilter", application_filter)
