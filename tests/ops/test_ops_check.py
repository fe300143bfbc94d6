"""``callback check`` against the ARI simulator: a bare simulator passes, and each item breaks alone."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ari_app.ari.client import AriClient
from ari_app.ari.connection import EventConnection
from ari_app.ari.events import Event
from ari_app.ops.check import QUALIFY_GRACE_SECONDS, CheckReport, endpoint_resource, run_checks, trunk_result
from ari_app.simulator import Scenario
from ari_app.simulator.server import SimulatorServer
from ari_app.store.migrate import upgrade

ALL_ITEMS = [
    "config",
    "database",
    "ari",
    "asterisk-version",
    "modules",
    "admin-endpoints",
    "trunk",
    "shared-pbx",
    "application",
    "sounds",
    "sms-gateway",
]


@pytest.fixture(autouse=True)
def _empty_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The demo defaults point at ./callback.db and ./sounds: keep them in an empty directory.
    monkeypatch.chdir(tmp_path)


@pytest.fixture
async def sim() -> AsyncIterator[SimulatorServer]:
    async with SimulatorServer(port=0, speed=10) as server:
        yield server


async def _set_scenario(sim: SimulatorServer, **scenario: Any) -> None:
    sim.pbx.replace_scenario(Scenario.from_dict(scenario))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def check(sim: SimulatorServer, config: Path | None = None, **env: str) -> CheckReport:
    environ = {"CALLBACK_ARI_URL": sim.base_url, **{f"CALLBACK_{k.upper()}": v for k, v in env.items()}}
    return await run_checks(config, environ, limit=3.0)


def failing(report: CheckReport) -> list[str]:
    return [r.name for r in report.failures]


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "callback.toml"
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------ all good


async def test_a_bare_simulator_passes_with_the_demo_defaults(sim: SimulatorServer) -> None:
    report = await check(sim)
    assert [r.name for r in report.results] == ALL_ITEMS
    assert failing(report) == []
    assert report.exit_code == 0
    assert report.get("asterisk-version").message == "Asterisk 22.10.1"
    assert report.get("application").status == "ok"
    assert "result: ready" in report.render()


# ------------------------------------------------------------------------- each item breaks alone


async def test_an_unknown_environment_key_is_named(sim: SimulatorServer) -> None:
    report = await check(sim, ari_pasword="typo")
    assert failing(report) == ["config"]
    assert "unknown key 'pasword' in [ari] (from CALLBACK_ARI_PASWORD)" in report.get("config").message
    assert report.exit_code == 1


async def test_a_bad_value_in_the_file_is_named(sim: SimulatorServer, tmp_path: Path) -> None:
    report = await check(sim, _config(tmp_path, '[calls]\namd = "sometimes"\n'))
    assert failing(report) == ["config"]
    assert "[calls] amd: must be" in report.get("config").message


async def test_keys_that_cannot_work_together_are_named(sim: SimulatorServer) -> None:
    report = await check(sim, sms_gateway="kannel")
    assert failing(report) == ["config", "sms-gateway"]
    assert "sms.url" in report.get("config").message


async def test_a_wrong_ari_password_fails_ari_and_is_never_printed(sim: SimulatorServer) -> None:
    report = await check(sim, ari_password="not-the-password-4711")
    assert failing(report) == ["ari"]
    assert "401" in report.get("ari").message and "ari.conf" in report.get("ari").fix
    assert report.get("modules").status == "skip"
    assert "not-the-password-4711" not in report.render()
    assert "not-the-password-4711" not in json.dumps(report.to_json())


async def test_no_asterisk_at_the_url(sim: SimulatorServer) -> None:
    report = await check(sim, ari_url=f"http://127.0.0.1:{_closed_port()}")
    assert failing(report) == ["ari"]
    assert "http.conf" in report.get("ari").fix


async def test_an_asterisk_older_than_20_warns(sim: SimulatorServer) -> None:
    await _set_scenario(sim, asterisk_version="18.20.0")
    report = await check(sim)
    assert report.get("asterisk-version").status == "warn"
    assert "older than 20" in report.get("asterisk-version").message
    assert report.exit_code == 0


async def test_a_missing_module_is_named_with_how_to_load_it(sim: SimulatorServer) -> None:
    await _set_scenario(sim, missing_modules=["app_amd"])
    report = await check(sim)
    assert failing(report) == ["modules"]
    assert report.get("modules").message == "not loaded: app_amd"
    assert "module load" in report.get("modules").fix


async def test_amd_modules_are_not_required_when_amd_is_off(sim: SimulatorServer) -> None:
    await _set_scenario(sim, missing_modules=["app_amd", "func_talkdetect"])
    assert failing(await check(sim, calls_amd="never")) == []


async def test_an_admin_endpoint_that_does_not_exist(sim: SimulatorServer, tmp_path: Path) -> None:
    config = _config(tmp_path, '[[admins]]\nname = "Ann"\nendpoint = "PJSIP/ann"\n')
    report = await check(sim, config)
    assert failing(report) == ["admin-endpoints"]
    assert "Ann (PJSIP/ann)" in report.get("admin-endpoints").message
    assert "pjsip.conf" in report.get("admin-endpoints").fix


async def test_an_admin_whose_phone_is_not_registered(sim: SimulatorServer, tmp_path: Path) -> None:
    await _set_scenario(sim, callee=[{"match": "PJSIP/ann", "behaviour": "offline"}])
    two = _config(
        tmp_path,
        '[[admins]]\nname = "Ann"\nendpoint = "PJSIP/ann"\n'
        '[[admins]]\nname = "Bob"\nendpoint = "PJSIP/admin"\n',
    )
    report = await check(sim, two)
    assert report.get("admin-endpoints").status == "warn"  # Bob can still take calls
    assert failing(report) == []
    alone = _config(tmp_path, '[[admins]]\nname = "Ann"\nendpoint = "PJSIP/ann"\n')
    report = await check(sim, alone)
    assert failing(report) == ["admin-endpoints"]
    assert "no phone registered for: Ann (PJSIP/ann)" in report.get("admin-endpoints").message


async def test_a_trunk_that_does_not_exist(sim: SimulatorServer) -> None:
    report = await check(sim, ari_trunk_template="PJSIP/{number}@carrier")
    assert failing(report) == ["trunk"]
    assert "'carrier' does not exist" in report.get("trunk").message


async def test_a_trunk_not_qualified_yet_after_a_start_is_not_called_offline(sim: SimulatorServer) -> None:
    # Right after Asterisk (re)loads, the trunk shows offline until its first qualify answer (60 s).
    await _set_scenario(sim, callee=[{"match": "PJSIP/trunk", "behaviour": "offline"}])
    report = await check(sim)
    trunk = report.get("trunk")
    assert trunk.status == "warn"
    assert "'trunk' is not qualified yet (pjsip qualify trunk)" in trunk.message
    assert "offline" not in trunk.message


async def test_a_trunk_still_offline_after_the_first_qualify_round_is_offline() -> None:
    async with SimulatorServer(port=0, speed=2000) as fast:
        await _set_scenario(fast, callee=[{"match": "PJSIP/trunk", "behaviour": "offline"}])
        await asyncio.sleep(0.2)  # 400 s on the simulator's clock since it started
        report = await check(fast)
    trunk = report.get("trunk")
    assert trunk.status == "warn"
    assert "endpoint 'trunk' is offline" in trunk.message
    assert "pjsip show registrations" in trunk.fix


@pytest.mark.parametrize(
    ("state", "since_reload", "expected"),
    [
        ("online", None, "is online"),
        ("online", 5.0, "is online"),
        ("unknown", None, "not qualified yet (pjsip qualify trunk)"),
        ("unknown", 3600.0, "not qualified yet (pjsip qualify trunk)"),
        ("offline", 0.0, "not qualified yet (pjsip qualify trunk)"),
        ("offline", 59.0, "not qualified yet (pjsip qualify trunk)"),
        ("offline", QUALIFY_GRACE_SECONDS, "is offline"),
        ("offline", 3600.0, "is offline"),
        ("offline", None, "is offline"),  # Asterisk did not say when it reloaded: no excuse made up
        ("offline", -5.0, "is offline"),  # clocks that disagree prove nothing
    ],
)
def test_what_the_trunk_state_means(state: str, since_reload: float | None, expected: str) -> None:
    result = trunk_result("PJSIP/{number}@trunk", "trunk", state, since_reload)
    assert expected in result.message
    assert result.status == ("ok" if state == "online" else "warn")


async def test_the_application_cannot_register_without_the_events_socket(sim: SimulatorServer) -> None:
    await _set_scenario(sim, missing_modules=["res_ari_events"])
    report = await check(sim)
    assert report.get("application").status == "fail"
    assert "res_ari_events.so" in report.get("application").fix
    assert failing(report) == ["modules", "application"]  # the cause, and what it breaks


async def test_a_running_worker_keeps_its_application(sim: SimulatorServer) -> None:
    seen: list[Event] = []
    worker = EventConnection(sim.base_url, "callback", "callback", "callback-app", on_event=seen.append)
    async with worker:
        await worker.wait_connected(5.0)
        report = await check(sim)
        assert report.get("application").status == "ok"
        assert "a worker is connected" in report.get("application").message
        assert worker.connected and worker.state == "connected"
    assert [type(e).__name__ for e in seen] == []  # no ApplicationReplaced


async def test_a_prompt_missing_from_asterisk(sim: SimulatorServer) -> None:
    await _set_scenario(sim, missing_sounds=["callback/voicemail-drop"])
    report = await check(sim)
    assert failing(report) == ["sounds"]
    assert report.get("sounds").message == "Asterisk has no sound:callback/voicemail-drop"
    assert "callback sounds install" in report.get("sounds").fix


async def test_an_unreachable_sms_gateway_does_not_block_calls(sim: SimulatorServer) -> None:
    report = await check(
        sim,
        sms_gateway="kannel",
        sms_url=f"http://127.0.0.1:{_closed_port()}/cgi-bin/sendsms",
        sms_user="callback",
        sms_password="kannel-secret-0815",
        sms_sender="+12125550100",
    )
    assert failing(report) == ["sms-gateway"]
    assert not report.blocks_calls and report.exit_code == 3
    assert "kannel-secret-0815" not in report.render()


async def test_an_unreachable_database_names_no_password(sim: SimulatorServer) -> None:
    url = f"postgresql+asyncpg://callback:db-secret-1234@127.0.0.1:{_closed_port()}/callback"
    report = await check(sim, database_url=url)
    assert failing(report) == ["database"]
    assert "cannot connect" in report.get("database").message
    assert "db-secret-1234" not in report.render()


# --------------------------------------------------------------------------------- the command


async def test_the_command_prints_json_and_exits_with_the_report_status(sim: SimulatorServer) -> None:
    await _set_scenario(sim, missing_modules=["bridge_softmix"])
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ari_app.cli",
        "check",
        "--json",
        "--timeout",
        "3",
        env={"CALLBACK_ARI_URL": sim.base_url, "PATH": "/usr/bin:/bin"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1, err.decode()
    body = json.loads(out)
    assert body["exit_code"] == 1
    modules = next(r for r in body["results"] if r["name"] == "modules")
    assert modules["status"] == "fail" and "bridge_softmix" in modules["message"]


@pytest.mark.parametrize(
    ("dial_string", "endpoint"),
    [
        ("PJSIP/admin", ("PJSIP", "admin")),
        ("pjsip/201", ("PJSIP", "201")),
        ("PJSIP/{number}@trunk", ("PJSIP", "trunk")),
        ("PJSIP/trunk/sip:{number}@carrier.example", ("PJSIP", "trunk")),
        ("Local/{number}@from-internal", None),
        ("SIP/admin", None),
    ],
)
def test_which_endpoint_a_dial_string_uses(dial_string: str, endpoint: tuple[str, str] | None) -> None:
    assert endpoint_resource(dial_string) == endpoint


# ------------------------------------------------------------------------------------ shared PBX


async def test_another_installation_using_our_id_on_the_pbx_is_a_warning(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'cb.db'}"
    await upgrade(db)
    # A copy of this installation (same id, its own database) has a call live on the PBX: attempt 5.
    async with AriClient(sim.base_url, "callback", "callback") as ari:
        await ari.originate("PJSIP/admin", channel_id="cb-same-5-admin-1", app="copy-app", timeout=30)

    report = await check(sim, database_url=db, ari_installation_id="same")
    shared = report.get("shared-pbx")
    assert shared.status == "warn", shared
    assert "(5)" in shared.message and "installation_id" in shared.fix

    other = (await check(sim, database_url=db, ari_installation_id="mine")).get("shared-pbx")
    assert other.status == "ok", other
    assert "ids of our shape: 1" in other.message
