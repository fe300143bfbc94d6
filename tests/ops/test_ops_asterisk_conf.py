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

from ari_app.ops.check import AMD_MODULES, BASE_MODULES, HTTP_SOUNDS_MODULES, endpoint_resource, run_checks
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


def settings_lines(name: str) -> list[str]:
    """The lines Asterisk reads: comments (from ``;``) and blank lines dropped."""
    lines = (CONF / name).read_text(encoding="utf-8").splitlines()
    return [line.split(";", 1)[0].strip() for line in lines if line.split(";", 1)[0].strip()]


def modules(verb: str) -> set[str]:
    return {
        line.split("=", 1)[1].strip().removesuffix(".so")
        for line in settings_lines("modules.conf")
        if line.split("=", 1)[0].strip() == verb
    }


TRUNK_FILE = "pjsip_trunk.conf.example"
CARRIER_PLACEHOLDERS = ("CARRIER_HOST", "TRUNK_USERNAME", "CHANGE_ME_TRUNK_PASSWORD")


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
    assert trunk is not None and trunk[1] in sections(TRUNK_FILE)
    assert "loopback" in pjsip  # the softphone guide's trunk
    amd = (CONF / "extensions.conf").read_text(encoding="utf-8")
    assert "Stasis(${APPNAME},amd,${AMDSTATUS},${AMDCAUSE})" in amd


def test_secrets_are_placeholders_and_each_is_documented() -> None:
    found: set[str] = set()
    for path in [*CONF.glob("*.conf"), CONF / TRUNK_FILE]:
        found |= set(re.findall(r"\b(CHANGE_ME_[A-Z_]+|CARRIER_HOST|TRUNK_USERNAME)\b", path.read_text()))
    assert found == PLACEHOLDERS
    header = (
        (CONF / "pjsip.conf").read_text().split("[global]")[0]
        + (CONF / "ari.conf").read_text()
        + (CONF / TRUNK_FILE).read_text().split("[trunk]")[0]
    )
    assert all(p in header for p in PLACEHOLDERS)


def test_before_the_carrier_is_filled_in_asterisk_reads_no_trunk() -> None:
    # A trunk holding CARRIER_HOST made res_pjsip log getaddrinfo("CARRIER_HOST") and "Could not create an
    # object of type 'identify'" on every load: the shipped files Asterisk reads have none of it.
    read = settings_lines("pjsip.conf")
    assert not [line for line in read if any(p in line for p in CARRIER_PLACEHOLDERS)]
    assert not {"trunk", "trunk-auth", "trunk-registration", "trunk-identify"} & set(sections("pjsip.conf"))
    # The trunk is read only from a file the operator creates: #tryinclude skips a missing file silently.
    assert "#tryinclude pjsip_trunk.conf" in read
    assert not (CONF / "pjsip_trunk.conf").exists()
    # An operator copying asterisk_conf/*.conf into /etc/asterisk does not copy the example.
    assert not TRUNK_FILE.endswith(".conf")


def test_the_trunk_file_stands_on_what_pjsip_conf_defines() -> None:
    trunk = (CONF / TRUNK_FILE).read_text(encoding="utf-8")
    assert {"trunk", "trunk-auth", "trunk-registration", "trunk-identify"} <= set(sections(TRUNK_FILE))
    pjsip = set(sections("pjsip.conf"))
    for template in re.findall(r"^\[[^\]]+\]\(([^)]+)\)", trunk, re.MULTILINE):
        assert set(template.replace("!", "").split(",")) - {""} <= pjsip
    for transport in re.findall(r"^transport\s*=\s*(\S+)", trunk, re.MULTILINE):
        assert transport in pjsip
    # The file is read where the include stands: after the templates and transports it uses.
    text = (CONF / "pjsip.conf").read_text(encoding="utf-8")
    assert text.index("#tryinclude pjsip_trunk.conf") > text.index("[endpoint-common](!)")


# Asterisk 22.10.1 source: what the modules we noload are required by (``.requires`` in their .c files).
REQUIRED_BY = {
    "res_odbc": {"func_odbc", "cdr_odbc", "cdr_adaptive_odbc", "cel_odbc", "res_config_odbc"},
    "res_xmpp": {"chan_motif"},
    "res_calendar": {
        "res_calendar_caldav",
        "res_calendar_ews",
        "res_calendar_exchange",
        "res_calendar_icalendar",
    },
    "res_hep": {"res_hep_pjsip", "res_hep_rtcp"},
    "res_phoneprov": {"res_pjsip_phoneprov_provider"},
}


