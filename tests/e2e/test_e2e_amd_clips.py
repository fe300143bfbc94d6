"""AMD clips end to end with the simulator as the PBX: with `[amd] record_clips` on, the final attempt's
answered lead is heard through a snoop channel while AMD runs, the first seconds are fetched from the PBX
and kept with the attempt (and deleted there), the form's consent text says so, and `callback amd tune
--from-db` replays the labelled clips. Off by default: no snoop, no clip."""

from __future__ import annotations

import asyncio
import html
import wave
from pathlib import Path
from typing import Any

import pytest
from e2ekit import Stack

from ari_app.cli import main

pytestmark = pytest.mark.e2e

PHONE = "+12025550172"
MACHINE = {"match": PHONE, "behaviour": "machine", "answer_after": 2.0, "greeting": 5.0, "beep": 1.0}


async def _api(stack: Stack, method: str, path: str, **kw: Any) -> tuple[int, Any]:
    async with stack.http.request(
        method, f"{stack.web}{path}", headers={"Authorization": f"Bearer {stack.token}"}, **kw
    ) as resp:
        return resp.status, await resp.json()


async def _wait_for(path: Path) -> None:
    for _ in range(200):  # the clip is fetched after the call, by a task of its own
        if await asyncio.to_thread(path.is_file):
            return
        await asyncio.sleep(0.05)


@pytest.fixture
def stack_overrides(tmp_path: Path) -> dict[str, dict[str, Any]]:
    return {
        "calls": {"max_attempts": 1},
        "amd": {"record_clips": True, "clips_dir": str(tmp_path / "clips"), "clip_retention_days": 30},
    }


async def test_a_clip_is_kept_with_the_final_attempt_and_tune_replays_it(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with stack.http.get(f"{stack.web}/") as resp:
        form = html.unescape(await resp.text())
    assert "The first 10 seconds of what my side of the call sends may be recorded" in form
    assert "kept for 30 days at most" in form

    await stack.scenario([MACHINE])
    request_id = await stack.submit(PHONE, "Grace", "Hopper")
    assert await stack.wait_request(request_id) == "incomplete"
    status, detail = await _api(stack, "GET", f"/api/v1/callback-requests/{request_id}")
    [attempt] = detail["attempts"]
    clip = tmp_path / "clips" / f"attempt-{attempt['id']}.wav"
    await _wait_for(clip)
    with wave.open(str(clip), "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        assert 0 < w.getnframes() <= 8000 * 10
    # the snoop heard the lead's channel, and the stored recording was deleted on the PBX
    lead = next(leg for leg in attempt["legs"] if leg["role"] == "lead")
    snoop = await stack.sim(f"calls/{lead['channel_id']}-clip")
    assert snoop["destroyed"] is not None
    async with stack.http.get(
        f"{stack.sim_url}/ari/recordings/stored/{lead['channel_id']}-clip", headers=stack.sim_auth
    ) as resp:
        assert resp.status == 404

    # labelled, it is replayed by `callback amd tune --from-db`
    status, _ = await _api(
        stack, "POST", f"/api/v1/attempts/{attempt['id']}/label", json={"label": "machine"}
    )
    assert status == 200
    await stack.scenario([{**MACHINE, "match": f"Local/clip-attempt-{attempt['id']}@callback-amd-tune"}])
    config = tmp_path / "tune.toml"
    config.write_text(
        f'[ari]\nurl = "{stack.sim_url}"\n[database]\nurl = "{stack.settings.database.url}"\n'
        # the stack's clock is in March 2026: a retention long enough for the real clock's today
        f'[amd]\nclips_dir = "{tmp_path / "clips"}"\nclip_retention_days = 3650\n',
        encoding="utf-8",
    )
    sounds = tmp_path / "sounds"
    sounds.mkdir()
    argv = ["amd", "tune", "--from-db", "--config", str(config), "--asterisk-dir", str(sounds)]
    assert await asyncio.to_thread(main, [*argv, "--max-candidates", "2"]) == 0
    out = capsys.readouterr().out
    assert "1 clips (0 people, 1 machines) × 2 parameter sets = 2 replays" in out
    assert "machines taken for people 0 of 1" in out
    await _retention_check(stack, tmp_path, clip, capsys)


@pytest.mark.parametrize("stack_overrides", [{"calls": {"max_attempts": 1}}])
async def test_no_clip_by_default(stack: Stack, tmp_path: Path) -> None:
    async with stack.http.get(f"{stack.web}/") as resp:
        assert "may be recorded" not in await resp.text()
    await stack.scenario([MACHINE])
    request_id = await stack.submit(PHONE)
    assert await stack.wait_request(request_id) == "incomplete"
    _, detail = await _api(stack, "GET", f"/api/v1/callback-requests/{request_id}")
    lead = next(leg for leg in detail["attempts"][0]["legs"] if leg["role"] == "lead")
    async with stack.http.get(
        f"{stack.sim_url}/_simulator/calls/{lead['channel_id']}-clip", headers=stack.sim_auth
    ) as resp:
        assert resp.status == 404


async def _retention_check(
    stack: Stack, tmp_path: Path, clip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Past its retention a clip is deleted, file and note, before anything replays it."""
    config = tmp_path / "short.toml"
    config.write_text(
        f'[ari]\nurl = "{stack.sim_url}"\n[database]\nurl = "{stack.settings.database.url}"\n'
        f'[amd]\nclips_dir = "{tmp_path / "clips"}"\nclip_retention_days = 1\n',
        encoding="utf-8",
    )
    argv = ["amd", "tune", "--from-db", "--config", str(config), "--asterisk-dir", str(tmp_path / "sounds")]
    assert await asyncio.to_thread(main, argv) == 1
    assert "no labelled attempt has a clip" in capsys.readouterr().err
    assert not await asyncio.to_thread(clip.exists)
