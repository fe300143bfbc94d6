"""``callback demo``: the simulator as the PBX, SQLite, console SMS and the web form, on a virtual clock.

``--once`` plays the standard stories (``stories.toml``) one after another and checks each ending by reading
the database and the simulator's own record, then exits 0 only if every story ended as expected.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sys
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..app import Runtime
from ..audio.manifest import effective_sounds_dir, sound_durations
from ..calls.ids import parse_leg_id
from ..clock import Clock, VirtualClock
from ..domain.statuses import (
    CLOSED_REQUEST_STATUSES,
    SENT_SMS_STATUSES,
    UNFINISHED_ATTEMPT_STATUSES,
    UNSENT_SMS_STATUSES,
)
from ..http.basic_auth import basic_auth
from ..settings import Settings, _merge, load_settings
from ..simulator.scenario import Scenario
from ..simulator.server import SimulatorServer
from ..store.models import (
    AdminSession,
    Attempt,
    CallbackRequest,
    Contact,
    ContactTag,
    Note,
    SmsOutbox,
    User,
)
from ..web.dashboard_auth import hash_password

log = logging.getLogger("callback.demo")


def _demo_settings(
    config: str | None,
    *,
    ari_url: str,
    port: int,
    db: str | None,
    ari_log: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Settings:
    overrides: dict[str, Any] = {"ari": {"url": ari_url}, "web": {"port": port}}
    if ari_log:
        overrides["ari"]["log_file"] = ari_log
    if db:
        overrides["database"] = {"url": f"sqlite+aiosqlite:///{db}"}
    if extra:
        overrides = _merge(extra, overrides)
    return load_settings(config, overrides=overrides)


async def run_demo(
    *,
    config: str | None,
    speed: float | None,
    scenario: str | None,
    port: int,
    db: str | None,
    ari_log: str | None = None,
) -> int:
    speed = speed or 1.0
    sim_scenario = Scenario.from_toml(scenario) if scenario else None
    api_token = secrets.token_urlsafe(24)  # valid while this demo runs: it lives in its settings only
    async with SimulatorServer(
        port=0, scenario=sim_scenario, speed=speed, sounds_durations=_durations(config)
    ) as sim:
        settings = _demo_settings(
            config,
            ari_url=sim.base_url,
            port=port,
            db=db,
            ari_log=ari_log,
            extra={"api": {"token": api_token}},
        )
        clock = VirtualClock(speed=speed)
        async with Runtime(settings, clock) as runtime:
            assert runtime.services is not None and runtime.web_url is not None
            password = await demo_login(runtime.services.sessions, DEMO_USER, clock)
            print(banner(runtime.web_url, DEMO_USER, password, api_token), flush=True)
            where = f"clock x{speed:g}, database {settings.database.url}"
            print(f"  simulated PBX (ARI) at {sim.base_url}, {where}", flush=True)
            print("  The log below says each step of each call. Ctrl-C to stop.", flush=True)
            await runtime.wait_stopped()
    return 0


DEMO_USER = "demo"


def banner(web_url: str, user: str, password: str, api_token: str) -> str:
    """What the demo prints first: where the form, the dashboard and the API are, and how to get in."""
    api = f"{web_url}/api/v1"
    return "\n".join(
        [
            "callback demo is running:",
            f"  form       {web_url}/   (request a callback for any US number)",
            f"  dashboard  {web_url}/admin/   user {user}, password {password}   (made for this run)",
            f"  API        {api}/   bearer token {api_token}   (this run only)",
            f"    try:     curl -H 'Authorization: Bearer {api_token}' {api}/callback-requests",
            f"  OpenAPI    {api}/openapi.json   (same token)",
            f'  embed      <script src="{web_url}/embed.js" async></script>   (the form on any page)',
        ]
    )


async def demo_login(sessions: async_sessionmaker[AsyncSession], username: str, clock: Clock) -> str:
    """A dashboard login for this run: the user is created, or gets a fresh random password and loses
    the sessions of earlier runs. Returns the password, which only the terminal sees."""
    password = secrets.token_urlsafe(12)
    password_hash = await asyncio.to_thread(hash_password, password)
    async with sessions.begin() as session:
        user = await session.scalar(select(User).where(User.username == username))
        if user is None:
            session.add(User(username=username, password_hash=password_hash, created_at=clock.now()))
        else:
            user.password_hash = password_hash
            await session.execute(delete(AdminSession).where(AdminSession.user_id == user.id))
    return password


def _durations(config: str | None) -> dict[str, float]:
    """The simulated PBX plays our prompts for as long as the real files last."""
    settings = load_settings(config)
    return sound_durations(effective_sounds_dir(settings.sounds.dir), settings.calls.sounds_prefix)


# -- the standard stories ---------------------------------------------------------------------------------


@dataclass
class StoryResult:
    name: str
    problems: list[str] = field(default_factory=list)
    summary: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


def load_stories() -> dict[str, Any]:
    text = resources.files("ari_app.demo").joinpath("stories.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def _scenario_for(story: dict[str, Any]) -> dict[str, Any]:
    callees = [{"match": story["phone"], **story.get("callee", {})}]
    if "admin" in story:
        callees.append({"match": "PJSIP/admin", **story["admin"]})
    return {"callee": callees}


async def run_stories(
    *, config: str | None, speed: float | None, db: str | None, ari_log: str | None = None
) -> int:
    data = load_stories()
    speed = speed or float(data.get("speed", 60))
    start = datetime.fromisoformat(data["start"])
    token = secrets.token_urlsafe(24)
    inbound_secret = secrets.token_hex(16)
    db_path = Path(db or "callback-demo-once.db")
    await asyncio.to_thread(_remove_database, db_path)  # the stories start from an empty database
    extra = _merge(
        data.get("settings", {}),
        {"api": {"token": token}, "sms": {"inbound_secret": inbound_secret, "gateway": "console"}},
    )
    results: list[StoryResult] = []
    async with SimulatorServer(port=0, speed=speed, sounds_durations=_durations(config)) as sim:
        settings = _demo_settings(
            config, ari_url=sim.base_url, port=0, db=str(db_path), ari_log=ari_log, extra=extra
        )
        settings.web.port = _free_port()
        clock = VirtualClock(start=start, speed=speed)
        auth = basic_auth(settings.ari.user, settings.ari.password.get_secret_value())
        async with (
            Runtime(settings, clock) as runtime,
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http,
        ):
            assert runtime.services is not None and runtime.web_url is not None
            if runtime.events is not None:
                await runtime.events.wait_connected(15.0)
            for story in data["story"]:
                result = await _play(story, runtime, http, sim.base_url, auth, token, inbound_secret)
                results.append(result)
                mark = "ok  " if result.ok else "FAIL"
                print(f"[{mark}] {result.name}: {result.summary}", flush=True)
                for problem in result.problems:
                    print(f"       - {problem}", flush=True)
    passed = sum(r.ok for r in results)
    print(f"{passed} passed, {len(results) - passed} failed", flush=True)
    return 0 if passed == len(results) else 1


def _remove_database(db_path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _play(
    story: dict[str, Any],
    runtime: Runtime,
    http: aiohttp.ClientSession,
    sim_url: str,
    auth: dict[str, str],
    token: str,
    inbound_secret: str,
) -> StoryResult:
    result = StoryResult(story["name"])
    async with http.put(f"{sim_url}/_simulator/scenario", json=_scenario_for(story), headers=auth) as resp:
        if resp.status != 200:
            result.problems.append(f"simulator refused the scenario: {resp.status} {await resp.text()}")
            return result
    body = {
        "first_name": story["first_name"],
        "last_name": story["last_name"],
        "phone": story["phone"],
        "reason": story["reason"],
        "consent": True,
    }
    headers = {"Authorization": f"Bearer {token}"}
    async with http.post(f"{runtime.web_url}/api/v1/callback-requests", json=body, headers=headers) as resp:
        answer = await resp.json()
        if resp.status != 201:
            result.problems.append(f"intake answered {resp.status}: {answer}")
            return result
    request_id = int(answer["id"])
    services = runtime.services
    assert services is not None
    if "reply" in story and not await _calls_ended(
        services.sessions, request_id, story.get("reply_after_calls", 0)
    ):
        result.problems.append("the call(s) before the reply did not end in time")
        return result
    replied_at = None
    if "call_in" in story:  # the lead calls the business back (docs/simulator.md, calls to the PBX)
        call = {"caller": story["phone"], "app": runtime.settings.ari.app, **story["call_in"]}
        async with http.post(f"{sim_url}/_simulator/inbound", json=call, headers=auth) as resp:
            if resp.status != 201:
                refused = f"{resp.status} {await resp.text()}"
                result.problems.append(f"the simulator refused the call in: {refused}")
    if "reply" in story:
        replied_at = runtime.clock.now()
        url = (
            f"{runtime.web_url}/hooks/kannel/inbound?secret={inbound_secret}"
            f"&from={quote(story['phone'])}&to=callback&text={quote(story['reply'])}"
        )
        async with http.get(url) as resp:
            if resp.status != 200:
                result.problems.append(f"inbound SMS hook answered {resp.status}")
    # Wait (wall time, bounded) until the request is closed and its outbox settled.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 180.0
    while True:
        async with services.sessions() as session:
            request = await session.get(CallbackRequest, request_id)
            assert request is not None
            open_attempts = await session.scalar(
                select(Attempt.id).where(
                    Attempt.request_id == request_id, Attempt.status.in_(UNFINISHED_ATTEMPT_STATUSES)
                )
            )
            queued = await session.scalar(
                select(SmsOutbox.id).where(
                    SmsOutbox.contact_id == request.contact_id, SmsOutbox.status.in_(UNSENT_SMS_STATUSES)
                )
            )
        if request.status in CLOSED_REQUEST_STATUSES and open_attempts is None and queued is None:
            break
        if loop.time() > deadline:
            result.problems.append(f"did not finish in time (request status {request.status})")
            break
        await asyncio.sleep(0.2)
    await _check(
        story["expect"], request_id, story, services.sessions, http, sim_url, auth, result, replied_at
    )
    return result


async def _calls_ended(sessions: Any, request_id: int, count: int, within: float = 120.0) -> bool:
    """Wait (wall time, bounded) until ``count`` calls of the request have an outcome: a story's reply comes
    after them, as a text answers the missed-call text."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while count > 0:
        async with sessions() as session:
            ended = list(
                await session.scalars(
                    select(Attempt.id).where(Attempt.request_id == request_id, Attempt.outcome.is_not(None))
                )
            )
        if len(ended) >= count:
            return True
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.2)
    return True


