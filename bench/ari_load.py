"""ARI client under load: 1,000 concurrent channels in 500 bridges against the simulator, then the
event path's capacity against a bare reader of the same event stream, in the same run.

    python bench/ari_load.py [--calls 500] [--rate 50] [--talk 15] [--rounds 5]

Load phase. The simulator runs in a child process (``python -m ari_app.simulator --speed 1``). This
process is the client: our ``AriClient`` (REST), ``EventConnection`` (WebSocket) and ``EventRouter``.
It starts ``--calls`` lifecycles at ``--rate`` per second; each one, on its own ``router.subscription()``:
originate the admin leg into the app and wait for StasisStart (answered), create + dial the lead leg and
wait for Up, create a mixing bridge and add both, wait for the lead to hang up (after ``--talk`` s),
hang up the admin, wait for its ChannelDestroyed, destroy the bridge. With 500 calls at 50/s and 15 s of
talk, all 500 are bridged at once (1,000 channels) for about 5 s. Measured meanwhile: event-loop lag (a
ticker sleeping 10 ms records its overshoot), this process's CPU (``time.process_time``) per lifecycle,
the events received per second (the offered rate), the peak of live channels (counted from the
client's own events) and errors (a lifecycle that raised or timed out, or channels left on the PBX).

Capacity phase. The load phase keeps every event's decoded frame; a child process replays those frames
over a loopback WebSocket as fast as the socket takes them (pre-encoded, so the sender costs almost
nothing). Alternating rounds: a bare reader (``websockets`` + ``json.loads``, nothing else) and our
client (``EventConnection`` parsing into typed events, ``EventRouter.dispatch`` to one subscription per
lifecycle, one task per subscription reading ``sub.next()`` and updating the call's state, as the
lifecycles do). events_per_s / bare_events_per_s is the ratio (goal >= 0.3). The load phase alone can't
give this ratio: there both readers receive the same offered rate. The last line holds the figures as
key=value.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import os
import select
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from websockets.asyncio.client import connect as ws_connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ari_app.ari.client import AriClient  # noqa: E402
from ari_app.ari.connection import EventConnection  # noqa: E402
from ari_app.ari.dispatch import EventRouter, Subscription  # noqa: E402
from ari_app.ari.events import (  # noqa: E402
    ChannelDestroyed,
    ChannelStateChange,
    Event,
    StasisStart,
)

APP = "bench-load"
USER, PASSWORD = "u", "p"
WAIT = 20.0  # seconds any one step of a lifecycle may take before it counts as an error

SCENARIO = """\
[defaults]
behaviour = "answer"
answer_after = 0.5
talk = {talk}

[[callee]]
match = "PJSIP/admin"       # a local endpoint: stays on the line until we hang up
behaviour = "answer"
answer_after = 0.5
unbridged_hangup = 0
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# -- one call's view of its events (the same code reads events in the load and capacity phases) ----------


@dataclass
class CallState:
    stasis: set[str] = field(default_factory=set)
    up: set[str] = field(default_factory=set)
    gone: set[str] = field(default_factory=set)

    def observe(self, ev: Event) -> None:
        if isinstance(ev, StasisStart):
            self.stasis.add(ev.channel.id)
            if ev.channel.state == "Up":
                self.up.add(ev.channel.id)
        elif isinstance(ev, ChannelStateChange):
            if ev.channel.state == "Up":
                self.up.add(ev.channel.id)
        elif isinstance(ev, ChannelDestroyed):
            self.gone.add(ev.channel.id)


class Load:
    """Counters shared by the lifecycles of the load phase."""

    def __init__(self) -> None:
        self.live = 0
        self.peak = 0
        self.errors: Counter[str] = Counter()
        self.done = 0

    def channel_up(self) -> None:
        self.live += 1
        self.peak = max(self.peak, self.live)

    def channel_gone(self) -> None:
        self.live -= 1


async def until(
    sub: Subscription, state: CallState, load: Load | None, ready: Any, what: str, wait: float = WAIT
) -> None:
    """Read this call's events until ``ready(state)``; ``TimeoutError`` names the step."""
    deadline = time.monotonic() + wait
    while not ready(state):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(what)
        try:
            ev = await sub.next(remaining)
        except TimeoutError:
            raise TimeoutError(what) from None
        before = len(state.gone)
        state.observe(ev)
        if load is not None and len(state.gone) > before:
            load.channel_gone()


