"""Small real network pieces for the contract suite: a loopback TCP proxy we can cut, and event waits."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable
from typing import TypeVar

from ari_app.ari.dispatch import Subscription
from ari_app.ari.events import Event

E = TypeVar("E", bound=Event)


async def wait_for_event(
    sub: Subscription,
    kind: type[E],
    where: Callable[[E], bool] = lambda e: True,
    *,
    within: float = 10.0,
    seen: list[Event] | None = None,
) -> E:
    """Read ``sub`` until an event of ``kind`` matching ``where``; every event read goes to ``seen``."""
    deadline = time.monotonic() + within
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no {kind.__name__} within {within}s; saw {[e.type for e in seen or []]}")
        event = await sub.next(remaining)
        if seen is not None:
            seen.append(event)
        if isinstance(event, kind) and where(event):
            return event


async def eventually(check: Callable[[], bool], *, within: float = 10.0, what: str = "condition") -> None:
    """Poll a cheap, local condition (counters, states) until it holds; raises TimeoutError naming it."""
    try:
        async with asyncio.timeout(within):
            while not check():  # noqa: ASYNC110 - counters and states have no event to wait on
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise TimeoutError(f"{what}: not within {within}s") from None


def free_port() -> int:
    """A loopback port nobody listens on (bound then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TcpProxy:
    """Forwards 127.0.0.1:port to ``upstream``; ``cut()`` drops every open connection at once,
    like a network blip between us and Asterisk, while new connections keep working."""

    def __init__(self, upstream_host: str, upstream_port: int, port: int = 0) -> None:
        self._up = (upstream_host, upstream_port)
        self._want_port = port
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = port
        self.connections = 0

    async def __aenter__(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self._want_port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
        self.cut()
        me = asyncio.current_task()
        for task in list(self._tasks):
            if task is not me:
                task.cancel()
        pending = [t for t in self._tasks if t is not me]
        if pending:
            await asyncio.wait(pending, timeout=5)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await self._server.wait_closed()

    def cut(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        me = asyncio.current_task()
        if me is not None:
            self._tasks.add(me)
            me.add_done_callback(self._tasks.discard)
        try:
            async with asyncio.timeout(5):
                up_reader, up_writer = await asyncio.open_connection(*self._up)
        except (OSError, TimeoutError):
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        pumps = [
            asyncio.create_task(self._pump(reader, up_writer)),
            asyncio.create_task(self._pump(up_reader, writer)),
        ]
        self._tasks.update(pumps)
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in pumps:
                task.cancel()
                self._tasks.discard(task)
            for w in (writer, up_writer):
                self._writers.discard(w)
                w.transport.abort()

    @staticmethod
    async def _pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
