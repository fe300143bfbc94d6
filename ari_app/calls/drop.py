"""The voicemail drop: wait for the greeting's end and its beep, play the message whole, hang up.

Listening starts at the lead's answer on the final attempt (or when the admin presses the drop key), never
after the admin's prompt: a 3 s greeting was over 6.6 s before the drop began. The greeting is over after
``talk_detect_ms`` of silence (2.5 s: a 2 s pause inside a greeting is still the greeting); a box that sends
no audio after its beep never lets talk detection hear that silence, so its RTP packets stopping counts too.
``voicemail_left`` means the whole message went onto the recording: played to its length, nothing said by the
far end while it played, no hang-up before its end.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Literal

from ..ari.errors import AriError
from ..domain.attempts import AttemptResult
from ..domain.outcomes import Outcome
from .admin_side import let_admin_go, tell_admin
from .call import Call, End
from .legs import LegState, PlaybackState, drop_played, greeting_end_seconds

# How the wait for a voicemail greeting's end ended (``_until_greeting_over``).
GreetingEnd = Literal["heard", "silent", "quiet", "no-audio"]

# Business seconds after talk detection is armed within which a greeting still playing is reported.
_FIRST_WORD = 3.0
# Business seconds between looks at the lead's received RTP packets while waiting for a greeting's end.
_AUDIO_CHECK = 1.0


async def voicemail_drop(call: Call) -> AttemptResult:
    """Final attempt, machine: let the admin go, wait for the beep, play the drop whole, hang up."""
    lead = call.legs[call.lead_id]
    # The admin hears why they are let go while we wait for the beep (talk detection has listened since the
    # answer): waiting for the admin's prompt first left seconds of dead air on the recording.
    told = await tell_admin(call, "lead-machine-admin")
    waited = await _until_greeting_over(call, lead)
    if lead.ended:
        await let_admin_go(call, told)
        raise End(Outcome.LEAD_MACHINE, "the machine hung up before the voicemail drop")
    outcome, played, whole, notes = await _leave_message(
        call, lead, waited, then=lambda: let_admin_go(call, told)
    )
    detail = f"voicemail drop played {played:.1f} s" + ("" if whole else " (cut)")
    return AttemptResult(outcome, detail + notes, drop_played_seconds=played)


async def admin_drop(call: Call) -> AttemptResult:
    """The bridged admin pressed the drop key: a machine answered; leave the message after its beep, go."""
    call.admin_said_machine = True  # their label for this attempt, whatever happens next
    await call.hangup(call.admin_id)
    try:
        await call.r.ari.remove_channel(call.bridge_id, [call.lead_id])
    except AriError:
        pass
    lead = call.legs[call.lead_id]
    await listen_for_talk(call, lead)  # the admin presses 9 while the greeting plays
    waited = await _until_greeting_over(call, lead)
    if lead.ended:
        raise End(Outcome.LEAD_MACHINE, "admin pressed the drop key; the machine hung up before the drop")
    outcome, played, whole, notes = await _leave_message(call, lead, waited)
    detail = "admin pressed the drop key; voicemail " + ("left" if whole else "cut")
    return AttemptResult(outcome, detail + notes, drop_played_seconds=played)


async def _leave_message(
    call: Call,
    lead: LegState,
    waited: GreetingEnd,
    *,
    then: Callable[[], Awaitable[None]] | None = None,
) -> tuple[Outcome, float, bool, str]:
    """Play the drop (doing ``then`` while it starts playing), hang up, and judge it: the outcome, the
    seconds played, whether it played whole, and the notes for the attempt's detail."""
    talk_starts = lead.talk_starts
    drop = await _start_drop(call)
    if then is not None:
        await then()
    played, whole = await _finish_drop(call, drop)
    onto_greeting = lead.talk_starts > talk_starts
    # Kept for the AMD report: did this drop start before the beep, and when was the greeting over.
    call.r.journal.observed(
        call.lead_id, None, {"drop_early": onto_greeting, "greeting_end_seconds": greeting_end_seconds(lead)}
    )
    outcome = call.classify_lead(lead, talk=None, machine=True, whole=whole and not onto_greeting)
    return outcome, played, whole, _notes(onto_greeting, waited)


def _notes(onto_greeting: bool, waited: GreetingEnd) -> str:
    notes = ""
    if onto_greeting:
        # The far end spoke again while the drop played: the greeting was not over, so the start of the
        # message went onto the greeting, not the recording.
        notes += "; it began before the beep (the greeting went on)"
    if waited == "no-audio":
        notes += "; no end of the greeting was heard, dropped after the longest wait"
    elif waited == "quiet":
        notes += "; the box sent no audio after its greeting"
    return notes


async def listen_for_talk(call: Call, lead: LegState) -> None:
    lead.talk_armed_at = call.now()
    await call.r.ari.set_variable(call.lead_id, "TALK_DETECT(set)", str(call.calls.talk_detect_ms))


async def _until_greeting_over(call: Call, lead: LegState) -> GreetingEnd:
    """Wait for the greeting and its beep to end. "heard": silence for ``talk_detect_ms`` after the far end
    last spoke. "silent": nothing heard at all soon after listening began. "quiet": its RTP packets stopped.
    "no-audio": none of these within ``greeting_timeout`` from when listening began."""
    armed = lead.talk_armed_at or call.now()
    since = (call.now() - armed).total_seconds()
    await call.until(lambda: lead.ended or lead.talking is not None, max(0.0, _FIRST_WORD - since))
    if lead.talking is None:
        return "silent"
    deadline = armed + timedelta(seconds=call.calls.greeting_timeout)
    quiet_for = timedelta(milliseconds=call.calls.talk_detect_ms)
    packets: int | None = None
    last_packet = call.now()
    while True:
        left = (deadline - call.now()).total_seconds()
        got = await call.until(
            lambda: lead.ended or (lead.talk_finished and lead.talking is False),
            max(0.0, min(left, _AUDIO_CHECK)),
        )
        if got:
            return "heard"
        if left <= _AUDIO_CHECK:
            return "no-audio"
        count = await _received_packets(call)
        if count is None:
            continue
        if packets is None or count > packets:
            packets, last_packet = count, call.now()
        elif call.now() - last_packet >= quiet_for:
            return "quiet"


async def _received_packets(call: Call) -> int | None:
    """RTP packets received on the lead's leg (PJSIP channels), or None where Asterisk can't tell."""
    if call.no_packet_count:
        return None
    try:
        return int(await call.r.ari.get_variable(call.lead_id, "CHANNEL(rtcp,rxcount)"))
    except (AriError, ValueError):
        call.no_packet_count = True
        return None


async def _start_drop(call: Call) -> PlaybackState:
    return await call.play_prompts(call.lead_id, ["voicemail-drop"], "drop")


async def _finish_drop(call: Call, pb: PlaybackState) -> tuple[float, bool]:
    """Wait for the drop to end, then hang up; how long it played, and whether it played whole."""
    lead = call.legs[call.lead_id]
    await call.until(lambda: pb.finished_at is not None or lead.destroyed, pb.length + 15.0)
    played, whole = drop_played(pb, lead, call.r.media.known_length("voicemail-drop"))
    await call.hangup(call.lead_id)
    return played, whole
