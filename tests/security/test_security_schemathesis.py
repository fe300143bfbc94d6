"""schemathesis against the OpenAPI document the real app serves: no 5xx, every answer matches the schema.

The app runs in a thread of its own (its own event loop) on a loopback port over a migrated SQLite file, so
schemathesis' synchronous HTTP calls go over a real socket. Examples are bounded to keep this under a minute.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, settings
from schemathesis.checks import negative_data_rejection, positive_data_acceptance
from webkit import API_TOKEN, START, make_settings

from ari_app.clock import VirtualClock
from ari_app.lifecycle import Lifecycle
from ari_app.services import Services
from ari_app.sms.console import ConsoleGateway
from ari_app.store import make_engine, make_sessionmaker, upgrade
from ari_app.web import create_web_app

pytestmark = pytest.mark.slow
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


class ServedApp:
    """The web app on 127.0.0.1:0 in a background thread; ``url`` once started."""

    def __init__(self, db_path: Path) -> None:
        self.db_url = f"sqlite+aiosqlite:///{db_path}"
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self._engine: Any = None

    def _call(self, coro: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout=30)

    async def _start(self) -> str:
        await upgrade(self.db_url)
        self._engine = make_engine(self.db_url)
        settings = make_settings(database={"url": self.db_url}, web={"public_url": ""})
        clock = VirtualClock(START)
        services = Services(
            settings=settings,
            clock=clock,
            sessions=make_sessionmaker(self._engine),
            lifecycle=Lifecycle(settings, clock),
            sms_gateway=ConsoleGateway(stream=None),
        )
        self._runner = web.AppRunner(create_web_app(services))
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._engine is not None:
            await self._engine.dispose()

    def __enter__(self) -> ServedApp:
        self._thread.start()
        self.url = self._call(self._start())
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._call(self._stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedApp]:
    with ServedApp(tmp_path_factory.mktemp("schemathesis") / "api.db") as app:
        yield app


@pytest.fixture(scope="module")
def api_schema(served: ServedApp) -> Any:
    return schemathesis.openapi.from_url(f"{served.url}/api/v1/openapi.json", headers=AUTH)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
def test_the_api_answers_as_documented(case: Any, served: ServedApp) -> None:
    # Not ``positive_data_acceptance``: a schema can't say which strings are real phone numbers or names that
    # are more than spaces, so schema-valid bodies are refused (422, field named) by design.
    excluded = [positive_data_acceptance]
    if case.operation.path == "/api/v1/dnc/import":
        # Any text is a CSV body: "schema-violating" bytes are just rows, each refused by line (200).
        excluded.append(negative_data_rejection)
    case.call_and_validate(base_url=served.url, headers=AUTH, excluded_checks=excluded)
