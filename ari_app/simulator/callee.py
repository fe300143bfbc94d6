"""What the far end does: ring, answer or fail, press keys, talk, hang up, play a machine greeting.

Each function runs as a task owned by the channel (cancelled when it is destroyed) and acts on the PBX
only while the channel is still alive.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from .scenario import FAILURES
from .state import Channel, PlaybackRecord

if TYPE_CHECKING:
    from .engine import Pbx

DTMF_DELAY = 0.5  # after the whisper ends, before the key press
DTMF_GAP = 0.25
DEFAULT_TALK_THRESHOLD_MS = 2500
DIALPLAN_SETUP = 0.02  # wall seconds


def _alive(pbx: Pbx, ch: Channel) -> bool:
    return pbx.channels.get(ch.id) is ch and not ch.hanging_up


async def _forever() -> None:
    await asyncio.Event().wait()


async def run_dial(pbx: Pbx, ch: Channel) -> None:
    """From the dial request to answer, failure or ring timeout."""
    callee = ch.callee
    assert callee is not None
    if ch.target_dialplan is not None:
        # Asterisk takes a few ms to start dialling: an app that subscribes right after originating into
        # the dialplan sees the whole call (recording 12), as long as the callee isn't faster still.
        await asyncio.sleep(DIALPLAN_SETUP)
    pbx.emit_dial(ch, "")
    if callee.behaviour in FAILURES:
        if callee.fail_after:
            await pbx.sleep(callee.fail_after)
        if _alive(pbx, ch):
            pbx.failed(ch, callee.behaviour)
        return
    timeout = ch.dial_timeout
    rings_out = callee.behaviour in ("noanswer", "offline") or (0 < timeout <= callee.answer_after)
    if rings_out or callee.answer_after > 0:
        pbx.ringing(ch)
    if rings_out:
        await (pbx.sleep(timeout) if timeout > 0 else _forever())
        if _alive(pbx, ch):
            pbx.ring_timeout(ch)
        return
    await pbx.sleep(callee.answer_after)
    if _alive(pbx, ch):
        pbx.answered(ch)


async def _hang_up_after(pbx: Pbx, ch: Channel, seconds: float) -> None:
    await pbx.sleep(seconds)
    if _alive(pbx, ch):
        pbx.callee_hangs_up(ch)


async def _press(pbx: Pbx, ch: Channel, digits: str, delay: float) -> None:
    await pbx.sleep(delay)
    for digit in digits:
        if not _alive(pbx, ch):
            return
        pbx.callee_presses(ch, digit)
        await pbx.sleep(DTMF_GAP)


async def run_answered(pbx: Pbx, ch: Channel) -> None:
    """The callee's life after answering."""
    callee = ch.callee
    assert callee is not None
    record = pbx.calls[ch.id]
    if callee.behaviour == "machine":
        answered = record.answered or pbx.now()
        record.greeting_end = answered + timedelta(seconds=callee.greeting)
        record.beep_end = record.greeting_end + timedelta(seconds=callee.beep)
        await _hang_up_after(pbx, ch, callee.greeting + callee.beep + callee.record_max)
        return
    hangup_after = callee.hangup_after
    if hangup_after is None and callee.behaviour == "hangup":
        hangup_after = 2.0
    if hangup_after is not None:
        pbx.spawn(_hang_up_after(pbx, ch, hangup_after), channel=ch)
    if callee.dtmf and isinstance(callee.dtmf_after, float):
        ch.dtmf_scheduled = True
        pbx.spawn(_press(pbx, ch, callee.dtmf, callee.dtmf_after), channel=ch)
    for press in callee.presses:  # e.g. 1 to accept, then 9 much later, while bridged
        pbx.spawn(_press(pbx, ch, press.dtmf, press.after), channel=ch)
    if callee.unbridged_hangup:
        await pbx.sleep(callee.unbridged_hangup)
        if _alive(pbx, ch) and not ch.ever_bridged:
            pbx.callee_hangs_up(ch)


def on_bridged(pbx: Pbx, ch: Channel) -> None:
    callee = ch.callee
    if callee is None or callee.behaviour == "machine" or callee.talk is None:
        return
    pbx.spawn(_hang_up_after(pbx, ch, callee.talk), channel=ch)


def on_playback_finished(pbx: Pbx, ch: Channel) -> None:
    callee = ch.callee
    if callee is None or not callee.dtmf or callee.dtmf_after != "playback" or ch.dtmf_scheduled:
        return
    if not _alive(pbx, ch):
        return
    ch.dtmf_scheduled = True
    pbx.spawn(_press(pbx, ch, callee.dtmf, DTMF_DELAY), channel=ch)


def playback_is_early(pbx: Pbx, rec: PlaybackRecord, started: datetime) -> bool:
    """A message played to a machine before its beep ended is clipped: it doesn't count as left."""
    call = pbx.calls.get(rec.channel_id)
    return call is not None and call.beep_end is not None and started < call.beep_end


def _voice_end(pbx: Pbx, ch: Channel) -> datetime | None:
    """When the far end stops making sound: a machine after greeting and beep, a human after hello."""
    record = pbx.calls[ch.id]
    callee = ch.callee
    if callee is None or record.answered is None:
        return None
    if callee.behaviour == "machine":
        return record.beep_end
    return record.answered + timedelta(seconds=callee.hello)


def arm_talk_detect(pbx: Pbx, ch: Channel, value: str) -> None:
    """TALK_DETECT(set)=silence_ms: talking now if the far end still speaks, finished after the silence."""
    first = value.split(",")[0].strip()
    threshold_ms = int(first) if first.isdigit() else DEFAULT_TALK_THRESHOLD_MS
    voice_end = _voice_end(pbx, ch)
    start = pbx.now()
    if voice_end is None or start >= voice_end:
        return
    pbx.emit_channel("ChannelTalkingStarted", ch)

    async def finish() -> None:
        await pbx.sleep((voice_end - pbx.now()).total_seconds() + threshold_ms / 1000)
        if _alive(pbx, ch):
            duration = int((voice_end - start).total_seconds() * 1000)
            pbx.emit_channel("ChannelTalkingFinished", ch, duration=duration)

    pbx.spawn(finish(), channel=ch)
