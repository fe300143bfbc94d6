"""AMD on a real Asterisk: generated greetings replayed through the tuning context (opt-in, like the other
real-peer tests). Needs CALLBACK_TEST_ARI_URL (_USER, _PASSWORD) for a PBX configured like
tests/asterisk_peer/ (its [callback-amd] passing the nine AMD_* variables, [callback-amd-tune], amd.conf at
Asterisk's defaults), CALLBACK_TEST_ASTERISK_SOUNDS for its sounds directory (the clips are copied there for
the run), and espeak-ng and sox to make the greetings."""

from __future__ import annotations

import asyncio
import os
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import amdclips
import pytest

from ari_app.calls.amd_replay import AmdReplayer, Replay, clips_from_folder, install_clips, remove_clips
from ari_app.cli import main
from ari_app.domain.amd import AmdParams

URL = os.environ.get("CALLBACK_TEST_ARI_URL")
SOUNDS = os.environ.get("CALLBACK_TEST_ASTERISK_SOUNDS")
USER = os.environ.get("CALLBACK_TEST_ARI_USER", "callback")
PASSWORD = os.environ.get("CALLBACK_TEST_ARI_PASSWORD", "callback")
pytestmark = [
    pytest.mark.asterisk,
    pytest.mark.slow,
    pytest.mark.skipif(
        not URL or not SOUNDS,
        reason="real Asterisk only: set CALLBACK_TEST_ARI_URL (…) and CALLBACK_TEST_ASTERISK_SOUNDS",
    ),
    pytest.mark.skipif(not amdclips.available(), reason="needs espeak-ng and sox"),
]


@pytest.fixture(scope="module")
def greetings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("greetings")
    amdclips.make_greetings(folder)
    return folder


@pytest.fixture
async def replayer(greetings: Path) -> AsyncIterator[AmdReplayer]:
    folder, name = install_clips(clips_from_folder(greetings), Path(str(SOUNDS)))
    try:
        async with AmdReplayer(str(URL), USER, PASSWORD, clip_dir=name, concurrency=3) as r:
            yield r
    finally:
        remove_clips(folder)


async def _verdicts(r: AmdReplayer, params: AmdParams | None) -> dict[str, Replay]:
    keys = ("person-hello", "machine-6", "machine-20")
    got = await asyncio.gather(*(r.replay(params, k) for k in keys))
    return dict(zip(keys, got, strict=True))


async def test_asterisks_defaults_tell_the_hello_from_the_greetings(replayer: AmdReplayer) -> None:
    v = await _verdicts(replayer, AmdParams())
    assert v["person-hello"].status == "HUMAN"  # HUMAN-804-800: 804 ms of silence after it, limit 800
    # a recorded greeting says its third word before 1.5 s are over: more than maximum_number_of_words 2
    assert v["machine-6"] == Replay("MACHINE", "MAXWORDS-3-2")
    assert v["machine-20"] == Replay("MACHINE", "MAXWORDS-3-2")


async def test_empty_arguments_keep_amd_conf(replayer: AmdReplayer) -> None:
    """AMD() with the nine variables empty runs with amd.conf's values: the causes carry the limits used
    (after_greeting_silence 800, maximum_number_of_words 2), as with Asterisk's defaults given explicitly;
    a value given changes them."""
    empty = await _verdicts(replayer, None)
    assert empty["person-hello"].status == "HUMAN"
    assert (empty["person-hello"].cause or "").endswith("-800")
    assert empty["machine-6"] == Replay("MACHINE", "MAXWORDS-3-2")
    given = await _verdicts(replayer, AmdParams(after_greeting_silence=1200))
    assert given["person-hello"].status == "HUMAN"
    assert (given["person-hello"].cause or "").endswith("-1200")


async def test_the_parameters_change_the_verdict_as_documented(replayer: AmdReplayer) -> None:
    # more words allowed: the greeting is judged by its length instead (LONGGREETING-<length>-<limit>)
    words = await _verdicts(replayer, AmdParams(maximum_number_of_words=99))
    assert words["machine-6"] == Replay("MACHINE", "LONGGREETING-1500-1500")
    assert words["machine-20"] == Replay("MACHINE", "LONGGREETING-1500-1500")
    assert words["person-hello"].status == "HUMAN"
    # a greeting limit above the 6 s greeting's length: it ends, 800 ms of silence follow: HUMAN; the 20 s
    # one outlasts the analysis time: NOTSURE (TOOLONG-<total analysis time less a frame>)
    long = await _verdicts(
        replayer, AmdParams(maximum_number_of_words=99, greeting=8000, total_analysis_time=10000)
    )
    assert long["machine-6"] == Replay("HUMAN", "HUMAN-800-800")
    assert long["machine-20"].status == "NOTSURE"
    assert (long["machine-20"].cause or "").startswith("TOOLONG")


async def test_tune_end_to_end(greetings: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "callback.toml"
    config.write_text(f'[ari]\nurl = "{URL}"\nuser = "{USER}"\npassword = "{PASSWORD}"\n', encoding="utf-8")
    argv = ["amd", "tune", "--clips", str(greetings), "--config", str(config), "--asterisk-dir", str(SOUNDS)]
    rc = await asyncio.to_thread(main, [*argv, "--max-candidates", "6", "--concurrency", "6", "--write"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "3 clips (1 people, 2 machines) × 6 parameter sets = 18 replays" in out
    assert "#1 current: cost 0 (the current parameters)" in out
    assert "The current set is as good as any tried: nothing to change." in out
    assert "amd" not in tomllib.loads(config.read_text(encoding="utf-8"))  # nothing written
