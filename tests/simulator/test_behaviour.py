"""What an ARI client observes: errors, duplicate ids, socket takeover and drops, faults, inspection."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import aiohttp
import pytest

from ari_app.simulator import Scenario
from ari_app.simulator.scenario import ScenarioError

from .conftest import APP, basic_auth

SCENARIO = Scenario.from_dict(
    {
        "defaults": {"answer_after": 0.5, "talk": 30},
        "callee": [
            {"match": "PJSIP/admin2", "behaviour": "offline"},
            {"match": "+15550000017", "behaviour": "busy"},
            {
                "match": "+15550000042",
                "sequence": [{"behaviour": "noanswer"}, {"behaviour": "answer", "answer_after": 0.2}],
            },
            {"match": "+15550000099", "behaviour": "machine", "answer_after": 0.2, "greeting": 4, "beep": 1},
        ],
    }
)


async def test_rest_needs_credentials(simulator: Any) -> None:
    async with simulator() as (client, sim):
        async with aiohttp.ClientSession() as session:
            for headers in ({}, basic_auth("callback", "wrong")):
                async with session.get(f"{sim.base_url}/ari/asterisk/info", headers=headers) as resp:
                    assert resp.status == 401
                    assert await resp.json() == {"message": "Authentication required"}
        assert await client.call("GET", "/nosuchresource") == (404, {"message": "Resource not found"})
        status, ping = await client.call("GET", "/asterisk/ping")
        assert status == 200 and ping["ping"] == "pong"


@pytest.mark.parametrize(
    ("params", "status", "body"),
    [
        ({"app": APP}, 400, {"message": "Endpoint must be specified"}),
        ({"endpoint": "PJSIP/admin"}, 400, {"message": "Application or extension must be specified"}),
        ({"endpoint": "admin", "app": APP}, 400, {"message": "Invalid endpoint specified"}),
        ({"endpoint": "PJSIP/admin2", "app": APP}, 500, {"error": "Allocation failed"}),
        ({"endpoint": "PJSIP/nosuchendpoint", "app": APP}, 500, {"error": "Allocation failed"}),
        ({"endpoint": "Bogus/xyz", "app": APP}, 500, {"error": "Allocation failed"}),
        ({"endpoint": "PJSIP/+1555@nosuchtrunk", "app": APP}, 500, {"error": "Allocation failed"}),
    ],
)
async def test_originate_errors_are_asterisks(
    simulator: Any, params: dict[str, str], status: int, body: Any
) -> None:
    async with simulator(scenario=SCENARIO) as (client, _):
        assert await client.call("POST", "/channels", params) == (status, body)


async def test_endpoint_state_tells_offline_phone_from_missing_endpoint(simulator: Any) -> None:
    async with simulator(scenario=SCENARIO) as (client, _):
        status, admin2 = await client.call("GET", "/endpoints/PJSIP/admin2")
        assert (status, admin2["state"]) == (200, "offline")
        assert (await client.call("GET", "/endpoints/PJSIP/trunk"))[1]["state"] == "online"
        assert await client.call("GET", "/endpoints/PJSIP/nosuch") == (404, {"message": "Endpoint not found"})
        assert (await client.call("POST", "/channels/create", {"endpoint": "PJSIP/admin2", "app": APP}))[
            0
        ] == 500


async def test_unknown_objects_answer_404(simulator: Any) -> None:
    async with simulator() as (client, _):
        assert await client.call("GET", "/channels/nope") == (404, {"message": "Channel not found"})
        assert await client.call("DELETE", "/channels/nope") == (404, {"message": "Channel not found"})
        assert await client.call("POST", "/bridges/nope/addChannel", {"channel": "x"}) == (
            404,
            {"message": "Bridge not found"},
        )
        assert await client.call("GET", "/playbacks/nope") == (404, {"message": "Playback not found"})
        assert await client.call("GET", "/applications/nope") == (404, {"message": "Application not found"})
        assert (await client.call("POST", "/bridges", {"type": "nonsense"}))[0] == 500


async def test_duplicate_id_conflicts_only_while_the_channel_is_alive(simulator: Any) -> None:
    async with simulator(scenario=SCENARIO) as (client, _):
        events = await client.events()
        params = {"endpoint": "PJSIP/+15550000001@trunk", "app": APP, "channelId": "dup"}
        assert (await client.call("POST", "/channels", params))[0] == 200
        assert await client.call("POST", "/channels", params) == (
            409,
            {"message": "Channel with given unique ID already exists"},
        )
        assert (await client.call("DELETE", "/channels/dup"))[0] == 204
        await events.wait_type("ChannelDestroyed", "dup")
        assert (await client.call("POST", "/channels", params))[0] == 200
        _, dials = await client.call("GET", "/_simulator/dials", {"number": "+15550000001"})
        assert [d["channel_id"] for d in dials] == ["dup", "dup"]
        await events.close()


async def test_wrong_state_answers(simulator: Any) -> None:
    async with simulator(scenario=SCENARIO) as (client, _):
        events = await client.events()
        await client.call(
            "POST", "/channels/create", {"endpoint": "PJSIP/+15550000001@trunk", "app": APP, "channelId": "c"}
        )
        await events.wait_type("StasisStart", "c")
        assert await client.call("POST", "/channels/c/play", {"media": "sound:beep"}) == (
            412,
            {"message": "Channel in invalid state"},
        )
        assert (await client.call("POST", "/channels/c/dial", {"timeout": "10"}))[0] == 204
        await events.wait_type("Dial", "c", dialstatus="ANSWER")
        assert await client.call("POST", "/channels/c/dial") == (
            409,
            {"message": "Channel is not in the 'Down' state"},
        )
        # an originated channel still ringing is not in Stasis yet
        await client.call(
            "POST", "/channels", {"endpoint": "PJSIP/+15550000042@trunk", "app": APP, "channelId": "r"}
        )
        await client.call("POST", "/bridges", {"bridgeId": "b"})
        assert await client.call("POST", "/bridges/b/addChannel", {"channel": "r"}) == (
            422,
            {"message": "Channel not in Stasis application"},
        )
        assert await client.call("POST", "/bridges/b/addChannel", {"channel": "gone"}) == (
            400,
            {"message": "Channel not found"},
        )
        await events.close()


async def test_busy_through_create_and_dial_ends_with_the_cause_only(simulator: Any) -> None:
    async with simulator(scenario=SCENARIO) as (client, _):
        events = await client.events()
        await client.call(
            "POST", "/channels/create", {"endpoint": "PJSIP/+15550000017@trunk", "app": APP, "channelId": "b"}
        )
        await events.wait_type("StasisStart", "b")
        await client.call("POST", "/channels/b/dial", {"timeout": "10"})
        destroyed = await events.wait_type("ChannelDestroyed", "b")
        assert (destroyed["cause"], destroyed["cause_txt"]) == (17, "User busy")
        assert [e.get("dialstatus") for e in events.items if e["type"] == "Dial"] == [""]
        await events.close()


async def test_sequence_rings_out_first_then_answers(simulator: Any) -> None:
    async with simulator(scenario=SCENARIO) as (client, _):
        events = await client.events()
        target = {"endpoint": "PJSIP/+15550000042@trunk", "app": APP, "timeout": "1"}
        await client.call("POST", "/channels", target | {"channelId": "s1"})
        first = await events.wait_type("ChannelDestroyed", "s1")
        assert first["cause"] == 19
        await client.call("POST", "/channels", target | {"channelId": "s2", "timeout": "5"})
        await events.wait_type("StasisStart", "s2")
        await events.close()


async def test_second_socket_takes_the_application_over(simulator: Any) -> None:
    async with simulator(scenario=SCENARIO) as (client, _):
        first = await client.events()
        second = await client.events()
        await first.wait_type("ApplicationReplaced")
        await client.call(
            "POST", "/channels", {"endpoint": "PJSIP/+15550000001@trunk", "app": APP, "channelId": "x"}
        )
        await second.wait_type("StasisStart", "x")
        assert first.types() == ["ApplicationReplaced"]
        await first.close()
        await second.close()


async def test_channels_survive_a_socket_drop_and_a_reconnect_controls_them(simulator: Any) -> None:
    async with simulator(scenario=SCENARIO) as (client, _):
        events = await client.events()
        await client.call(
            "POST", "/channels", {"endpoint": "PJSIP/+15550000001@trunk", "app": APP, "channelId": "k"}
        )
        await events.wait_type("StasisStart", "k")
        await events.close()
        await asyncio.sleep(0.1)
        status, channel = await client.call("GET", "/channels/k")
        assert (status, channel["state"]) == (200, "Up")
        assert (await client.call("GET", f"/applications/{APP}"))[1]["channel_ids"] == ["k"]
        again = await client.events()
        await client.call("POST", "/channels/k/play", {"media": "sound:beep"})
        await again.wait_type("PlaybackFinished")
        await again.close()


async def test_injected_fault_drops_the_answer_but_the_call_is_made_once(simulator: Any) -> None:
    async with simulator(scenario=SCENARIO) as (client, _):
        events = await client.events()
        assert (
            await client.call("POST", "/_simulator/faults", None, {"drop_after": "originate", "count": 1})
        )[0] == 200
        with pytest.raises(aiohttp.ClientError):
            await client.call(
                "POST", "/channels", {"endpoint": "PJSIP/+15550000001@trunk", "app": APP, "channelId": "f"}
            )
        await events.wait_type("StasisStart", "f")
        assert (await client.call("GET", "/channels/f"))[0] == 200
        _, dials = await client.call("GET", "/_simulator/dials")
        assert [d["channel_id"] for d in dials] == ["f"]
        assert (await client.call("POST", "/channels", {"endpoint": "PJSIP/+15550000002@trunk", "app": APP}))[
            0
        ] == 200
        await events.close()


async def test_inspection_shows_media_amd_and_an_early_drop(simulator: Any) -> None:
    async with simulator(scenario=SCENARIO, sounds_durations={"drop": 1.0}) as (client, _):
        events = await client.events()
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
        amd = await events.wait_for(lambda e: e["type"] == "StasisStart" and e["args"][:1] == ["amd"])
        assert amd["args"][1] == "MACHINE"
        # played while the greeting is still on: it must not count as a voicemail left
        await client.call("POST", "/channels/m/play", {"media": "sound:drop", "playbackId": "early"})
        await events.wait_type("PlaybackFinished")
        await client.call("DELETE", "/channels/m")
        await events.wait_type("ChannelDestroyed", "m")
        _, call = await client.call("GET", "/_simulator/calls/m")
        assert call["amd"]["status"] == "MACHINE"
        assert call["beep_end"] is not None and call["hangup_by"] == "app"
        (record,) = call["playbacks"]
        assert record["early"] and record["cut"] and not record["finished"]
        assert record["started"] < call["beep_end"]
        _, media = await client.call("GET", "/_simulator/media")
        assert media["m"] == call["playbacks"]
        await events.close()


async def test_scenario_can_be_replaced_and_everything_reset(simulator: Any) -> None:
    async with simulator(scenario=SCENARIO) as (client, _):
        status, body = await client.call(
            "PUT", "/_simulator/scenario", None, {"callee": [{"match": "1", "behaviour": "x"}]}
        )
        assert status == 400 and "behaviour" in body["message"]
        new = {"callee": [{"match": "+15550000001", "behaviour": "busy"}]}
        assert (await client.call("PUT", "/_simulator/scenario", None, new))[0] == 200
        _, current = await client.call("GET", "/_simulator/scenario")
        assert current["callee"][0]["behaviour"] == "busy"
        await client.call("POST", "/channels", {"endpoint": "PJSIP/+15550000001@trunk", "app": APP})
        assert (await client.call("POST", "/_simulator/reset"))[0] == 204
        assert (await client.call("GET", "/_simulator/dials"))[1] == []
        assert (await client.call("GET", "/_simulator/channels"))[1] == []


async def _amd_on(client: Any, events: Any, channel_id: str, number: str, variables: dict[str, str]) -> Any:
    """Create, dial and answer ``number``, send it through the AMD context; its StasisStart back."""
    await client.call(
        "POST",
        "/channels/create",
        {"endpoint": f"PJSIP/{number}@trunk", "app": APP, "channelId": channel_id},
        {"variables": {"CALLBACK_APP": APP, **variables}},
    )
    await events.wait_type("StasisStart", channel_id)
    await client.call("POST", f"/channels/{channel_id}/dial", {"timeout": "30"})
    await events.wait_type("Dial", channel_id, dialstatus="ANSWER")
    await client.call("POST", f"/channels/{channel_id}/continue", {"context": "callback-amd"})
    return await events.wait_for(
        lambda e: e["type"] == "StasisStart" and e["channel"]["id"] == channel_id and e["args"][:1] == ["amd"]
    )


async def test_amd_answers_per_parameter_set_and_records_the_parameters_it_was_given(simulator: Any) -> None:
    # A 6 s greeting: with a long greeting allowed (greeting = 7000) AMD takes it for a person.
    scenario = Scenario.from_dict(
        {
            "callee": [
                {
                    "match": "+15550000077",
                    "behaviour": "machine",
                    "amd": [
                        {"greeting": 7000, "status": "HUMAN", "cause": "HUMAN-900-800", "after": 1.0},
                        {"initial_silence": 1000, "status": "NOTSURE"},
                    ],
                }
            ]
        }
    )
    async with simulator(scenario=scenario) as (client, _):
        events = await client.events()
        tuned = await _amd_on(client, events, "t1", "+15550000077", {"AMD_GREETING": "7000"})
        assert tuned["args"] == ["amd", "HUMAN", "HUMAN-900-800"]
        default = await _amd_on(client, events, "t2", "+15550000077", {"AMD_GREETING": ""})
        assert default["args"] == ["amd", "MACHINE", "LONGGREETING-1500-1500"]  # no set matched
        unsure = await _amd_on(client, events, "t3", "+15550000077", {"AMD_INITIAL_SILENCE": "1000"})
        assert unsure["args"] == ["amd", "NOTSURE", "TOOLONG-5000"]
        _, first = await client.call("GET", "/_simulator/calls/t1")
        assert first["amd"]["params"]["greeting"] == 7000
        assert first["amd"]["params"]["initial_silence"] == 2500  # unset: amd.conf's value
        _, second = await client.call("GET", "/_simulator/calls/t2")
        assert second["amd"]["params"]["greeting"] == 1500  # empty: amd.conf's value
        await events.close()


@pytest.mark.parametrize(
    ("amd", "message"),
    [
        ([{"status": "MAYBE"}], "callee[0].amd[0].status: must be one of MACHINE, HUMAN, NOTSURE"),
        ([{"status": "HUMAN", "gretting": 1}], "callee[0].amd[0].gretting: unknown key"),
        ([{"status": "HUMAN", "greeting": -1}], "callee[0].amd[0].greeting: must be a whole number"),
        ({"status": "HUMAN"}, "callee[0].amd: must be a list"),
    ],
)
def test_a_bad_amd_script_names_its_key(amd: Any, message: str) -> None:
    with pytest.raises(ScenarioError, match=re.escape(message)):
        Scenario.from_dict({"callee": [{"match": "1", "amd": amd}]})
