"""Keys pressed on a bridged SIP leg reach the application only if the bridge asks for them
(recording 16, issue 15 C).

A plain `mixing` bridge of two SIP legs goes native RTP the moment the second joins: the keys travel
between the phones (the other party hears them) and no ChannelDtmfReceived arrives. `mixing,dtmf_events`
keeps the media in Asterisk and reports every key. The bridge says `bridge_type: mixing` either way.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from ari_app.ari import AriClient
from ari_app.ari.events import ChannelDtmfReceived, ChannelEnteredBridge, Event, StasisStart

from .conftest import Events, Peer
from .helpers import wait_for_event

ADMIN = "admin-press1-then9"  # a SIP phone: answers, presses 1 at ~2 s and 9 at ~12 s after answering
ALL_PRESSED = 15.0  # call seconds after the admin answered by which both keys were pressed


@pytest.mark.parametrize(
    ("bridge_type", "technology", "keys_to_app"),
    [("mixing", "native_rtp", ""), ("mixing,dtmf_events", "simple_bridge", "19")],
    ids=["mixing", "mixing-dtmf_events"],
)
async def test_keys_from_a_bridged_sip_leg_reach_the_app_only_with_dtmf_events(
    ari: AriClient,
    events: Events,
    peer: Peer,
    app_name: str,
    hangup_later: list[str],
    bridge_type: str,
    technology: str,
    keys_to_app: str,
) -> None:
    tag = uuid.uuid4().hex[:8]
    admin, lead, bridge_id = f"ct-{tag}-admin", f"ct-{tag}-lead", f"ct-{tag}-bridge"
    hangup_later.extend([admin, lead])
    sub = events.router.subscription()
    for cid in (lead, admin):
        sub.add_channel(cid)
    await ari.originate(peer.endpoint("sim-answer"), channel_id=lead, app=app_name, timeout=20)
    await wait_for_event(sub, StasisStart, lambda e: e.channel.id == lead)
    await ari.originate(peer.admin(ADMIN), channel_id=admin, app=app_name, timeout=20)
    await wait_for_event(sub, StasisStart, lambda e: e.channel.id == admin)
    answered = asyncio.get_running_loop().time()

    bridge = await ari.create_bridge(bridge_type=bridge_type, bridge_id=bridge_id)
    assert bridge.bridge_type == "mixing"  # dtmf_events is not echoed back
    seen: list[Event] = []
    await ari.add_channel(bridge_id, [admin, lead])
    for cid in (admin, lead):
        await wait_for_event(
            sub, ChannelEnteredBridge, lambda e, c=cid: e.channel is not None and e.channel.id == c, seen=seen
        )
    assert asyncio.get_running_loop().time() - answered < peer.wall(2.0), "bridged too late for the 1"
    assert (await ari.get_bridge(bridge_id)).technology == technology

    deadline = answered + peer.wall(ALL_PRESSED)
    while (left := deadline - asyncio.get_running_loop().time()) > 0:
        try:
            seen.append(await sub.next(left))
        except TimeoutError:
            break
    keys = "".join(e.digit for e in seen if isinstance(e, ChannelDtmfReceived) and e.channel.id == admin)
    assert keys == keys_to_app
    if not peer.real:
        admin_call = await peer.simulator("GET", f"/_simulator/calls/{admin}")
        lead_call = await peer.simulator("GET", f"/_simulator/calls/{lead}")
        assert admin_call["dtmf_pressed"] == "19"
        assert lead_call["dtmf_heard"] == "19"  # the other party hears the keys either way
    await ari.destroy_bridge(bridge_id)