async def lifecycle(i: int, ari: AriClient, router: EventRouter, load: Load, talk: float) -> None:
    admin, lead, bridge = f"bench-{i}-admin", f"bench-{i}-lead", f"bench-{i}-bridge"
    state = CallState()
    made: list[str] = []
    with router.subscription() as sub:
        sub.add_channel(admin)
        sub.add_channel(lead)
        sub.add_bridge(bridge)
        try:
            await ari.originate("PJSIP/admin", channel_id=admin, app=APP, timeout=30)
            made.append(admin)
            load.channel_up()
            await until(sub, state, load, lambda s: admin in s.stasis, "admin answer")
            number = f"+1555{i:07d}"
            await ari.create_channel(
                f"PJSIP/{number}@trunk",
                channel_id=lead,
                app=APP,
                variables={
                    "CALLERID(num)": "+12125550100",
                    "CONNECTEDLINE(num,i)": "+12125550100",
                    "CALLERID(name)": "Example Co",
                    "CONNECTEDLINE(name,i)": "Example Co",
                },
            )
            made.append(lead)
            load.channel_up()
            # A created channel may be dialled only after its StasisStart (recording 14): as the app does.
            await until(sub, state, load, lambda s: lead in s.stasis, "lead in the application")
            await ari.dial(lead, timeout=30)
            await until(sub, state, load, lambda s: lead in s.up, "lead answer")
            await ari.create_bridge(bridge_type="mixing", bridge_id=bridge)
            await ari.add_channel(bridge, [admin, lead])
            await until(sub, state, load, lambda s: lead in s.gone, "lead hangs up", talk + WAIT)
            await ari.hangup(admin)
            await until(sub, state, load, lambda s: admin in s.gone, "admin destroyed")
            await ari.destroy_bridge(bridge)
            load.done += 1
        except Exception as exc:  # a failed lifecycle is a figure, not a crash of the benchmark
            load.errors[f"{type(exc).__name__}:{exc}"[:80]] += 1
            for channel_id in made:
                if channel_id not in state.gone:
                    load.channel_gone()
                    with contextlib.suppress(Exception):
                        await ari.hangup(channel_id)


async def ticker(stop: asyncio.Event, lags: list[float]) -> None:
    while not stop.is_set():
        t = time.perf_counter()
        await asyncio.sleep(0.01)
        lags.append(time.perf_counter() - t - 0.01)


@dataclass
class LoadResult:
    calls: int
    done: int
    peak: int
    events: int
    wall: float
    cpu: float
    lags: list[float]
    errors: Counter[str]
    leftover_channels: int
    frames: list[str]


async def load_phase(base_url: str, calls: int, rate: float, talk: float) -> LoadResult:
    router = EventRouter()
    raw: list[Mapping[str, Any]] = []

    def on_event(ev: Event) -> None:
        raw.append(ev.raw)  # kept for the capacity phase: one list append
        router.dispatch(ev)

    load = Load()
    lags: list[float] = []
    stop = asyncio.Event()
    async with (
        AriClient(base_url, USER, PASSWORD, max_connections=50) as ari,
        EventConnection(base_url, USER, PASSWORD, APP, on_event=on_event) as conn,
    ):
        await conn.wait_connected(10)
        lag_task = asyncio.create_task(ticker(stop, lags))
        cpu0, t0 = time.process_time(), time.perf_counter()
        async with asyncio.TaskGroup() as tg:
            for i in range(calls):
                await asyncio.sleep(max(0.0, t0 + i / rate - time.perf_counter()))
                tg.create_task(lifecycle(i, ari, router, load, talk))
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        stop.set()
        await lag_task
        events = len(raw)
        leftover = len(await ari.list_channels())
    return LoadResult(
        calls=calls,
        done=load.done,
        peak=load.peak,
        events=events,
        wall=wall,
        cpu=cpu,
        lags=lags,
        errors=load.errors,
        leftover_channels=leftover,
        frames=[json.dumps(r) for r in raw],  # as the simulator encodes them
    )


# -- the capacity phase ------------------------------------------------------------------------------------


