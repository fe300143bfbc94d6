"""The ARI event WebSocket: one connection per Stasis application, kept up for the life of a worker.

``EventConnection`` owns its reader task (use it with ``async with``). It reconnects with capped
exponential backoff and jitter, calls ``on_connect`` after every (re)connect so the owner can re-read
its live channels (they stay in Stasis while we're away, measured), hands every parsed event to
``on_event`` (sync, must not block) and counts what it skipped. A second socket under the same
application name takes it over: this one then gets ``ApplicationReplaced`` and nothing more, so by
default we stop and report instead of fighting over the name.

The URL carries ``api_key=user:password`` (Asterisk accepts it there); it is never logged, and the
websockets library's own debug log goes through a filter that blanks it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import IO, Literal, Self
from urllib.parse import quote

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from .events import ApplicationReplaced, Event, MalformedEvent, UnknownEvent, parse_event

log = logging.getLogger(__name__)

State = Literal["connecting", "connected", "backoff", "closed", "replaced"]

_SECRET_PATTERNS = (
    re.compile(r"(api_key=)[^&\s'\"]*", re.IGNORECASE),
    re.compile(r"(authorization:\s*)\S+(\s+\S+)?", re.IGNORECASE),
)


def redact(text: str) -> str:
    """Blank credentials in a URL or header dump."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(r"\1***", text)
    return text


class _RedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


# The websockets library logs the request line (with our query string) at DEBUG: give it a logger
# of ours that redacts before any handler sees the record.
_wire_log = logging.getLogger(__name__ + ".wire")
_wire_log.addFilter(_RedactFilter())


@dataclass
class ConnectionStats:
    events: int = 0  # parsed and handed to on_event (unknown types included)
    unknown_events: int = 0  # types we don't model (UnknownEvent)
    malformed: int = 0  # frames that were not JSON or not a readable event: logged and skipped
    reconnects: int = 0  # successful connects after the first
    connect_failures: int = 0
    handler_errors: int = 0  # on_event raised: logged, the stream goes on


