"""An application's event filter (``PUT /applications/{app}/eventFilter``): what the worker asks of Asterisk
so the event types it never reads (``calls.runner.UNREAD_EVENTS``) are not sent to it."""

from __future__ import annotations

import uuid

import pytest

from ari_app.ari import AriBadRequest, AriClient, AriNotFound
from ari_app.ari.events import ChannelDestroyed, ChannelVarset, Event, StasisStart
from ari_app.calls.runner import UNREAD_EVENTS

from .conftest import Events, Peer
from .helpers import wait_for_event


async def _set_then_hang_up(
    ari: AriClient, events: Events, peer: Peer, app_name: str, value: str
) -> list[Event]:
    """A channel in the application gets a variable set, then is hung up: every event it got, in order."""
    channel_id = f"ct-{uuid.uuid4().hex[:12]}"
    seen: list[Event] = []
    with events.router.subscription() as sub:
        sub.add_channel(channel_id)
        await ari.create_channel(peer.endpoint("sim-answer"), channel_id=channel_id, app=app_name)
        await wait_for_event(sub, StasisStart, seen=seen)
        await ari.set_variable(channel_id, "CALLBACK_NOTE", value)
        await ari.hangup(channel_id)
        await wait_for_event(sub, ChannelDestroyed, seen=seen)
    return seen


async def test_a_disallowed_type_is_not_sent_and_clearing_the_filter_brings_it_back(
    ari: AriClient, events: Events, peer: Peer, app_name: str
) -> None:
    app = await ari.filter_events(app_name, disallowed=UNREAD_EVENTS)
    assert [f["type"] for f in app["events_disallowed"]] == list(UNREAD_EVENTS)
    assert app["events_allowed"] == []
    assert (await ari.get_application(app_name))["events_disallowed"] == app["events_disallowed"]

    seen = await _set_then_hang_up(ari, events, peer, app_name, "filtered")
    assert not [e for e in seen if isinstance(e, ChannelVarset)]
    assert {"StasisStart", "ChannelDestroyed"} <= {e.type for e in seen}  # the rest still comes

    cleared = await ari.filter_events(app_name)  # no lists: both cleared (Asterisk's rule for `{}`)
    assert cleared["events_disallowed"] == [] and cleared["events_allowed"] == []
    seen = await _set_then_hang_up(ari, events, peer, app_name, "sent")
    assert [e.value for e in seen if isinstance(e, ChannelVarset) and e.variable == "CALLBACK_NOTE"] == [
        "sent"
    ]


async def test_an_allowed_list_sends_only_its_types_and_disallowed_wins(
    ari: AriClient, events: Events, peer: Peer, app_name: str
) -> None:
    await ari.filter_events(
        app_name, allowed=["StasisStart", "ChannelDestroyed", "ChannelVarset"], disallowed=["ChannelVarset"]
    )
    seen = await _set_then_hang_up(ari, events, peer, app_name, "x")
    assert {e.type for e in seen} == {"StasisStart", "ChannelDestroyed"}

    # Only the allowed list given: the disallowed one is left as it was.
    app = await ari.filter_events(app_name, allowed=[])
    assert app["events_allowed"] == [] and [f["type"] for f in app["events_disallowed"]] == ["ChannelVarset"]


async def test_a_filter_for_an_unknown_application_or_without_a_type_is_refused(
    ari: AriClient, events: Events, app_name: str
) -> None:
    with pytest.raises(AriNotFound):
        await ari.filter_events(f"never-connected-{uuid.uuid4().hex[:8]}", disallowed=["ChannelVarset"])
    with pytest.raises(AriBadRequest):
        await ari.filter_events(app_name, disallowed=[""])
    assert (await ari.get_application(app_name))["events_disallowed"] == []  # nothing was set
