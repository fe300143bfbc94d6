"""Idle cost: ``callback serve`` (web, worker, SMS sender, webhook sender) with nothing to do, on SQLite and
on PostgreSQL, measured as the CPU the process spends per second of wall time.

    python bench/idle.py [--duration 60] [--settle 5]

Processes, all on loopback: the ARI simulator (``python -m ari_app.simulator``) as the PBX, and
``python -m ari_app.cli serve --config F`` with the console SMS gateway and one webhook URL configured (so
the webhook sender has somewhere to send; nothing is ever queued). SQLite: a file in a temporary directory.
PostgreSQL: a database of its own on 127.0.0.1:5432 (user postgres, trust auth), dropped at the end.

Once ``/readyz`` answers 200 (database and ARI ready) the bench waits ``--settle`` seconds (start-up work:
migrations, the first rounds), then reads the process's user + system CPU from /proc, waits
``--duration`` seconds and reads it again. On PostgreSQL it also counts the database's transactions
(``pg_stat_database.xact_commit + xact_rollback``) over the same window: what the process still asks the
database while idle. The simulator's CPU is reported, not counted. Goal: <= 2 ms of CPU per second on
both. The last line holds the figures as key=value.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import asyncpg
from scale_out import ADMIN_DSN, AUTH, Child, free_port, proc_cpu

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ari_app.audio.manifest import SHIPPED_SOUNDS  # noqa: E402

GOAL_MS_PER_S = 2.0


async def until(probe: Callable[[], Awaitable[bool]], what: str, within: float) -> None:
    deadline = time.monotonic() + within
    while not await probe():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


def spawn(tmp: Path, name: str, args: list[str]) -> Child:
    log = tmp / f"{name}.log"
    with log.open("ab") as out:
        popen = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    return Child(name, popen, log)


async def transactions(db: str) -> int:
    conn = await asyncpg.connect(ADMIN_DSN)
    try:
        # The statistics a backend reports are cached for its transaction: a fresh snapshot each call.
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        value = await conn.fetchval(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1", db
        )
        return int(value or 0)
    finally:
        await conn.close()


async def measure(kind: str, tmp: Path, duration: float, settle: float) -> tuple[float, float, float | None]:
    """(serve's CPU ms per s, the simulator's, the database's transactions per s or None on SQLite)."""
    pg_name: str | None = None
    if kind == "postgresql":
        pg_name = f"cb_bench_idle_{secrets.token_hex(4)}"
        admin = await asyncpg.connect(ADMIN_DSN)
        try:
            await admin.execute(f'CREATE DATABASE "{pg_name}"')
        finally:
            await admin.close()
        db_url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{pg_name}"
    else:
        db_url = f"sqlite+aiosqlite:///{tmp / 'idle.db'}"
    sim_port, web_port, hook_port = free_port(), free_port(), free_port()
    sim_url, web_url = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{web_port}"
    children: list[Child] = []
    try:
        sim = spawn(
            tmp,
            f"simulator-{kind}",
            ["-m", "ari_app.simulator", "--port", str(sim_port), "--sounds-dir", str(SHIPPED_SOUNDS)],
        )
        children.append(sim)
        config = tmp / f"{kind}.toml"
        config.write_text(
            f"""
[ari]
url = "{sim_url}"
app = "idle-{kind}"
[database]
url = "{db_url}"
[web]
port = {web_port}
[sounds]
dir = "{SHIPPED_SOUNDS}"
[sms]
gateway = "console"
[webhooks]
urls = ["http://127.0.0.1:{hook_port}/hook"]
secret = "idle-bench"
"""
        )
        serve = spawn(tmp, f"serve-{kind}", ["-m", "ari_app.cli", "serve", "--config", str(config)])
        children.append(serve)

        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:

            async def sim_up() -> bool:
                assert sim.popen.poll() is None, f"simulator died:\n{sim.tail()}"
                try:
                    async with http.get(f"{sim_url}/ari/asterisk/info", headers=AUTH) as resp:
                        return resp.status == 200
                except aiohttp.ClientError:
                    return False

            async def ready() -> bool:
                assert serve.popen.poll() is None, f"serve died:\n{serve.tail()}"
                try:
                    async with http.get(f"{web_url}/readyz") as resp:
                        return resp.status == 200
                except aiohttp.ClientError:
                    return False

            await until(sim_up, "the simulator", 30.0)
            await until(ready, "callback serve", 60.0)
        await asyncio.sleep(settle)
        tx0 = await transactions(pg_name) if pg_name else 0
        cpu0, sim0, t0 = proc_cpu(serve.popen.pid), proc_cpu(sim.popen.pid), time.monotonic()
        await asyncio.sleep(duration)
        cpu1, sim1, t1 = proc_cpu(serve.popen.pid), proc_cpu(sim.popen.pid), time.monotonic()
        tx1 = await transactions(pg_name) if pg_name else 0
        assert serve.popen.poll() is None, f"serve died:\n{serve.tail()}"
        wall = t1 - t0
        # Our own two reads of pg_stat_database are in the count too: take them off.
        tx_per_s = max(0, tx1 - tx0 - 2) / wall if pg_name else None
        return (cpu1 - cpu0) * 1000 / wall, (sim1 - sim0) * 1000 / wall, tx_per_s
    finally:
        for child in reversed(children):
            child.stop()
        if pg_name is not None:
            admin = await asyncpg.connect(ADMIN_DSN)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
            finally:
                await admin.close()


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds measured per database")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds after readiness, not measured")
    args = parser.parse_args()
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="cb-idle-") as tmp_name:
        tmp = Path(tmp_name)
        for kind in ("sqlite", "postgresql"):
            cpu, sim, tx = await measure(kind, tmp, args.duration, args.settle)
            figures[kind] = cpu
            shown_tx = "" if tx is None else f", database transactions {tx:.2f}/s"
            over = f"over {args.duration:.0f} s"
            print(f"{kind}: serve {cpu:.2f} ms CPU per s {over} (simulator {sim:.2f}){shown_tx}")
    ok = all(v <= GOAL_MS_PER_S for v in figures.values())
    print(
        f"idle_cpu_ms_per_s_sqlite={figures['sqlite']:.2f} "
        f"idle_cpu_ms_per_s_postgresql={figures['postgresql']:.2f} goal_ms_per_s={GOAL_MS_PER_S} ok={ok}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
