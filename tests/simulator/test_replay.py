"""Replay the REST calls of real Asterisk 22 recordings against the simulator; the events must match.

Only what must differ is normalised: ids, names, timestamps, noise variables (RTP statistics, BRIDGEPEER),
and the order of events Asterisk emitted in the same millisecond.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
from collections import Counter
from typing import Any

import pytest

from ari_app.simulator import Scenario

from .conftest import APP, SAMPLES, Client, Events

SPEED = 8.0  # slow enough that the callee margins below (0.3 s simulated: 38 ms wall) survive a loaded CI
MAX_GAP = 12.0  # recorded seconds; longer idle gaps are shortened (nothing is scheduled that late)
KEPT_VARIABLES = {"STASISSTATUS", "AMDSTATUS", "AMDCAUSE"}

REPLAY_SCENARIO = Scenario.from_dict(
    {
        "defaults": {"behaviour": "answer", "answer_after": 3.0, "talk": 60},
        "callee": [
            {"match": "sim-busy", "behaviour": "busy"},
            {"match": "sim-reject", "behaviour": "reject"},
            {"match": "sim-forbidden", "behaviour": "reject"},
            {"match": "sim-congestion", "behaviour": "congestion"},
            {"match": "sim-unallocated", "behaviour": "unallocated"},
            {"match": "sim-noanswer", "behaviour": "noanswer"},
            {"match": "sim-ring-answer", "behaviour": "answer", "answer_after": 3.0},
            {
                "match": "sim-answer-hangup",
                "behaviour": "answer",
                "answer_after": 0,
                "hangup_after": 2.9,
                "hangup_cause": 16,
            },
            {"match": "sim-human", "behaviour": "answer", "answer_after": 0, "amd_after": 2.0},
            {"match": "sim-machine", "behaviour": "machine", "answer_after": 0, "amd_after": 2.6},
            {"match": "+14155550101", "behaviour": "answer", "answer_after": 2.5},
            {"match": "+14155550102", "behaviour": "busy"},
            {
                "match": "+14155550104",
                "behaviour": "machine",
                "answer_after": 0,
                "amd_after": 2.6,
                "greeting": 6.0,
                "beep": 1.0,
            },
        ],
    }
)
SOUNDS = {"beep": 0.42, "vm-goodbye": 0.5}
# Callee timings sit a few tenths of a second before the recorded requests that depend on them, so the
# replay keeps the recorded order even on a loaded machine.

RECORDINGS = [
    *(
        f"04_outcome_pjsip_{n}"
        for n in ("answer-hangup", "busy", "congestion", "forbidden", "noanswer", "reject", "unallocated")
    ),
    *(f"05_create_dial_pjsip_{n}" for n in ("busy", "congestion", "noanswer", "reject", "ring-answer")),
    "06_amd_pjsip_human",
    "06_amd_pjsip_machine",
    "10_duplicate_channel_id",
    "12_amd_machine_talk_detect_voicemail_drop",
]


def signature(e: dict[str, Any]) -> tuple[Any, ...]:
    ch = e.get("channel") or e.get("peer") or {}
    args = e.get("args")
    if args and args[0] == "amd":
        args = [args[0], args[1], args[2].split("-")[0]]  # thresholds in AMDCAUSE depend on amd.conf
    # The peer snapshot on a RINGING Dial (and on the first one, if the phone rings at once) is Down or
    # Ringing depending on a race inside Asterisk.
    state = None if e.get("dialstatus") in ("", "RINGING") else ch.get("state")
    playback = e.get("playback") or {}
    return (
        e["type"],
        state,
        e.get("cause"),
        e.get("soft"),
        e.get("dialstatus"),
        tuple(args) if args is not None else None,
        playback.get("state"),
        playback.get("media_uri"),
        playback.get("next_media_uri"),
        (e.get("bridge") or {}).get("technology"),
        e.get("digit"),
        e.get("variable"),
        e.get("value") if e.get("variable") == "AMDSTATUS" else None,
    )


def normalise(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    hangup_requested: set[str] = set()
    for e in events:
        ch = e.get("channel") or e.get("peer") or {}
        if ch.get("name", "").endswith(";2"):
            continue  # the far half of a Local channel: not simulated
        if e["type"] == "ChannelVarset" and e.get("variable") not in KEPT_VARIABLES:
            continue
        if e["type"] == "ChannelConnectedLine":
            continue  # sent as legs are bridged; not simulated (nothing in callback reads it)
        if e["type"] == "ChannelHangupRequest":
            # Asterisk repeats the request while tearing down; the first one is what an app acts on.
            key = f"{ch.get('id')}:{ch.get('name')}"
            if key in hangup_requested:
                continue
            hangup_requested.add(key)
        out.append(e)
    return out


def same_instant_groups(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Recorded events within 3 ms of each other: their relative order carries no meaning."""
    groups: list[list[dict[str, Any]]] = []
    last = None
    for e in events:
        ms = _millis(e["timestamp"])
        if groups and last is not None and ms - last <= 3:
            groups[-1].append(e)
        else:
            groups.append([e])
        last = ms
    return groups


