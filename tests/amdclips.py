"""Greetings for AMD tests, generated with espeak-ng and sox (8 kHz 16-bit mono .wav, as Asterisk plays).

``person``: a spoken "hello?" (about 1 s). ``machine-6`` / ``machine-20``: a voicemail greeting of exactly
6 / 20 s of speech (the text repeated and cut), then a 0.3 s 1 kHz beep.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

GREETING = (
    "Hi, you have reached the voicemail of Sam at Acme Plumbing. I can't take your call right now."
    " Please leave your name, your number and a short message after the tone, and I will call you back."
)


def available() -> bool:
    return shutil.which("espeak-ng") is not None and shutil.which("sox") is not None


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


def _speak(text: str, out: Path) -> None:
    raw = out.with_suffix(".raw.wav")
    _run("espeak-ng", "-s", "160", "-w", str(raw), text)
    _run("sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(out))
    raw.unlink()


def make_greetings(folder: Path) -> dict[str, Path]:
    """``person.wav``, ``machine-6.wav``, ``machine-20.wav`` in ``folder`` (names carry the label)."""
    folder.mkdir(parents=True, exist_ok=True)
    person = folder / "person-hello.wav"
    _speak("hello?", person)
    speech = folder / "speech.tmp.wav"
    _speak(GREETING, speech)
    beep = folder / "beep.tmp.wav"
    _run(
        "sox",
        "-n",
        "-r",
        "8000",
        "-c",
        "1",
        "-b",
        "16",
        str(beep),
        "synth",
        "0.3",
        "sine",
        "1000",
        "vol",
        "0.5",
    )
    out = {"person": person}
    for seconds in (6, 20):
        cut = folder / f"cut-{seconds}.tmp.wav"
        _run("sox", str(speech), str(cut), "repeat", "3", "trim", "0", str(seconds))
        target = folder / f"machine-{seconds}.wav"
        _run("sox", str(cut), str(beep), str(target))
        cut.unlink()
        out[f"machine-{seconds}"] = target
    speech.unlink()
    beep.unlink()
    return out
