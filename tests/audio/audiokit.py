"""Real audio files made during the test run with ffmpeg and espeak-ng (no fixtures on disk)."""

from __future__ import annotations

import math
import shutil
import subprocess
import wave
from array import array
from collections.abc import Callable
from pathlib import Path

import pytest

# Each test here makes real audio: without the tools it is skipped with one line saying what to install
# (tests/audio/conftest.py), never a collection error.
MISSING_TOOLS = [tool for tool in ("ffmpeg", "espeak-ng") if shutil.which(tool) is None]

MakeMp3 = Callable[..., Path]


def _run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def tone_mp3(media_dir: Path) -> MakeMp3:
    """tone_mp3(seconds, silent_lead=0.0, volume=0.5): an MP3 of a 440 Hz tone, silent at first."""

    def make(seconds: float, silent_lead: float = 0.0, volume: float = 0.5) -> Path:
        out = media_dir / f"tone-{seconds}-{silent_lead}-{volume}.mp3"
        if not out.exists():
            af = f"volume={volume}"
            if silent_lead:
                af += f",volume=enable='lt(t,{silent_lead})':volume=0"
            _run(
                [
                    "ffmpeg",
                    "-nostdin",
                    "-v",
                    "error",
                    "-f",
                    "lavfi",
                    "-i",
                    f"sine=frequency=440:duration={seconds}",
                ]
                + ["-af", af, "-ac", "1", "-ar", "22050", "-c:a", "libmp3lame", "-b:a", "32k", str(out)]
            )
        return out

    return make


@pytest.fixture(scope="session")
def speech_mp3(media_dir: Path) -> Path:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    wav, out = media_dir / "speech.wav", media_dir / "speech.mp3"
    _run(["espeak-ng", "-v", "en-us", "-w", str(wav), "Hi, this is Example Co returning your call request."])
    _run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-i",
            str(wav),
            "-ac",
            "1",
            "-c:a",
            "libmp3lame",
            "-b:a",
            "32k",
            str(out),
        ]
    )
    return out


def read_wav(path: Path) -> tuple[wave._wave_params, bytes]:
    with wave.open(str(path), "rb") as w:
        return w.getparams(), w.readframes(w.getnframes())


def _samples(frames: bytes) -> array:
    a = array("h")
    a.frombytes(frames)
    return a


def rms_dbfs(frames: bytes) -> float:
    s = _samples(frames)
    return 20 * math.log10(math.sqrt(sum(x * x for x in s) / len(s)) / 32768)


def peak_dbfs(frames: bytes) -> float:
    s = _samples(frames)
    return 20 * math.log10(max(abs(min(s)), max(s)) / 32768)
