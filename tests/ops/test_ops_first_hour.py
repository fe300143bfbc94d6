"""A newcomer's first hour, as they meet it: `callback` run as a program, from outside the repository."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ari_app.audio.prompts import PROMPTS

REPO = Path(__file__).resolve().parents[2]


def callback(
    *argv: str, cwd: Path, path: str | None = None, pythonpath: Path = REPO, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """`callback ARGS` in a fresh process; ``path`` replaces PATH (to hide ffmpeg)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLBACK_")}
    env["PYTHONPATH"] = str(pythonpath)
    if path is not None:
        env["PATH"] = path
    return subprocess.run(
        [sys.executable, "-m", "ari_app.cli", *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_help_shows_no_internal_ids(tmp_path: Path) -> None:
    out = callback("--help", cwd=tmp_path)
    assert out.returncode == 0
    assert not re.search(r"\b[A-Z]{1,3}-\d{3}\b", out.stdout), out.stdout
    for command in ("tokens", "users", "dnc", "check", "config"):
        assert command in out.stdout


def test_simulator_options_say_what_they_do_and_their_defaults(tmp_path: Path) -> None:
    out = callback("simulator", "--help", cwd=tmp_path).stdout
    flat = " ".join(out.split()).split("options:", 1)[1]
    for option, default in (
        ("--host", "127.0.0.1"),
        ("--port", "8088"),
        ("--ari-user", "callback"),
        ("--ari-password", "callback"),
        ("--speed", "1"),
    ):
        m = re.search(re.escape(option) + r" \S+ (.*?)(?= --|$)", flat)
        assert m and f"default {default}" in m.group(1), (option, flat)
    assert "--scenario" in flat and "docs/simulator.md" in flat


def test_commands_that_convert_no_audio_say_nothing_about_ffmpeg(tmp_path: Path) -> None:
    no_tools = str(tmp_path / "bin")  # a PATH without ffmpeg
    for argv in (("--help",), ("sounds", "list"), ("config", "show")):
        out = callback(*argv, cwd=tmp_path, path=no_tools)
        assert out.returncode == 0, out.stderr
        assert "ffmpeg" not in out.stderr.lower(), (argv, out.stderr)


def test_converting_without_ffmpeg_is_one_line_saying_what_to_install(tmp_path: Path) -> None:
    mp3 = tmp_path / "drop.mp3"
    mp3.write_bytes(b"ID3" + b"\0" * 600)
    out = callback(
        "sounds",
        "import",
        str(mp3),
        "--as",
        "voicemail-drop",
        "--sounds-dir",
        str(tmp_path / "s"),
        cwd=tmp_path,
        path=str(tmp_path / "bin"),
    )
    assert out.returncode == 1
    errors = [ln for ln in out.stderr.splitlines() if ln.startswith("error:")]
    assert errors == [errors[0]] and "apt-get install ffmpeg" in errors[0], out.stderr
    assert "Traceback" not in out.stderr and "Couldn't find" not in out.stderr


def test_an_installed_package_carries_the_default_prompts(tmp_path: Path) -> None:
    """Build the package as pip would (setuptools' build_py reads pyproject's package data) and run it
    from a directory that has no sounds/ of its own."""
    src = tmp_path / "src"
    shutil.copytree(REPO / "ari_app", src / "ari_app", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", src)
    shutil.copy(REPO / "README.md", src)
    built = tmp_path / "site"
    build = subprocess.run(
        [
            sys.executable,
            "-c",
            "import setuptools; setuptools.setup()",
            "-q",
            "build_py",
            "--build-lib",
            str(built),
        ],
        cwd=src,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert build.returncode == 0, build.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = callback("sounds", "list", cwd=elsewhere, pythonpath=built)
    assert out.returncode == 0, out.stderr
    for name in PROMPTS:
        assert re.search(rf"^{name}\s", out.stdout, re.MULTILINE), out.stdout
    assert "MISSING" not in out.stdout
    assert out.stdout.startswith(f"{built / 'ari_app' / 'audio' / 'sounds'} (the shipped prompts;")


def _taken_port() -> socket.socket:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s


@pytest.mark.parametrize(
    "argv",
    [("demo", "--db", "demo.db"), ("serve",), ("simulator",)],
    ids=["demo", "serve", "simulator"],
)
def test_a_taken_port_is_one_line_with_the_port_hint(tmp_path: Path, argv: tuple[str, ...]) -> None:
    with _taken_port() as s:
        port = s.getsockname()[1]
        extra = ("--port", str(port))
        out = callback(*argv, *extra, cwd=tmp_path)
    assert out.returncode != 0
    lines = [ln for ln in out.stderr.splitlines() if ln.strip() and "WARNING" not in ln]
    assert lines == [
        f"callback: 127.0.0.1:{port} is already in use (another callback or program?): "
        "pick another with --port N"
    ], out.stderr


def test_the_readme_stays_inside_the_repository_and_names_every_command() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#]+)\)", readme)
    local = [link for link in links if not re.match(r"[a-z]+://", link)]
    assert "docs/architecture.md" in local and "docs/screenshots/board.png" in local
    for link in local:
        target = (REPO / link).resolve()
        assert target.is_relative_to(REPO) and target.exists(), link
    assert "../" not in readme and "shared/design" not in readme
    table = readme.split("## Commands", 1)[1].split("\n## ", 1)[0]
    for command in (
        "demo",
        "serve",
        "worker",
        "simulator",
        "db upgrade",
        "sounds",
        "users add",
        "tokens add",
        "dnc add",
        "config show",
        "check",
    ):
        assert f"`callback {command}" in table, command
    assert "/embed.js" in readme and "/admin/" in readme
