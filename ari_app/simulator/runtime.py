"""Time and tasks of the simulated PBX: simulated clock, the tasks it runs, the HTTP client for media.

Everything runs on one event loop; a task may also belong to a channel, so that its hang-up cancels it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import datetime
from typing import Any

import aiohttp

from ari_app.clock import Clock

from .state import Channel


class Runtime:
    """Owns the PBX's tasks and its HTTP client session."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._tasks: set[asyncio.Task[Any]] = set()
        self._http_session: aiohttp.ClientSession | None = None

    def now(self) -> datetime:
        return self.clock.now()

    def wall(self, seconds: float) -> float:
        """Simulated seconds → wall seconds."""
        return seconds / self.clock.speed

    async def sleep(self, seconds: float) -> None:
        await self.clock.sleep(seconds)

    def spawn(self, coro: Coroutine[Any, Any, Any], channel: Channel | None = None) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if channel is not None:
            channel.tasks.add(task)
            task.add_done_callback(channel.tasks.discard)
        return task

    def http(self) -> aiohttp.ClientSession:
        """The client that fetches ``sound:http…`` media (opened on first use, closed with the PBX)."""
        if self._http_session is None:
            self._http_session = aiohttp.ClientSession()
        return self._http_session

    async def cancel_tasks(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)

    async def close_http(self) -> None:
        if self._http_session is not None:
            await self._http_session.close()
