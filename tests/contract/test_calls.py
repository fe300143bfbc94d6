"""Calls as Asterisk runs them: originate, create + dial outcomes, playback, bridges, AMD."""

from __future__ import annotations

import uuid

import pytest

from ari_app.ari import AriClient, CallerId
from ari_app.ari.events import (
    ChannelDestroyed,
    ChannelEnteredBridge,
    ChannelLeftBridge,
    ChannelStateChange,
    Dial,
    Event,
    PlaybackFinished,
    PlaybackStarted,
    StasisEnd,
    StasisStart,
)

from .conftest import Events, Peer
from .helpers import wait_for_event

# Dial statuses that end a dial; "" (start), RINGING and PROGRESS don't.
_FINAL_ONLY = {"", "RINGING", "PROGRESS"}


async def test_originate_rings_answers_and_hangs_up(
    ari: AriClient, events: Events, peer: Peer, app_name: str, channel_id: str, hangup_later: list[str]
) -> None:
    sub = events.router.subscription()
    sub.add_channel(channel_id)  # before the request: we chose the id
    hangup_later.append(channel_id)
    channel = await ari.originate(
        peer.endpoint("sim-answer"),
        channel_id=channel_id,
        app=app_name,
        app_args="contract,lead,42",
        caller_id=CallerId("Callback", "5551000"),
        timeout=20,
    )
    assert channel.id == channel_id
    seen: list[Event] = []
    start = await wait_for_event(sub, StasisStart, seen=seen)
    assert start.args == ("contract", "lead", "42")
    assert start.channel.state == "Up"  # after originate into an app, StasisStart means answered
    assert start.application == app_name
    assert any(isinstance(e, Dial) and e.dialstatus == "ANSWER" for e in seen)
    assert (await ari.get_channel(channel_id)).state == "Up"
    assert channel_id in (await ari.get_application(app_name))["channel_ids"]

    await ari.hangup(channel_id)
    await wait_for_event(sub, StasisEnd, seen=seen)
    destroyed = await wait_for_event(sub, ChannelDestroyed, seen=seen)
    assert destroyed.cause == 16
    assert destroyed.cause_txt == "Normal Clearing"


OUTCOMES = [
    # callee, ChannelDestroyed cause, final Dial statuses allowed when one is present
    ("sim-busy", 17, {"BUSY"}),
    ("sim-noanswer", 19, {"NOANSWER"}),
    ("sim-reject", 21, {"NOANSWER"}),
    ("sim-congestion", 34, {"CONGESTION"}),
    ("sim-unallocated", 1, {"NOANSWER"}),
]


@pytest.mark.parametrize(("callee", "cause", "statuses"), OUTCOMES, ids=[o[0] for o in OUTCOMES])
async def test_create_and_dial_failure_outcomes(
    ari: AriClient,
    events: Events,
    peer: Peer,
    app_name: str,
    channel_id: str,
    hangup_later: list[str],
    callee: str,
    cause: int,
    statuses: set[str],
) -> None:
    sub = events.router.subscription()
    sub.add_channel(channel_id)
    hangup_later.append(channel_id)
    channel = await ari.create_channel(
        peer.endpoint(callee), channel_id=channel_id, app=app_name, app_args=f"create-dial,{callee}"
    )
    assert channel.state == "Down"
    seen: list[Event] = []
    start = await wait_for_event(sub, StasisStart, seen=seen)  # at once after create, still Down
    assert start.channel.state == "Down"
    await ari.dial(channel_id, timeout=4)
    destroyed = await wait_for_event(sub, ChannelDestroyed, seen=seen, within=20)
    assert destroyed.cause == cause
    finals = {e.dialstatus for e in seen if isinstance(e, Dial)} - _FINAL_ONLY
    assert finals <= statuses  # PJSIP create+dial failures often bring no final status at all


async def test_create_and_dial_ring_then_answer(
    ari: AriClient, events: Events, peer: Peer, app_name: str, channel_id: str, hangup_later: list[str]
) -> None:
    sub = events.router.subscription()
    sub.add_channel(channel_id)
    hangup_later.append(channel_id)
    await ari.create_channel(peer.endpoint("sim-ring-answer"), channel_id=channel_id, app=app_name)
    seen: list[Event] = []
    await wait_for_event(sub, StasisStart, seen=seen)
    await ari.dial(channel_id, timeout=20)
    await wait_for_event(sub, Dial, lambda e: e.dialstatus == "ANSWER", seen=seen)
    statuses = [e.dialstatus for e in seen if isinstance(e, Dial)]
    assert statuses.index("RINGING") < statuses.index("ANSWER")
    assert (await ari.get_channel(channel_id)).state == "Up"
    await ari.hangup(channel_id)
    destroyed = await wait_for_event(sub, ChannelDestroyed, seen=seen)
    assert destroyed.cause == 16


