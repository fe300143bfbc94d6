"""The simulator as an aiohttp application, a context-managed server, and a run-until-cancelled entry."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from aiohttp import web

from ari_app.audio.manifest import sound_durations
from ari_app.clock import VirtualClock

from .engine import Pbx
from .inspection import add_inspection_routes, fault_kind
from .rest import CREDENTIALS_KEY, PBX_KEY, STARTED_KEY, Handler, ari_errors
from .routes import add_ari_routes
from .scenario import Scenario
from .websocket import SOCKETS_KEY, close_sockets, events_socket

log = logging.getLogger(__name__)


@web.middleware
async def injected_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Act on the request, then drop the connection without answering (POST /_simulator/faults)."""
    kind = fault_kind(request)
    faults = request.app[PBX_KEY].faults
    if kind is None or faults[kind] <= 0:
        return await handler(request)
    faults[kind] -= 1
    response = await handler(request)
    log.info(
        "fault injected: dropped the answer to %s %s (%s)", request.method, request.path, response.status
    )
    if request.transport is not None:
        request.transport.abort()
    raise asyncio.CancelledError


def create_simulator_app(
    *,
    user: str = "callback",
    password: str = "callback",
    scenario: Scenario | None = None,
    speed: float = 1.0,
    sounds_durations: dict[str, float] | None = None,
    amd_context: str = "callback-amd",
) -> web.Application:
    """An ARI server acting as Asterisk 22 for the calls we make; timings run ``speed`` times faster."""
    app = web.Application(middlewares=[ari_errors, injected_faults])
    clock = VirtualClock(start=datetime.now(UTC), speed=speed)
    pbx = Pbx(
        scenario or Scenario.default(), clock, sounds_durations=sounds_durations, amd_context=amd_context
    )
    app[PBX_KEY] = pbx
    app[CREDENTIALS_KEY] = (user, password)
    app[STARTED_KEY] = clock.now()
    app[SOCKETS_KEY] = set()
    app.router.add_get("/ari/events", events_socket)
    add_ari_routes(app)
    add_inspection_routes(app)

    async def pbx_lifetime(_: web.Application) -> AsyncIterator[None]:
        yield
        await pbx.close()

    app.cleanup_ctx.append(pbx_lifetime)
    app.on_shutdown.append(close_sockets)
    return app


class SimulatorServer:
    """``async with SimulatorServer(port=0) as sim``: ``sim.base_url`` is ``http://127.0.0.1:PORT``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        user: str = "callback",
        password: str = "callback",
        scenario: Scenario | None = None,
        speed: float = 1.0,
        sounds_durations: dict[str, float] | None = None,
        amd_context: str = "callback-amd",
    ) -> None:
        self.host = host
        self.port = port
        self.app = create_simulator_app(
            user=user,
            password=password,
            scenario=scenario,
            speed=speed,
            sounds_durations=sounds_durations,
            amd_context=amd_context,
        )
        self._runner: web.AppRunner | None = None

    @property
    def pbx(self) -> Pbx:
        return self.app[PBX_KEY]

    @property
    def base_url(self) -> str:
        if self._runner is None:
            raise RuntimeError("the simulator is not started")
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        # No access log: the event socket's URL carries the api_key.
        runner = web.AppRunner(self.app, handle_signals=False, shutdown_timeout=2.0, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SimulatorServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


async def serve(
    host: str,
    port: int,
    user: str,
    password: str,
    scenario_path: str | None,
    speed: float,
    sounds_dir: str | None = None,
) -> None:
    """Run the simulator until cancelled (the `callback simulator` command). ``sounds_dir``: a callback
    sounds directory whose manifest gives the length of each ``sound:callback/NAME``."""
    scenario = Scenario.from_toml(scenario_path) if scenario_path else Scenario.default()
    durations = sound_durations(Path(sounds_dir)) if sounds_dir else None
    async with SimulatorServer(
        host=host,
        port=port,
        user=user,
        password=password,
        scenario=scenario,
        speed=speed,
        sounds_durations=durations,
    ) as sim:
        log.info("ARI simulator listening on %s/ari (speed %s)", sim.base_url, speed)
        await asyncio.Event().wait()
