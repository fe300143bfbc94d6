"""Channel recordings as Asterisk 22's ARI has them (the ARI spec: channels.json, recordings.json).

``POST /channels/{id}/record`` answers 201 with a LiveRecording (state ``queued``); RecordingStarted follows,
then RecordingFinished when it ends: ``maxDurationSeconds`` reached, a ``terminateOn`` key pressed, a stop
(``POST /recordings/live/{name}/stop``) or the caller hanging up. A finished recording is a stored recording
(``GET /recordings/stored/{name}`` and its ``/file``), kept until ``DELETE /recordings/stored/{name}``.
``DELETE /recordings/live/{name}`` cancels: no file is kept. The file here is a WAV (8 kHz, 16-bit mono) of a
quiet tone as long as the caller spoke, so a player has something to play.
"""

from __future__ import annotations

import asyncio
import io
import math
import wave
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .arguments import number_param
from .errors import AriError
from .state import Channel

if TYPE_CHECKING:
    from .engine import Pbx

# What a stock Asterisk 22 can write (formats it can't answer 422 "The format specified is unknown").
FORMATS = ("wav", "wav16", "gsm", "ulaw", "alaw", "sln", "g722", "g729", "ogg")
TERMINATE_ON = ("none", "any", "*", "#")
IF_EXISTS = ("fail", "overwrite", "append")
# Wall seconds between the record request's answer and RecordingStarted (Asterisk starts it on the
# channel's own thread).
START_DELAY = 0.01
_RATE = 8000


@dataclass
class LiveRecording:
    name: str
    format: str
    channel_id: str
    max_duration: float
    terminate_on: str
    state: str = "queued"
    started: datetime | None = None
    duration: int | None = None
    cause: str | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    ended_by: str = ""

    @property
    def target_uri(self) -> str:
        return f"channel:{self.channel_id}"

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "format": self.format,
            "state": self.state,
            "target_uri": self.target_uri,
        }
        if self.duration is not None:
            body["duration"] = self.duration
        if self.cause is not None:
            body["cause"] = self.cause
        return body


@dataclass
class StoredRecording:
    name: str
    format: str
    data: bytes
    seconds: float
    channel_id: str
    ended_by: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "format": self.format}


def tone_wav(seconds: float) -> bytes:
    """A quiet 440 Hz tone, 8 kHz 16-bit mono: what the simulated caller "said"."""
    frames = int(max(0.0, seconds) * _RATE)
    samples = bytearray()
    for i in range(frames):
        value = int(2000 * math.sin(2 * math.pi * 440 * i / _RATE))
        samples += value.to_bytes(2, "little", signed=True)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(_RATE)
        out.writeframes(bytes(samples))
    return buf.getvalue()


class RecordingRegistry:
    """Owns live and stored recordings."""

    def __init__(self, pbx: Pbx) -> None:
        self.pbx = pbx
        self.live: dict[str, LiveRecording] = {}
        self.stored: dict[str, StoredRecording] = {}

    # ----------------------------------------------------------------- POST /channels/{id}/record
    def record(self, channel_id: str, params: dict[str, str]) -> dict[str, Any]:
        pbx = self.pbx
        ch = pbx.control(channel_id)  # 404 unknown, 409 not in Stasis
        name = params.get("name", "")
        fmt = params.get("format", "")
        if not name or not fmt:
            raise AriError.message(400, "Record requires name and format")
        terminate_on = params.get("terminateOn", "none")
        if_exists = params.get("ifExists", "fail")
        if terminate_on not in TERMINATE_ON:
            raise AriError.message(400, "terminateOn invalid")
        if if_exists not in IF_EXISTS:
            raise AriError.message(400, "ifExists invalid")
        max_duration = number_param(params.get("maxDurationSeconds"), 0.0)
        if max_duration < 0:
            raise AriError.message(400, "maxDurationSeconds cannot be negative")
        if fmt not in FORMATS:
            raise AriError.message(422, "Format unknown")
        if ch.bridge_id:
            raise AriError.message(409, "Channel is bridged")
        if name in self.live or (name in self.stored and if_exists == "fail"):
            raise AriError.message(409, "Recording with the same name already exists")
        rec = LiveRecording(name, fmt, ch.id, max_duration, terminate_on)
        self.live[name] = rec
        pbx.spawn(self._run(rec, ch), channel=ch)
        return rec.to_json()

    async def _run(self, rec: LiveRecording, ch: Channel) -> None:
        pbx = self.pbx
        await asyncio.sleep(START_DELAY)
        if not pbx.channel_registry.alive(ch) or rec.name not in self.live:
            return
        rec.state, rec.started = "recording", pbx.now()
        pbx.emit("RecordingStarted", pbx.recipients(ch), recording=rec.to_json())
        from . import inbound  # the caller's side: speak, then hang up

        inbound.on_recording_started(pbx, ch)
        limit = pbx.wall(rec.max_duration) if rec.max_duration > 0 else None
        try:
            await asyncio.wait_for(rec.done.wait(), limit)
        except TimeoutError:
            self.finish(rec, "max_duration")

    def finish(self, rec: LiveRecording, by: str) -> None:
        """The recording is over: RecordingFinished, and the file is stored."""
        pbx = self.pbx
        if rec.name not in self.live or rec.state not in ("queued", "recording"):
            return
        del self.live[rec.name]
        seconds = (pbx.now() - rec.started).total_seconds() if rec.started else 0.0
        if rec.max_duration > 0:
            seconds = min(seconds, rec.max_duration)
        rec.state, rec.duration, rec.ended_by = "done", int(round(seconds)), by
        rec.done.set()
        self.stored[rec.name] = StoredRecording(
            rec.name, rec.format, tone_wav(seconds), seconds, rec.channel_id, by
        )
        ch = pbx.channels.get(rec.channel_id)
        recipients = pbx.recipients(ch) if ch is not None else set()
        pbx.emit("RecordingFinished", recipients, recording=rec.to_json())

    def stop(self, name: str) -> None:
        rec = self.live.get(name)
        if rec is None:
            raise AriError.message(404, "Recording not found")
        self.finish(rec, "stopped")

    def cancel(self, name: str) -> None:
        """DELETE /recordings/live/{name}: stopped and thrown away."""
        rec = self.live.pop(name, None)
        if rec is None:
            raise AriError.message(404, "Recording not found")
        rec.state = "canceled"
        rec.done.set()

    def key_pressed(self, ch: Channel, digit: str) -> None:
        for rec in list(self.live.values()):
            if rec.channel_id == ch.id and rec.state == "recording":
                if rec.terminate_on == "any" or rec.terminate_on == digit:
                    self.finish(rec, "dtmf")

    def channel_gone(self, ch: Channel) -> None:
        """The channel hangs up: its recordings finish and are kept (Asterisk keeps what was said)."""
        for rec in list(self.live.values()):
            if rec.channel_id == ch.id:
                self.finish(rec, "hangup")

    # ----------------------------------------------------------------- /recordings
    def stored_recording(self, name: str) -> StoredRecording:
        rec = self.stored.get(name)
        if rec is None:
            raise AriError.message(404, "Recording not found")
        return rec

    def delete_stored(self, name: str) -> None:
        self.stored_recording(name)
        del self.stored[name]

    def live_recording(self, name: str) -> LiveRecording:
        rec = self.live.get(name)
        if rec is None:
            raise AriError.message(404, "Recording not found")
        return rec
