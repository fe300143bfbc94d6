"""What DELETE /playbacks/{id} really stops (recording 15, issue 15 B).

A 204 does not mean the audio stopped: during a digits: item only the digit being said is cut and the list
plays on; during a sound: item the whole list ends at once; a playback that began with digits: can't be
stopped (500). Every playback ends with PlaybackFinished ``done``, stopped or not.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from ari_app.ari import AriClient, AriServerError
from ari_app.ari.dispatch import Subscription
from ari_app.ari.events import Event, PlaybackFinished, PlaybackStarted, StasisStart

from .conftest import Events, Peer
from .helpers import wait_for_event

DIGITS = "digits:4155550101"
SHORT = f"sound:hello-world,{DIGITS},sound:hello-world"  # the whisper's shape: words, number, words
LONG = f"sound:machine-greeting,{DIGITS},sound:machine-greeting"  # sound items long enough to stop in
LIST_ENDS = 60.0  # wall seconds a whole list may take on a real Asterisk


async def _answered(
    ari: AriClient, events: Events, peer: Peer, app: str, hangup_later: list[str]
) -> tuple[str, Subscription]:
    cid = f"ct-{uuid.uuid4().hex[:10]}-play"
    sub = events.router.subscription()
    sub.add_channel(cid)  # playback events route by their target_uri "channel:ID"
    hangup_later.append(cid)
    await ari.originate(peer.endpoint("sim-answer"), channel_id=cid, app=app, timeout=20)
    await wait_for_event(sub, StasisStart)
    return cid, sub


async def _started(sub: Subscription, pid: str, media: str, seen: list[Event] | None = None) -> None:
    def is_it(e: PlaybackStarted) -> bool:
        return e.playback.id == pid and e.playback.media_uri == media

    await wait_for_event(sub, PlaybackStarted, is_it, within=LIST_ENDS, seen=seen)


async def _finished(sub: Subscription, pid: str, seen: list[Event]) -> PlaybackFinished:
    finished = await wait_for_event(
        sub, PlaybackFinished, lambda e: e.playback.id == pid, seen=seen, within=LIST_ENDS
    )
    assert finished.playback.state == "done"  # never "stopped"
    return finished


def _items_started_after_stop(seen: list[Event], pid: str) -> list[str]:
    return [e.playback.media_uri for e in seen if isinstance(e, PlaybackStarted) and e.playback.id == pid]


async def _record(peer: Peer, cid: str, pid: str) -> dict[str, Any] | None:
    """The simulator's account of what the channel heard (None on a real Asterisk)."""
    if peer.real:
        return None
    call = await peer.simulator("GET", f"/_simulator/calls/{cid}")
    (record,) = [p for p in call["playbacks"] if p["playback_id"] == pid]
    return record


async def test_stop_during_spoken_digits_is_answered_but_the_list_plays_on(
    ari: AriClient, events: Events, peer: Peer, app_name: str, hangup_later: list[str]
) -> None:
    cid, sub = await _answered(ari, events, peer, app_name, hangup_later)
    pid = f"{cid}-a"
    queued = await ari.play(cid, SHORT, playback_id=pid)
    assert queued.media_uri == "sound:hello-world"
    await _started(sub, pid, DIGITS)
    await asyncio.sleep(peer.wall(1.0))
    await ari.stop_playback(pid)  # 204
    seen: list[Event] = []
    finished = await _finished(sub, pid, seen)
    assert _items_started_after_stop(seen, pid) == ["sound:hello-world"]  # the list went on
    assert finished.playback.media_uri == "sound:hello-world"
    record = await _record(peer, cid, pid)
    if record is not None:
        assert [i["played"] for i in record["items"]] == ["whole", "whole", "whole"]
        assert record["items"][1]["units_cut"] == 1 and record["finished"] and not record["cut"]


async def test_stop_during_a_sound_item_ends_the_whole_list_at_once(
    ari: AriClient, events: Events, peer: Peer, app_name: str, hangup_later: list[str]
) -> None:
    cid, sub = await _answered(ari, events, peer, app_name, hangup_later)
    pid = f"{cid}-b"
    await ari.play(cid, LONG, playback_id=pid)
    await _started(sub, pid, "sound:machine-greeting")
    await asyncio.sleep(peer.wall(0.5))
    loop = asyncio.get_running_loop()
    stopped_at = loop.time()
    await ari.stop_playback(pid)
    seen: list[Event] = []
    finished = await _finished(sub, pid, seen)
    assert loop.time() - stopped_at < peer.wall(3.0)  # the item had 6 s to go
    assert _items_started_after_stop(seen, pid) == []
    assert finished.playback.media_uri == "sound:machine-greeting"
    assert finished.raw["playback"].get("next_media_uri") == DIGITS  # as Asterisk says it: not played
    record = await _record(peer, cid, pid)
    if record is not None:
        assert [i["played"] for i in record["items"]] == ["cut", "not_played", "not_played"]


