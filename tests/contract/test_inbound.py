"""A call to the business number entering the application from the dialplan, and channel recordings.

How Asterisk 22 shapes it (``asterisk_conf/extensions.conf``, ``[callback-inbound]``): StasisStart with
``args = ["inbound", <caller's number>, <number dialled>]``, the channel in state ``Ring`` (not answered) at
the ``Stasis`` step of the dialplan. ``POST /channels/{id}/record`` answers 201 with a LiveRecording;
RecordingStarted follows, RecordingFinished when the caller hangs up (what they said is kept), and the stored
recording's file can be fetched, then deleted.

Against a real Asterisk the call is placed by originating ``Local/<dialled>@callback-inbound`` (the test
peer's ``[callback-inbound]``, tests/asterisk_peer/extensions.conf): its second half runs the dialplan and
enters the application as a call from outside would; the first half (ours) plays the caller.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from ari_app.ari import AriClient, AriError
from ari_app.ari.dispatch import Subscription
from ari_app.ari.events import (
    ChannelStateChange,
    Event,
    RecordingFinished,
    RecordingStarted,
    StasisEnd,
    StasisStart,
)

from .conftest import Events, Peer, needs_simulator
from .helpers import wait_for_event

CALLER = "+12125550199"
DIALLED = "+12125550100"


class _Catch:
    """Every StasisStart nobody owns: an inbound channel's id is Asterisk's, not ours."""

    def __init__(self, events: Events) -> None:
        self.starts: asyncio.Queue[StasisStart] = asyncio.Queue()
        events.router.set_fallback(self._seen)

    def _seen(self, ev: Event) -> None:
        if isinstance(ev, StasisStart) and ev.args[:1] == ("inbound",):
            self.starts.put_nowait(ev)

    async def next(self, within: float = 15.0) -> StasisStart:
        return await asyncio.wait_for(self.starts.get(), within)


async def _place(peer: Peer, ari: AriClient, app: str, hangup_later: list[str], **script: object) -> str:
    """A caller dials the business number; answers our half's id on a real Asterisk ('' on the simulator)."""
    if not peer.real:
        body = {"caller": CALLER, "dialled": DIALLED, "app": app, **script}
        await peer.simulator("POST", "/_simulator/inbound", body)
        return ""
    ours = f"ct-{uuid.uuid4().hex[:10]}-caller"
    hangup_later.append(ours)
    await ari.originate(
        f"Local/{DIALLED}@callback-inbound",
        channel_id=ours,
        app=app,
        app_args="caller",
        caller_id=f"Ada <{CALLER}>",
        timeout=30,
        variables={"_CALLBACK_INBOUND_APP": app},
    )
    return ours


async def test_a_call_to_the_business_number_enters_the_application_unanswered_with_its_args(
    peer: Peer, ari: AriClient, events: Events, app_name: str, hangup_later: list[str]
) -> None:
    catch = _Catch(events)
    await _place(peer, ari, app_name, hangup_later, talk=5.0)
    start = await catch.next()
    hangup_later.append(start.channel.id)
    assert start.args == ("inbound", CALLER, DIALLED)
    assert start.channel.state == "Ring"
    assert start.channel.caller.number == CALLER
    assert start.channel.raw["dialplan"]["app_name"] == "Stasis"
    assert start.channel.raw["dialplan"]["app_data"] == f"{app_name},inbound,{CALLER},{DIALLED}"

    sub = events.router.subscription()
    sub.add_channel(start.channel.id)
    await ari.answer(start.channel.id)
    up = await wait_for_event(sub, ChannelStateChange, lambda e: e.channel.state == "Up")
    assert up.channel.id == start.channel.id
    sub.close()


async def _answered_inbound(
    peer: Peer, ari: AriClient, events: Events, app: str, hangup_later: list[str], **script: object
) -> tuple[str, str, Subscription]:
    catch = _Catch(events)
    ours = await _place(peer, ari, app, hangup_later, **script)
    start = await catch.next()
    cid = start.channel.id
    hangup_later.append(cid)
    sub = events.router.subscription()
    sub.add_channel(cid)
    await ari.answer(cid)
    return cid, ours, sub


