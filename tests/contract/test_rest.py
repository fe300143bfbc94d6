"""REST answers and errors, as Asterisk gives them."""

from __future__ import annotations

import pytest

from ari_app.ari import (
    AriBadRequest,
    AriClient,
    AriConflict,
    AriNotFound,
    AriServerError,
    AriUnauthorized,
)
from ari_app.ari.events import StasisStart

from .conftest import Events, Peer, real_asterisk_only
from .helpers import wait_for_event


async def test_info_ping_and_modules(ari: AriClient) -> None:
    info = await ari.asterisk_info()
    assert info["system"]["version"]
    assert "ping" in await ari.ping()
    modules = await ari.list_modules()
    names = {m["name"] for m in modules}
    assert "res_ari.so" in names
    module = await ari.get_module("res_ari.so")
    assert module["name"] == "res_ari.so"


@real_asterisk_only
async def test_real_asterisk_has_what_callback_needs(ari: AriClient) -> None:
    info = await ari.asterisk_info()
    assert info["system"]["version"].split(".")[0] in {"20", "21", "22", "23"}
    for name in ("res_ari.so", "app_amd.so", "chan_pjsip.so", "res_stasis.so"):
        assert (await ari.get_module(name))["status"].lower() == "running", name


async def test_wrong_password_is_unauthorized(peer: Peer) -> None:
    async with AriClient(peer.base_url, peer.user, peer.password + "-wrong", timeout=5) as bad:
        with pytest.raises(AriUnauthorized) as err:
            await bad.asterisk_info()
    assert err.value.status == 401


async def test_unknown_ids_are_not_found(ari: AriClient, app_name: str) -> None:
    with pytest.raises(AriNotFound) as err:
        await ari.get_channel("ct-no-such-channel")
    assert err.value.status == 404
    assert err.value.ari_message == "Channel not found"
    assert err.value.operation == "get_channel"
    with pytest.raises(AriNotFound):
        await ari.hangup("ct-no-such-channel")
    with pytest.raises(AriNotFound):
        await ari.play("ct-no-such-channel", "sound:beep")
    with pytest.raises(AriNotFound):
        await ari.answer("ct-no-such-channel")
    with pytest.raises(AriNotFound):
        await ari.get_bridge("ct-no-such-bridge")
    with pytest.raises(AriNotFound):
        await ari.add_channel("ct-no-such-bridge", "ct-no-such-channel")
    with pytest.raises(AriNotFound):
        await ari.get_playback("ct-no-such-playback")
    with pytest.raises(AriNotFound):
        await ari.get_application("ct-no-such-app")
    with pytest.raises(AriNotFound):
        await ari.get_endpoint("PJSIP", "ct-no-such-endpoint")


async def test_endpoint_without_technology_is_a_bad_request(ari: AriClient, app_name: str) -> None:
    with pytest.raises(AriBadRequest) as err:
        await ari.originate("lead", channel_id="ct-bad-endpoint", app=app_name)
    assert err.value.ari_message == "Invalid endpoint specified"


async def test_allocation_failed_is_a_server_error(ari: AriClient, app_name: str) -> None:
    for make in (ari.originate, ari.create_channel):
        with pytest.raises(AriServerError) as err:
            await make("PJSIP/ct-no-such-endpoint", channel_id="ct-alloc", app=app_name)
        assert err.value.status == 500
        assert err.value.allocation_failed
        assert err.value.ari_message == "Allocation failed"
    with pytest.raises(AriServerError) as err:
        await ari.originate("Bogus/xyz", channel_id="ct-alloc", app=app_name)
    assert err.value.allocation_failed


async def test_channel_id_in_use_is_a_conflict_while_alive(
    ari: AriClient, events: Events, peer: Peer, app_name: str, channel_id: str, hangup_later: list[str]
) -> None:
    sub = events.router.subscription()
    sub.add_channel(channel_id)
    hangup_later.append(channel_id)
    channel = await ari.create_channel(peer.endpoint("sim-answer"), channel_id=channel_id, app=app_name)
    assert channel.id == channel_id
    await wait_for_event(sub, StasisStart)
    with pytest.raises(AriConflict) as err:
        await ari.create_channel(peer.endpoint("sim-answer"), channel_id=channel_id, app=app_name)
    assert err.value.status == 409
    with pytest.raises(AriConflict):
        await ari.originate(peer.endpoint("sim-answer"), channel_id=channel_id, app=app_name)


async def test_variables_round_trip(
    ari: AriClient, events: Events, peer: Peer, app_name: str, channel_id: str, hangup_later: list[str]
) -> None:
    sub = events.router.subscription()
    sub.add_channel(channel_id)
    hangup_later.append(channel_id)
    await ari.create_channel(
        peer.endpoint("sim-answer"),
        channel_id=channel_id,
        app=app_name,
        variables={"CALLBACK_ATTEMPT": "42", "CALLERID(num)": "5550100", "CONNECTEDLINE(num,i)": "5550100"},
    )
    await wait_for_event(sub, StasisStart)
    assert await ari.get_variable(channel_id, "CALLBACK_ATTEMPT") == "42"
    assert await ari.get_variable(channel_id, "CALLERID(num)") == "5550100"
    await ari.set_variable(channel_id, "CALLBACK_NOTE", "hello world")
    assert await ari.get_variable(channel_id, "CALLBACK_NOTE") == "hello world"
    with pytest.raises(AriNotFound):
        await ari.get_variable(channel_id, "CALLBACK_NEVER_SET")


async def test_endpoints_and_channels_list(ari: AriClient) -> None:
    endpoints = await ari.list_endpoints()
    assert any(e.technology == "PJSIP" for e in endpoints)
    admin = await ari.get_endpoint("PJSIP", "admin")
    assert admin.resource == "admin"
    assert admin.state in {"online", "offline", "unknown"}
    assert isinstance(await ari.list_channels(), list)