def _ws_frame(payload: bytes) -> bytes:
    """An unmasked server-to-client text frame."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x81, n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x81, 126, n)
    else:
        head = struct.pack("!BBQ", 0x81, 127, n)
    return head + payload


async def serve_replay(blob: bytes) -> None:
    """Child process: every connection gets the whole recorded stream as fast as the socket takes it."""
    guid = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            key = b""
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"sec-websocket-key":
                    key = value.strip()
            accept = base64.b64encode(hashlib.sha1(key + guid).digest())
            writer.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            writer.write(blob)
            await writer.drain()
            # The client's close frame (or EOF) ends it; answer with a close frame of our own.
            await asyncio.wait_for(reader.read(1), 120)
            writer.write(b"\x88\x02\x03\xe8")
            await writer.drain()
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


async def bare_reader(url: str, total: int) -> tuple[float, float]:
    """(events/s, CPU µs per event): read and json.loads, nothing else."""
    n = 0
    cpu0, t0 = time.process_time(), time.perf_counter()
    async with ws_connect(url, ping_interval=None, max_size=4 * 1024 * 1024, proxy=None) as ws:
        async for frame in ws:
            json.loads(frame)
            n += 1
            if n == total:
                break
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return total / wall, cpu / total * 1e6


async def our_reader(base_url: str, total: int, calls: int) -> tuple[float, float]:
    """(events/s, CPU µs per event) through EventConnection -> EventRouter -> one reader per call."""
    router = EventRouter()
    finished = asyncio.Event()
    seen = 0

    def count() -> None:
        nonlocal seen
        seen += 1
        if seen >= total:
            finished.set()

    router.set_fallback(lambda ev: count())

    async def reader(sub: Subscription) -> None:
        state = CallState()
        while True:
            ev = await sub.next(60)
            state.observe(ev)
            count()

    subs = []
    for i in range(calls):
        sub = router.subscription()
        sub.add_channel(f"bench-{i}-admin")
        sub.add_channel(f"bench-{i}-lead")
        sub.add_bridge(f"bench-{i}-bridge")
        subs.append(sub)
    tasks = [asyncio.create_task(reader(s)) for s in subs]
    await asyncio.sleep(0)  # every reader is waiting before the first event
    try:
        cpu0, t0 = time.process_time(), time.perf_counter()
        async with EventConnection(
            base_url,
            USER,
            PASSWORD,
            APP,
            on_event=router.dispatch,
            ping_interval=None,
            backoff_initial=600.0,  # the replay server sends once: never reconnect for more
        ):
            await asyncio.wait_for(finished.wait(), 120)
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for sub in subs:
            sub.close()
    return total / wall, cpu / total * 1e6


@dataclass
class CapacityResult:
    ours: list[float]
    bare: list[float]
    ours_cpu_us: list[float]
    bare_cpu_us: list[float]


async def capacity_rounds(port: int, total: int, calls: int, rounds: int) -> CapacityResult:
    base_url = f"http://127.0.0.1:{port}"
    bare_url = f"ws://127.0.0.1:{port}/ari/events?app={APP}&api_key={USER}:{PASSWORD}"
    result = CapacityResult([], [], [], [])
    conn_log = logging.getLogger("ari_app.ari.connection")
    conn_log.setLevel(logging.ERROR)  # "socket closed" after each replay is expected here
    try:
        for _ in range(rounds):
            eps, cpu = await bare_reader(bare_url, total)
            result.bare.append(eps)
            result.bare_cpu_us.append(cpu)
            eps, cpu = await our_reader(base_url, total, calls)
            result.ours.append(eps)
            result.ours_cpu_us.append(cpu)
    finally:
        conn_log.setLevel(logging.NOTSET)
    return result


def capacity_phase(frames: list[str], calls: int, rounds: int, work: Path) -> CapacityResult:
    path = work / "events.jsonl"
    path.write_text("\n".join(frames) + "\n")
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve-replay", str(path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        if not ready:
            raise RuntimeError("replay server did not start within 30 s")
        port = int(proc.stdout.readline())
        return asyncio.run(asyncio.wait_for(capacity_rounds(port, len(frames), calls, rounds), 90))
    finally:
        proc.kill()
        proc.wait(10)


# -- the simulator child process ---------------------------------------------------------------------------


async def wait_ready(base_url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    auth = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}
    async with aiohttp.ClientSession(headers=auth) as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"simulator exited with {proc.returncode}")
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with http.get(f"{base_url}/ari/asterisk/ping", timeout=aiohttp.ClientTimeout(2)) as r:
                    if r.status == 200:
                        return
            await asyncio.sleep(0.2)
    raise TimeoutError("simulator did not start")


async def simulated_load(
    base_url: str, sim: subprocess.Popen[bytes], opts: argparse.Namespace
) -> tuple[LoadResult, float]:
    """The load phase and the simulator's CPU seconds during it (its start-up left out)."""
    await wait_ready(base_url, sim, 30)
    cpu0 = _proc_cpu(sim.pid)
    # Bounded: the ramp, the talk and every step's own timeout, whatever the options say.
    bound = opts.calls / opts.rate + opts.talk + 4 * WAIT + 30
    load = await asyncio.wait_for(load_phase(base_url, opts.calls, opts.rate, opts.talk), bound)
    return load, _proc_cpu(sim.pid) - cpu0


