"""Playbacks as Asterisk 22 runs them (recording 15): playlists, their events, and what a stop really stops.

A playback plays its media items in order: PlaybackStarted for the first, then PlaybackContinuing (the item
that ended, ``next_media_uri`` the next) and PlaybackStarted for each further one, PlaybackFinished
``done`` at the end, stopped or not. Only sound:, recording: and tone: items make a playback controllable
(the flag is never cleared), so ``DELETE /playbacks/{id}``:
- during a sound:/recording:/tone: item ends the whole list at once;
- during a digits:/number:/characters: item of a controllable playback answers 204 but only cuts the digit
  being spoken: the rest of the list plays on;
- on a playback that has not been controllable yet (it began with digits:) answers 500
  ``Could not stop playback`` and changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from typing import TYPE_CHECKING, Literal

from . import callee as callee_script
from .errors import AriError
from .remote_media import remote_seconds
from .state import Playback, PlaybackRecord, StopRequest

if TYPE_CHECKING:
    from .engine import Pbx

CONTROLLABLE = frozenset({"sound", "recording", "tone"})
SPOKEN = frozenset({"digits", "number", "characters"})  # said sound by sound; a stop cuts one sound
DIGIT_SECONDS = 0.5  # one spoken digit or character, unless sounds_durations gives ``digits/N``
NUMBER_SECONDS = 1.0
RECORDING_SECONDS = 2.0
SOUND_SECONDS = 2.0

ItemEnd = Literal["whole", "stopped", "failed", "gone"]


def scheme_of(uri: str) -> str:
    return uri.partition(":")[0]


def media_seconds(pbx: Pbx, uri: str) -> float | None:
    """Length of one media item in simulated seconds; None if Asterisk can't find it; inf for tones."""
    scheme, _, name = uri.partition(":")
    if scheme == "sound":
        base = name.rsplit("/", 1)[-1].rsplit(".", 1)[0] if name.startswith("http") else name
        if name in pbx.scenario.missing_sounds or base in pbx.scenario.missing_sounds:
            return None
        durations = pbx.sounds_durations
        return durations.get(name, durations.get(base, SOUND_SECONDS))
    if scheme in SPOKEN:
        return sum(spoken_units(pbx, uri))
    if scheme == "tone":
        return math.inf
    if scheme == "recording":
        return RECORDING_SECONDS
    return None


def spoken_units(pbx: Pbx, uri: str) -> list[float]:
    """The sounds a digits:/characters:/number: item is said with, in simulated seconds each."""
    scheme, _, text = uri.partition(":")
    if scheme == "number":
        return [NUMBER_SECONDS]
    return [pbx.sounds_durations.get(f"digits/{c}", DIGIT_SECONDS) for c in text]


def playback_apps(pbx: Pbx, pb: Playback) -> set[str]:
    if pb.target_kind == "channel":
        ch = pbx.channels.get(pb.target_id)
        return pbx.recipients(ch) if ch else set()
    br = pbx.bridges.get(pb.target_id)
    if br is None:
        return set()
    apps = set(br.subscribers)
    for cid in br.channels:
        if cid in pbx.channels:
            apps |= pbx.recipients(pbx.channels[cid])
    return apps


def _emit(pbx: Pbx, kind: str, pb: Playback) -> None:
    pbx.emit(kind, playback_apps(pbx, pb), playback=pb.to_json())


def _open_records(pb: Playback) -> list[PlaybackRecord]:
    return [rec for rec in pb.records if rec.ended is None]