class EventConnection:
    """``async with EventConnection(url, user, password, app, on_event=router.dispatch) as conn:``"""

    def __init__(
        self,
        base_url: str,
        user: str,
        password: str,
        app: str,
        *,
        on_event: Callable[[Event], None],
        on_connect: Callable[[], Awaitable[None]] | None = None,
        log_file: str | None = None,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        subscribe_all: bool = False,
        reconnect_when_replaced: bool = False,
        open_timeout: float = 10.0,
        ping_interval: float | None = 20.0,
    ) -> None:
        scheme, sep, rest = base_url.rstrip("/").partition("://")
        if not sep:
            raise ValueError("base_url needs a scheme, e.g. http://127.0.0.1:8088")
        ws_scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(scheme.lower())
        if ws_scheme is None:
            raise ValueError(f"unsupported scheme {scheme!r} in base_url")
        query = f"app={quote(app, safe='')}&api_key={quote(user, safe='')}:{quote(password, safe='')}"
        if subscribe_all:
            query += "&subscribeAll=true"
        self._url = f"{ws_scheme}://{rest}/ari/events?{query}"
        self._where = f"{ws_scheme}://{rest}/ari/events app={app}"  # loggable: no credentials
        self.app = app
        self._on_event = on_event
        self._on_connect = on_connect
        self._log_path = log_file
        self._log: IO[str] | None = None
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._reconnect_when_replaced = reconnect_when_replaced
        self._open_timeout = open_timeout
        self._ping_interval = ping_interval
        self.stats = ConnectionStats()
        self.state: State = "closed"
        self._connected = asyncio.Event()
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._side_tasks: set[asyncio.Task[None]] = set()
        self._ever_connected = False
        self._closing = False

    # -- lifecycle ------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._task is not None:
            raise RuntimeError("EventConnection is already running")
        if self._log_path:
            # Append, line-buffered: one small write per frame.
            self._log = await asyncio.to_thread(open, self._log_path, "a", encoding="utf-8", buffering=1)
        self._closing = False
        self.state = "connecting"
        self._task = asyncio.create_task(self._run(), name=f"ari-events-{self.app}")
        self._task.add_done_callback(self._reader_done)
        return self

    def _reader_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:  # a bug, not a network problem: say so instead of dying quietly
            self._connected.clear()
            self.state = "closed"
            log.error("ARI events reader stopped: %s", redact(repr(exc)), exc_info=exc)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __enter__(self) -> None:
        raise TypeError("use 'async with EventConnection(...)'")

    def __exit__(self, *exc: object) -> None:  # pragma: no cover - __enter__ already failed
        pass

    async def close(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109 - bounds shutdown
        """Stop reading, close the socket, cancel our tasks; bounded by ``timeout``."""
        self._closing = True
        tasks = [t for t in (self._task, *self._side_tasks) if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        ws, self._ws = self._ws, None
        if ws is not None:
            try:
                async with asyncio.timeout(timeout):
                    await ws.close()
            except (TimeoutError, OSError, WebSocketException):
                pass  # closing anyway; the peer may be gone
        if self._log is not None:
            self._log.close()
            self._log = None
        self._task = None
        self._connected.clear()
        if self.state != "replaced":
            self.state = "closed"

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def _replaced(self) -> bool:
        # Not ``self.state == ...`` inline: a frame handler sets it while the reader awaits, and the type
        # checker, having seen "connecting" assigned, would call that comparison always false.
        return self.state == "replaced"

    async def wait_connected(self, timeout: float) -> None:  # noqa: ASYNC109 - the public API
        """Return once the socket is up; raises ``TimeoutError``."""
        async with asyncio.timeout(timeout):
            await self._connected.wait()

    # -- the reader -----------------------------------------------------------------------------

    async def _run(self) -> None:
        failures = 0
        while not self._closing:
            self.state = "connecting"
            try:
                async with connect(
                    self._url,
                    open_timeout=self._open_timeout,
                    ping_interval=self._ping_interval,
                    ping_timeout=self._ping_interval,
                    max_size=4 * 1024 * 1024,
                    # Not offered: Asterisk never accepts it, and on a LAN it would cost both ends CPU for
                    # every event to save bandwidth nobody is short of.
                    compression=None,
                    proxy=None,
                    logger=_wire_log,
                ) as ws:
                    self._ws = ws
                    failures = 0
                    self._on_up()
                    async for frame in ws:
                        self._on_frame(frame)
                        if self._replaced:
                            break
                log.warning("ARI events socket closed (%s)", self._where)
            except (OSError, TimeoutError, WebSocketException) as exc:
                failures += 1
                if not self._connected.is_set():  # never got up (a drop after connecting isn't one)
                    self.stats.connect_failures += 1
                why = f"{type(exc).__name__}: {redact(str(exc))}"
                log.warning("ARI events socket (%s): %s", self._where, why)
            finally:
                self._ws = None
                self._connected.clear()
            if self._closing:
                break
            if self._replaced:
                if not self._reconnect_when_replaced:
                    log.error(
                        "ARI application %r was taken over by another connection; not reconnecting "
                        "(each worker needs its own application name)",
                        self.app,
                    )
                    return
                failures = max(failures, 3)  # take it back only after a real pause
            self.state = "backoff"
            delay = min(self._backoff_max, self._backoff_initial * 2 ** max(0, failures - 1))
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))

    def _on_up(self) -> None:
        if self._ever_connected:
            self.stats.reconnects += 1
            log.info("ARI events socket reconnected (%s)", self._where)
        else:
            log.info("ARI events socket connected (%s)", self._where)
        self._ever_connected = True
        self.state = "connected"
        self._connected.set()
        if self._on_connect is not None:
            task = asyncio.create_task(self._call_on_connect(self._on_connect), name="ari-on-connect")
            self._side_tasks.add(task)
            task.add_done_callback(self._side_tasks.discard)

    @staticmethod
    async def _call_on_connect(on_connect: Callable[[], Awaitable[None]]) -> None:
        try:
            await on_connect()
        except asyncio.CancelledError:
            raise
        except Exception:
            # The socket stays up: the owner's reconciliation failed, not the connection.
            log.exception("ARI on_connect callback failed")

    def _on_frame(self, frame: str | bytes) -> None:
        if isinstance(frame, bytes):
            try:
                frame = frame.decode("utf-8")
            except UnicodeDecodeError:
                self._skip(f"binary frame of {len(frame)} bytes")
                return
        if self._log is not None:
            # One line per frame, exactly as received (a pretty-printed frame's newlines are JSON
            # whitespace, so joining them keeps it the same JSON).
            self._log.write(frame.replace("\r", " ").replace("\n", " ") + "\n")
        try:
            data = json.loads(frame)
        except ValueError:
            self._skip(f"frame of {len(frame)} characters is not JSON")
            return
        try:
            event = parse_event(data)
        except MalformedEvent as exc:
            self._skip(str(exc))
            return
        self.stats.events += 1
        kind = type(event)  # both are leaf classes: an identity test, not an isinstance chain
        if kind is UnknownEvent:
            self.stats.unknown_events += 1
            log.debug("ARI event of unmodelled type %s", event.type)
        elif kind is ApplicationReplaced:
            self.state = "replaced"
            self._connected.clear()  # this socket gets nothing more
            log.error("ARI application %r replaced by another WebSocket", self.app)
        try:
            self._on_event(event)
        except Exception:
            # A bug in one consumer must not stop every call's events.
            self.stats.handler_errors += 1
            log.exception("ARI on_event failed for %s", event.type)

    def _skip(self, why: str) -> None:
        self.stats.malformed += 1
        log.warning("ARI malformed event skipped: %s", why)
