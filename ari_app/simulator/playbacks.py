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
import uuid
from typing import TYPE_CHECKING, Any, Literal

from . import callee as callee_script
from .errors import AriError
from .media import SPOKEN, media_seconds, scheme_of, spoken_units
from .remote_media import remote_seconds
from .state import Bridge, Channel, MediaItemRecord, Playback, PlaybackRecord, StopRequest

if TYPE_CHECKING:
    from .engine import Pbx

CONTROLLABLE = frozenset({"sound", "recording", "tone"})
ItemEnd = Literal["whole", "stopped", "failed", "gone"]


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


class PlaybackRegistry:
    """Owns the playbacks not yet finished (Asterisk forgets a playback once it is done)."""

    def __init__(self, pbx: Pbx) -> None:
        self.pbx = pbx
        self.playbacks: dict[str, Playback] = {}

    def playback(self, playback_id: str) -> Playback:
        pb = self.playbacks.get(playback_id)
        if pb is None:
            raise AriError.message(404, "Playback not found")
        return pb

    def play(
        self, target_kind: str, target_id: str, media: list[str], playback_id: str | None, lang: str | None
    ) -> dict[str, Any]:
        pbx = self.pbx
        if not media:
            raise AriError.message(400, "media is required")
        tail_owner: Channel | Bridge
        if target_kind == "channel":
            ch = pbx.control(target_id)
            pbx.require_answered(ch)
            members = [ch]
            tail_owner = ch
        else:
            br = pbx.bridge(target_id)
            members = [pbx.channels[c] for c in br.channels if c in pbx.channels]
            tail_owner = br
        pb_id = playback_id or str(uuid.uuid4())
        if pb_id in self.playbacks:
            raise AriError.message(409, "Playback with the same id already exists")
        pb = Playback(
            id=pb_id,
            media=media,
            target_kind="channel" if target_kind == "channel" else "bridge",
            target_id=target_id,
        )
        pb.language = lang or "en"
        for member in members:
            rec = PlaybackRecord(
                channel_id=member.id,
                media_uri=",".join(media),
                playback_id=pb_id,
                target_uri=pb.target_uri,
                items=[MediaItemRecord(media_uri=uri) for uri in media],
            )
            pb.records.append(rec)
            pbx.calls[member.id].playbacks.append(rec)
        self.playbacks[pb_id] = pb
        body = pb.to_json()
        # Playbacks on one channel or bridge queue up: each waits for the one before it.
        previous = tail_owner.playback_tail
        done = asyncio.Event()
        tail_owner.playback_tail = done
        owner = tail_owner if isinstance(tail_owner, Channel) else None
        pbx.spawn(run_playback(pbx, pb, previous, done), channel=owner)
        return body

    def stop(self, playback_id: str) -> None:
        stop_playback(self.pbx, self.playback(playback_id))

    def channel_gone(self, ch: Channel) -> None:
        """The channel hangs up: its own playbacks end, and it stops hearing its bridge's."""
        for pb in list(self.playbacks.values()):
            if pb.target_kind == "channel" and pb.target_id == ch.id:
                finish_playback(self.pbx, pb, stopped=True)
            else:
                for rec in pb.records:
                    if rec.channel_id == ch.id and rec.ended is None:
                        close_record(self.pbx, rec, stopped=True)

    def bridge_gone(self, br: Bridge) -> None:
        for pb in list(self.playbacks.values()):
            if pb.target_kind == "bridge" and pb.target_id == br.id:
                finish_playback(self.pbx, pb, stopped=True)
