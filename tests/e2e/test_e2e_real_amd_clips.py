"""AMD clips on a real Asterisk (opt-in, like the other real-peer stories): the final attempt reaches the
peer's answering machine, a snoop channel hears its greeting while AMD runs, and the first seconds are
fetched from the PBX and kept with the attempt. The peer needs its spool's `recording` directory (ARI
answers 500 to a recording without it)."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path
from typing import Any

import pytest
from test_e2e_real_asterisk import (  # noqa: F401 - the fixtures this story shares
    _story,
    peer_admin,
    peer_calls,
    pytestmark,
    real_stack,
    sounds_mode,
)

from ari_app.app import Runtime


@pytest.fixture
def peer_amd(tmp_path: Path) -> dict[str, Any]:
    return {"record_clips": True, "clips_dir": str(tmp_path / "clips")}


async def test_real_asterisk_keeps_the_machines_first_seconds(
    real_stack: tuple[Runtime, str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    result = await _story(*real_stack, phone="+12025550150")
    assert result["outcomes"] == ["voicemail_left"], result["details"]
    assert result["lead_legs"][0].amd_status == "MACHINE"  # AMD decided while the snoop listened
    clips: list[Path] = []
    for _ in range(60):  # fetched by a task of its own, once the 10 s are recorded
        clips = await asyncio.to_thread(lambda: sorted((tmp_path / "clips").glob("attempt-*.wav")))
        if clips:
            break
        await asyncio.sleep(0.5)
    [clip] = clips
    with wave.open(str(clip), "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        seconds = w.getnframes() / 8000
        frames = w.readframes(w.getnframes())
    # the first 10 s (10.32 s measured: Asterisk stops at the frame after the limit): greeting, beep, silence
    assert 9.0 < seconds < 11.0
    assert any(frames[i] or frames[i + 1] for i in range(0, 16000, 2))  # sound in its first second