async def _until(event: asyncio.Event, seconds: float | None) -> bool:
    """Wait ``seconds`` of wall time (None: forever) or until ``event`` is set; True if it was set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)
    return event.is_set()


async def run_playback(pbx: Pbx, pb: Playback, previous: asyncio.Event | None, done: asyncio.Event) -> None:
    """The playback's life, after the one queued before it on the same channel or bridge."""
    try:
        if previous is not None:
            await previous.wait()
        if pb.state != "queued":
            return
        if pb.target_kind == "channel" and pb.target_id not in pbx.channels:
            finish_playback(pbx, pb, stopped=True)
            return
        started = pbx.now()
        pb.state = "playing"
        for rec in pb.records:
            rec.started = started
            rec.early = callee_script.playback_is_early(pbx, rec, started)
        _emit(pbx, "PlaybackStarted", pb)
        end: ItemEnd = "whole"
        for index in range(len(pb.media)):
            if index:
                pb.state = "continuing"
                _emit(pbx, "PlaybackContinuing", pb)
                pb.current, pb.state = index, "playing"
                _emit(pbx, "PlaybackStarted", pb)
            end = await _play_item(pbx, pb, index)
            if end != "whole":
                break
        if end == "gone":
            return
        finish_playback(pbx, pb, stopped=end == "stopped", failed=end == "failed")
    finally:
        done.set()
        if pb.state == "queued":
            finish_playback(pbx, pb, stopped=True)


async def _play_item(pbx: Pbx, pb: Playback, index: int) -> ItemEnd:
    uri = pb.media[index]
    scheme = scheme_of(uri)
    if scheme in CONTROLLABLE:
        pb.controllable = True
    now = pbx.now()
    for rec in _open_records(pb):
        rec.items[index].started = now
    if scheme in SPOKEN:
        for unit in spoken_units(pbx, uri):
            pb.cut_unit.clear()
            cut = await _until(pb.cut_unit, pbx.wall(unit))
            if pb.state != "playing":
                return "gone"
            if cut:
                for rec in _open_records(pb):
                    rec.items[index].units_cut += 1
    else:
        seconds = media_seconds(pbx, uri)
        if seconds is not None and uri.startswith(("sound:http://", "sound:https://")):
            seconds = await remote_seconds(pbx.http(), uri.removeprefix("sound:"))
        if seconds is None:
            return "failed"
        stopped = await _until(pb.stop, None if math.isinf(seconds) else pbx.wall(seconds))
        if pb.state != "playing":
            return "gone"
        if stopped:
            return "stopped"  # the item stays open: closing the records marks it cut
    ended = pbx.now()
    for rec in _open_records(pb):
        rec.items[index].ended, rec.items[index].played = ended, "whole"
    return "whole"


def stop_playback(pbx: Pbx, pb: Playback) -> None:
    """DELETE /playbacks/{id}, answered as Asterisk does (raises the 500 it gives)."""
    if pb.state == "queued":
        finish_playback(pbx, pb, stopped=True)
        return
    status = 204 if pb.controllable else 500
    for rec in _open_records(pb):
        rec.stops.append(StopRequest(at=pbx.now(), status=status, media_uri=pb.media_uri))
    if status == 500:
        raise AriError.message(500, "Could not stop playback")
    if scheme_of(pb.media_uri) in SPOKEN:
        pb.cut_unit.set()  # say-digits ends the sound being said and goes on with the list
    else:
        pb.stop.set()


def close_record(pbx: Pbx, rec: PlaybackRecord, stopped: bool, failed: bool = False) -> None:
    now = pbx.now()
    rec.ended = now
    rec.failed = failed
    if rec.started is not None and not failed:
        rec.played_seconds = (now - rec.started).total_seconds()
    rec.cut = stopped or rec.early
    rec.finished = not stopped and not failed and not rec.early
    for item in rec.items:
        if item.started is not None and item.ended is None:
            item.ended = now
            item.played = "failed" if failed else "cut"


def finish_playback(pbx: Pbx, pb: Playback, stopped: bool, failed: bool = False) -> None:
    if pb.state in ("done", "failed", "cancelled"):
        return
    was_playing = pb.state in ("playing", "continuing")
    pb.state = "failed" if failed else "done"
    for rec in _open_records(pb):
        close_record(pbx, rec, stopped=stopped or not was_playing, failed=failed)
    pbx.playbacks.pop(pb.id, None)
    if was_playing:
        _emit(pbx, "PlaybackFinished", pb)
        if pb.target_kind == "channel" and pb.target_id in pbx.channels:
            callee_script.on_playback_finished(pbx, pbx.channels[pb.target_id])
    else:
        pb.state = "cancelled"
