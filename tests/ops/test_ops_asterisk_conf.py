"""asterisk_conf/: the drop-in files agree with callback's defaults, and a real Asterisk takes them.

The real-Asterisk test starts a second, throw-away Asterisk with these files (ports moved to free ones,
placeholders filled) and runs `callback check` against it. It needs an installed Asterisk: point
CALLBACK_TEST_ASTERISK_CONF at that installation's asterisk.conf (its [directories] give the binary,
modules and sounds), e.g. /work/ext/asterisk-etc/asterisk.conf on the development machine.
"""

from __future__ import annotations

import asyncio
import configparser
import os
import re
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ari_app.check import AMD_MODULES, BASE_MODULES, endpoint_resource, run_checks
from ari_app.settings import Settings

REPO = Path(__file__).resolve().parents[2]
CONF = REPO / "asterisk_conf"
PLACEHOLDERS = {
    "CHANGE_ME_ARI_PASSWORD",
    "CHANGE_ME_ADMIN_PASSWORD",
    "CHANGE_ME_LEAD_PASSWORD",
    "CHANGE_ME_TRUNK_PASSWORD",
    "CARRIER_HOST",
    "TRUNK_USERNAME",
}


def sections(name: str) -> list[str]:
    return re.findall(r"^\[([^\]]+)\]", (CONF / name).read_text(encoding="utf-8"), re.MULTILINE)


def test_every_module_callback_checks_for_is_required() -> None:
    text = (CONF / "modules.conf").read_text(encoding="utf-8")
    required = set(re.findall(r"^require\s*=\s*(\S+)\.so", text, re.MULTILINE))
    assert set(BASE_MODULES) | set(AMD_MODULES) <= required


def test_the_defaults_of_callback_find_their_counterparts() -> None:
    defaults = Settings()
    assert defaults.ari.amd_context in sections("extensions.conf")
    assert defaults.ari.user in sections("ari.conf")
    pjsip = sections("pjsip.conf")
    for admin in defaults.admins:
        target = endpoint_resource(admin.endpoint)
        assert target is not None and target[1] in pjsip
    trunk = endpoint_resource(defaults.ari.trunk_template)
    assert trunk is not None and trunk[1] in pjsip
    assert "loopback" in pjsip  # the softphone guide's trunk
    amd = (CONF / "extensions.conf").read_text(encoding="utf-8")
    assert "Stasis(${APPNAME},amd,${AMDSTATUS},${AMDCAUSE})" in amd


def test_secrets_are_placeholders_and_each_is_documented() -> None:
    found: set[str] = set()
    for path in CONF.glob("*.conf"):
        found |= set(re.findall(r"\b(CHANGE_ME_[A-Z_]+|CARRIER_HOST|TRUNK_USERNAME)\b", path.read_text()))
    assert found == PLACEHOLDERS
    header = (CONF / "pjsip.conf").read_text().split("[global]")[0] + (CONF / "ari.conf").read_text()
    assert all(p in header for p in PLACEHOLDERS)


# ---------------------------------------------------------------------------- a real Asterisk


def _free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _installation() -> dict[str, str]:
    conf = os.environ.get("CALLBACK_TEST_ASTERISK_CONF")
    if not conf:
        pytest.skip("set CALLBACK_TEST_ASTERISK_CONF to an installed Asterisk's asterisk.conf")
    parser = configparser.ConfigParser(delimiters=("=>", "="), inline_comment_prefixes=(";",), strict=False)
    parser.read(conf)
    return dict(parser["directories"])


@pytest.fixture
def asterisk(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A second Asterisk on free ports with asterisk_conf/; yields (ARI base URL, ARI password)."""
    dirs = _installation()
    binary = str(Path(dirs["astsbindir"]) / "asterisk")
    etc = tmp_path / "etc"
    etc.mkdir()
    password = secrets.token_hex(12)
    http, sip, loop = _free_port(), _free_port(socket.SOCK_DGRAM), _free_port(socket.SOCK_DGRAM)
    for path in CONF.glob("*.conf"):
        text = path.read_text(encoding="utf-8")
        text = text.replace("CHANGE_ME_ARI_PASSWORD", password).replace(
            "bindport = 8088", f"bindport = {http}"
        )
        text = text.replace("0.0.0.0:5060", f"127.0.0.1:{sip}").replace("127.0.0.1:5062", f"127.0.0.1:{loop}")
        text = text.replace("CARRIER_HOST:5060", "192.0.2.1").replace("CARRIER_HOST", "192.0.2.1")
        text = text.replace("rtpstart = 10000", "rtpstart = 33000").replace(
            "rtpend = 10199", "rtpend = 33199"
        )
        (etc / path.name).write_text(text, encoding="utf-8")
    for sub in ("run", "log", "spool", "db"):
        (tmp_path / sub).mkdir()
    (etc / "asterisk.conf").write_text(
        "[directories]\n"
        f"astetcdir => {etc}\nastmoddir => {dirs['astmoddir']}\nastvarlibdir => {dirs['astvarlibdir']}\n"
        f"astdatadir => {dirs['astdatadir']}\nastdbdir => {tmp_path / 'db'}\n"
        f"astkeydir => {tmp_path / 'db'}\nastspooldir => {tmp_path / 'spool'}\n"
        f"astrundir => {tmp_path / 'run'}\nastlogdir => {tmp_path / 'log'}\n"
        "[options]\nverbose = 0\n",
        encoding="utf-8",
    )
    config = str(etc / "asterisk.conf")
    subprocess.run([binary, "-C", config], cwd=tmp_path, check=True, timeout=30)
    try:
        for _ in range(60):  # the daemon's control socket appears a moment after it forks
            booted = subprocess.run(
                [binary, "-C", config, "-rx", "core waitfullybooted"], capture_output=True, timeout=60
            )
            if booted.returncode == 0:
                break
            time.sleep(0.5)
        else:
            pytest.fail("the Asterisk under test did not boot")
        yield f"http://127.0.0.1:{http}", password
    finally:
        subprocess.run([binary, "-C", config, "-rx", "core stop now"], timeout=30, check=False)
        _stop_by_pid(tmp_path / "run" / "asterisk.pid")


def _stop_by_pid(pid_file: Path) -> None:
    """If the CLI could not stop it (no control socket yet), end the process we started by its id."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return
    for _ in range(20):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.25)
    os.kill(pid, signal.SIGTERM)


@pytest.mark.asterisk
async def test_a_real_asterisk_takes_the_files(asterisk: tuple[str, str], tmp_path: Path) -> None:
    url, password = asterisk
    env = {
        "CALLBACK_ARI_URL": url,
        "CALLBACK_ARI_PASSWORD": password,
        "CALLBACK_ARI_TRUNK_TEMPLATE": "PJSIP/{number}@loopback",
        "CALLBACK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cb.db'}",
    }
    report = await asyncio.wait_for(run_checks(None, env, limit=5.0), 120)
    status = {r.name: r.status for r in report.results}
    assert status["ari"] == status["modules"] == status["application"] == status["trunk"] == "ok", (
        report.render()
    )
    assert status["asterisk-version"] == "ok"
    # The admin endpoint exists; no phone has registered to it yet.
    assert "no phone registered for: Admin (PJSIP/admin)" in report.get("admin-endpoints").message
