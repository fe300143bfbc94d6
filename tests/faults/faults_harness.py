"""Real processes for fault tests: the ARI simulator and callback workers as subprocesses, on a PostgreSQL
database of the test's own. Every wait is bounded; every process is killed when the test ends.

Workers run ``python -m ari_app.cli worker --config F`` on the real clock; the simulator runs callee timings
``SPEED`` times faster. Requests are written the way intake writes them (``Lifecycle.intake.submit``).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ari_app.audio.manifest import SHIPPED_SOUNDS
from ari_app.calls.ids import CallIds, parse_leg_id
from ari_app.clock import RealClock
from ari_app.http.basic_auth import basic_auth
from ari_app.lifecycle import IntakeData, Lifecycle
from ari_app.settings import Settings, load_settings
from ari_app.store.models import Attempt, CallbackRequest, ContactTag, SmsOutbox

REPO = Path(__file__).resolve().parents[2]
SPEED = 4.0
CLOSED = ("completed", "incomplete", "cancelled")
FINAL_ATTEMPT = ("done", "cancelled")
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# The workers' installation id (config), so tests know the channel ids they will ask for.
INSTALLATION = "faults"


def leg_id(attempt: int, role: str) -> str:
    return CallIds(INSTALLATION, attempt).leg(role)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def write_toml(path: Path, data: dict[str, Any]) -> Path:
    lines: list[str] = []
    for section, values in data.items():
        if isinstance(values, list):
            for item in values:
                lines.append(f"[[{section}]]")
                lines += [f"{k} = {toml_value(v)}" for k, v in item.items()]
        else:
            lines.append(f"[{section}]")
            lines += [f"{k} = {toml_value(v)}" for k, v in values.items()]
        lines.append("")
    path.write_text("\n".join(lines))
    return path


async def wait_for(
    probe: Callable[[], Awaitable[T | None]], what: str, within: float = 30.0, every: float = 0.05
) -> T:
    """Poll ``probe`` (wall time, bounded) until it returns something truthy."""
    deadline = time.monotonic() + within
    while True:
        got = await probe()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(every)


@dataclass
class Proc:
    name: str
    args: list[str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        out = self.log.open("ab")
        self.popen = subprocess.Popen(
            self.args,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        out.close()

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill9(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(timeout=10)

    def term(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)

    async def wait_exit(self, within: float) -> int:
        assert self.popen is not None
        popen = self.popen
        await wait_for(lambda: _done(popen), f"{self.name} to exit", within=within, every=0.1)
        return int(popen.returncode)

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


async def _done(popen: subprocess.Popen[bytes]) -> bool:
    return popen.poll() is not None


@dataclass
class FaultStack:
    tmp: Path
    db_url: str
    sessions: async_sessionmaker[AsyncSession]
    http: aiohttp.ClientSession
    sim_port: int = field(default_factory=free_port)
    procs: list[Proc] = field(default_factory=list)
    sim: Proc | None = None
    scenario: dict[str, Any] = field(default_factory=dict)
    calls: dict[str, Any] = field(default_factory=dict)
    sms: dict[str, Any] = field(default_factory=dict)
    admins: list[dict[str, Any]] = field(default_factory=list)
    ari_url: str | None = None  # where workers reach the PBX (a proxy the test can cut); else the simulator
    dials_seen: list[dict[str, Any]] = field(default_factory=list)

    @property
    def sim_url(self) -> str:
        return f"http://127.0.0.1:{self.sim_port}"

    @property
    def auth(self) -> dict[str, str]:
        return basic_auth("callback", "callback")

    def settings_data(self, app: str) -> dict[str, Any]:
        data: dict[str, Any] = {
            "ari": {
                "url": self.ari_url or self.sim_url,
                "app": app,
                "timeout": 5.0,
                "installation_id": INSTALLATION,
            },
            "database": {"url": self.db_url},
            "calendar": {"first_call_delay": 0.0},
            "quiethours": {"start": "00:00", "end": "00:00"},  # the real clock: any hour will do
            "calls": {
                "max_attempts": 2,
                "retry_delay": 1.0,
                "admin_retry_delay": 1.0,
                "system_retry_delay": 1.0,
                "min_talk_seconds": 2.0,
                "calls_per_second": 0.0,
                **self.calls,
            },
            "sounds": {"dir": str(SHIPPED_SOUNDS)},
        }
        if self.sms:
            data["sms"] = self.sms
        if self.admins:
            data["admins"] = self.admins
        return data

    def settings(self) -> Settings:
        return load_settings(None, environ={}, overrides=self.settings_data("test"))

    # -- processes --------------------------------------------------------------------------------

    async def start_simulator(self) -> Proc:
        scenario = write_toml(self.tmp / "scenario.toml", self.scenario)
        proc = Proc(
            "simulator",
            [
                sys.executable,
                "-m",
                "ari_app.simulator",
                "--port",
                str(self.sim_port),
                "--scenario",
                str(scenario),
                "--speed",
                str(SPEED),
                "--sounds-dir",
                str(SHIPPED_SOUNDS),
            ],
            self.tmp / "simulator.log",
        )
        proc.start()
        self.procs.append(proc)
        self.sim = proc

        async def up() -> bool:
            try:
                async with self.http.get(f"{self.sim_url}/ari/asterisk/info", headers=self.auth) as resp:
                    return resp.status == 200
            except aiohttp.ClientError:
                return False

        await wait_for(up, "the simulator to listen", within=20.0)
        return proc

    async def restart_simulator(self) -> None:
        """The PBX restarts: its channels are gone; keep its record of dials first."""
        self.dials_seen += await self.sim_get("dials")
        assert self.sim is not None
        self.sim.kill9()
        await self.start_simulator()

    async def start_worker(self, app: str) -> Proc:
        config = write_toml(self.tmp / f"worker-{app}.toml", self.settings_data(app))
        proc = Proc(
            f"worker {app}",
            [sys.executable, "-m", "ari_app.cli", "worker", "--config", str(config)],
            self.tmp / f"worker-{app}.log",
        )
        proc.start()
        self.procs.append(proc)

        async def connected() -> bool:
            assert proc.alive, f"worker {app} died:\n{proc.tail()}"
            async with self.http.get(f"{self.sim_url}/ari/applications", headers=self.auth) as resp:
                apps = await resp.json()
            return any(a.get("name") == app for a in apps)

        await wait_for(connected, f"worker {app} to connect", within=30.0)
        return proc

    def kill_all(self) -> None:
        for proc in self.procs:
            proc.kill9()

    # -- the simulator's view ---------------------------------------------------------------------

    async def sim_get(self, path: str) -> Any:
        async with self.http.get(f"{self.sim_url}/_simulator/{path}", headers=self.auth) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()

    async def application(self, name: str) -> dict[str, Any] | None:
        """The PBX's view of a Stasis application (GET /ari/applications/{name}); None: not registered."""
        async with self.http.get(f"{self.sim_url}/ari/applications/{name}", headers=self.auth) as resp:
            return await resp.json() if resp.status == 200 else None

    async def channel(self, channel_id: str) -> dict[str, Any] | None:
        channels = await self.sim_get("channels")
        return next((c for c in channels if c.get("id") == channel_id), None)

    async def wait_bridged(self, attempt: int, within: float = 30.0) -> None:
        """Until the attempt's lead leg sits in a bridge with the admin (the simulator's view)."""

        async def bridged() -> bool:
            lead = await self.channel(leg_id(attempt, "lead"))
            return lead is not None and lead.get("bridge_id") is not None

        await wait_for(bridged, "admin and lead to be bridged", within=within)

    async def lead_dials(self) -> dict[int, int]:
        """Lead dials per attempt id, from the simulator's record (the lead legs' channel ids)."""
        dials = self.dials_seen + await self.sim_get("dials")
        counts: dict[int, int] = {}
        for d in dials:
            leg = parse_leg_id(str(d.get("channel_id", "")))
            if leg is not None and leg.role == "lead" and d.get("allocated", True):
                counts[leg.attempt_id] = counts.get(leg.attempt_id, 0) + 1
        return counts

    # -- requests and the database ----------------------------------------------------------------

    async def submit(self, phone: str) -> int:
        lifecycle = Lifecycle(self.settings(), RealClock())
        async with self.sessions.begin() as session:
            result = await lifecycle.intake.submit(
                session, IntakeData("Ada", "Lovelace", phone, "call me", "I agree", "api")
            )
        return int(result.body["id"])

    async def first_attempt(self, request_id: int) -> int:
        async def probe() -> int | None:
            async with self.sessions() as session:
                return await session.scalar(
                    select(Attempt.id).where(Attempt.request_id == request_id).order_by(Attempt.number)
                )

        return await wait_for(probe, f"an attempt for request {request_id}")

    async def age_leases(self, owner: str) -> None:
        """The dead worker's leases run out (instead of waiting the lease length in wall time)."""
        async with self.sessions.begin() as session:
            await session.execute(
                update(Attempt)
                .where(Attempt.lease_owner == owner)
                .values(lease_until=RealClock().now().replace(year=2000))
            )

    async def age_sms(self) -> None:
        """Queued messages are due now (instead of waiting out the sender's backoff in wall time)."""
        async with self.sessions.begin() as session:
            await session.execute(
                update(SmsOutbox)
                .where(SmsOutbox.status == "queued")
                .values(next_try_at=RealClock().now().replace(year=2000))
            )

    async def sms_rows(self, request_id: int) -> list[SmsOutbox]:
        async with self.sessions() as session:
            rows = await session.scalars(
                select(SmsOutbox).where(SmsOutbox.request_id == request_id).order_by(SmsOutbox.id)
            )
            return list(rows)

    async def wait_closed(self, request_id: int, within: float = 60.0) -> str:
        async def probe() -> str | None:
            async with self.sessions() as session:
                request = await session.get(CallbackRequest, request_id)
                assert request is not None
                open_attempt = await session.scalar(
                    select(Attempt.id).where(
                        Attempt.request_id == request_id, Attempt.status.not_in(FINAL_ATTEMPT)
                    )
                )
                open_sms = await session.scalar(
                    select(SmsOutbox.id).where(
                        SmsOutbox.request_id == request_id, SmsOutbox.status.in_(("queued", "sending"))
                    )
                )
            if request.status in CLOSED and open_attempt is None and open_sms is None:
                return request.status
            return None

        return await wait_for(probe, f"request {request_id} to close", within=within, every=0.2)

    async def attempts(self, request_id: int) -> list[Attempt]:
        async with self.sessions() as session:
            return list(
                await session.scalars(
                    select(Attempt).where(Attempt.request_id == request_id).order_by(Attempt.number)
                )
            )

    async def tags(self, request_id: int) -> list[str]:
        async with self.sessions() as session:
            request = await session.get(CallbackRequest, request_id)
            assert request is not None
            return sorted(
                await session.scalars(
                    select(ContactTag.tag).where(ContactTag.contact_id == request.contact_id)
                )
            )

    async def sms_kinds(self, request_id: int) -> list[str]:
        async with self.sessions() as session:
            rows = await session.scalars(
                select(SmsOutbox.kind).where(SmsOutbox.request_id == request_id).order_by(SmsOutbox.id)
            )
            return list(rows)

    async def assert_consistent(self, request_id: int) -> None:
        """The invariants after any fault: nothing lost, one lead dial per attempt at most, every attempt
        final, an attempt that counted as the lead's was dialled exactly once, one status tag."""
        attempts = await self.attempts(request_id)
        dials = await self.lead_dials()
        assert attempts, "the request lost its attempts"
        for a in attempts:
            assert a.status in FINAL_ATTEMPT, (a.id, a.status)
            assert dials.get(a.id, 0) <= 1, f"attempt {a.id} dialled the lead {dials[a.id]} times"
            if a.status == "done" and a.outcome not in ("system_error", "admin_unavailable"):
                assert dials.get(a.id, 0) == 1, (a.id, a.outcome, dials)
        status_tags = [t for t in await self.tags(request_id) if t.startswith("Request to Callback")]
        assert len(status_tags) == 1, status_tags
