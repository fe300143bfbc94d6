"""A real web server on loopback (ephemeral port) over a real migrated database (SQLite and PostgreSQL)."""

import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

_TESTS = str(Path(__file__).resolve().parents[1])
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from dbfixtures import db_sessionmaker, db_url, migrated_db_url  # noqa: E402

from ari_app.clock import VirtualClock  # noqa: E402
from ari_app.lifecycle import Lifecycle  # noqa: E402
from ari_app.services import Services  # noqa: E402
from ari_app.settings import Settings, load_settings  # noqa: E402
from ari_app.sms.console import ConsoleGateway  # noqa: E402
from ari_app.web import create_web_app  # noqa: E402

__all__ = ["db_sessionmaker", "db_url", "migrated_db_url"]

API_TOKEN = "test-token-0123456789"
INBOUND_SECRET = "inbound-secret-42"
# A Tuesday, 10:00 in New York: the business is open and the lead's quiet hours allow a call.
START = datetime(2025, 3, 4, 15, 0, tzinfo=UTC)
LEAD = "+12015550123"


def make_settings(**sections: dict[str, Any]) -> Settings:
    overrides: dict[str, Any] = {
        "api": {"token": API_TOKEN},
        "sms": {"inbound_secret": INBOUND_SECRET, "password": "twilio-auth-token"},
        "web": {"public_url": "https://callback.example.com"},
        "limits": {"per_ip_per_minute": 1000, "per_number_per_day": 1000},
    }
    for name, values in sections.items():
        overrides[name] = {**overrides.get(name, {}), **values}
    return load_settings(environ={}, overrides=overrides)


@pytest.fixture
def settings() -> Settings:
    return make_settings()


@pytest.fixture
def wakes() -> list[int]:
    return []


@pytest.fixture
def make_services(
    db_sessionmaker: async_sessionmaker[AsyncSession], wakes: list[int]
) -> Callable[[Settings], Services]:
    def build(settings: Settings) -> Services:
        clock = VirtualClock(START)
        return Services(
            settings=settings,
            clock=clock,
            sessions=db_sessionmaker,
            lifecycle=Lifecycle(settings, clock),
            sms_gateway=ConsoleGateway(stream=None),
            wake=lambda: wakes.append(1),
        )

    return build


@pytest.fixture
def services(make_services: Callable[[Settings], Services], settings: Settings) -> Services:
    return make_services(settings)


async def start_client(services: Services) -> TestClient[Any, Any]:
    client: TestClient[Any, Any] = TestClient(TestServer(create_web_app(services), host="127.0.0.1", port=0))
    await client.start_server()
    return client


@pytest.fixture
async def client(services: Services) -> AsyncIterator[TestClient[Any, Any]]:
    client = await start_client(services)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {API_TOKEN}"}


def intake_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "phone": "(201) 555-0123",
        "reason": "Question about my invoice",
        "consent": True,
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


async def count_rows(sessions: async_sessionmaker[AsyncSession], model: Any, *where: Any) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)
