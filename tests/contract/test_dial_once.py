"""Dial once: a lost answer is reported as unknown and never re-sent."""

from __future__ import annotations

import pytest

from ari_app.ari import AriClient, AriOutcomeUnknown
from ari_app.ari.events import ChannelStateChange, Dial, Event, StasisStart

from .conftest import Events, Peer, needs_simulator
from .helpers import wait_for_event


@needs_simulator
async def test_lost_dial_answer_is_outcome_unknown_and_dialled_exactly_once(
    ari: AriClient, events: Events, peer: Peer, app_name: str, channel_id: str, hangup_later: list[str]
) -> None:
    sub = events.router.subscription()
    sub.add_channel(channel_id)
    hangup_later.append(channel_id)
    await ari.create_channel(peer.endpoint("sim-answer"), channel_id=channel_id, app=app_name)
    await wait_for_event(sub, StasisStart)

    # The simulator carries out the next dial, then drops the connection before answering.
    await peer.simulator("POST", "/_simulator/faults", {"drop_after": "dial"})
    with pytest.raises(AriOutcomeUnknown) as err:
        await ari.dial(channel_id, timeout=20)
    assert err.value.operation == "dial"
    assert err.value.status is None

    # Resolved from what Asterisk says, not by dialling again: the leg rang and answered.
    seen: list[Event] = []
    await wait_for_event(sub, Dial, lambda e: e.dialstatus == "ANSWER", seen=seen)
    assert any(isinstance(e, ChannelStateChange) and e.channel.state == "Up" for e in seen)
    assert (await ari.get_channel(channel_id)).state == "Up"
    dials = await peer.simulator("GET", "/_simulator/dials")
    mine = [d for d in _records(dials) if d["channel_id"] == channel_id]
    assert len(mine) == 1


def _records(body: object) -> list[dict[str, object]]:
    if isinstance(body, dict):
        body = body.get("dials", [])
    assert isinstance(body, list)
    return body


@needs_simulator
async def test_lost_originate_answer_is_resolved_from_events_not_by_dialling_again(
    ari: AriClient, events: Events, peer: Peer, app_name: str, channel_id: str, hangup_later: list[str]
) -> None:
    sub = events.router.subscription()
    sub.add_channel(channel_id)  # registered before the request, so its events are ours either way
    hangup_later.append(channel_id)
    await peer.simulator("POST", "/_simulator/faults", {"drop_after": "originate"})
    with pytest.raises(AriOutcomeUnknown):
        await ari.originate(peer.endpoint("sim-answer"), channel_id=channel_id, app=app_name, timeout=20)
    start = await wait_for_event(sub, StasisStart)
    assert start.channel.id == channel_id
    assert channel_id in (await ari.get_application(app_name))["channel_ids"]
    dials = await peer.simulator("GET", "/_simulator/dials")
    assert len([d for d in _records(dials) if d["channel_id"] == channel_id]) == 1
