"""Where a callee's keys go (recording 16), and scenario keys that make a callee press them later."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ari_app.simulator import Scenario
from ari_app.simulator.scenario import ScenarioError

from .conftest import APP, Client, Events

SCENARIO = Scenario.from_dict(
    {
        "defaults": {"answer_after": 0.2, "talk": 60},
        "callee": [
            {
                "match": "PJSIP/admin-press1-then9",
                "answer_after": 0.2,
                "presses": [{"dtmf": "1", "after": 2}, {"dtmf": "9", "after": 12}],
            },
            # the same, with room for a loaded machine to set the bridge up before the first key
            {"match": "PJSIP/admin-later", "presses": [{"dtmf": "1", "after": 4}, {"dtmf": "9", "after": 8}]},
            # a key timed from the bridge, not from the answer
            {"match": "PJSIP/admin-in-bridge", "presses": [{"dtmf": "9", "after": 3, "since": "bridged"}]},
            {"match": "lead", "answer_after": 0.2, "talk": 60},
        ],
    }
)


async def _answered(client: Client, events: Events, cid: str, endpoint: str) -> None:
    await client.call("POST", "/channels", {"endpoint": endpoint, "app": APP, "channelId": cid})
    await events.wait_type("StasisStart", cid)


async def _bridge(client: Client, bridge_type: str, *channels: str) -> dict[str, Any]:
    _, bridge = await client.call("POST", "/bridges", {"type": bridge_type, "bridgeId": "br"})
    await client.call("POST", "/bridges/br/addChannel", {"channel": ",".join(channels)})
    return bridge


@pytest.mark.parametrize(
    ("bridge_type", "lead", "technology", "to_app"),
    [
        ("mixing", "PJSIP/lead@trunk", "native_rtp", ""),
        ("mixing,dtmf_events", "PJSIP/lead@trunk", "simple_bridge", "19"),
        ("dtmf_events,mixing", "PJSIP/lead@trunk", "simple_bridge", "19"),
        ("mixing", "Local/lead@from-internal", "simple_bridge", "19"),  # a Local leg has no RTP to bridge
    ],
)
async def test_keys_pressed_while_bridged_reach_the_app_only_when_the_bridge_is_not_native(
    simulator: Any, bridge_type: str, lead: str, technology: str, to_app: str
) -> None:
    async with simulator(scenario=SCENARIO, speed=20) as (client, _):
        events = await client.events()
        await _answered(client, events, "lead", lead)
        await _answered(client, events, "adm", "PJSIP/admin-later")
        created = await _bridge(client, bridge_type, "adm", "lead")
        assert created["bridge_type"] == "mixing"  # dtmf_events is not echoed back
        assert (await client.call("GET", "/bridges/br"))[1]["technology"] == technology
        await asyncio.sleep(9 / 20)  # both presses are due by 8 s after answer
        _, admin = await client.call("GET", "/_simulator/calls/adm")
        await asyncio.sleep(0.05)
        _, lead_call = await client.call("GET", "/_simulator/calls/lead")
        await events.close()
    delivered = "".join(e["digit"] for e in events.items if e["type"] == "ChannelDtmfReceived")
    assert (admin["dtmf_pressed"], admin["dtmf_to_app"], delivered) == ("19", to_app, to_app)
    assert lead_call["dtmf_heard"] == "19"  # the other party hears the keys in every case


async def test_keys_pressed_outside_a_bridge_reach_the_app(simulator: Any) -> None:
    async with simulator(scenario=SCENARIO, speed=40) as (client, _):
        events = await client.events()
        await _answered(client, events, "adm", "PJSIP/admin-press1-then9")
        first = await events.wait_type("ChannelDtmfReceived", "adm")
        await _bridge(client, "mixing", "adm")  # alone in a bridge: nothing to bridge natively
        second = await events.wait_type("ChannelDtmfReceived", "adm", digit="9")
        await events.close()
    assert (first["digit"], second["digit"]) == ("1", "9")


async def test_native_bridge_falls_back_when_a_leg_leaves(simulator: Any) -> None:
    async with simulator(scenario=SCENARIO, speed=40) as (client, _):
        events = await client.events()
        await _answered(client, events, "adm", "PJSIP/admin-press1-then9")
        await _answered(client, events, "lead", "PJSIP/lead@trunk")
        await _bridge(client, "mixing", "adm", "lead")
        entered = [await events.wait_type("ChannelEnteredBridge", cid) for cid in ("adm", "lead")]
        assert [e["bridge"]["technology"] for e in entered] == ["simple_bridge", "simple_bridge"]
        await client.call("POST", "/bridges/br/removeChannel", {"channel": "lead"})
        left = await events.wait_type("ChannelLeftBridge", "lead")
        assert left["bridge"]["technology"] == "native_rtp"  # as recorded: the switch shows only here
        assert (await client.call("GET", "/bridges/br"))[1]["technology"] == "simple_bridge"
        await events.close()


@pytest.mark.parametrize(
    ("stop_during", "waits"), [("digits:4155550101", True), ("sound:hello-world", False)]
)
async def test_add_channel_answers_only_when_the_channels_playback_really_ended(
    simulator: Any, stop_during: str, waits: bool
) -> None:
    """A stop that Asterisk ignores (during digits) keeps the channel busy: addChannel waits for the rest."""
    playlist = "sound:hello-world,digits:4155550101,sound:hello-world"
    async with simulator(scenario=SCENARIO, speed=20) as (client, _):
        events = await client.events()
        await _answered(client, events, "lead", "PJSIP/lead@trunk")
        await client.call("POST", "/channels/lead/play", {"media": playlist, "playbackId": "w"})
        stopped_in = await events.wait_for(
            lambda e: e["type"] == "PlaybackStarted" and e["playback"]["media_uri"] == stop_during
        )
        assert (await client.call("DELETE", "/playbacks/w"))[0] == 204
        await client.call("POST", "/bridges", {"type": "mixing", "bridgeId": "br"})
        assert (await client.call("POST", "/bridges/br/addChannel", {"channel": "lead"}))[0] == 204
        entered = await events.wait_type("ChannelEnteredBridge", "lead")
        finished = await events.wait_type("PlaybackFinished")
        await events.close()
    assert _seconds(entered["timestamp"]) >= _seconds(finished["timestamp"])
    held = _seconds(entered["timestamp"]) - _seconds(stopped_in["timestamp"])
    if waits:  # nine more digits and the last sound, in call time
        assert held > 4.0
    else:
        assert held < 0.5


def _seconds(timestamp: str) -> float:
    hh, mm, ss = timestamp[11:23].split(":")
    return int(hh) * 3600 + int(mm) * 60 + float(ss)


async def test_a_key_timed_from_the_bridge_waits_for_the_bridge(simulator: Any) -> None:
    async with simulator(scenario=SCENARIO, speed=40) as (client, _):
        events = await client.events()
        await _answered(client, events, "adm", "PJSIP/admin-in-bridge")
        await asyncio.sleep(5 / 40)  # past 3 s after the answer: not pressed, never bridged yet
        _, before = await client.call("GET", "/_simulator/calls/adm")
        await _bridge(client, "mixing,dtmf_events", "adm")
        entered = await events.wait_type("ChannelEnteredBridge", "adm")
        pressed = await events.wait_type("ChannelDtmfReceived", "adm", digit="9")
        await events.close()
    assert before["dtmf_pressed"] == ""
    assert _seconds(pressed["timestamp"]) - _seconds(entered["timestamp"]) >= 3.0  # in call time


def test_presses_are_validated_and_round_trip() -> None:
    callee = SCENARIO.to_dict()["callee"][0]
    assert callee["presses"] == [{"dtmf": "1", "after": 2.0}, {"dtmf": "9", "after": 12.0}]
    assert Scenario.from_dict(SCENARIO.to_dict()) == SCENARIO
    timed_from_bridge = SCENARIO.to_dict()["callee"][2]["presses"]
    assert timed_from_bridge == [{"dtmf": "9", "after": 3.0, "since": "bridged"}]
    for bad, key in (
        ([{"dtmf": "x", "after": 1}], "presses[0].dtmf"),
        ([{"dtmf": "1"}], "presses[0]"),
        ([{"dtmf": "1", "after": -1}], "presses[0].after"),
        ("1", "presses"),
        ([{"dtmf": "1", "after": 1, "since": "hangup"}], "presses[0].since"),
        ([{"dtmf": "1", "after": 1, "when": 2}], "presses[0]"),
    ):
        with pytest.raises(ScenarioError, match=key.replace("[", r"\[").replace("]", r"\]")):
            Scenario.from_dict({"callee": [{"match": "x", "presses": bad}]})
