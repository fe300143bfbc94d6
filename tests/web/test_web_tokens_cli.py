"""`callback tokens add / list / revoke`, as typed, against the database the API reads
(SQLite and PostgreSQL), then checked the way an integration sees it: 200 with the token, 401 once revoked."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from ari_app.cli import main


@pytest.fixture
def callback(
    migrated_db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Awaitable[tuple[int, str, str]]]:
    """`callback ARGS` (the command's own entry point, in a thread: it runs its own event loop) against
    the test's database; returns exit code, stdout, stderr."""
    monkeypatch.setenv("CALLBACK_DATABASE_URL", migrated_db_url)

    async def run(*argv: str) -> tuple[int, str, str]:
        code = await asyncio.to_thread(main, list(argv))
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


async def test_a_token_is_shown_once_works_and_stops_working_when_revoked(
    client: TestClient[Any, Any], callback: Callable[..., Awaitable[tuple[int, str, str]]]
) -> None:
    code, out, _ = await callback("tokens", "add", "crm")
    assert code == 0
    token = out.splitlines()[1]
    assert "shown this once" in out.splitlines()[0] and len(token) >= 40
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/v1/callback-requests", headers=bearer)).status == 200

    code, _, err = await callback("tokens", "add", "crm")
    assert code != 0 and "exists already" in err

    code, out, _ = await callback("tokens", "list")
    assert code == 0 and out.split()[0] == "crm" and token not in out

    code, out, _ = await callback("tokens", "revoke", "crm")
    assert code == 0 and "revoked" in out
    assert (await client.get("/api/v1/callback-requests", headers=bearer)).status == 401
    code, out, _ = await callback("tokens", "revoke", "crm")
    assert code == 1 and "no API token called 'crm'" in out
    code, out, _ = await callback("tokens", "list")
    assert "no API tokens" in out


async def test_the_configured_token_keeps_working_beside_stored_ones(
    client: TestClient[Any, Any],
    callback: Callable[..., Awaitable[tuple[int, str, str]]],
    auth: dict[str, str],
) -> None:
    code, _, _ = await callback("tokens", "add", "crm")
    assert code == 0
    assert (await client.get("/api/v1/callback-requests", headers=auth)).status == 200
