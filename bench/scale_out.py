"""Scale-out on PostgreSQL: 2,000 callback requests through the ARI simulator, 1 worker vs 4, same run.

    python bench/scale_out.py [--requests 1000] [--rate 20] [--workers 4] [--speed 20] [--admins 300]

Processes, all on loopback: the ARI simulator (``python -m ari_app.simulator --speed S``: callee timings
S times faster, so a call lasts about 1.5 s of wall time), and workers (``python -m ari_app.cli worker
--config F``, each with its own Stasis application name), on a PostgreSQL database the bench creates on
127.0.0.1:5432 (user postgres, trust auth) and drops at the end.

Workers run production defaults except: trunk pacing lifted (``calls.max_concurrent`` 10,000,
``calls.calls_per_second`` 0), ``--admins`` admins (each a simulator endpoint that answers and presses 1
after the whisper) so the one-call-per-admin rule is not the bottleneck, an always-open calendar and
quiet hours that allow every hour (the workers use the real clock), ``calendar.first_call_delay`` 0, and
``calls.min_talk_seconds`` 0.5 (the simulator's 20 s talk lasts 1 s of wall time; the worker measures it
in wall time, and a "short call" would only add a retry and an SMS to the same load).

Requests: ``2 × --requests`` are written beforehand with ``Lifecycle.intake.submit`` (what intake writes), due
far in the future. A phase makes its batch arrive open loop at ``--rate`` per second: every 50 ms the
requests whose arrival time has come get ``due_at = now`` and one ``NOTIFY callback_attempts`` naming them,
in one statement (what intake does: the NOTIFY, with the due time and the ids, sent by the transaction that
made them due). Phase 1: one worker; phase 2: ``--workers`` workers, on the next batch. A phase lasts until
its attempts are done and the texts their ends queued are sent (the console gateway, unpaced), so each
phase's CPU and commits hold its own texts. Measured per phase: throughput (attempts finished / seconds from
the first arrival to the last end), lateness (``started_at − due_at``, p50/p99), each worker's CPU (from
/proc; ≥ 90 % of a core means the single worker was saturated) and the simulator's. Double dials from
``/_simulator/dials``: a channel id dialled twice, or two lead legs (``cb-{installation}-{attempt}-lead-…``)
for one attempt. The last line holds the figures as key=value, and ``ceiling_ratio``: the most any number
of workers could finish on this machine with every core busy at phase 1's CPU per attempt (workers,
simulator, PostgreSQL and this process together).

Goals (issue 17; they hold on any number of cores, unlike a throughput ratio on 2 shared cores):
``worker_cpu_ms_per_attempt`` (the one worker's CPU per finished attempt) <= 10; ``cpu_per_attempt_ratio``
(CPU per finished attempt of workers, simulator and PostgreSQL together, ``--workers`` workers over one)
<= 1.15; ``commits_per_attempt_N`` (with ``--workers`` workers) <= 5, the transactions PostgreSQL counted
in the bench database less this process's own (its arrivals, one per 50 ms tick, stand for intake's; it
also listens on the workers' channels and counts the NOTIFYs: PostgreSQL 15 reads each notification in a
transaction of every listening backend, so ``notifies_per_attempt_N`` x N of the workers' commits are those;
``writes_per_attempt_N``: the workers' transactions that wrote, counted by transaction ids);
lateness_p99_ms < 500 with ``--workers`` workers; 0 double dials. The default rate (20/s) is one both
phases keep up with, so the cores' oversubscription is not what is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ari_app.audio.manifest import SHIPPED_SOUNDS  # noqa: E402
from ari_app.calls.ids import parse_leg_id  # noqa: E402
from ari_app.clock import RealClock  # noqa: E402
from ari_app.http.basic_auth import basic_auth  # noqa: E402
from ari_app.lifecycle import IntakeData, Lifecycle  # noqa: E402
from ari_app.settings import load_settings  # noqa: E402
from ari_app.store.engine import make_engine, make_sessionmaker  # noqa: E402
from ari_app.store.migrate import upgrade  # noqa: E402
from ari_app.store.queued import (  # noqa: E402
    CLAIMED_CHANNEL,
    WORKERS_CHANNEL,
    Topic,
    attempts_payload,
    channel,
)

ATTEMPTS_CHANNEL = channel(Topic.ATTEMPTS)

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
AUTH = basic_auth("callback", "callback")
# The next transaction id to be assigned (reading it assigns none).
NEXT_XID = "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint"
# Texts queued or in flight: an attempt's end queues one (the bench's database holds one phase's at a time).
UNSENT_TEXTS = "SELECT count(*) FROM sms_outbox WHERE status IN ('queued', 'sending')"
TICK_S = 0.05  # arrivals are released in 50 ms steps, one NOTIFY per step
BUDGET_S = 255.0  # the whole run; each phase gets its share of what is left and is reported as it stands
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def number(i: int) -> str:
    area = ("212", "646", "917", "718")[i // 10_000]
    return f"+1{area}555{i % 10_000:04d}"


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def postgres_cpu() -> float:
    """CPU seconds of every PostgreSQL process on the machine (the server the workers share), including
    backends that have exited since (the postmaster's reaped children)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if "(postgres)" in text:
            fields = text.rsplit(")", 1)[1].split()
            total += sum(int(f) for f in fields[11:15]) / CLK_TCK
    return total


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise TypeError(value)


def write_toml(
    path: Path, sections: dict[str, dict[str, Any]], tables: dict[str, list[dict[str, Any]]]
) -> Path:
    lines: list[str] = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {toml(v)}" for k, v in values.items()]
    for name, items in tables.items():
        for item in items:
            lines.append(f"[[{name}]]")
            lines += [f"{k} = {toml(v)}" for k, v in item.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def admins(count: int) -> list[dict[str, Any]]:
    return [{"name": f"admin{i:03d}", "endpoint": f"PJSIP/admin{i:03d}"} for i in range(count)]


def worker_sections(db_url: str, sim_url: str, app: str) -> dict[str, dict[str, Any]]:
    return {
        "ari": {"url": sim_url, "app": app},
        "database": {"url": db_url},
        "calendar": {"always_open": True, "first_call_delay": 0.0},
        "quiethours": {"start": "00:00", "end": "00:00"},  # start == end: every hour (real clock)
        "calls": {"max_concurrent": 10_000, "calls_per_second": 0.0, "min_talk_seconds": 0.5},
        # The console gateway unpaced: at its default 5 texts/s per process, one worker fell behind 20 calls/s
        # and left two thirds of its texts to the next phase's workers.
        "sms": {"rate_per_second": 0.0},
        "sounds": {"dir": str(SHIPPED_SOUNDS)},
    }


@dataclass
class Child:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Bench:
    tmp: Path
    db_url: str
    http: aiohttp.ClientSession
    sim_port: int = field(default_factory=free_port)
    children: list[Child] = field(default_factory=list)
    notifications: list[str] = field(default_factory=list)  # the channels of the NOTIFYs heard, in order
    listener_pid: int = 0  # the backend that hears them

    async def listen(self, conn: asyncpg.Connection) -> None:
        """Hear what the workers hear: every NOTIFY on their channels."""
        self.listener_pid = conn.get_server_pid()
        for name in (ATTEMPTS_CHANNEL, CLAIMED_CHANNEL, WORKERS_CHANNEL):
            await conn.add_listener(name, lambda _c, _pid, ch, _payload: self.notifications.append(ch))

    @property
    def sim_url(self) -> str:
        return f"http://127.0.0.1:{self.sim_port}"

    def spawn(self, name: str, args: list[str]) -> Child:
        log = self.tmp / f"{name}.log"
        with log.open("ab") as out:
            popen = subprocess.Popen(
                [sys.executable, *args],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        child = Child(name, popen, log)
        self.children.append(child)
        return child

    async def until(self, probe: Any, what: str, within: float) -> None:
        deadline = time.monotonic() + within
        while not await probe():
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}")
            await asyncio.sleep(0.1)

    async def start_simulator(self, speed: float, admin_count: int, talk: float) -> Child:
        scenario = write_toml(
            self.tmp / "scenario.toml",
            # unbridged_hangup 0: the simulator's clock runs ``speed`` times faster than the workers' timers;
            # its default (120 s) would be 6 s of wall time, and a slow worker would lose its admin to it.
            {"defaults": {"behaviour": "answer", "answer_after": 0.5, "talk": talk, "unbridged_hangup": 0.0}},
            {
                "callee": [
                    {
                        "match": a["endpoint"],
                        "behaviour": "answer",
                        "answer_after": 0.5,
                        "dtmf": "1",
                        "dtmf_after": "playback",
                        "unbridged_hangup": 0.0,
                    }
                    for a in admins(admin_count)
                ]
            },
        )
        sim = self.spawn(
            "simulator",
            [
                "-m",
                "ari_app.simulator",
                "--port",
                str(self.sim_port),
                "--scenario",
                str(scenario),
                "--speed",
                str(speed),
                "--sounds-dir",
                str(SHIPPED_SOUNDS),
            ],
        )

        async def up() -> bool:
            assert sim.popen.poll() is None, f"simulator died:\n{sim.tail()}"
            try:
                async with self.http.get(f"{self.sim_url}/ari/asterisk/info", headers=AUTH) as resp:
                    return resp.status == 200
            except aiohttp.ClientError:
                return False

        await self.until(up, "the simulator", 30.0)
        return sim

    async def start_worker(self, app: str, admin_count: int) -> Child:
        config = write_toml(
            self.tmp / f"{app}.toml",
            worker_sections(self.db_url, self.sim_url, app),
            {"admins": admins(admin_count)},
        )
        return self.spawn(app, ["-m", "ari_app.cli", "worker", "--config", str(config)])

    async def wait_registered(self, workers: list[Child]) -> None:
        async def registered() -> bool:
            for w in workers:
                assert w.popen.poll() is None, f"{w.name} died:\n{w.tail()}"
            async with self.http.get(f"{self.sim_url}/ari/applications", headers=AUTH) as resp:
                names = {a.get("name") for a in await resp.json()}
            return all(w.name in names for w in workers)

        await self.until(registered, "the workers to connect", 60.0)

    async def dials(self) -> list[dict[str, Any]]:
        async with self.http.get(f"{self.sim_url}/_simulator/dials", headers=AUTH) as resp:
            return list(await resp.json())


async def submit_all(db_url: str, count: int, admin_count: int) -> list[int]:
    """``count`` requests the way intake writes them, due far in the future; returns their attempt ids."""
    settings = load_settings(
        None,
        environ={},
        overrides={
            **worker_sections(db_url, "http://127.0.0.1:1", "bench-intake"),
            "calendar": {"always_open": True, "first_call_delay": 30 * 86400.0},
            "admins": admins(admin_count),
        },
    )
    lifecycle = Lifecycle(settings, RealClock())
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    try:

        async def one(i: int) -> None:
            async with sessions.begin() as session:
                await lifecycle.intake.submit(
                    session, IntakeData("Ada", "Lovelace", number(i), "bench", "ok", "api")
                )

        for start in range(0, count, 16):
            await asyncio.gather(*(one(i) for i in range(start, min(count, start + 16))))
    finally:
        await engine.dispose()
    conn = await asyncpg.connect(db_url.replace("+asyncpg", ""), timeout=10)
    try:
        rows = await conn.fetch("SELECT id FROM attempts ORDER BY id")
    finally:
        await conn.close(timeout=10)
    return [int(r["id"]) for r in rows]


@dataclass
class Phase:
    workers: int
    finished: int = 0
    total: int = 0
    seconds: float = 0.0
    throughput: float = 0.0
    lateness_ms: list[float] = field(default_factory=list)
    worker_cpu: list[float] = field(default_factory=list)  # fraction of one core, per worker
    sim_cpu: float = 0.0
    pg_cpu: float = 0.0  # all PostgreSQL processes, fraction of one core
    bench_cpu: float = 0.0  # this process (arrivals, NOTIFY, progress queries)
    wall: float = 0.0
    commits: int = 0  # transactions committed in the bench database during the phase, ours subtracted
    own_commits: int = 0  # this process's: the arrivals (intake's part) and its looks at what is left
    notifications: int = 0  # NOTIFYs on the workers' channels (each costs every listening worker a read)
    # Transactions that wrote (each assigned a transaction id, on the whole cluster) less this process's
    # arrivals: the workers' durable commits. Unlike ``commits`` it holds no read-only transaction (LISTEN's
    # reads, a look that found nothing) and does not depend on when a backend reports its counts.
    writes: int = 0
    own_writes: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    unfinished: Counter[str] = field(default_factory=Counter)


async def run_phase(
    limit_s: float,
    bench: Bench,
    conn: asyncpg.Connection,
    sim: Child,
    ids: list[int],
    n_workers: int,
    args: argparse.Namespace,
) -> Phase:
    phase = Phase(workers=n_workers, total=len(ids))
    workers = [await bench.start_worker(f"bench-{n_workers}w-{i}", args.admins) for i in range(n_workers)]
    try:
        await bench.wait_registered(workers)
        await asyncio.sleep(1.0)  # past each worker's start-up claim round and its listener's connect
        cpu0 = [proc_cpu(w.popen.pid) for w in workers]
        sim0 = proc_cpu(sim.popen.pid)
        pg0 = postgres_cpu()
        bench0 = time.process_time()
        commits0 = await conn.fetchval(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        )
        heard = len(bench.notifications)
        xids0 = await conn.fetchval(NEXT_XID)
        t0 = time.monotonic()
        first_arrival = datetime.now(UTC)
        released = 0
        finished_at = None
        while True:
            elapsed = time.monotonic() - t0
            due = min(len(ids), int(elapsed * args.rate) + 1)
            if due > released:
                # What intake does: one transaction makes them due and NOTIFYs the due time and their ids.
                now, batch = datetime.now(UTC), ids[released:due]
                await conn.execute(
                    "WITH released AS (UPDATE attempts SET due_at = $2 WHERE id = ANY($1::int[])) "
                    "SELECT pg_notify('callback_attempts', $3)",
                    batch,
                    now,
                    attempts_payload(now, batch),
                )
                phase.own_commits += 1
                phase.own_writes += 1
                released = due
            if released == len(ids):
                if finished_at is None:
                    left = await conn.fetchval(
                        "SELECT count(*) FROM attempts WHERE id = ANY($1::int[]) AND status <> 'done'", ids
                    )
                    phase.own_commits += 1
                    if left == 0:
                        finished_at = time.monotonic()
                # The phase's work ends with its last text sent (each attempt's end queues one).
                texts = await conn.fetchval(UNSENT_TEXTS)
                phase.own_commits += 1
                if finished_at is not None and texts == 0:
                    break
            if elapsed > limit_s:
                break
            await asyncio.sleep(TICK_S if released < len(ids) else 0.25)
        wall = time.monotonic() - t0  # to the last text: the CPU figures are per attempt, texts included
        phase.notifications = len(bench.notifications) - heard
        phase.worker_cpu = [(proc_cpu(w.popen.pid) - c) / wall for w, c in zip(workers, cpu0, strict=True)]
        phase.sim_cpu = (proc_cpu(sim.popen.pid) - sim0) / wall
        phase.pg_cpu = (postgres_cpu() - pg0) / wall
        phase.bench_cpu = (time.process_time() - bench0) / wall
        phase.wall = wall
    finally:
        for w in workers:
            w.stop()
    # A backend reports its counts when it exits, or up to 10 s late while it lives: wait until the workers'
    # backends are gone, so their last commits are counted here and not in the next phase.
    gone_by = time.monotonic() + 30.0
    others = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid NOT IN (pg_backend_pid(), $1)"
    )
    while await conn.fetchval(others, bench.listener_pid) and time.monotonic() < gone_by:
        phase.own_commits += 1
        await asyncio.sleep(0.1)
    phase.own_commits += 1
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    commits = "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
    # Every statement of ours ran in a transaction of its own: the first read, the snapshot's reset and those
    # counted above; and PostgreSQL 15 reads each notification in a transaction of the listener's (ours too).
    # What is left is the workers'.
    phase.own_commits += 2 + phase.notifications
    phase.commits = int(await conn.fetchval(commits)) - int(commits0) - phase.own_commits
    phase.writes = int(await conn.fetchval(NEXT_XID)) - int(xids0) - phase.own_writes
    rows = await conn.fetch(
        "SELECT status, outcome, due_at, started_at, ended_at FROM attempts WHERE id = ANY($1::int[])", ids
    )
    done = [r for r in rows if r["status"] == "done"]
    phase.finished = len(done)
    phase.outcomes = Counter(str(r["outcome"]) for r in done)
    phase.unfinished = Counter(str(r["status"]) for r in rows if r["status"] != "done")
    ends = [r["ended_at"] for r in done if r["ended_at"] is not None]
    if ends:
        phase.seconds = (max(ends) - first_arrival).total_seconds()
        phase.throughput = phase.finished / phase.seconds
    phase.lateness_ms = [
        (r["started_at"] - r["due_at"]).total_seconds() * 1000 for r in rows if r["started_at"] is not None
    ]
    return phase


def cpu_ms_per_call(p: Phase) -> dict[str, float]:
    """CPU milliseconds each kind of process spent per finished attempt."""
    per = 1000 * p.wall / max(1, p.finished)
    return {
        "workers": sum(p.worker_cpu) * per,
        "simulator": p.sim_cpu * per,
        "postgresql": p.pg_cpu * per,
        "bench": p.bench_cpu * per,
    }


def describe(p: Phase) -> str:
    cpu = ", ".join(f"{c * 100:.0f} %" for c in p.worker_cpu)
    return (
        f"{p.workers} worker(s): {p.finished}/{p.total} attempts finished in {p.seconds:.1f} s = "
        f"{p.throughput:.1f}/s; lateness p50 {percentile(p.lateness_ms, 0.5):.0f} ms, "
        f"p99 {percentile(p.lateness_ms, 0.99):.0f} ms, "
        f"max {max(p.lateness_ms, default=float('nan')):.0f} ms; "
        f"worker CPU {cpu} of a core; simulator {p.sim_cpu * 100:.0f} %; PostgreSQL {p.pg_cpu * 100:.0f} %, "
        f"{p.commits / max(1, p.finished):.1f} commits per finished attempt by the workers "
        f"({p.writes / max(1, p.finished):.1f} of them wrote; and "
        f"{p.own_commits / max(1, p.finished):.1f} by this process's arrivals, looks and its listener), "
        f"{p.notifications / max(1, p.finished):.1f} NOTIFYs per finished attempt (each read in a "
        f"transaction by every listening worker); CPU ms per attempt "
        + ", ".join(f"{k} {v:.1f}" for k, v in cpu_ms_per_call(p).items())
        + f"; outcomes {dict(p.outcomes)}"
        + (f"; unfinished {dict(p.unfinished)}" if p.unfinished else "")
    )


def double_dials(dials: list[dict[str, Any]]) -> tuple[int, int]:
    by_channel = Counter(str(d.get("channel_id")) for d in dials if d.get("channel_id"))
    lead_legs: Counter[str] = Counter()
    for channel_id in by_channel:
        leg = parse_leg_id(channel_id)
        if leg is not None and leg.role == "lead":
            lead_legs[f"{leg.installation}-{leg.attempt_id}"] += 1
    return sum(1 for n in by_channel.values() if n > 1), sum(1 for n in lead_legs.values() if n > 1)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000, help="per phase")
    parser.add_argument("--rate", type=float, default=20.0, help="arrivals per second (open loop)")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--speed", type=float, default=20.0, help="simulator speed")
    parser.add_argument("--talk", type=float, default=20.0, help="lead talk, simulator seconds")
    parser.add_argument("--admins", type=int, default=300)
    parser.add_argument("--logs", help="keep the children's logs and configs in this directory")
    args = parser.parse_args()

    began = time.monotonic()
    # SIGTERM (e.g. from `timeout`) cancels the run, so the children are stopped and the database dropped.
    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    name = f"cb_bench_scale_{secrets.token_hex(4)}"
    db_url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    admin = await asyncpg.connect(ADMIN_DSN, timeout=10)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close(timeout=10)
    bench: Bench | None = None
    try:
        await upgrade(db_url)
        t = time.monotonic()
        ids = await submit_all(db_url, 2 * args.requests, args.admins)
        print(f"{len(ids)} requests submitted with Lifecycle.intake.submit in {time.monotonic() - t:.1f} s")
        with tempfile.TemporaryDirectory(prefix="cb-scale-") as tmp:
            logs = Path(args.logs) if args.logs else Path(tmp)
            logs.mkdir(parents=True, exist_ok=True)
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
                bench = Bench(logs, db_url, http)
                conn = await asyncpg.connect(db_url.replace("+asyncpg", ""), timeout=10)
                watch = await asyncpg.connect(db_url.replace("+asyncpg", ""), timeout=10)
                await bench.listen(watch)
                try:
                    sim = await bench.start_simulator(args.speed, args.admins, args.talk)
                    left = BUDGET_S - (time.monotonic() - began) - 40  # stops, results, the drop
                    one = await run_phase(left / 2, bench, conn, sim, ids[: args.requests], 1, args)
                    print(describe(one))
                    # What phase 1 left unfinished must not hold admins or trunk room in phase 2.
                    dials = await bench.dials()
                    await conn.execute(
                        "UPDATE attempts SET status = 'cancelled', lease_owner = NULL "
                        "WHERE id = ANY($1::int[]) AND status <> 'done'",
                        ids[: args.requests],
                    )
                    async with http.post(f"{bench.sim_url}/_simulator/reset", headers=AUTH) as resp:
                        assert resp.status in (200, 204), await resp.text()
                    left = BUDGET_S - (time.monotonic() - began) - 25
                    many = await run_phase(left, bench, conn, sim, ids[args.requests :], args.workers, args)
                    print(describe(many))
                    dials += await bench.dials()
                finally:
                    await conn.close(timeout=10)
                    await watch.close(timeout=10)
                    for child in bench.children:
                        child.stop()
    finally:
        if bench is not None:
            for child in bench.children:
                with contextlib.suppress(Exception):
                    child.stop()
        admin = await asyncpg.connect(ADMIN_DSN, timeout=10)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close(timeout=10)

    channel_twice, lead_twice = double_dials(dials)
    ratio = many.throughput / one.throughput if one.throughput else float("nan")
    p99 = percentile(many.lateness_ms, 0.99)
    solo_cpu = one.worker_cpu[0]
    print(
        f"dials recorded {len(dials)}; channel ids dialled twice {channel_twice}; attempts with two lead "
        f"legs {lead_twice}; single worker CPU {solo_cpu * 100:.0f} % of a core "
        f"({'saturated' if solo_cpu >= 0.9 else 'NOT saturated'}); median worker CPU with "
        f"{args.workers}: {statistics.median(many.worker_cpu) * 100:.0f} %"
    )
    worker_ms = cpu_ms_per_call(one)["workers"]
    # All processes that serve the calls; the bench's own (arrivals, progress queries) is left out.
    served = ("workers", "simulator", "postgresql")
    cpu_one = sum(cpu_ms_per_call(one)[k] for k in served)
    cpu_many = sum(cpu_ms_per_call(many)[k] for k in served)
    cpu_ratio = cpu_many / cpu_one if cpu_one else float("nan")
    commits_many = many.commits / max(1, many.finished)
    ok = (
        worker_ms <= 10.0
        and cpu_ratio <= 1.15
        and commits_many <= 5.0
        and p99 < 500
        and channel_twice + lead_twice == 0
    )
    # The most any number of workers could finish on this machine if every core were busy and each attempt
    # cost what it cost with one worker: the simulator and PostgreSQL share the cores with the workers.
    cores = os.cpu_count() or 1
    ceiling = cores * 1000 / sum(cpu_ms_per_call(one).values()) / one.throughput if one.throughput else 0.0
    print(
        f"this machine: {cores} cores; one attempt cost {sum(cpu_ms_per_call(one).values()):.1f} ms of CPU "
        f"in all with one worker and {sum(cpu_ms_per_call(many).values()):.1f} ms with {args.workers}; "
        f"all cores busy at phase 1's cost per attempt would finish {ceiling:.2f} x phase 1's throughput"
    )
    print(
        f"throughput_ratio={ratio:.2f} lateness_p99_ms={p99:.0f} double_dials={channel_twice + lead_twice} "
        f"throughput_1={one.throughput:.1f} throughput_{args.workers}={many.throughput:.1f} "
        f"lateness_p99_ms_1={percentile(one.lateness_ms, 0.99):.0f} solo_cpu_pct={solo_cpu * 100:.0f} "
        f"ceiling_ratio={ceiling:.2f} rate={args.rate:g} "
        f"commits_per_attempt_1={one.commits / max(1, one.finished):.1f} "
        f"commits_per_attempt_{args.workers}={commits_many:.1f} "
        f"writes_per_attempt_1={one.writes / max(1, one.finished):.1f} "
        f"writes_per_attempt_{args.workers}={many.writes / max(1, many.finished):.1f} "
        f"notifies_per_attempt_1={one.notifications / max(1, one.finished):.1f} "
        f"notifies_per_attempt_{args.workers}={many.notifications / max(1, many.finished):.1f} "
        f"worker_cpu_ms_per_attempt={worker_ms:.1f} cpu_per_attempt_ratio={cpu_ratio:.2f} ok={ok}"
    )


if __name__ == "__main__":
    asyncio.run(main())
