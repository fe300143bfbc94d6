"""Fault tests: real processes on a PostgreSQL database of their own (see ``faults_harness``)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from dbfixtures import private_pg_database  # noqa: E402
from faults_harness import FaultStack  # noqa: E402

from ari_app.store import make_engine, make_sessionmaker, upgrade  # noqa: E402


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    async with private_pg_database("cb_fault") as url:
        yield url


@pytest.fixture
async def faults(pg_url: str, tmp_path: Path) -> AsyncIterator[FaultStack]:
    await upgrade(pg_url)
    engine = make_engine(pg_url)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        stack = FaultStack(tmp=tmp_path, db_url=pg_url, sessions=make_sessionmaker(engine), http=http)
        try:
            yield stack
        finally:
            stack.kill_all()
            await engine.dispose()
