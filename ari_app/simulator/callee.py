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
        if press.since == "answer":
            pbx.spawn(_press(pbx, ch, press.dtmf, press.after), channel=ch)
    if callee.unbridged_hangup:
        await pbx.sleep(callee.unbridged_hangup)
        if _alive(pbx, ch) and not ch.ever_bridged:
            pbx.callee_hangs_up(ch)


def on_bridged(pbx: Pbx, ch: Channel) -> None:
    callee = ch.callee
    if callee is None:
        return
    for press in callee.presses:
        if press.since == "bridged":
            pbx.spawn(_press(pbx, ch, press.dtmf, press.after), channel=ch)
    if callee.behaviour == "machine" or callee.talk is None:
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


def _voice(pbx: Pbx, ch: Channel) -> tuple[list[tuple[datetime, datetime]], bool]:
    """When the far end makes sound (a machine: its greeting, split by a pause, and its beep; a human: the
    hello), and whether audio frames keep coming afterwards (talk detection needs them to hear silence)."""
    record = pbx.calls[ch.id]
    callee = ch.callee
    if callee is None or record.answered is None:
        return [], True
    if callee.behaviour != "machine":
        return [(record.answered, record.answered + timedelta(seconds=callee.hello))], True
    assert record.beep_end is not None
    if callee.pause > 0 and 0 < callee.pause_at < callee.greeting:
        pause_start = record.answered + timedelta(seconds=callee.pause_at)
        pause_end = pause_start + timedelta(seconds=callee.pause)
        spans = [(record.answered, pause_start), (pause_end, record.beep_end)]
    else:
        spans = [(record.answered, record.beep_end)]
    return spans, callee.audio_after_beep


def arm_talk_detect(pbx: Pbx, ch: Channel, value: str) -> None:
    """TALK_DETECT(set)=silence_ms: talking while the far end makes sound; finished once it has been silent
    for silence_ms (a shorter pause is not the end); never finished when no audio frames follow."""
    first = value.split(",")[0].strip()
    threshold = timedelta(milliseconds=int(first) if first.isdigit() else DEFAULT_TALK_THRESHOLD_MS)
    spans, frames_after = _voice(pbx, ch)
    armed = pbx.now()
    spans = [(max(a, armed), b) for a, b in spans if b > armed]
    # Merge spans whose silence between them is shorter than the threshold: one stretch of talk.
    talks: list[tuple[datetime, datetime]] = []
    for a, b in spans:
        if talks and a - talks[-1][1] < threshold:
            talks[-1] = (talks[-1][0], b)
        else:
            talks.append((a, b))
    if not talks:
        return

    async def follow() -> None:
        for i, (a, b) in enumerate(talks):
            await pbx.sleep(max(0.0, (a - pbx.now()).total_seconds()))
            if not _alive(pbx, ch):
                return
            pbx.emit_channel("ChannelTalkingStarted", ch)
            if i == len(talks) - 1 and not frames_after:
                return  # no frames after the last sound: Asterisk never hears the silence
            await pbx.sleep(max(0.0, (b + threshold - pbx.now()).total_seconds()))
            if not _alive(pbx, ch):
                return
            pbx.emit_channel("ChannelTalkingFinished", ch, duration=int((b - a).total_seconds() * 1000))

    pbx.spawn(follow(), channel=ch)


PACKETS_PER_SECOND = 50  # 20 ms RTP frames


def received_packets(pbx: Pbx, ch: Channel) -> int:
    """CHANNEL(rtcp,rxcount): RTP packets received from the far end since it answered. A box that sends no
    audio after its beep stops the count there; everyone else sends frames (silence too) until hang-up."""
    record = pbx.calls[ch.id]
    if record.answered is None:
        return 0
    until = pbx.now()
    callee = ch.callee
    if callee is not None and callee.behaviour == "machine" and not callee.audio_after_beep:
        assert record.beep_end is not None
        until = min(until, record.beep_end)
    return max(0, int((until - record.answered).total_seconds() * PACKETS_PER_SECOND))
