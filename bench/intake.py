"""Intake on SQLite: our web app against a bare aiohttp handler writing the same rows, same run.

    python bench/intake.py [--rate 150] [--seconds 15] [--max-seconds 8] [--concurrency 16]

Three processes besides this one, all on loopback: our server, the bare server, and a load generator.

* Ours: ``Runtime(settings, RealClock(), run_worker=False)`` from ``ari_app/app.py``, start-up objects
  frozen out of the garbage collector — what ``callback serve --no-worker`` runs: the web app from
  ``create_web_app(services)`` plus the SMS and webhook senders — on a temporary SQLite file migrated by
  ``ari_app.store.migrate.upgrade``. Requests are ``POST /api/v1/callback-requests`` with the bearer
  token from ``api.token``; ``limits.per_ip_per_minute`` is raised so the limiter never refuses.
* Bare: an aiohttp handler that checks the token, decodes the JSON, checks the fields, normalises the
  number with ``phonenumbers``, runs the do-not-call, known-contact and per-number-limit queries and
  writes the same nine rows per request (contact, request, consent, two notes, status tag, attempt,
  two contact events) with plain SQL through ``aiosqlite`` (the driver ours uses) in one transaction,
  on a SQLite file migrated the same way, with the same PRAGMAs (WAL, synchronous=NORMAL, foreign
  keys, busy timeout). No ORM, no pydantic, no scheduling rules (the attempt is due now), no
  middlewares.
* Load: an aiohttp client in its own process. Fixed rate (open loop): requests are sent at
  ``--rate`` per second for ``--seconds``, whatever the answers do; latency runs from the moment a
  request was due, so a stalled server shows up in the tail (no coordinated omission). Max
  throughput (closed loop): ``--concurrency`` connections send back to back for ``--max-seconds``
  (at most ``--max-requests``).

Phases alternate between the servers (fixed: ours, bare; max: ours, bare) after a short warm-up of
each; after each phase we wait (at most 40 s) until that server is idle, since aiohttp finishes
requests whose client gave up and that work must not land in the next phase. Every request carries
a distinct valid US number, so none is merged. After the run the rows per request are counted in
both databases, to show both wrote the same thing. Goals (issue 17): p99 < 25 ms at 150 requests/s, and
ours >= 0.6 of bare's throughput. The last line holds the figures as key=value.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import json
import os
import select
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TOKEN = "bench-token-0123456789abcdef"
AREA_CODES = ("212", "646", "917", "718")  # +1 AAA 555 0000-9999: all valid for phonenumbers (checked)
TABLES = (
    "contacts",
    "callback_requests",
    "consents",
    "notes",
    "contact_tags",
    "attempts",
    "contact_events",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def number(i: int) -> str:
    area, rest = AREA_CODES[(i // 10_000) % len(AREA_CODES)], i % 10_000
    return f"+1 {area} 555 {rest:04d}"


def body(i: int) -> bytes:
    return json.dumps(
        {
            "first_name": "Ann",
            "last_name": f"Lee {i}",
            "phone": number(i),
            "reason": "A quote for a kitchen renovation, please call after lunch.",
            "consent": True,
            "page_url": "https://example.com/contact?utm_source=bench",
        }
    ).encode()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a child process, from /proc (NaN where there is none)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


# -- our server (child process) ---------------------------------------------------------------------------


async def serve_ours(db: Path) -> None:
    from ari_app.app import Runtime
    from ari_app.cli.serve import freeze_start_up_objects
    from ari_app.clock import RealClock
    from ari_app.settings import load_settings

    port = free_port()
    settings = load_settings(
        environ={},
        overrides={
            "database": {"url": f"sqlite+aiosqlite:///{db}"},
            "web": {"host": "127.0.0.1", "port": port},
            "api": {"token": TOKEN},
            "limits": {"per_ip_per_minute": 1_000_000_000},
        },
    )
    async with Runtime(settings, RealClock(), run_worker=False) as runtime:
        freeze_start_up_objects()  # as `callback serve` does
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, runtime.stop)
        print(port, flush=True)
        await runtime.wait_stopped()


# -- the bare server (child process) ----------------------------------------------------------------------


async def serve_bare(db: Path) -> None:
    import aiosqlite
    import phonenumbers
    from aiohttp import web

    from ari_app.settings import Settings

    consent_text = Settings().business.consent_text
    conn = await aiosqlite.connect(db, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=30000"):
        await conn.execute(f"PRAGMA {pragma}")
    lock = asyncio.Lock()  # one connection: one transaction at a time

    def bad(message: str, status: int = 422) -> web.Response:
        return web.json_response({"error": message}, status=status)

    async def create(request: web.Request) -> web.Response:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), TOKEN.encode()):
            return bad("unauthorized", 401)
        try:
            data = await request.json()
            first, last, raw, reason = data["first_name"], data["last_name"], data["phone"], data["reason"]
            page_url = data.get("page_url")
            parsed = phonenumbers.parse(raw, "US")
        except (ValueError, KeyError, TypeError, phonenumbers.NumberParseException):
            return bad("invalid body")
        if data.get("consent") is not True or not all(isinstance(v, str) for v in (first, last, reason)):
            return bad("invalid body")
        if not phonenumbers.is_valid_number(parsed):
            return bad("invalid phone")
        phone = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        ip, agent = request.remote, request.headers.get("User-Agent")
        now = datetime.now(UTC)
        ts = now.strftime("%Y-%m-%d %H:%M:%S.%f")
        tag, stage = "Request to Callback Pending", "Callback requested"
        async with lock:
            await conn.execute("BEGIN")
            try:
                if await (await conn.execute("SELECT 1 FROM dnc WHERE phone = ?", (phone,))).fetchone():
                    await conn.execute("ROLLBACK")
                    return bad("do not call")
                row = await (
                    await conn.execute("SELECT id FROM contacts WHERE phone = ?", (phone,))
                ).fetchone()
                if row is not None:
                    await conn.execute("ROLLBACK")
                    return bad("known contact: merging is not part of this baseline", 409)
                # The per-number daily limit, as ours counts it (always 0 here: every number is new).
                since = (now - timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S.%f")
                cur = await conn.execute(
                    "SELECT count(*) FROM callback_requests JOIN contacts"
                    " ON contacts.id = callback_requests.contact_id"
                    " WHERE contacts.phone = ? AND callback_requests.created_at > ?",
                    (phone, since),
                )
                await cur.fetchone()
                cur = await conn.execute(
                    "INSERT INTO contacts (phone, first_name, last_name, pipeline_stage, sms_opted_out,"
                    " number_invalid, created_at, updated_at) VALUES (?, ?, ?, ?, 0, 0, ?, ?)",
                    (phone, first, last, stage, ts, ts),
                )
                contact_id = cur.lastrowid
                cur = await conn.execute(
                    "INSERT INTO callback_requests (contact_id, reason, status, source, page_url, ip,"
                    " user_agent, created_at, updated_at, lead_attempts_used, system_failures)"
                    " VALUES (?, ?, 'pending', 'api', ?, ?, ?, ?, ?, 0, 0)",
                    (contact_id, reason, page_url, ip, agent, ts, ts),
                )
                request_id = cur.lastrowid
                await conn.execute(
                    "INSERT INTO consents (request_id, contact_id, text, ip, user_agent, page_url, source,"
                    " given_at) VALUES (?, ?, ?, ?, ?, ?, 'api', ?)",
                    (request_id, contact_id, consent_text, ip, agent, page_url, ts),
                )
                await conn.execute(
                    "INSERT INTO notes (contact_id, request_id, kind, text, created_at)"
                    " VALUES (?, ?, 'system', ?, ?)",
                    (contact_id, request_id, f"Callback requested: {reason}", ts),
                )
                await conn.execute(
                    "INSERT INTO contact_events (contact_id, type, data, created_at) VALUES (?, ?, ?, ?)",
                    (
                        contact_id,
                        "request.created",
                        json.dumps({"request_id": request_id, "source": "api"}),
                        ts,
                    ),
                )
                await conn.execute(
                    "INSERT INTO contact_tags (contact_id, tag, added_at) VALUES (?, ?, ?)",
                    (contact_id, tag, ts),
                )
                await conn.execute(
                    "INSERT INTO notes (contact_id, request_id, kind, text, created_at)"
                    " VALUES (?, ?, 'tag', ?, ?)",
                    (contact_id, request_id, f"Status: +{tag}; stage: {stage} (callback requested)", ts),
                )
                change = {
                    "contact_id": contact_id,
                    "request_id": request_id,
                    "status": "pending",
                    "added": [tag],
                    "removed": [],
                    "tags": [tag],
                    "stage": stage,
                    "previous_stage": None,
                    "reason": "callback requested",
                    "at": now.isoformat(),
                }
                await conn.execute(
                    "INSERT INTO contact_events (contact_id, type, data, created_at) VALUES (?, ?, ?, ?)",
                    (contact_id, "tag.changed", json.dumps(change), ts),
                )
                evidence = {"at": now.isoformat(), "allowed": True, "requested_at": now.isoformat()}
                await conn.execute(
                    "INSERT INTO attempts (request_id, number, lead_attempt, final, kind, status, due_at,"
                    " evidence, created_at, updated_at) VALUES (?, 1, 1, 0, 'lead', 'scheduled', ?, ?, ?, ?)",
                    (request_id, ts, json.dumps(evidence), ts, ts),
                )
                await conn.execute("COMMIT")
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
        answer = {
            "id": request_id,
            "contact_id": contact_id,
            "status": "pending",
            "merged": False,
            "planned_at": now.isoformat(),
        }
        return web.json_response(answer, status=201)

    app = web.Application()
    app.router.add_post("/api/v1/callback-requests", create)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print(port, flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await conn.close()


# -- the load generator (child process) -------------------------------------------------------------------


async def post(http: aiohttp.ClientSession, url: str, i: int) -> int:
    headers = {
        "Authorization": f"Bearer {TOKEN}",
        "Content-Type": "application/json",
        "User-Agent": "bench/1",
    }
    try:
        async with http.post(url, data=body(i), headers=headers) as resp:
            await resp.read()
            return resp.status
    except (aiohttp.ClientError, TimeoutError):
        return 0


async def load_fixed(url: str, rate: float, seconds: float, start: int) -> dict[str, Any]:
    count = int(rate * seconds)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200), timeout=timeout) as http:

        async def one(i: int, due: float) -> None:
            status = await post(http, url, start + i)
            latencies.append(time.perf_counter() - due)
            statuses[status] = statuses.get(status, 0) + 1

        t0, cpu0 = time.perf_counter() + 0.05, time.process_time()
        async with asyncio.TaskGroup() as tg:
            for i in range(count):
                due = t0 + i / rate
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                tg.create_task(one(i, due))
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return {"count": count, "wall": wall, "latencies": latencies, "statuses": statuses, "client_cpu": cpu}


async def load_max(url: str, seconds: float, limit: int, concurrency: int, start: int) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    sent = 0
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency), timeout=timeout
    ) as http:
        t0, cpu0 = time.perf_counter(), time.process_time()
        deadline = t0 + seconds

        async def worker() -> None:
            nonlocal sent
            while sent < limit and time.perf_counter() < deadline:
                i = sent
                sent += 1
                t = time.perf_counter()
                status = await post(http, url, start + i)
                latencies.append(time.perf_counter() - t)
                statuses[status] = statuses.get(status, 0) + 1

        async with asyncio.TaskGroup() as tg:
            for _ in range(concurrency):
                tg.create_task(worker())
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return {"count": sent, "wall": wall, "latencies": latencies, "statuses": statuses, "client_cpu": cpu}


def run_load(url: str, args: list[str], timeout: float) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--load", url, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# -- the orchestrator -------------------------------------------------------------------------------------


class Server:
    def __init__(self, kind: str, db: Path, work: Path) -> None:
        self.kind = kind
        self.db = db
        self._log = open(work / f"{kind}.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", kind, "--db", str(db)],
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 60)
        line = self.proc.stdout.readline() if ready else ""
        if not line.strip():
            self.proc.kill()
            self._log.close()
            raise RuntimeError(f"{kind} server did not start within 60 s")
        self.url = f"http://127.0.0.1:{int(line)}/api/v1/callback-requests"

    def cpu(self) -> float:
        return proc_cpu(self.proc.pid)

    def wait_idle(self, timeout: float) -> float:
        """Seconds until the server has worked off what is left of a phase (requests whose client
        gave up still run to the end), so it doesn't steal CPU from the next phase."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            c0 = self.cpu()
            time.sleep(0.5)
            if self.cpu() - c0 < 0.05:  # under 10 % of a core: idle (the senders poll now and then)
                break
        return time.monotonic() - t0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