def test_modules_nobody_configured_are_not_loaded() -> None:
    noload = modules("noload")
    # Database back ends connect to servers nobody set up (res_config_pgsql logged connect errors).
    databases = {
        "res_config_pgsql", "res_config_mysql", "res_config_odbc", "res_config_ldap", "res_config_sqlite3",
        "res_odbc", "cdr_pgsql", "cdr_odbc", "cdr_adaptive_odbc", "cdr_tds", "cdr_sqlite3_custom",
        "cel_pgsql", "cel_odbc", "cel_tds", "cel_sqlite3_custom",
    }  # fmt: skip
    assert databases <= noload
    assert {"chan_iax2", "chan_unistim", "chan_motif", "chan_dahdi", "chan_console"} <= noload
    # A module left to autoload whose requirement is noloaded would fail to load, with an error.
    for needed, dependents in REQUIRED_BY.items():
        if needed in noload:
            assert dependents <= noload, needed


def test_nothing_callback_needs_is_noloaded() -> None:
    noload = modules("noload")
    # Asterisk refuses ("configured with 'require' and 'noload', this is impossible") and stops.
    assert not modules("require") & noload
    needed = {*BASE_MODULES, *AMD_MODULES, *HTTP_SOUNDS_MODULES, "res_curl", "res_ari_sounds"}
    assert not needed & noload
    assert not {m for m in noload if m.startswith(("res_pjsip_", "res_stasis", "res_ari", "bridge_"))} - {
        "res_pjsip_phoneprov_provider"
    }
    assert modules("autoload") == {"yes"}


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
    # Asterisk's own log, to show it started without an error (the trunk is not filled in: none is written).
    (etc / "logger.conf").write_text("[logfiles]\nmessages.log => notice,warning,error\n", encoding="utf-8")
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


_NOT_OURS = re.compile(
    r"Unable to load config file|Unable to load c[de][lr]_custom\.conf|declined to load|"
    r"Error opening directory - .*/keys|configuration file .* not found"
)


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
    # Loaded as shipped, before the carrier is filled in: not one error (no trunk with placeholders, no
    # database module trying to connect).
    # The configuration directory here holds only our files, so Asterisk also says which of its stock files
    # (cdr.conf, acl.conf, ...) it misses and which modules then decline: an installation has those files.
    log = (tmp_path / "log" / "messages.log").read_text(encoding="utf-8", errors="replace")
    errors = [line for line in log.splitlines() if " ERROR[" in line]
    assert [line for line in errors if not _NOT_OURS.search(line)] == []


def test_the_amd_context_reads_amds_nine_parameters_from_the_channel_variables_callback_sets() -> None:
    from ari_app.domain.amd import AmdParams

    dialplan = (CONF / "extensions.conf").read_text(encoding="utf-8")
    [call] = re.findall(r"^ same => n,AMD\((.*)\)$", dialplan, flags=re.MULTILINE)
    # In AMD()'s own order, one variable per parameter, each the one the app sets on the lead's channel.
    assert call.split(",") == [f"${{{name}}}" for name in AmdParams().channel_variables()]


def test_calls_to_the_business_number_enter_the_application_with_a_fallback_to_the_admin() -> None:
    text = (CONF / "extensions.conf").read_text(encoding="utf-8")
    assert "callback-inbound" in sections("extensions.conf")
    assert "Stasis(${CALLBACK_INBOUND_APP},inbound,${CALLERID(num)},${EXTEN})" in text
    inbound = text.split("\n[callback-inbound]\n", 1)[1].split("\n[", 1)[0]
    # Not connected (FAILED) or handed back (continue): the admin phone rings, as before callback.
    assert inbound.index("Stasis(") < inbound.index("Dial(${INBOUND_FALLBACK},30)")
    carrier = text.split("\n[from-carrier]\n", 1)[1].split("\n[", 1)[0]
    assert "Goto(callback-inbound,${EXTEN},1)" in carrier