def _millis(ts: str) -> int:
    hh, mm, rest = ts[11:23].split(":")
    return (int(hh) * 3600 + int(mm) * 60) * 1000 + round(float(rest) * 1000)


def assert_same_sequence(recorded: list[dict[str, Any]], simulated: list[dict[str, Any]]) -> None:
    rec, sim = normalise(recorded), normalise(simulated)
    assert [signature(e)[0] for e in sim].count("ChannelDestroyed") == [signature(e)[0] for e in rec].count(
        "ChannelDestroyed"
    )
    position = 0
    for group in same_instant_groups(rec):
        want = Counter(signature(e) for e in group)
        got = Counter(signature(e) for e in sim[position : position + len(group)])
        assert got == want, (
            f"at event {position}: expected {sorted(want.elements(), key=repr)}\n"
            f" got {sorted(got.elements(), key=repr)}\n"
            f"simulated: {[signature(e) for e in sim]}"
        )
        position += len(group)
    assert position == len(sim), f"extra simulated events: {[signature(e) for e in sim[position:]]}"


async def send_recorded_requests(
    client: Client, requests: list[dict[str, Any]], events: Events | None = None
) -> None:
    """Each request at its recorded time (scaled); a dial of a created channel also waits for that
    channel's StasisStart, as every recorded client did (a dial before it is refused, recording 14)."""
    # A full garbage collection mid-replay (about 30 ms) delays the simulator's timers by 0.6 s of simulated
    # time, more than the margins of REPLAY_SCENARIO: start each replay with a collected heap.
    gc.collect()
    loop = asyncio.get_running_loop()
    start = loop.time()
    t0 = requests[0]["ts"]
    offset = 0.0
    previous = t0
    for r in requests:
        offset += min(r["ts"] - previous, MAX_GAP)
        previous = r["ts"]
        await asyncio.sleep(max(0.0, start + offset / SPEED - loop.time()))
        parts = r["path"].strip("/").split("/")
        if events is not None and r["method"] == "POST" and parts[0] == "channels" and parts[-1] == "dial":
            due = loop.time()
            await events.wait_type("StasisStart", parts[1])
            start += loop.time() - due  # keep the recorded pauses after the wait
        status, body = await client.call(r["method"], r["path"], r["params"] or None, r["json"])
        assert status == r["status"], f"{r['method']} {r['path']}: {status} {body}, recorded {r['status']}"
        if isinstance(r["body"], dict) and "message" in r["body"]:
            assert body == r["body"]


async def wait_for_count(events: Events, count: int) -> None:
    with contextlib.suppress(TimeoutError):  # if some never come, the comparison says which
        await events.wait_for(lambda _: len(normalise(events.items)) >= count)
    await asyncio.sleep(0.1)  # anything extra would show up now


@pytest.mark.parametrize("name", RECORDINGS)
async def test_recording_replays_with_the_same_events(simulator: Any, name: str) -> None:
    recorded = json.loads((SAMPLES / f"{name}.json").read_text())
    requests = json.loads((SAMPLES / f"{name}.http.json").read_text())
    async with simulator(
        scenario=REPLAY_SCENARIO, speed=SPEED, sounds_durations=SOUNDS, amd_context="amd-check"
    ) as (client, _):
        events = await client.events(APP)
        await send_recorded_requests(client, requests, events)
        await wait_for_count(events, len(normalise(recorded)))
        await events.close()
    assert_same_sequence(recorded, events.items)


async def test_socket_drop_reconnect_and_replace_replays_recording_13(simulator: Any) -> None:
    """Recording 13: socket closed during a live call, reconnected, then taken over by a second socket."""
    name = "13_app_websocket_drop_reconnect_and_replace"
    recorded = json.loads((SAMPLES / f"{name}.json").read_text())
    requests = json.loads((SAMPLES / f"{name}.http.json").read_text())
    originate, get_channel, get_app, play, hangup = requests
    loop = asyncio.get_running_loop()

    async with simulator(scenario=REPLAY_SCENARIO, speed=SPEED, sounds_durations=SOUNDS) as (client, _):
        start = loop.time()

        async def at(recorded_offset: float) -> None:
            await asyncio.sleep(max(0.0, start + recorded_offset / SPEED - loop.time()))

        first = await client.events(APP)
        await client.call("POST", originate["path"], originate["params"])
        await first.wait_type("StasisStart")
        await at(5.0)
        await first.close()
        for r in (get_channel, get_app):
            status, body = await client.call(r["method"], r["path"], r["params"] or None)
            assert status == 200
        assert body["channel_ids"] == [originate["params"]["channelId"]]
        reconnected = await client.events(APP)
        await client.call("POST", play["path"], play["params"])
        await reconnected.wait_type("PlaybackFinished")
        await at(10.0)
        second = await client.events(APP)
        await reconnected.wait_type("ApplicationReplaced")
        await client.call("DELETE", hangup["path"])
        await second.wait_type("ChannelDestroyed")
        await asyncio.sleep(0.1)
        for events in (reconnected, second):
            await events.close()

    by_socket = {
        None: first.items,
        "first socket after reconnect": reconnected.items,
        "second socket, same application name": second.items,
    }
    for label, items in by_socket.items():
        assert_same_sequence([e for e in recorded if e.get("_socket") == label], items)