def run(opts: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-ari-") as tmp:
        work = Path(tmp)
        scenario = work / "callees.toml"
        scenario.write_text(SCENARIO.format(talk=opts.talk))
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        with open(work / "simulator.log", "wb") as sim_log:
            sim = subprocess.Popen(
                [sys.executable, "-m", "ari_app.simulator", "--host", "127.0.0.1", "--port", str(port)]
                + ["--ari-user", USER, "--ari-password", PASSWORD, "--scenario", str(scenario)]
                + ["--speed", "1"],
                stdout=subprocess.DEVNULL,
                stderr=sim_log,
                cwd=ROOT,
            )
            try:
                load, sim_cpu = asyncio.run(simulated_load(base_url, sim, opts))
            finally:
                sim.kill()
                sim.wait(10)
        if opts.save_events:
            Path(opts.save_events).write_text("\n".join(load.frames) + "\n")
        capacity = capacity_phase(load.frames, opts.calls, opts.rounds, work)

    errors = sum(load.errors.values()) + (1 if load.leftover_channels else 0)
    eps, bare = statistics.median(capacity.ours), statistics.median(capacity.bare)
    lag50, lag99 = percentile(load.lags, 0.50) * 1e3, percentile(load.lags, 0.99) * 1e3
    cpu_ms = load.cpu / load.calls * 1e3
    offered = load.events / load.wall
    print(
        f"load: {load.calls} lifecycles at {opts.rate:g}/s, talk {opts.talk:g} s; {load.done} completed in "
        f"{load.wall:.1f} s; peak {load.peak} channels; {load.events} events "
        f"({load.events / load.calls:.1f} per call)"
    )
    print(
        f"client: {load.cpu:.2f} s CPU = {cpu_ms:.2f} ms per lifecycle; loop lag p50 {lag50:.2f} ms, "
        f"p99 {lag99:.2f} ms, max {max(load.lags) * 1e3:.1f} ms; offered {offered:.0f} events/s"
    )
    if sim_cpu == sim_cpu:  # not NaN
        print(f"simulator: {sim_cpu:.2f} s CPU = {sim_cpu / load.calls * 1e3:.2f} ms per lifecycle")
    for what, n in load.errors.most_common(5):
        print(f"error x{n}: {what}")
    if load.leftover_channels:
        print(f"error: {load.leftover_channels} channels left on the PBX")
    ok = eps / bare >= 0.3 and lag99 < 50 and errors == 0 and load.peak >= 2 * load.calls
    print(
        f"capacity, median of {opts.rounds} replays of the {load.events} recorded events: "
        f"ours {eps:.0f} events/s ({statistics.median(capacity.ours_cpu_us):.1f} µs CPU each), "
        f"bare websockets+json.loads {bare:.0f} events/s "
        f"({statistics.median(capacity.bare_cpu_us):.1f} µs CPU each)"
    )
    print(
        f"calls={load.calls} completed={load.done} peak_channels={load.peak} "
        f"load_events_per_s={offered:.0f} events_per_s={eps:.0f} bare_events_per_s={bare:.0f} "
        f"ratio={eps / bare:.2f} cpu_ms_per_call={cpu_ms:.2f} lag_p50_ms={lag50:.2f} lag_p99_ms={lag99:.2f} "
        f"errors={errors} ok={ok}"
    )


def _proc_cpu(pid: int) -> float:
    """User + system CPU seconds of another process, from /proc (NaN where there is no /proc)."""
    try:
        fields_ = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields_[11]) + int(fields_[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=500, help="lifecycles (2 channels each)")
    ap.add_argument("--rate", type=float, default=50.0, help="new lifecycles per second")
    ap.add_argument("--talk", type=float, default=15.0, help="seconds the lead talks once bridged")
    ap.add_argument("--rounds", type=int, default=5, help="replays of the event stream per reader")
    ap.add_argument("--save-events", help="also write the recorded event stream here (one JSON per line)")
    ap.add_argument("--serve-replay", help=argparse.SUPPRESS)
    opts = ap.parse_args()
    if opts.serve_replay:
        blob = b"".join(_ws_frame(line.encode()) for line in Path(opts.serve_replay).read_text().splitlines())
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve_replay(blob))
        return
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    run(opts)


if __name__ == "__main__":
    main()
