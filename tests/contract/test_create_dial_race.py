"""A created channel belongs to the application only from its StasisStart on (recording 14, issue 15 A).

Asterisk answers ``POST /channels/create`` first and hands the channel to the application on another
thread. A dial sent in between is refused 409 "Channel not in Stasis application", nothing is dialled, and
the channel stays Down in the application until it is hung up. Dialling after StasisStart always works.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from ari_app.ari import AriClient, AriConflict
from ari_app.ari.events import ChannelDestroyed, Dial, Event, StasisStart

from .conftest import Events, Peer
from .helpers import wait_for_event

REAL_TRIES = 60  # a real Asterisk loses this race about 1 time in 30 (recording 14)


async def test_dial_sent_before_stasis_start_is_refused_and_dials_nothing(
    ari: AriClient, events: Events, peer: Peer, app_name: str, hangup_later: list[str]
) -> None:
    sub = events.router.subscription()
    refused: AriConflict | None = None
    tries = 0
    cid = ""
    while refused is None and tries < (REAL_TRIES if peer.real else 1):
        tries += 1
        cid = f"ct-{uuid.uuid4().hex[:10]}-race"
        sub.add_channel(cid)
        hangup_later.append(cid)
        await ari.create_channel(peer.endpoint("sim-answer"), channel_id=cid, app=app_name)
        try:
            await ari.dial(cid, timeout=10)  # at once, without waiting for StasisStart
        except AriConflict as exc:
            refused = exc
        else:
            await ari.hangup(cid)  # the real Asterisk won this time; try again
    if refused is None and peer.real:
        pytest.skip(f"the real Asterisk accepted all {tries} early dials: the race was not hit")
    assert refused is not None, "the simulator must refuse a dial sent before StasisStart, every time"
    assert refused.status == 409
    assert refused.ari_message == "Channel not in Stasis application"

    seen: list[Event] = []
    start = await wait_for_event(sub, StasisStart, lambda e: e.channel.id == cid, seen=seen)
    assert start.channel.state == "Down"
    await asyncio.sleep(peer.wall(3.0))  # sim-answer, had it been dialled, would have answered by now
    while sub.pending():
        seen.append(await sub.next(1))
    assert not [e for e in seen if isinstance(e, Dial) and e.peer.id == cid], "a refused dial rang"
    assert (await ari.get_channel(cid)).state == "Down"
    assert cid in (await ari.get_application(app_name))["channel_ids"]  # it stays until hung up
    if not peer.real:
        dials = await peer.simulator("GET", "/_simulator/dials")
        assert cid not in [d["channel_id"] for d in dials]
        assert (await peer.simulator("GET", f"/_simulator/calls/{cid}"))["dials_refused"] == 1

    await ari.hangup(cid)
    destroyed = await wait_for_event(sub, ChannelDestroyed, lambda e: e.channel.id == cid)
    assert destroyed.cause == 16


async def test_dial_after_stasis_start_is_accepted_twenty_times_in_a_row(
    ari: AriClient, events: Events, peer: Peer, app_name: str, hangup_later: list[str]
) -> None:
    for _ in range(20):
        cid = f"ct-{uuid.uuid4().hex[:10]}-wait"
        sub = events.router.subscription()
        sub.add_channel(cid)  # before the create: StasisStart can come at any moment after it
        hangup_later.append(cid)
        await ari.create_channel(peer.endpoint("sim-answer"), channel_id=cid, app=app_name)
        await wait_for_event(sub, StasisStart)
        await ari.dial(cid, timeout=10)  # raises on a 409
        await wait_for_event(sub, Dial, lambda e: e.dialstatus == "ANSWER")
        await ari.hangup(cid)
        await wait_for_event(sub, ChannelDestroyed)
        sub.close()
