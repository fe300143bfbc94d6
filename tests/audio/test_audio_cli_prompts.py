"""`callback sounds …` as a user types it, the default prompts, and the prompts the repository ships."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pytest
from audiokit import MakeMp3, read_wav

from ari_app.audio.manifest import SHIPPED_SOUNDS, load_manifest
from ari_app.audio.prompts import PROMPTS, prompt_texts, speakable_number, synthesize_mp3
from ari_app.cli import sounds

REPO_SOUNDS = SHIPPED_SOUNDS
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="callback")
    sounds.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


@pytest.fixture(autouse=True)
def _no_config_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("CALLBACK_SOUNDS_DIR", "CALLBACK_SOUNDS_MAX_SECONDS", "CALLBACK_SOUNDS_ASTERISK_DIR"):
        monkeypatch.delenv(key, raising=False)


def test_cli_import_then_list(tone_mp3: MakeMp3, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        run(["sounds", "import", str(tone_mp3(1.0)), "--as", "voicemail-drop", "--sounds-dir", str(tmp_path)])
        == 0
    )
    out = capsys.readouterr()
    assert "voicemail-drop: 1.0 s, formats wav, wav16" in out.out
    assert "converting" in out.err  # progress goes to stderr

    assert run(["sounds", "list", "--sounds-dir", str(tmp_path)]) == 0
    assert "voicemail-drop" in capsys.readouterr().out


def test_cli_refusal_is_one_clear_line_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bogus = tmp_path / "drop.mp3"
    bogus.write_text("not audio at all")
    assert (
        run(["sounds", "import", str(bogus), "--as", "voicemail-drop", "--sounds-dir", str(tmp_path / "s")])
        == 1
    )
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("error: drop.mp3 is not an audio file")
    assert "Traceback" not in err


def test_cli_limit_comes_from_config(
    tone_mp3: MakeMp3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CALLBACK_SOUNDS_MAX_SECONDS", "2")
    monkeypatch.setenv("CALLBACK_SOUNDS_DIR", str(tmp_path / "from-config"))
    assert run(["sounds", "import", str(tone_mp3(3.0)), "--as", "goodbye"]) == 1
    assert "the limit is 2 s" in capsys.readouterr().err
    assert run(["sounds", "import", str(tone_mp3(1.0)), "--as", "goodbye"]) == 0
    assert (tmp_path / "from-config" / "goodbye.wav16").is_file()


def test_cli_install(tone_mp3: MakeMp3, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(["sounds", "import", str(tone_mp3(1.0)), "--as", "connecting", "--sounds-dir", str(tmp_path / "s")])
    assert (
        run(
            [
                "sounds",
                "install",
                "--asterisk-dir",
                str(tmp_path / "ast"),
                "--sounds-dir",
                str(tmp_path / "s"),
            ]
        )
        == 0
    )
    copied = tmp_path / "ast" / "callback"
    assert (copied / "connecting.wav").read_bytes() == (tmp_path / "s" / "connecting.wav").read_bytes()
    # The fresh directory started from the shipped prompts: Asterisk gets all of them, one replaced.
    assert (copied / "connecting.wav").read_bytes() != (REPO_SOUNDS / "connecting.wav").read_bytes()
    assert {p.name for p in copied.iterdir()} == {f"{n}.{f}" for n in PROMPTS for f in ("wav", "wav16")}
    assert f"{2 * len(PROMPTS)} file(s) copied" in capsys.readouterr().out


def test_replacing_one_prompt_in_a_fresh_directory_keeps_the_others(
    tone_mp3: MakeMp3, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "sounds"
    run(["sounds", "import", str(tone_mp3(1.0)), "--as", "voicemail-drop", "--sounds-dir", str(target)])
    assert "started from the shipped prompts" in capsys.readouterr().err
    entries = load_manifest(target)
    assert set(entries) == set(PROMPTS)
    assert entries["voicemail-drop"].duration == pytest.approx(1.0, abs=0.05)
    assert entries["goodbye"] == load_manifest(REPO_SOUNDS)["goodbye"]


def test_sounds_commands_take_the_config_their_help_promises(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "callback.toml"
    config.write_text(
        f'[sounds]\ndir = "{REPO_SOUNDS}"\nasterisk_dir = "{tmp_path / "ast"}"\n'
        '[calls]\nsounds_prefix = "acme"\n'
    )
    assert run(["sounds", "list", "--config", str(config)]) == 0
    assert "voicemail-drop" in capsys.readouterr().out
    assert run(["sounds", "install", "--config", str(config)]) == 0
    assert (tmp_path / "ast" / "acme" / "press-1.wav16").is_file()
    for command in ("defaults", "import"):
        parser = argparse.ArgumentParser(prog="callback")
        sounds.register(parser.add_subparsers(dest="command", required=True))
        extra = ["x.mp3", "--as", "goodbye"] if command == "import" else []
        args = parser.parse_args(["sounds", command, *extra, "--config", str(config)])
        assert args.config == str(config)


def test_list_reads_the_shipped_prompts_until_sounds_dir_has_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CALLBACK_SOUNDS_DIR", str(tmp_path / "not-yet"))
    assert run(["sounds", "list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in PROMPTS) and "MISSING" not in out


def test_number_is_spoken_digit_by_digit() -> None:
    assert speakable_number("+1 555 0100") == "1, 5 5 5, 0 1 0 0"
    assert speakable_number("(555) 010-0199") == "5 5 5, 0 1 0, 0 1 9 9"


def test_voicemail_drop_names_the_business_and_the_number() -> None:
    text = prompt_texts("Acme Plumbing", "+1 555 0100")["voicemail-drop"]
    assert text.startswith("Hi, this is Acme Plumbing returning your call request.")
    assert "Please call us back at 1, 5 5 5, 0 1 0 0." in text
    assert set(PROMPTS) >= {
        "admin-whisper",
        "press-1",
        "connecting",
        "lead-machine-admin",
        "voicemail-drop",
        "goodbye",
    }


@needs_espeak
def test_synthesis_is_reproducible(tmp_path: Path) -> None:
    synthesize_mp3("Connecting you now.", tmp_path / "a.mp3")
    synthesize_mp3("Connecting you now.", tmp_path / "b.mp3")
    assert (tmp_path / "a.mp3").read_bytes() == (tmp_path / "b.mp3").read_bytes()


@needs_espeak
def test_cli_defaults_regenerates_a_prompt(tmp_path: Path) -> None:
    argv = ["sounds", "defaults", "--only", "goodbye", "--sounds-dir", str(tmp_path)]
    assert run(argv) == 0
    entry = load_manifest(tmp_path)["goodbye"]
    mtime = (tmp_path / "goodbye.wav").stat().st_mtime_ns
    assert run(argv) == 0  # same text, same bytes: nothing rewritten
    assert (tmp_path / "goodbye.wav").stat().st_mtime_ns == mtime
    assert 0.5 < entry.duration < 3.0


def test_the_repository_ships_every_default_prompt() -> None:
    entries = load_manifest(REPO_SOUNDS)
    assert set(entries) == set(PROMPTS)
    for entry in entries.values():
        for fmt, rate in (("wav", 8000), ("wav16", 16000)):
            params, _ = read_wav(REPO_SOUNDS / f"{entry.name}.{fmt}")
            assert (params.nchannels, params.sampwidth, params.framerate) == (1, 2, rate)
            assert params.nframes / rate == pytest.approx(entry.duration, abs=0.01)