async def test_dial_refuses_to_ring_forever(ari: AriClient) -> None:
    with pytest.raises(ValueError):
        await ari.dial("ct-any", timeout=0)


async def _answered_leg(ari: AriClient, events: Events, peer: Peer, app: str, cid: str) -> None:
    sub = events.router.subscription()
    sub.add_channel(cid)
    await ari.originate(peer.endpoint("sim-answer"), channel_id=cid, app=app, timeout=20)
    await wait_for_event(sub, StasisStart)
    sub.close()


async def test_playback_started_and_finished(
    ari: AriClient, events: Events, peer: Peer, app_name: str, channel_id: str, hangup_later: list[str]
) -> None:
    hangup_later.append(channel_id)
    await _answered_leg(ari, events, peer, app_name, channel_id)
    sub = events.router.subscription()
    sub.add_channel(channel_id)  # playback events route by their target_uri "channel:ID"
    playback_id = f"{channel_id}-beep"
    playback = await ari.play(channel_id, "sound:beep", playback_id=playback_id)
    assert playback.id == playback_id
    assert playback.target_uri == f"channel:{channel_id}"
    started = await wait_for_event(sub, PlaybackStarted)
    assert started.playback.id == playback_id
    finished = await wait_for_event(sub, PlaybackFinished)
    assert finished.playback.id == playback_id
    assert finished.playback.state == "done"
    assert finished.channel_ids() == (channel_id,)


async def test_bridge_add_remove_with_events(
    ari: AriClient, events: Events, peer: Peer, app_name: str, hangup_later: list[str]
) -> None:
    admin, lead = f"ct-{uuid.uuid4().hex[:8]}-admin", f"ct-{uuid.uuid4().hex[:8]}-lead"
    hangup_later.extend([admin, lead])
    await _answered_leg(ari, events, peer, app_name, admin)
    await _answered_leg(ari, events, peer, app_name, lead)
    bridge_id = f"ct-{uuid.uuid4().hex[:8]}-bridge"
    sub = events.router.subscription()
    sub.add_bridge(bridge_id)
    sub.add_channel(admin)
    sub.add_channel(lead)
    bridge = await ari.create_bridge(bridge_id=bridge_id, name="contract")
    assert bridge.id == bridge_id
    assert "mixing" in bridge.bridge_type

    await ari.add_channel(bridge_id, [admin, lead])
    entered: set[str] = set()
    while entered != {admin, lead}:
        event = await wait_for_event(sub, ChannelEnteredBridge)
        assert event.bridge.id == bridge_id
        assert event.channel is not None
        entered.add(event.channel.id)
    assert set((await ari.get_bridge(bridge_id)).channels) == {admin, lead}

    await ari.remove_channel(bridge_id, lead)
    left = await wait_for_event(sub, ChannelLeftBridge)
    assert left.channel is not None and left.channel.id == lead
    assert (await ari.get_bridge(bridge_id)).channels == (admin,)
    await ari.destroy_bridge(bridge_id)


async def test_amd_round_trip_through_the_dialplan(
    ari: AriClient, events: Events, peer: Peer, app_name: str, hangup_later: list[str]
) -> None:
    """Create + dial the lead, subscribe to its channel, continue it into the AMD context: it comes
    back into our application with StasisStart args ``amd,STATUS,CAUSE``."""
    for callee, status in (("sim-machine", "MACHINE"), ("sim-human", "HUMAN")):
        cid = f"ct-{uuid.uuid4().hex[:8]}-amd"
        hangup_later.append(cid)
        sub = events.router.subscription()
        sub.add_channel(cid)
        await ari.create_channel(
            peer.endpoint(callee), channel_id=cid, app=app_name, variables={"CALLBACK_APP": app_name}
        )
        await wait_for_event(sub, StasisStart)
        await ari.dial(cid, timeout=20)
        await wait_for_event(sub, ChannelStateChange, lambda e: e.channel.state == "Up")
        await ari.subscribe(app_name, f"channel:{cid}")
        await ari.continue_in_dialplan(cid, context=peer.amd_context, extension=peer.amd_extension)
        await wait_for_event(sub, StasisEnd)
        back = await wait_for_event(sub, StasisStart, within=20)
        assert back.args[:2] == ("amd", status)
        assert len(back.args) == 3 and back.args[2]
        await ari.hangup(cid)
        await wait_for_event(sub, ChannelDestroyed)
        sub.close()
