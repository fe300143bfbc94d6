"""Routing by channel and bridge id, and parsing real Asterisk 22 recordings.

These need no peer: they pin down what the router and parser do with frames shaped exactly like the
ones a real Asterisk sent (``tests/recordings``).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from ari_app.ari import EventRouter, SubscriptionClosed, UnknownEvent, parse_event
from ari_app.ari.events import (
    ChannelDestroyed,
    ChannelVarset,
    Dial,
    Event,
    MalformedEvent,
    PlaybackStarted,
    StasisStart,
)

SAMPLES = Path(__file__).resolve().parents[1] / "recordings"


def _channel(cid: str, state: str = "Up") -> dict[str, Any]:
    return {"id": cid, "name": f"PJSIP/trunk-{cid}", "state": state, "caller": {"name": "", "number": ""}}


def _event(kind: str, **fields: Any) -> Event:
    return parse_event({"type": kind, "application": "app", "timestamp": "t", **fields})


async def test_each_owner_gets_its_events_in_order_and_shared_ones_once() -> None:
    router = EventRouter()
    admin, lead = router.subscription(), router.subscription()
    admin.add_channel("cb-1-admin-1")
    lead.add_channel("cb-1-lead-1")
    lead.add_bridge("cb-1-bridge")
    router.dispatch(_event("StasisStart", args=[], channel=_channel("cb-1-admin-1")))
    router.dispatch(
        _event("Dial", dialstatus="RINGING", peer=_channel("cb-1-lead-1"), caller=_channel("cb-1-admin-1"))
    )
    router.dispatch(_event("PlaybackStarted", playback={"id": "p", "target_uri": "bridge:cb-1-bridge"}))
    router.dispatch(
        _event("ChannelDestroyed", cause=17, cause_txt="User busy", channel=_channel("cb-1-lead-1"))
    )

    assert [e.type for e in [await admin.next(1), await admin.next(1)]] == ["StasisStart", "Dial"]
    got = [await lead.next(1) for _ in range(3)]
    assert [type(e) for e in got] == [Dial, PlaybackStarted, ChannelDestroyed]
    assert admin.pending() == 0 and lead.pending() == 0
    assert router.unrouted == 0


async def test_unowned_events_go_to_the_fallback_and_are_counted() -> None:
    router = EventRouter()
    fallback: list[Event] = []
    router.set_fallback(fallback.append)
    router.dispatch(_event("StasisStart", args=[], channel=_channel("from-before-a-restart")))
    router.dispatch(_event("ApplicationReplaced"))
    assert router.unrouted == 2
    assert [e.type for e in fallback] == ["StasisStart", "ApplicationReplaced"]


async def test_next_times_out_and_close_releases_ids() -> None:
    router = EventRouter()
    sub = router.subscription()
    sub.add_channel("c1")
    with pytest.raises(TimeoutError):
        await sub.next(0.01)
    other = router.subscription()
    with pytest.raises(ValueError):
        other.add_channel("c1")  # one owner per channel
    router.dispatch(_event("StasisEnd", channel=_channel("c1")))
    sub.close()
    assert (await sub.next(1)).type == "StasisEnd"  # what was queued before close is still read
    with pytest.raises(SubscriptionClosed):
        await sub.next(1)
    other.add_channel("c1")  # released
    sub.discard_channel("c1")  # a closed owner can't release someone else's id
    router.dispatch(_event("StasisEnd", channel=_channel("c1")))
    assert other.pending() == 1


def test_parse_rejects_frames_that_are_not_events() -> None:
    for bad in ({}, {"type": ""}, {"type": "StasisStart", "args": []}, {"type": "Dial", "dialstatus": ""}):
        with pytest.raises(MalformedEvent):
            parse_event(bad)
    unknown = parse_event({"type": "ChannelHold", "channel": {"id": "c9"}})
    assert isinstance(unknown, UnknownEvent) and unknown.channel_ids() == ("c9",)
    global_var = parse_event({"type": "ChannelVarset", "variable": "X", "value": "1"})
    assert isinstance(global_var, ChannelVarset) and global_var.channel_ids() == ()


def _recorded() -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    for path in sorted(SAMPLES.glob("[0-9]*.json")):
        if path.name.endswith(".http.json"):
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        frames.extend(data if isinstance(data, list) else [e for v in data.values() for e in v])
    return frames


def test_every_recorded_asterisk_event_parses() -> None:
    frames = _recorded()
    assert frames
    for frame in frames:
        event = parse_event(frame)
        assert event.type == frame["type"]
        if not isinstance(event, UnknownEvent):
            assert event.channel_ids() or event.bridge_ids() or event.type == "ApplicationReplaced"
    amd = [parse_event(f) for f in frames if f["type"] == "StasisStart" and f["args"][:1] == ["amd"]]
    assert amd and all(isinstance(e, StasisStart) and e.args[1] in {"HUMAN", "MACHINE"} for e in amd)


async def test_close_wakes_a_reader_that_is_waiting() -> None:
    router = EventRouter()
    sub = router.subscription()
    sub.add_channel("c1")
    reader = asyncio.create_task(sub.next(30))
    await asyncio.sleep(0)  # the reader is waiting now
    sub.close()
    with pytest.raises(SubscriptionClosed):
        await asyncio.wait_for(reader, 1)


async def test_a_cancelled_reader_loses_no_event() -> None:
    router = EventRouter()
    sub = router.subscription()
    sub.add_channel("c1")
    reader = asyncio.create_task(sub.next(30))
    await asyncio.sleep(0)
    router.dispatch(_event("StasisEnd", channel=_channel("c1")))
    reader.cancel()  # woken, but cancelled before it ran
    with pytest.raises(asyncio.CancelledError):
        await reader
    assert (await sub.next(1)).type == "StasisEnd"


def test_a_recorded_channel_gives_its_caller_dialplan_and_variables() -> None:
    checked = 0
    for frame in _recorded():
        raw = frame.get("channel")
        event = parse_event(frame)
        if not isinstance(raw, dict) or isinstance(event, UnknownEvent):
            continue
        channel = getattr(event, "channel", None)
        assert channel is not None and channel.id == raw["id"] and channel.state == raw["state"]
        assert channel.caller.number == raw["caller"]["number"]
        assert channel.connected.name == raw["connected"]["name"]
        assert channel.dialplan is not None and channel.dialplan.context == raw["dialplan"]["context"]
        assert channel.dialplan.priority == int(raw["dialplan"]["priority"])
        assert channel.creationtime == raw["creationtime"] and channel.language == raw["language"]
        assert dict(channel.channelvars) == {k: str(v) for k, v in (raw.get("channelvars") or {}).items()}
        checked += 1
    assert checked
