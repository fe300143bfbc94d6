"""``callback check --templates``: the rule for names in texts, then every SMS kind rendered with sample
values (and with a name that fails the rule), its encoding and segment count; UCS-2, several segments or a
text that reads oddly without its name warn (the texts still go out); a template that texts the reason
fails."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ari_app.ops.check import CheckReport, check_templates, run_checks
from ari_app.settings import load_settings
from ari_app.simulator.server import SimulatorServer

KINDS = [
    "missed_call",
    "final_miss",
    "confirmation",
    "opt_out_confirmation",
    "help",
    "preferred_time_moved",
    "reschedule_confirmation",
    "cancel_confirmation",
    "reply_help",
]
TEMPLATE_ITEMS = [f"sms-template:{kind}" for kind in KINDS]


@pytest.fixture(autouse=True)
def _empty_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The demo defaults point at ./callback.db and ./sounds: keep them in an empty directory.
    monkeypatch.chdir(tmp_path)


@pytest.fixture
async def sim() -> AsyncIterator[SimulatorServer]:
    async with SimulatorServer(port=0, speed=10) as server:
        yield server


async def check(sim: SimulatorServer, *, templates: bool = True, **env: str) -> CheckReport:
    environ = {"CALLBACK_ARI_URL": sim.base_url, **{f"CALLBACK_{k.upper()}": v for k, v in env.items()}}
    return await run_checks(None, environ, limit=3.0, templates=templates)


def templates_of(report: CheckReport) -> dict[str, tuple[str, str]]:
    return {r.name: (r.status, r.message) for r in report.results if r.name.startswith("sms-template:")}


async def test_the_default_templates_are_one_gsm7_segment_each(sim: SimulatorServer) -> None:
    report = await check(sim)

    assert [r.name for r in report.results][-len(KINDS) :] == TEMPLATE_ITEMS
    found = templates_of(report)
    assert {status for status, _ in found.values()} == {"ok"}
    assert all(message.startswith("GSM-7, 1 segment, ") for _, message in found.values())
    missed = found["sms-template:missed_call"][1]
    assert "Sorry we missed you, Ada. Example Co will call again tomorrow at 9:00 AM." in missed
    # The same text when the name typed on the form is a link: no name, nothing left dangling.
    assert 'with the name "Visit bit.ly/win": "Sorry we missed you. Example Co will call' in missed
    assert (
        'with the name "Visit bit.ly/win": "Thanks, it was good to talk to you. - Example Co"'
        in (found["sms-template:confirmation"][1])
    )
    assert "Visit" not in found["sms-template:help"][1]  # a text without a name is shown once
    assert "we will call you tomorrow at 9:00 AM (EST)." in found["sms-template:reschedule_confirmation"][1]
    assert report.exit_code == 0
    assert "result: ready" in report.render()


async def test_templates_are_only_shown_when_asked(sim: SimulatorServer) -> None:
    assert templates_of(await check(sim, templates=False)) == {}


async def test_a_character_outside_gsm7_makes_every_text_ucs2_and_warns(sim: SimulatorServer) -> None:
    report = await check(sim, business_name="Jo’s Roofing")  # a curly apostrophe

    found = templates_of(report)
    assert {status for status, _ in found.values()} == {"warn"}
    assert all(message.startswith("UCS-2, ") for _, message in found.values())
    warning = report.get("sms-template:missed_call")
    assert "Jo’s Roofing will call again" in warning.message
    assert "outside GSM-7" in warning.fix and "’" in warning.fix
    assert report.failures == [] and report.exit_code == 0
    assert report.render().splitlines()[-1].startswith("result: ready (")  # warnings, no failure


async def test_a_long_business_name_costs_several_segments_and_warns(sim: SimulatorServer) -> None:
    name = "Springfield Roofing, Gutters, Siding and Window Replacement Specialists of the Tri-County Area"
    report = await check(sim, business_name=name)

    status, message = templates_of(report)["sms-template:missed_call"]
    assert (status, message.split(":")[0]) == ("warn", "GSM-7, 2 segments, 180 chars")
    assert "2 segments are billed as 2 SMS" in report.get("sms-template:missed_call").fix
    # The short confirmation still fits one SMS with the same name.
    assert templates_of(report)["sms-template:confirmation"][0] == "ok"
    assert report.exit_code == 0


async def test_the_command_prints_each_sample_with_its_encoding(sim: SimulatorServer) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ari_app.cli",
        "check",
        "--templates",
        "--json",
        "--timeout",
        "3",
        env={
            "CALLBACK_ARI_URL": sim.base_url,
            "CALLBACK_BUSINESS_NAME": "Café Ωmega",
            "PATH": "/usr/bin:/bin",
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    body = json.loads(out)
    help_text = next(r for r in body["results"] if r["name"] == "sms-template:help")
    # é and Ω are in the GSM-7 alphabet: still one plain SMS.
    assert help_text["status"] == "ok"
    assert help_text["message"].startswith("GSM-7, 1 segment, ")
    assert '"Café Ωmega: texts about your callback request.' in help_text["message"]


async def test_the_rule_for_names_is_shown_before_the_texts(sim: SimulatorServer) -> None:
    report = await check(sim)

    names = [r.name for r in report.results]
    assert names.index("sms-names") == len(names) - len(KINDS) - 1
    rule = report.get("sms-names")
    assert rule.status == "ok"
    for words in ("letters of any script", "at most 30 characters", "no digits, links", "never texted"):
        assert words in rule.message
    assert "sms-names" in report.render()


def test_a_template_that_reads_oddly_without_a_name_warns() -> None:
    settings = load_settings(None, environ={})
    results = check_templates(settings, {"confirmation": "Hi {{ first_name }}, thanks!"})

    confirmation = next(r for r in results if r.name == "sms-template:confirmation")
    assert confirmation.status == "warn"
    assert '"Hi , thanks!"' in confirmation.message
    assert "{% if first_name %}" in confirmation.fix
    guarded_source = "Hi{% if first_name %} {{ first_name }}{% endif %}!"
    guarded = check_templates(settings, {"confirmation": guarded_source})
    assert next(r for r in guarded if r.name == "sms-template:confirmation").status == "ok"


def test_a_template_that_texts_the_reason_fails() -> None:
    settings = load_settings(None, environ={})
    results = check_templates(settings, {"help": "About {{ reason }}: call us."})

    help_text = next(r for r in results if r.name == "sms-template:help")
    assert help_text.status == "fail" and not help_text.blocks_calls
    assert "uses reason" in help_text.message and "never texted" in help_text.message