async def test_a_playback_of_digits_alone_cannot_be_stopped(
    ari: AriClient, events: Events, peer: Peer, app_name: str, hangup_later: list[str]
) -> None:
    cid, sub = await _answered(ari, events, peer, app_name, hangup_later)
    pid = f"{cid}-c"
    await ari.play(cid, DIGITS, playback_id=pid)
    await _started(sub, pid, DIGITS)
    await asyncio.sleep(peer.wall(1.0))
    loop = asyncio.get_running_loop()
    refused_at = loop.time()
    with pytest.raises(AriServerError) as err:
        await ari.stop_playback(pid)
    assert (err.value.status, err.value.ari_message) == (500, "Could not stop playback")
    await _finished(sub, pid, [])
    assert loop.time() - refused_at > peer.wall(2.0)  # every digit was still said
    record = await _record(peer, cid, pid)
    if record is not None:
        assert record["finished"] and [s["status"] for s in record["stops"]] == [500]


async def test_a_sound_alone_stops_at_once(
    ari: AriClient, events: Events, peer: Peer, app_name: str, hangup_later: list[str]
) -> None:
    cid, sub = await _answered(ari, events, peer, app_name, hangup_later)
    pid = f"{cid}-d"
    await ari.play(cid, "sound:machine-greeting", playback_id=pid)
    await _started(sub, pid, "sound:machine-greeting")
    await asyncio.sleep(peer.wall(1.0))
    loop = asyncio.get_running_loop()
    stopped_at = loop.time()
    await ari.stop_playback(pid)
    await _finished(sub, pid, [])
    assert loop.time() - stopped_at < peer.wall(3.0)


async def test_a_second_stop_during_the_last_sound_item_ends_the_list(
    ari: AriClient, events: Events, peer: Peer, app_name: str, hangup_later: list[str]
) -> None:
    cid, sub = await _answered(ari, events, peer, app_name, hangup_later)
    pid = f"{cid}-e"
    await ari.play(cid, LONG, playback_id=pid)
    await _started(sub, pid, DIGITS)
    await asyncio.sleep(peer.wall(1.0))
    await ari.stop_playback(pid)  # ignored but for one digit, as in the first test
    seen: list[Event] = []
    await _started(sub, pid, "sound:machine-greeting", seen=seen)
    assert not [e for e in seen if isinstance(e, PlaybackFinished)]
    await asyncio.sleep(peer.wall(0.4))
    loop = asyncio.get_running_loop()
    stopped_at = loop.time()
    await ari.stop_playback(pid)
    await _finished(sub, pid, [])
    assert loop.time() - stopped_at < peer.wall(3.0)
    record = await _record(peer, cid, pid)
    if record is not None:
        assert [i["played"] for i in record["items"]] == ["whole", "whole", "cut"]
        assert [s["status"] for s in record["stops"]] == [204, 204]


async def test_add_channel_waits_for_a_playback_the_stop_did_not_end(
    ari: AriClient, events: Events, peer: Peer, app_name: str, hangup_later: list[str]
) -> None:
    """The channel is busy until its playback really ends: joining a bridge waits behind it (issue 15 B)."""
    cid, sub = await _answered(ari, events, peer, app_name, hangup_later)
    pid = f"{cid}-join"
    await ari.play(cid, SHORT, playback_id=pid)
    await _started(sub, pid, DIGITS)
    await ari.stop_playback(pid)  # 204, but only one digit is cut
    bridge_id = f"{cid}-bridge"
    await ari.create_bridge(bridge_id=bridge_id)
    loop = asyncio.get_running_loop()
    asked_at = loop.time()
    # A client of its own: on a real Asterisk the answer takes longer than the suite's 5 s request timeout.
    async with AriClient(peer.base_url, peer.user, peer.password, timeout=LIST_ENDS) as patient:
        await patient.add_channel(bridge_id, cid)
    assert loop.time() - asked_at > peer.wall(3.0)  # the other digits and the last sound came first
    await ari.destroy_bridge(bridge_id)
