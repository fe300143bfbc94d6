"""Database fixtures for any test folder: ``from dbfixtures import db_url, migrated_db_url, db_sessionmaker``
in a conftest.py (``tests/`` is on sys.path because it has no ``__init__.py``).

``db_url`` runs a test once on SQLite (a temporary file) and once on PostgreSQL (a database of its own,
created for the test and dropped after it). PostgreSQL is found at ``CALLBACK_TEST_POSTGRES_URL``
(default: the loopback-only test role that ``scripts/test-deps.sh`` creates); if it isn't reachable the
PostgreSQL cases fail, unless ``CALLBACK_TEST_NO_POSTGRES=1`` turns them into skips.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ari_app.store import make_engine, make_sessionmaker, upgrade

# A test credential on loopback, not a secret: the role may only create the tests' own databases.
PG_ADMIN_URL = os.environ.get(
    "CALLBACK_TEST_POSTGRES_URL", "postgresql://callback_test:callback_test@127.0.0.1:5432/callback_test"
)
PG_TIMEOUT_S = 10.0


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def _shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


async def _pg_admin() -> asyncpg.Connection:
    if os.environ.get("CALLBACK_TEST_NO_POSTGRES") == "1":
        pytest.skip("PostgreSQL disabled by CALLBACK_TEST_NO_POSTGRES=1")
    try:
        return await asyncpg.connect(PG_ADMIN_URL, timeout=PG_TIMEOUT_S)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {_shown(PG_ADMIN_URL)}: {exc!r}. Run "
            "`sudo bash scripts/test-deps.sh` (it installs PostgreSQL and creates the test role), point "
            "CALLBACK_TEST_POSTGRES_URL at another "
            "server, or set CALLBACK_TEST_NO_POSTGRES=1 to skip.",
            pytrace=False,
        )


@contextlib.asynccontextmanager
async def private_pg_database(prefix: str = "cb_test") -> AsyncIterator[str]:
    """A PostgreSQL database of its own (created, then dropped), so runs and tests don't see each other."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    admin = await _pg_admin()
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close(timeout=PG_TIMEOUT_S)
    url = make_url(PG_ADMIN_URL).set(drivername="postgresql+asyncpg", database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        admin = await _pg_admin()
        try:
            # FORCE: a connection a failed test left open must not keep the database alive.
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close(timeout=PG_TIMEOUT_S)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of its own for this test (not migrated)."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "callback.db")
        return
    async with private_pg_database() as url:
        yield url


@pytest.fixture
async def migrated_db_url(db_url: str) -> str:
    """``db_url`` with all migrations applied."""
    await upgrade(db_url)
    return db_url


@pytest.fixture
async def db_sessionmaker(migrated_db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(migrated_db_url)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()
