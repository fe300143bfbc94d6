"""ARI REST routes under /ari/: parse the request, call the PBX, answer as Asterisk does."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from . import bridging
from .engine import AriError, Pbx
from .events import ASTERISK_ID, ari_time

PBX_KEY: web.AppKey[Pbx] = web.AppKey("simulator_pbx", Pbx)
CREDENTIALS_KEY: web.AppKey[tuple[str, str]] = web.AppKey("simulator_credentials", tuple)
STARTED_KEY: web.AppKey[datetime] = web.AppKey("simulator_started", datetime)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

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


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status)


def no_content() -> web.Response:
    return web.Response(status=204)


def credentials_ok(request: web.Request) -> bool:
    user, password = request.app[CREDENTIALS_KEY]
    header = request.headers.get("Authorization", "")
    given: str | None = None
    if header.lower().startswith("basic "):
        try:
            given = base64.b64decode(header[6:].strip()).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            given = None
    elif "api_key" in request.query:
        given = request.query["api_key"]
    return given == f"{user}:{password}"


@web.middleware
async def ari_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authentication and Asterisk-shaped error bodies for /ari/ and /_simulator/."""
    guarded = request.path.startswith(("/ari/", "/_simulator/"))
    if guarded and not credentials_ok(request):
        return json_response({"message": "Authentication required"}, status=401)
    try:
        return await handler(request)
    except AriError as exc:
        return json_response(exc.body, status=exc.status)
    except web.HTTPNotFound:
        return json_response({"message": "Resource not found"}, status=404)
    except web.HTTPMethodNotAllowed:
        return json_response({"message": "Invalid method"}, status=405)


async def params_of(request: web.Request) -> tuple[dict[str, str], dict[str, str]]:
    """Query parameters, plus those given in a JSON body (as Asterisk accepts), and `variables`."""
    params = {k: v for k, v in request.query.items() if k != "api_key"}
    variables: dict[str, str] = {}
    if request.can_read_body:
        raw = await request.read()
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError:
                raise AriError.message(400, "Invalid JSON body") from None
            if isinstance(body, dict):
                for key, value in body.items():
                    if key == "variables" and isinstance(value, dict):
                        variables = {str(k): str(v) for k, v in value.items()}
                    elif not isinstance(value, dict | list):
                        params.setdefault(key, str(value))
    return params, variables


def pbx_of(request: web.Request) -> Pbx:
    return request.app[PBX_KEY]


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


def _media_list(request: web.Request, params: dict[str, str]) -> list[str]:
    media: list[str] = []
    for value in request.query.getall("media", []) or ([params["media"]] if "media" in params else []):
        media.extend(m for m in value.split(",") if m)
    return media


async def channel_play(request: web.Request) -> web.Response:
    params, _ = await params_of(request)
    playback_id = request.match_info.get("playbackId") or params.get("playbackId")
    body = pbx_of(request).play(
        "channel",
        request.match_info["channelId"],
        _media_list(request, params),
        playback_id,
        params.get("lang"),
    )
    return json_response(body, status=201)


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
    params, _ = await params_of(request)
    playback_id = request.match_info.get("playbackId") or params.get("playbackId")
    body = pbx_of(request).play(
        "bridge",
        request.match_info["bridgeId"],
        _media_list(request, params),
        playback_id,
        params.get("lang"),
    )
    return json_response(body, status=201)


async def bridge_moh(request: web.Request) -> web.Response:
    pbx_of(request).bridge(request.match_info["bridgeId"])
    return no_content()


# ----------------------------------------------------------------------- playbacks
async def playback_get(request: web.Request) -> web.Response:
    return json_response(pbx_of(request).playback(request.match_info["playbackId"]).to_json())


async def playback_stop(request: web.Request) -> web.Response:
    pbx_of(request).stop_playback(request.match_info["playbackId"])
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


def add_ari_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/ari/asterisk/info", asterisk_info)
    r.add_get("/ari/asterisk/ping", asterisk_ping)
    r.add_get("/ari/asterisk/modules", asterisk_modules)
    r.add_get("/ari/asterisk/modules/{name}", asterisk_module)
    r.add_get("/ari/channels", channels_list)
    r.add_post("/ari/channels", channels_originate)
    r.add_post("/ari/channels/create", channels_create)
    r.add_get("/ari/channels/{channelId}", channel_get)
    r.add_post("/ari/channels/{channelId}", channels_originate)
    r.add_delete("/ari/channels/{channelId}", channel_hangup)
    r.add_post("/ari/channels/{channelId}/dial", channel_dial)
    r.add_post("/ari/channels/{channelId}/answer", channel_answer)
    r.add_post("/ari/channels/{channelId}/ring", channel_ring)
    r.add_delete("/ari/channels/{channelId}/ring", channel_ring)
    r.add_post("/ari/channels/{channelId}/play", channel_play)
    r.add_post("/ari/channels/{channelId}/play/{playbackId}", channel_play)
    r.add_post("/ari/channels/{channelId}/continue", channel_continue)
    r.add_post("/ari/channels/{channelId}/move", channel_move)
    r.add_get("/ari/channels/{channelId}/variable", channel_variable_get)
    r.add_post("/ari/channels/{channelId}/variable", channel_variable_set)
    r.add_post("/ari/channels/{channelId}/dtmf", channel_dtmf)
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
    r.add_get("/ari/playbacks/{playbackId}", playback_get)
    r.add_delete("/ari/playbacks/{playbackId}", playback_stop)
    r.add_get("/ari/sounds/{soundId:.+}", sound_get)
    r.add_get("/ari/endpoints", endpoints_list)
    r.add_get("/ari/endpoints/{tech}", endpoints_by_tech)
    r.add_get("/ari/endpoints/{tech}/{resource}", endpoint_get)
    r.add_get("/ari/applications", applications_list)
    r.add_get("/ari/applications/{app}", application_get)
    r.add_post("/ari/applications/{app}/subscription", application_subscription)
    r.add_delete("/ari/applications/{app}/subscription", application_subscription)


def utc_now() -> datetime:
    return datetime.now(UTC)