def rows_per_request(db: Path) -> dict[str, float]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        requests = conn.execute("SELECT count(*) FROM callback_requests").fetchone()[0] or 1
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] / requests for t in TABLES}  # noqa: S608


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=150.0, help="requests/s in the fixed-rate phase")
    ap.add_argument("--seconds", type=float, default=15.0, help="length of the fixed-rate phase")
    ap.add_argument("--max-seconds", type=float, default=8.0, help="length of the max-throughput phase")
    ap.add_argument("--max-requests", type=int, default=8000, help="cap on the max-throughput phase")
    ap.add_argument("--concurrency", type=int, default=16, help="connections in the max-throughput phase")
    ap.add_argument("--serve", choices=("ours", "bare"), help=argparse.SUPPRESS)
    ap.add_argument("--db", help=argparse.SUPPRESS)
    ap.add_argument("--load", help=argparse.SUPPRESS)
    ap.add_argument("--mode", choices=("fixed", "max"), help=argparse.SUPPRESS)
    ap.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    opts = ap.parse_args()

    if opts.serve:
        serve = serve_ours if opts.serve == "ours" else serve_bare
        asyncio.run(serve(Path(opts.db)))
        return
    if opts.load:
        if opts.mode == "fixed":
            result = asyncio.run(load_fixed(opts.load, opts.rate, opts.seconds, opts.start))
        else:
            result = asyncio.run(
                load_max(opts.load, opts.max_seconds, opts.max_requests, opts.concurrency, opts.start)
            )
        print(json.dumps(result))
        return

    from ari_app.store.migrate import upgrade

    warm = 200
    fixed_start = warm
    max_start = fixed_start + int(opts.rate * opts.seconds)
    if max_start + opts.max_requests > 10_000 * len(AREA_CODES):
        raise SystemExit("not enough distinct numbers for these settings")
    figures: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as tmp:
        work = Path(tmp)
        servers: list[Server] = []
        try:
            for kind in ("ours", "bare"):
                db = work / f"{kind}.db"
                asyncio.run(upgrade(f"sqlite+aiosqlite:///{db}"))
                servers.append(Server(kind, db, work))
            for server in servers:  # warm-up: imports, caches, the first pages of the file
                run_load(server.url, ["--mode", "fixed", "--rate", "50", "--seconds", str(warm / 50)], 60)
            for server in servers:
                c0 = server.cpu()
                fixed = run_load(
                    server.url,
                    ["--mode", "fixed", "--rate", str(opts.rate), "--seconds", str(opts.seconds)]
                    + ["--start", str(fixed_start)],
                    opts.seconds + 60,
                )
                fixed["drain"] = server.wait_idle(40)
                fixed["cpu"] = server.cpu() - c0
                figures[server.kind] = {"fixed": fixed}
            for server in servers:
                c0 = server.cpu()
                peak = run_load(
                    server.url,
                    ["--mode", "max", "--max-seconds", str(opts.max_seconds)]
                    + ["--max-requests", str(opts.max_requests), "--concurrency", str(opts.concurrency)]
                    + ["--start", str(max_start)],
                    opts.max_seconds + 60,
                )
                peak["drain"] = server.wait_idle(40)
                peak["cpu"] = server.cpu() - c0
                figures[server.kind]["max"] = peak
        finally:
            for server in servers:
                server.stop()
        rows = {s.kind: rows_per_request(s.db) for s in servers}

    errors = 0
    summary: dict[str, dict[str, float]] = {}
    for kind in ("ours", "bare"):
        f, m = figures[kind]["fixed"], figures[kind]["max"]
        bad_fixed = sum(n for s, n in f["statuses"].items() if s != "201")
        bad_max = sum(n for s, n in m["statuses"].items() if s != "201")
        errors += bad_fixed + bad_max
        summary[kind] = {
            "p50": percentile(f["latencies"], 0.50) * 1e3,
            "p99": percentile(f["latencies"], 0.99) * 1e3,
            "achieved": f["count"] / f["wall"],
            "cpu_ms": f["cpu"] / f["count"] * 1e3,
            "rps": m["count"] / m["wall"],
            "max_p50": percentile(m["latencies"], 0.50) * 1e3,
            "max_p99": percentile(m["latencies"], 0.99) * 1e3,
            "max_cpu_ms": m["cpu"] / m["count"] * 1e3,
            "max_client_cpu": m["client_cpu"] / m["wall"],
        }
        refused: dict[str, int] = {}
        for phase in (f, m):
            for s, n in phase["statuses"].items():
                if s != "201":
                    what = "no answer in 30 s" if s == "0" else f"HTTP {s}"
                    refused[what] = refused.get(what, 0) + n
        k = summary[kind]
        print(
            f"{kind}: at {opts.rate:g}/s for {opts.seconds:g} s (served {k['achieved']:.0f}/s, busy "
            f"{f['drain']:.1f} s after): "
            f"p50 {k['p50']:.1f} ms, p99 {k['p99']:.1f} ms, {k['cpu_ms']:.2f} ms server CPU/request; "
            f"max ({opts.concurrency} connections): {k['rps']:.0f} requests/s, p50 {k['max_p50']:.1f} ms, "
            f"p99 {k['max_p99']:.1f} ms, {k['max_cpu_ms']:.2f} ms server CPU/request "
            f"(load generator busy {k['max_client_cpu']:.0%} of a core); "
            f"not 201: {bad_fixed + bad_max} {refused or ''}"
        )
    for kind in ("ours", "bare"):
        print(f"{kind} rows per request: " + ", ".join(f"{t} {v:.2f}" for t, v in rows[kind].items()))
    ours, bare = summary["ours"], summary["bare"]
    ratio = ours["rps"] / bare["rps"]
    print(
        f"intake_rps={ours['rps']:.0f} bare_rps={bare['rps']:.0f} ratio={ratio:.2f} "
        f"p50_ms_at_{opts.rate:g}={ours['p50']:.1f} p99_ms_at_{opts.rate:g}={ours['p99']:.1f} "
        f"bare_p99_ms_at_{opts.rate:g}={bare['p99']:.1f} cpu_ms_per_request={ours['cpu_ms']:.2f} "
        f"bare_cpu_ms_per_request={bare['cpu_ms']:.2f} errors={errors} "
        f"ok={ratio >= 0.6 and ours['p99'] < 25 and errors == 0}"
    )


if __name__ == "__main__":
    main()
