"""Recording the first seconds of the lead's audio while AMD runs (settings ``[amd] record_clips``).

A recording of the lead's channel itself holds it in the application until the recording ends (10 s
before AMD could start, measured on Asterisk 22.10.1), so the clip is taken from a Snoop channel that
hears what the lead's side sends (``spy=in``): the snoop stays in the application while the lead's channel
runs AMD in the dialplan, and goes when the lead's channel goes. The stored recording is fetched
(``GET /recordings/stored/{name}/file``), kept with the attempt (``store.amd_clips``) and deleted on
Asterisk. Best effort: a clip that fails is logged and the call goes on.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from ..ari.errors import AriConflict, AriError, AriNotFound

if TYPE_CHECKING:
    from ..store.amd_clips import ClipStore
    from .call import Call

log = logging.getLogger(__name__)

_tasks: set[asyncio.Task[None]] = set()
_STASIS_TRIES = 40  # wall 0.05 s apart: the snoop enters the application ~0.06 s after it is made


async def start_clip(call: Call, clips: ClipStore) -> None:
    """Start the snoop (awaited: it must hear the answer's first frames) and leave the recording to a
    task of its own."""
    snoop_id = f"{call.lead_id}-clip"
    try:
        await call.r.ari.snoop(call.lead_id, snoop_id=snoop_id, app=call.r.app, spy="in")
    except AriError as exc:
        log.warning("attempt %s: no AMD clip, snoop refused (%s)", call.plan.attempt_id, exc)
        return
    task = asyncio.create_task(_record(call, clips, snoop_id), name=f"amd-clip-{call.plan.attempt_id}")
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


async def _record(call: Call, clips: ClipStore, snoop_id: str) -> None:
    ari, clock = call.r.ari, call.r.clock
    seconds = call.r.settings.amd.clip_seconds
    name = snoop_id
    try:
        for _ in range(_STASIS_TRIES):
            try:
                await ari.record(snoop_id, name, max_duration=seconds, if_exists="overwrite")
                break
            except AriConflict:  # not in the application yet
                await asyncio.sleep(0.05)
        else:
            raise AriError(
                "the snoop never entered the application", status=409, ari_message="", operation=""
            )
        # Finished when it is no longer live: after its maximum, or earlier if the lead hung up.
        await clock.sleep(seconds)
        for _ in range(50):
            try:
                await ari.live_recording(name)
            except AriNotFound:
                break
            await clock.sleep(0.5)
        audio = await ari.stored_recording_file(name)
        try:  # nothing of the lead's voice stays on the PBX, whatever happens next
            await ari.delete_stored_recording(name)
        except AriError:
            pass
        await clips.save(call.plan.attempt_id, audio, clock.now())
        log.info("attempt %s: AMD clip kept (%d bytes)", call.plan.attempt_id, len(audio))
    except Exception as exc:  # best effort: never disturbs the call
        log.warning("attempt %s: no AMD clip (%s)", call.plan.attempt_id, exc)
    finally:
        try:
            await ari.hangup(snoop_id)
        except AriError:
            pass  # gone with the lead
