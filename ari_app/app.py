"""The composition root: the only place adapters (database, ARI, SMS, HTTP) are built and wired.

``Runtime`` runs what ``callback serve`` and ``callback demo`` run: the web server, one worker with its ARI
connection, the SMS sender and the webhook sender. Every task it starts it also stops, within a bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiohttp
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from .ari.client import AriClient
from .ari.connection import EventConnection
from .ari.dispatch import EventRouter
from .audio.manifest import effective_sounds_dir, load_manifest
from .audio.media import sound_uri
from .calls.adoption import CallAdoption
from .calls.ids import new_installation_id
from .calls.inbound import InboundCalls
from .calls.media import MediaCatalog
from .calls.runner import CallRunner
from .clock import Clock
from .domain.attempts import AttemptResult
from .domain.when import warm_up as warm_up_time_reading
from .lifecycle import Lifecycle
from .logs import protect_settings
from .ops.metrics import Metrics
from .scheduler.pacing import make_pacer
from .scheduler.recovery import Recovery
from .scheduler.return_desk import ReturnDesk
from .scheduler.sms_sender import SmsSender
from .scheduler.wakeups import SafetyNet, WakeupListener, listen_dsn
from .scheduler.webhooks import WebhookSender
from .scheduler.worker import Worker
from .services import Services
from .settings import Settings
from .sms.gateway import SmsGateway, make_gateway
from .store.amd_clips import ClipStore
from .store.engine import engine_for, make_sessionmaker
from .store.installation import installation_id
from .store.leg_journal import StoreJournal
from .store.migrate import upgrade
from .store.queued import Queued, Topic

log = logging.getLogger(__name__)


def media_catalog(settings: Settings, clock: Clock) -> MediaCatalog:
    """Prompt URIs and lengths from the sounds manifest. ``calls.sounds``: "copy" plays
    ``sound:PREFIX/NAME`` from Asterisk's own sounds directory; "http" plays URLs we sign and serve."""
    sounds_dir = effective_sounds_dir(settings.sounds.dir)
    manifest = load_manifest(sounds_dir)
    lengths = {n: e.duration for n, e in manifest.items()}
    if settings.calls.sounds == "http":
        secret = settings.sounds.url_secret.get_secret_value().encode()
        public = _public_url(settings)

        def uri_for(name: str) -> str:
            # Signed with the app clock: the /media route verifies with the same clock.
            return sound_uri(name, mode="http", public_url=public, secret=secret, now=clock.now())
    else:
        prefix = settings.calls.sounds_prefix

        def uri_for(name: str) -> str:
            return sound_uri(name, mode="copy", prefix=prefix)

    uri_for("voicemail-drop")  # a bad prefix, URL or secret fails here, at start, with the key's name
    catalog = MediaCatalog(lengths, uri_for)
    if catalog.missing():
        log.warning(
            "prompts not in %s/manifest.json: %s (lengths unknown; see `callback sounds import`)",
            sounds_dir,
            ", ".join(catalog.missing()),
        )
    return catalog


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
        safety_poll: float | None = None,
        hello_every: float | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.run_worker = run_worker
        self.run_web = run_web
        self._gateway_override = sms_gateway
        self.on_outcome = on_outcome
        # Wall seconds between looks at the store when nothing woke a loop (default: scheduler.safety_poll).
        self.safety_poll = settings.scheduler.safety_poll if safety_poll is None else safety_poll
        # Wall seconds between a worker's hellos to the others (PostgreSQL; default: the safety poll's).
        self.hello_every = self.safety_poll if hello_every is None else hello_every
        self.wakeups: WakeupListener | None = None
        self.metrics = Metrics()  # served on /metrics; fed by the worker, the web app and the database
        self._stack = contextlib.AsyncExitStack()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.worker: Worker | None = None
        self.inbound: InboundCalls | None = None
        self.sms: SmsSender | None = None
        self.hooks: WebhookSender | None = None
        self.events: EventConnection | None = None
        self.web_url: str | None = None
        self.services: Services | None = None
        self.crashed: str | None = None  # the name of a background loop that died, if one did

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
        protect_settings(s)  # the configured secrets never reach a log line
        await upgrade(s.database.url)
        engine = engine_for(s.database)
        self._stack.push_async_callback(engine.dispose)
        # On PostgreSQL a commit that made an attempt due also tells the other processes' workers (NOTIFY).
        sessions = make_sessionmaker(engine, on_commit=self._queued)
        lifecycle = Lifecycle(s, self.clock)
        # dateparser loads its language data on the first parse (0.4-0.8 s measured): here, off the loop,
        # rather than in the first inbound SMS.
        await asyncio.to_thread(warm_up_time_reading)
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
            journal = StoreJournal(sessions, self.clock)
            self._stack.push_async_callback(journal.aclose)  # after the worker stops, before the engine
            installation = await installation_id(
                sessions, configured=s.ari.installation_id, generate=new_installation_id
            )
            runner = CallRunner(
                installation=installation,
                ari=ari,
                router=router,
                journal=journal,
                clock=self.clock,
                settings=s,
                media=media_catalog(s, self.clock),
                app=s.ari.app,
                clips=(
                    ClipStore(sessions, Path(s.amd.clips_dir), s.amd.clip_retention_days)
                    if s.amd.record_clips
                    else None
                ),
            )
            # Calls to the business number (a lead calling back) arrive as StasisStart nobody owns.
            desk = ReturnDesk(
                sessions=sessions, lifecycle=lifecycle, settings=s, clock=self.clock, app=s.ari.app
            )
            await desk.start()
            inbound = InboundCalls(runner, desk, s.admins)
            router.set_fallback(inbound.on_event)
            self._stack.push_async_callback(inbound.aclose)
            self.inbound = inbound
            events = await self._stack.enter_async_context(
                EventConnection(
                    s.ari.url,
                    s.ari.user,
                    s.ari.password.get_secret_value(),
                    s.ari.app,
                    on_event=router.dispatch,
                    on_connect=self._connected(runner),
                    log_file=s.ari.log_file,
                )
            )
            recovery = Recovery(
                sessions=sessions,
                adoption=CallAdoption(installation=installation, ari=ari, clock=self.clock, app=s.ari.app),
                lifecycle=lifecycle,
                clock=self.clock,
                worker_id=s.ari.app,
            )
            worker = Worker(
                settings=s,
                clock=self.clock,
                sessions=sessions,
                lifecycle=lifecycle,
                runner=runner,
                recovery=recovery,
                worker_id=s.ari.app,
                server=s.ari.url,
                on_outcome=self._outcome,
                can_dial=lambda: events is not None and events.connected,
                safety_poll=None,  # the SafetyNet below looks for every loop
                hello_every=self.hello_every,
                pacer=make_pacer(engine, s.calls.calls_per_second),
            )
        self.worker, self.events = worker, events
        if worker is not None and self.inbound is not None:
            self.inbound.pool = (
                worker.pool
            )  # an unknown caller's admin is held where the worker's starts look
        if worker is not None and events is not None:
            live_worker, live_events = worker, events
            self.metrics.watch_worker(
                active_calls=lambda: live_worker.active,
                ari_connected=lambda: live_events.connected,
                ari_reconnects=lambda: live_events.stats.reconnects,
            )

        async def readiness() -> dict[str, bool]:
            return {"database": await _db_ok(engine), **({"ari": events.connected} if events else {})}

        services = Services(
            settings=s,
            clock=self.clock,
            sessions=sessions,
            lifecycle=lifecycle,
            sms_gateway=gateway,
            wake=worker.wake if worker is not None else _nothing,
            readiness=readiness,
            extra={"metrics": self.metrics},
        )
        self.services = services
        sms = SmsSender(
            sessions=sessions,
            gateway=gateway,
            lifecycle=lifecycle,
            clock=self.clock,
            dlr_url=_dlr_url(s),
            safety_poll=None,
        )
        hooks = WebhookSender(
            sessions=sessions,
            clock=self.clock,
            secret=s.webhooks.secret.get_secret_value().encode(),
            http=http,
            safety_poll=None,
        )
        self.sms, self.hooks = sms, hooks
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
            dsn = listen_dsn(s.database.url)
            if dsn is not None:  # PostgreSQL: other processes' intake wakes this worker
                self.wakeups = WakeupListener(dsn, worker.wake, worker.due, worker.announcements)
                self._spawn(self.wakeups.run(self._stop), "wakeups")
        self._spawn(sms.run(self._stop), "sms-sender")
        # One read every safety_poll seconds for all three loops: what no wake-up announced.
        self._spawn(SafetyNet(sessions, self.safety_poll, self._queued).run(self._stop), "safety-net")
        self._spawn(hooks.run(self._stop), "webhooks")

    def _queued(self, queued: Queued) -> None:
        """A commit of this process queued something: wake (or time) the loop that handles it."""
        for topic, due in queued.items():
            if topic is Topic.ATTEMPTS and self.worker is not None:
                self.worker.due(due)
            elif topic is Topic.SMS and self.sms is not None:
                self.sms.due(due)
            elif topic is Topic.WEBHOOKS and self.hooks is not None:
                self.hooks.due(due)

    def _connected(self, runner: CallRunner) -> Callable[[], Coroutine[Any, Any, None]]:
        """After every (re)connect to ARI: re-read live calls, and claim what waited for the connection."""

        async def connected() -> None:
            if self.worker is not None:
                self.worker.wake()
            await runner.resync()  # first: what the live calls missed matters more than what is sent next
            await runner.filter_events()

        return connected

    def _outcome(self, attempt_id: int, result: AttemptResult) -> None:
        self.metrics.attempt_finished(attempt_id, result)
        if self.on_outcome is not None:
            self.on_outcome(attempt_id, result)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(self._on_task_done)
        self._tasks.append(task)

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        """A loop that dies leaves a process that looks alive but does nothing: stop the whole runtime, so
        ``serve``/``worker`` exit non-zero and the supervisor (systemd, compose) starts a fresh one."""
        if task.cancelled() or task.exception() is None:
            return
        log.error("%s stopped: %r; stopping the service", task.get_name(), task.exception())
        self.crashed = task.get_name()
        self.stop()

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


def _nothing() -> None:
    return None


def _dlr_url(s: Settings) -> str | None:
    hooks = {"kannel": "/hooks/kannel/dlr", "twilio": "/hooks/twilio/status", "webhook": "/hooks/webhook/dlr"}
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
