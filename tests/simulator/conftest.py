"""Helpers for talking to the simulator as a network peer: raw aiohttp REST and the event WebSocket."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ari_app.simulator import Scenario, SimulatorServer

REPO = Path(__file__).resolve().parents[2]
# Recorded from a real Asterisk 22.10.1 (tests/recordings/README.md): measured facts the simulator must match.
SAMPLES = REPO / "tests" / "recordings"
APP = "callback-app"
USER = PASSWORD = "callback"
WAIT = 10.0  # wall seconds; generous, the simulator runs fast


def basic_auth(user: str = USER, password: str = PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class Events:
    """The events one WebSocket received, in order, with waiting helpers."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.items: list[dict[str, Any]] = []
        self._changed = asyncio.Condition()
        self._task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                async with self._changed:
                    self.items.append(json.loads(msg.data))
                    self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        async def find() -> dict[str, Any]:
            async with self._changed:
                while True:
                    for item in self.items:
                        if predicate(item):
                            return item
                    await self._changed.wait()

        return await asyncio.wait_for(find(), WAIT)

    async def wait_type(self, kind: str, channel_id: str | None = None, **fields: Any) -> dict[str, Any]:
        def match(e: dict[str, Any]) -> bool:
            if e["type"] != kind:
                return False
            if channel_id is not None and (e.get("channel") or e.get("peer") or {}).get("id") != channel_id:
                return False
            return all(e.get(k) == v for k, v in fields.items())

        return await self.wait_for(match)

    def types(self, channel_id: str | None = None) -> list[str]:
        return [
            e["type"]
            for e in self.items
            if channel_id is None or (e.get("channel") or e.get("peer") or {}).get("id") == channel_id
        ]

    async def close(self) -> None:
        await self.ws.close()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


class Client:
    def __init__(self, base_url: str, session: aiohttp.ClientSession) -> None:
        self.base_url = base_url
        self.session = session

    async def call(
        self, method: str, path: str, params: dict[str, str] | None = None, json_body: Any = None
    ) -> tuple[int, Any]:
        url = f"{self.base_url}{path}" if path.startswith("/_simulator") else f"{self.base_url}/ari{path}"
        async with self.session.request(
            method,
            url,
            params=params,
            json=json_body,
            headers=basic_auth(),
            timeout=aiohttp.ClientTimeout(WAIT),
        ) as resp:
            text = await resp.text()
            return resp.status, (json.loads(text) if text else None)

    async def events(self, app: str = APP, subscribe_all: bool = False) -> Events:
        query = f"app={app}&api_key={USER}:{PASSWORD}" + ("&subscribeAll=true" if subscribe_all else "")
        ws = await self.session.ws_connect(f"{self.base_url}/ari/events?{query}")
        return Events(ws)


@pytest.fixture
def simulator() -> Callable[..., Any]:
    """``async with simulator(scenario=..., speed=...) as (client, sim):``"""

    @asynccontextmanager
    async def start(
        scenario: Scenario | None = None, speed: float = 40.0, **kwargs: Any
    ) -> AsyncIterator[tuple[Client, SimulatorServer]]:
        async with SimulatorServer(port=0, scenario=scenario, speed=speed, **kwargs) as sim:
            async with aiohttp.ClientSession() as session:
                yield Client(sim.base_url, session), sim

    return start
