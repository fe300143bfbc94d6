"""`callback amd tune` against the ARI simulator: labelled clips replayed through the AMD context with each
candidate set, ranked on the labels, the best written into the config only with --write. The simulator's
callees `Local/clip-<name>@callback-amd-tune` answer per parameter set (its `amd` key), as the real AMD()
does for the generated greetings (tests/e2e/test_e2e_real_amd_tune.py measures those on a real Asterisk)."""

from __future__ import annotations

import asyncio
import tomllib
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ari_app.cli import main
from ari_app.simulator import Scenario
from ari_app.simulator.server import SimulatorServer

pytestmark = pytest.mark.e2e


def _wav(path: Path, seconds: float = 0.5, rate: int = 8000) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\0\0" * int(rate * seconds))


def _callee(name: str, answers: list[dict[str, Any]], default: str) -> dict[str, Any]:
    return {
        "match": f"Local/clip-{name}@callback-amd-tune",
        "behaviour": "machine" if default == "MACHINE" else "answer",
        "answer_after": 0,
        "amd": answers,
    }


# What the real AMD() said of the generated greetings on Asterisk 22.10.1 (maximum_number_of_words 2
# stops a long greeting at its third word: MAXWORDS; above it, LONGGREETING; with a greeting limit above
# the 6 s greeting's length, HUMAN).
SCENARIO = {
    "callee": [
        _callee("person-hello", [], "HUMAN"),
        _callee(
            "machine-6",
            [
                {
                    "greeting": 2500,
                    "maximum_number_of_words": 2,
                    "status": "MACHINE",
                    "cause": "MAXWORDS-3-2",
                },
                {"greeting": 2500, "status": "HUMAN", "cause": "HUMAN-800-800"},
                {"maximum_number_of_words": 2, "status": "MACHINE", "cause": "MAXWORDS-3-2"},
            ],
            "MACHINE",
        ),
        _callee("machine-20", [], "MACHINE"),
        # a person who says a long "hello, this is Sam speaking": taken for a machine at 2 words
        _callee(
            "person-long",
            [
                {"maximum_number_of_words": 2, "status": "MACHINE", "cause": "MAXWORDS-3-2"},
                {"maximum_number_of_words": 3, "status": "MACHINE", "cause": "MAXWORDS-4-3"},
            ],
            "HUMAN",
        ),
    ]
}


@pytest.fixture
async def sim() -> AsyncIterator[SimulatorServer]:
    async with SimulatorServer(port=0, speed=50) as server:
        server.pbx.replace_scenario(Scenario.from_dict(SCENARIO))
        yield server


@pytest.fixture
def clips(tmp_path: Path) -> Path:
    folder = tmp_path / "clips"
    for name in ("person-hello", "machine-6", "machine-20", "person-long"):
        _wav(folder / f"{name}.wav")
    return folder


def _config(tmp_path: Path, sim: SimulatorServer, extra: str = "") -> Path:
    path = tmp_path / "callback.toml"
    path.write_text(
        f'# my config\n[ari]\nurl = "{sim.base_url}"\n\n[amd]\ngreeting = 1500  # Asterisk\'s\n{extra}',
        encoding="utf-8",
    )
    return path


async def _tune(*argv: str) -> int:
    return await asyncio.to_thread(main, ["amd", "tune", *argv])


async def test_tune_ranks_the_sets_and_changes_nothing_without_write(
    sim: SimulatorServer, clips: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, sim)
    before = config.read_text(encoding="utf-8")
    sounds = tmp_path / "sounds"
    sounds.mkdir()
    assert await _tune("--clips", str(clips), "--config", str(config), "--asterisk-dir", str(sounds)) == 0
    out = capsys.readouterr().out
    assert "4 clips (2 people, 2 machines) × 48 parameter sets = 192 replays, 4 at once" in out
    # the best: greeting 1500 (no change) but 4 words allowed: the long "hello" is a person, machines stay
    assert "#1 set" in out and "maximum_number_of_words=4" in out
    assert "people taken for machines 0 of 2, machines taken for people 0 of 2" in out
    # the current set is shown with its place and its mistake (the long hello hung up on)
    assert "current: cost 5 (the current parameters)" in out
    assert "MAXWORDS" in out
    assert "Run again with --write" in out
    assert config.read_text(encoding="utf-8") == before
    assert list(sounds.iterdir()) == []  # the clips copied for the run are gone
    # what AMD was given: the candidate's parameters as channel variables, as on a call
    given = [r.amd_params for r in sim.pbx.calls.values() if r.amd_params]
    assert len(given) == 192
    assert {p["maximum_number_of_words"] for p in given} == {2, 3, 4}


async def test_tune_writes_the_best_set_only_with_write(
    sim: SimulatorServer, clips: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, sim)
    sounds = tmp_path / "sounds"
    sounds.mkdir()
    argv = ["--clips", str(clips), "--config", str(config), "--asterisk-dir", str(sounds), "--write"]
    assert await _tune(*argv) == 0
    out = capsys.readouterr().out
    assert f"into [amd] of {config}" in out
    text = config.read_text(encoding="utf-8")
    assert text.startswith("# my config")  # comments kept
    written = tomllib.loads(text)["amd"]
    assert written["maximum_number_of_words"] == 4
    assert set(written) == {  # all nine parameters, in [amd]
        "initial_silence",
        "greeting",
        "after_greeting_silence",
        "total_analysis_time",
        "min_word_length",
        "between_words_silence",
        "maximum_number_of_words",
        "silence_threshold",
        "maximum_word_length",
    }
    # run again: the written set is now the current one, and nothing beats it
    assert await _tune(*argv) == 0
    assert "The current set is as good as any tried: nothing to change." in capsys.readouterr().out


async def test_a_route_table_gets_only_what_differs(
    sim: SimulatorServer, clips: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, sim, "\n[amd.routes.trunk]\nmin_word_length = 100\n")
    sounds = tmp_path / "sounds"
    sounds.mkdir()
    argv = ["--clips", str(clips), "--config", str(config), "--asterisk-dir", str(sounds), "--write"]
    assert await _tune(*argv, "--max-candidates", "12") == 0
    assert "into [amd.routes.trunk]" in capsys.readouterr().out
    data = tomllib.loads(config.read_text(encoding="utf-8"))
    assert data["amd"]["greeting"] == 1500  # [amd] itself untouched
    route = data["amd"]["routes"]["trunk"]
    assert route["maximum_number_of_words"] == 4
    assert "min_word_length" not in route  # equal to [amd]'s: left to it


async def test_the_cost_is_bounded_and_bad_clips_are_named(
    sim: SimulatorServer, clips: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, sim)
    sounds = tmp_path / "sounds"
    sounds.mkdir()
    base = ["--clips", str(clips), "--config", str(config), "--asterisk-dir", str(sounds)]
    assert await _tune(*base, "--max-replays", "100") == 1
    assert "192 replays is more than --max-replays 100" in capsys.readouterr().err
    assert not sim.pbx.calls
    _wav(clips / "greeting.wav")
    assert await _tune(*base) == 1
    assert "no label in the name of greeting.wav" in capsys.readouterr().err
    (clips / "greeting.wav").unlink()
    _wav(clips / "machine" / "wideband.wav", rate=16000)
    assert await _tune(*base) == 1
    assert "16000 Hz" in capsys.readouterr().err