async def test_a_recording_of_what_the_caller_says_is_kept_when_they_hang_up(
    peer: Peer, ari: AriClient, events: Events, app_name: str, hangup_later: list[str]
) -> None:
    cid, ours, sub = await _answered_inbound(peer, ari, events, app_name, hangup_later, message=3.0)
    name = f"ct-{uuid.uuid4().hex[:10]}-msg"
    live = await ari.record(cid, name, fmt="wav", max_duration=60, beep=True, terminate_on="#")
    assert {k: live[k] for k in ("name", "format", "target_uri")} == {
        "name": name,
        "format": "wav",
        "target_uri": f"channel:{cid}",
    }
    started = await wait_for_event(sub, RecordingStarted, lambda e: e.name == name)
    assert started.state == "recording"
    if peer.real:
        # The caller speaks (our half sends audio: Asterisk counts a recording's duration in the frames it
        # wrote, and a Local channel sends none of its own), then hangs up.
        await ari.play(ours, ["sound:hello-world", "sound:silence/3"])
        await asyncio.sleep(4.5)
        await ari.hangup(ours)
    finished = await wait_for_event(sub, RecordingFinished, lambda e: e.name == name, within=30)
    assert finished.state == "done"
    assert finished.duration is not None and finished.duration >= 1
    # A channel that came from the dialplan leaves the application with StasisEnd (its ChannelDestroyed is
    # not the application's to see).
    await wait_for_event(sub, StasisEnd, within=15)
    sub.close()

    stored = await ari.get_stored_recording(name)
    assert stored == {"name": name, "format": "wav"}
    data = await ari.stored_recording_file(name)
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    await ari.delete_stored_recording(name)
    with pytest.raises(AriError) as gone:
        await ari.get_stored_recording(name)
    assert gone.value.status == 404


async def test_recording_refusals_are_asterisks(
    peer: Peer, ari: AriClient, events: Events, app_name: str, hangup_later: list[str]
) -> None:
    cid, _ours, sub = await _answered_inbound(peer, ari, events, app_name, hangup_later, message=30.0)
    with pytest.raises(AriError) as unknown:
        await ari.record(f"ct-{uuid.uuid4().hex[:8]}-none", "x", fmt="wav")
    assert unknown.value.status == 404
    with pytest.raises(AriError) as bad_format:
        await ari.record(cid, f"ct-{uuid.uuid4().hex[:8]}", fmt="nosuchformat")
    assert bad_format.value.status == 422
    name = f"ct-{uuid.uuid4().hex[:10]}-twice"
    await ari.record(cid, name, fmt="wav", max_duration=60)
    await wait_for_event(sub, RecordingStarted, lambda e: e.name == name)
    with pytest.raises(AriError) as twice:
        await ari.record(cid, name, fmt="wav")
    assert twice.value.status == 409
    await ari.stop_recording(name)
    await wait_for_event(sub, RecordingFinished, lambda e: e.name == name)
    await ari.hangup(cid)
    sub.close()
    await ari.delete_stored_recording(name)


async def test_nothing_to_read_for_a_recording_that_never_was(ari: AriClient) -> None:
    with pytest.raises(AriError) as missing:
        await ari.stored_recording_file(f"ct-{uuid.uuid4().hex[:10]}-none")
    assert missing.value.status == 404


@needs_simulator
async def test_a_call_handed_back_goes_on_to_the_fallback_phone(
    peer: Peer, ari: AriClient, events: Events, app_name: str, hangup_later: list[str]
) -> None:
    catch = _Catch(events)
    await _place(peer, ari, app_name, hangup_later)
    start = await catch.next()
    await ari.continue_next(start.channel.id)
    call = await peer.simulator("GET", f"/_simulator/calls/{start.channel.id}")
    assert call["inbound"]["handed_back"] is True
    assert call["inbound"]["stasis_status"] == "SUCCESS"
    assert call["inbound"]["fallback_dialled"] == "PJSIP/admin,30"
    assert call["answered"] is None  # the fallback phone, not us, answers it
    await ari.hangup(start.channel.id)


@needs_simulator
async def test_with_the_application_away_the_call_rings_the_fallback_phone(peer: Peer) -> None:
    placed = await peer.simulator(
        "POST", "/_simulator/inbound", {"caller": CALLER, "app": "nobody-listens", "patience": 1.0}
    )
    call = await peer.simulator("GET", f"/_simulator/calls/{placed['channel_id']}")
    assert call["inbound"]["stasis_status"] == "FAILED"
    assert call["inbound"]["fallback_dialled"] == "PJSIP/admin,30"


@needs_simulator
async def test_a_bad_scripted_caller_is_refused_with_the_key_named(peer: Peer) -> None:
    import aiohttp

    with pytest.raises(aiohttp.ClientResponseError) as bad:
        await peer.simulator("POST", "/_simulator/inbound", {"caller": CALLER, "talk": "long"})
    assert bad.value.status == 400
