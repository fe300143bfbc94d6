"""The event socket: GET /ari/events?app=a[,b]&api_key=u:p[&subscribeAll=true].

One socket per application name: a second one takes the name over and the first gets ApplicationReplaced
and nothing more. When a socket drops the application stays registered with its channels.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from aiohttp import WSMsgType, web

from .engine import AriError
from .events import event
from .rest import PBX_KEY

SOCKETS_KEY: web.AppKey[set[web.WebSocketResponse]] = web.AppKey("simulator_sockets")


async def events_socket(request: web.Request) -> web.StreamResponse:
    pbx = request.app[PBX_KEY]
    names = [n for n in request.query.get("app", "").split(",") if n]
    if not names:
        raise AriError.message(400, "Missing parameter app")
    if "res_ari_events" in pbx.scenario.missing_modules:
        raise AriError.message(404, "Resource not found")  # as Asterisk without the module
    subscribe_all = request.query.get("subscribeAll", "").lower() in ("true", "1", "yes")
    # No permessage-deflate: Asterisk's WebSocket server accepts no extension (an offer is ignored).
    ws = web.WebSocketResponse(autoping=True, compress=False)
    await ws.prepare(request)
    request.app[SOCKETS_KEY].add(ws)
    queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
    for name in names:
        app = pbx.app(name)
        if app.sink is not None:
            app.sink.put_nowait(event("ApplicationReplaced", pbx.now(), name))
        app.sink = queue
        app.subscribe_all = subscribe_all

    async def pump() -> None:
        while True:
            item = await queue.get()
            if item is None:
                await ws.close()
                return
            try:
                await ws.send_str(json.dumps(item))
            except ConnectionResetError:
                return
            if item["type"] == "ApplicationReplaced":
                owned = [a for a in pbx.apps.values() if a.sink is queue]
                if not owned:
                    return  # nothing more for this socket

    writer = asyncio.get_running_loop().create_task(pump())
    try:
        async for msg in ws:
            if msg.type == WSMsgType.ERROR:
                break
    finally:
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer
        for app in pbx.apps.values():
            if app.sink is queue:
                app.sink = None
        request.app[SOCKETS_KEY].discard(ws)
    return ws


async def close_sockets(app: web.Application) -> None:
    sockets: set[web.WebSocketResponse] = app[SOCKETS_KEY]
    for ws in list(sockets):
        await ws.close(code=1001, message=b"server shutdown")