async def _check(
    expect: dict[str, Any],
    request_id: int,
    story: dict[str, Any],
    sessions: Any,
    http: aiohttp.ClientSession,
    sim_url: str,
    auth: dict[str, str],
    result: StoryResult,
    replied_at: datetime | None = None,
) -> None:
    async with sessions() as session:
        request = await session.get(CallbackRequest, request_id)
        contact = await session.get(Contact, request.contact_id)
        tags = sorted(
            await session.scalars(select(ContactTag.tag).where(ContactTag.contact_id == contact.id))
        )
        attempts = list(
            await session.scalars(
                select(Attempt).where(Attempt.request_id == request_id).order_by(Attempt.number)
            )
        )
        outcomes = [a.outcome for a in attempts if a.outcome is not None]
        sms = list(
            await session.scalars(
                select(SmsOutbox).where(SmsOutbox.contact_id == contact.id).order_by(SmsOutbox.id)
            )
        )
        notes = list(await session.scalars(select(Note.text).where(Note.contact_id == contact.id)))
    sent_kinds = [m.kind for m in sms if m.status in SENT_SMS_STATUSES]

    def want(label: str, got: Any, expected: Any) -> None:
        if got != expected:
            result.problems.append(f"{label}: expected {expected!r}, got {got!r}")

    want("outcomes", outcomes, expect["outcomes"])
    want("tags", tags, sorted(expect["tags"]))
    want("stage", contact.pipeline_stage, expect["stage"])
    want("request status", request.status, expect["request_status"])
    want("SMS sent", sent_kinds, expect["sms"])
    for text in expect.get("notes", []):
        if not any(text in n for n in notes):
            result.problems.append(f"no note containing {text!r}")
    if "call_after_reply" in expect and replied_at is not None:
        # The lead asked for a call N minutes after their text: the last call started no earlier.
        asked = replied_at + timedelta(minutes=expect["call_after_reply"])
        started = attempts[-1].started_at if attempts else None
        if started is None or started < asked:
            result.problems.append(f"the last call started at {started}, before the time asked for ({asked})")

    async with http.get(
        f"{sim_url}/_simulator/dials", params={"number": story["phone"]}, headers=auth
    ) as resp:
        dials = await resp.json()
    lead_dials = [d for d in dials if str(d.get("channel_id", "")).startswith("cb-")]
    want("lead dials (simulator)", len(lead_dials), expect["lead_dials"])
    per_attempt: dict[str, int] = {}
    for d in lead_dials:
        per_attempt[d["channel_id"]] = per_attempt.get(d["channel_id"], 0) + 1
    if any(n > 1 for n in per_attempt.values()):
        result.problems.append(f"a lead leg was dialled twice: {per_attempt}")

    if expect.get("voicemail_drop_whole"):
        last = attempts[-1] if attempts else None
        channel = next(
            (
                d["channel_id"]
                for d in lead_dials
                if last is not None and (leg := parse_leg_id(d["channel_id"])) and leg.attempt_id == last.id
            ),
            "",
        )
        async with http.get(f"{sim_url}/_simulator/calls/{channel}", headers=auth) as resp:
            call = await resp.json() if resp.status == 200 else {}
        drops = [p for p in call.get("playbacks", []) if "voicemail-drop" in p.get("media_uri", "")]
        if not drops or not drops[-1].get("finished"):
            result.problems.append(f"the voicemail drop was not played to the end: {drops}")
        elif call.get("beep_end") is not None and drops[-1].get("started") < call["beep_end"]:
            result.problems.append("the voicemail drop started before the beep")
    result.summary = (
        f"{' -> '.join(outcomes) or 'no call'}; tags {tags or 'none'}; stage {contact.pipeline_stage}; "
        f"SMS {', '.join(sent_kinds) or 'none'}; lead dials {len(lead_dials)}"
    )


def main() -> None:  # pragma: no cover - convenience for `python -m ari_app.demo.run`
    sys.exit(asyncio.run(run_stories(config=None, speed=None, db=None)))
