"""Every event type the simulator emits has the keys and value types of the real recordings."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from typing import Any

from ari_app.simulator import Scenario

from .conftest import APP, SAMPLES

TOUR = Scenario.from_dict(
    {
        "defaults": {"answer_after": 1.0, "talk": 60},
        "callee": [
            {"match": "+15550000017", "behaviour": "busy"},
            {"match": "+15550000019", "behaviour": "noanswer"},
            {"match": "+15550000099", "behaviour": "machine", "answer_after": 0.5, "greeting": 5, "beep": 1},
        ],
    }
)


def shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: shape(v) for k, v in sorted(value.items()) if k != "_socket"}
    if isinstance(value, list):
        return "list"
    return type(value).__name__


def recorded_shapes() -> dict[str, set[str]]:
    shapes: dict[str, set[str]] = defaultdict(set)
    for path in SAMPLES.glob("*.json"):
        if path.name.endswith(".http.json") or path.name.startswith("_"):
            continue
        data = json.loads(path.read_text())
        events = [e for group in data.values() for e in group] if isinstance(data, dict) else data
        for e in events:
            shapes[e["type"]].add(json.dumps(shape(e), sort_keys=True))
    return shapes


async def run_tour(client: Any) -> list[dict[str, Any]]:
    """A callback with whisper, key press, bridge, AMD + talk detection, failures and a socket takeover."""
    events = await client.events(APP)
    assert (
        await client.call("POST", "/channels", {"endpoint": "PJSIP/admin", "app": APP, "channelId": "adm"})
    )[0] == 200
    await events.wait_type("StasisStart", "adm")
    whisper = {"media": "sound:whisper,digits:15550000001,sound:press-1", "playbackId": "w"}
    await client.call("POST", "/channels/adm/play", whisper)
    await events.wait_for(lambda e: e["type"] == "PlaybackContinuing")
    await client.call("DELETE", "/playbacks/w")  # during the digits: only one digit is cut
    await events.wait_type("ChannelDtmfReceived", "adm")
    await client.call("POST", "/bridges", {"type": "mixing", "bridgeId": "br", "name": "callback-1"})
    await client.call("POST", "/bridges/br/addChannel", {"channel": "adm"})
    await client.call(
        "POST", "/channels/create", {"endpoint": "PJSIP/+15550000001@trunk", "app": APP, "channelId": "lead"}
    )
    await events.wait_type("StasisStart", "lead")
    await client.call("POST", "/channels/lead/dial", {"timeout": "30"})
    await events.wait_type("Dial", "lead", dialstatus="ANSWER")
    await client.call("POST", "/bridges/br/addChannel", {"channel": "lead"})
    await client.call("POST", "/bridges/br/play", {"media": "sound:beep"})
    await events.wait_type("PlaybackFinished")
    await client.call("DELETE", "/channels/lead")
    await client.call("DELETE", "/bridges/br")
    await client.call("DELETE", "/channels/adm")
    # failures, through originate and create + dial
    await client.call(
        "POST", "/channels", {"endpoint": "PJSIP/+15550000017@trunk", "app": APP, "channelId": "b1"}
    )
    await client.call(
        "POST", "/channels/create", {"endpoint": "PJSIP/+15550000017@trunk", "app": APP, "channelId": "b2"}
    )
    await events.wait_type("StasisStart", "b2")
    await client.call("POST", "/channels/b2/dial", {"timeout": "30"})
    await client.call(
        "POST",
        "/channels",
        {"endpoint": "PJSIP/+15550000019@trunk", "app": APP, "channelId": "n1", "timeout": "2"},
    )
    await events.wait_type("ChannelDestroyed", "n1")
    # a machine: AMD in the dialplan, talk detection
    await client.call(
        "POST",
        "/channels/create",
        {"endpoint": "PJSIP/+15550000099@trunk", "app": APP, "channelId": "m"},
        {"variables": {"CALLBACK_APP": APP}},
    )
    await events.wait_type("StasisStart", "m")
    await client.call("POST", "/channels/m/dial", {"timeout": "30"})
    await events.wait_type("Dial", "m", dialstatus="ANSWER")
    await client.call("POST", f"/applications/{APP}/subscription", {"eventSource": "channel:m"})
    await client.call("POST", "/channels/m/continue", {"context": "callback-amd"})
    await events.wait_for(lambda e: e["type"] == "StasisStart" and e["args"][:1] == ["amd"])
    await client.call("POST", "/channels/m/variable", {"variable": "TALK_DETECT(set)", "value": "1200"})
    await events.wait_type("ChannelTalkingFinished", "m")
    await client.call("DELETE", "/channels/m")
    await events.wait_type("ChannelDestroyed", "m")
    second = await client.events(APP)
    await events.wait_type("ApplicationReplaced")
    await asyncio.sleep(0.05)
    await second.close()
    await events.close()
    return events.items + second.items


async def test_every_emitted_event_has_a_recorded_shape(simulator: Any) -> None:
    known = recorded_shapes()
    async with simulator(scenario=TOUR, speed=40) as (client, _):
        emitted = await run_tour(client)
    seen_types = {e["type"] for e in emitted}
    assert {
        "Dial",
        "StasisStart",
        "ChannelDtmfReceived",
        "ChannelEnteredBridge",
        "ChannelTalkingFinished",
        "PlaybackContinuing",
    } <= seen_types
    for e in emitted:
        assert e["type"] in known, f"{e['type']} never seen from Asterisk"
        assert json.dumps(shape(e), sort_keys=True) in known[e["type"]], f"unrecorded shape: {e}"
