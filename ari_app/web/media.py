"""``/media/…``: prompts for Asterisk's HTTP media cache, behind signed, expiring URLs (no credentials)."""

from __future__ import annotations

from aiohttp import web

from ..audio.manifest import effective_sounds_dir
from ..audio.media import media_headers, verify_media_path
from ..errors import NotFound
from .keys import SERVICES
from .public import public


@public("signed-url")
async def media_file(request: web.Request) -> web.FileResponse:
    services = request.app[SERVICES]
    now = services.clock.now()  # the clock that signed the URL
    name, fmt = verify_media_path(
        request.path, services.settings.sounds.url_secret.get_secret_value().encode(), now
    )
    path = effective_sounds_dir(services.settings.sounds.dir) / f"{name}.{fmt}"
    if not path.is_file():
        raise NotFound("no such sound")
    return web.FileResponse(path, headers=media_headers(fmt, request.path, now))
