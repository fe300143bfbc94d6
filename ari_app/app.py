"""The composition root: the only place adapters (database, ARI, SMS, HTTP) are built and wired.

``Runtime`` runs what ``callback serve`` and ``callback demo`` run: the web server, one worker with its ARI
connection, the SMS sender and the webhook sender. Every task it starts it also stops, within a bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

import aiohttp
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from .ari.client import AriClient
from .ari.connection import EventConnection
from .ari.dispatch import EventRouter
from .audio.manifest import load_manifest
from .calls.attempt import AttemptResult, CallRunner
from .calls.media import MediaCatalog
from .clock import Clock
from .leg_journal import StoreJournal
from .lifecycle import Lifecycle
from .scheduler.recovery import Recovery
from .scheduler.sms_sender import SmsSender
from .scheduler.webhooks import WebhookSender
from .scheduler.worker import Worker
from .services import Services
from .settings import Settings
from .sms.gateway import SmsGateway, make_gateway
from .store.engine import make_engine, make_sessionmaker
from .store.migrate import upgrade

log = logging.getLogger(__name__)


def media_catalog(settings: Settings) -> MediaCatalog:
    """Prompt URIs and lengths from the sounds manifest (copy delivery: ``sound:PREFIX/NAME``)."""
    manifest = load_manifest(Path(settings.sounds.dir))
    durations = {name: entry.duration for name, entry in manifest.items()}
    return MediaCatalog.copied(settings.calls.sounds_prefix, durations)


class Runtime:
    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        *,
        run_worker: bool = True,
        run_web: bool = True,
        sms_gateway: SmsGateway | None = None,
        on_outcome: Callable[[int, AttemptResult], None] | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.run_worker = run_worker
        self.run_web = run_web
        self._gateway_override = sms_gateway
        self.on_outcome = on_outcome
        self._stack = contextlib.AsyncExitStack()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.worker: Worker | None = None
        self.events: EventConnection | None = None
        self.web_url: str | None = None
        self.services: Services | None = None

    async def __aenter__(self) -> Self:
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _start(self) -> None:
        s = self.settings
        await upgrade(s.database.url)
        engine = make_engine(s.database.url)
        self._stack.push_async_callback(engine.dispose)
        sessions = make_sessionmaker(engine)
        lifecycle = Lifecycle(s, self.clock)
        http = await self._stack.enter_async_context(aiohttp.ClientSession())
        gateway = self._gateway_override or make_gateway(s.sms, http)
        if self._gateway_override is None:
            self._stack.push_async_callback(gateway.close)

        worker: Worker | None = None
        events: EventConnection | None = None
        if self.run_worker:
            ari = await self._stack.enter_async_context(
                AriClient(
                    s.ari.url,
                    s.ari.user,
                    s.ari.password.get_secret_value(),
                    timeout=s.ari.timeout,
                    max_connections=s.ari.max_connections,
                )
            )
            router = EventRouter()
            runner = CallRunner(
                ari=ari,
                router=router,
                journal=StoreJournal(sessions, self.clock),
                clock=self.clock,
                settings=s,
                media=media_catalog(s),
                app=s.ari.app,
            )
            events = await self._stack.enter_async_context(
                EventConnection(
                    s.ari.url,
                    s.ari.user,
                    s.ari.password.get_secret_value(),
                    s.ari.app,
                    on_event=router.dispatch,
                    on_connect=runner.resync,
                    log_file=s.ari.log_file,
                )
            )
            recovery = Recovery(sessions=sessions, ari=ari, lifecycle=lifecycle, clock=self.clock)
            worker = Worker(
                settings=s,
                clock=self.clock,
                sessions=sessions,
                lifecycle=lifecycle,
                runner=runner,
                recovery=recovery,
                worker_id=s.ari.app,
                server=s.ari.url,
                on_outcome=self.on_outcome,
                can_dial=lambda: events is not None and events.connected,
            )
        self.worker, self.events = worker, events

        async def readiness() -> dict[str, bool]:
            return {"database": await _db_ok(engine), **({"ari": events.connected} if events else {})}

        services = Services(
            settings=s,
            clock=self.clock,
            sessions=sessions,
            lifecycle=lifecycle,
            sms_gateway=gateway,
            wake=worker.wake if worker is not None else (lambda: None),
            readiness=readiness,
        )
        self.services = services
        sms = SmsSender(
            sessions=sessions,
            gateway=gateway,
            lifecycle=lifecycle,
            clock=self.clock,
            dlr_url=_dlr_url(s),
        )
        hooks = WebhookSender(
            sessions=sessions,
            clock=self.clock,
            secret=s.webhooks.secret.get_secret_value().encode(),
            http=http,
        )
        if self.run_web:
            from .web.app import create_web_app

            runner_web = web.AppRunner(create_web_app(services), access_log=None)
            await runner_web.setup()
            self._stack.push_async_callback(runner_web.cleanup)
            site = web.TCPSite(runner_web, s.web.host, s.web.port)
            await site.start()
            self.web_url = f"http://{s.web.host}:{s.web.port}"
        if worker is not None:
            self._spawn(worker.run(), "worker")
        self._spawn(sms.run(self._stop), "sms-sender")
        self._spawn(hooks.run(self._stop), "webhooks")

    def _spawn(self, coro: object, name: str) -> None:
        task = asyncio.create_task(coro, name=name)  # type: ignore[arg-type]
        task.add_done_callback(_log_crash)
        self._tasks.append(task)

    async def wait_stopped(self) -> None:
        await self._stop.wait()

    def stop(self) -> None:
        self._stop.set()
        if self.worker is not None:
            self.worker.stop()

    async def close(self, grace: float = 35.0) -> None:
        """Stop; live calls get ``grace`` seconds (wall time) to finish before they are cancelled."""
        self.stop()
        if self._tasks:
            _done, pending = await asyncio.wait(self._tasks, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._stack.aclose()


def _dlr_url(s: Settings) -> str | None:
    hooks = {"kannel": "/hooks/kannel/dlr", "twilio": "/hooks/twilio/status"}
    return _public_url(s) + hooks[s.sms.gateway] if s.sms.gateway in hooks else None


def _public_url(s: Settings) -> str:
    return (s.web.public_url or f"http://{s.web.host}:{s.web.port}").rstrip("/")


async def _db_ok(engine: AsyncEngine) -> bool:
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True
    except Exception:  # any failure means "not ready"; /readyz reports it, it never raises
        return False


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s stopped: %r", task.get_name(), task.exception())
