"""The admin's side of an attempt: ring them, whisper who is waiting, take their key, let them go."""

from __future__ import annotations

import logging
from typing import Literal

from ..ari.errors import AriNotFound, AriOutcomeUnknown, AriServerError
from ..domain.outcomes import Outcome, classify_admin
from ..domain.phone import dial_digits
from ..domain.statuses import LegStatus
from ..logs import call_log
from .call import Call, End
from .legs import PlaybackState

# What the admin did while the whisper played (and just after).
Heard = Literal["accepted", "gone", "prompted"]

log = logging.getLogger(__name__)

# Business-time margin on top of Asterisk's own ring timeouts before we stop waiting for its verdict.
RING_MARGIN = 10.0


async def ring_admin(call: Call) -> None:
    admin = call.plan.admin
    leg = call.add_leg(call.admin_id, "admin")
    await call.r.journal.leg_intent(call.plan.attempt_id, "admin", 1, call.admin_id, admin.endpoint)
    call_log.ringing_admin(admin.name, admin.endpoint)
    biz = call.r.settings.business
    try:
        await call.r.ari.originate(
            admin.endpoint,
            channel_id=call.admin_id,
            app=call.r.app,
            app_args=f"admin,{call.plan.attempt_id}",
            caller_id=f"Callback <{dial_digits(call.plan.lead_phone)}>",
            timeout=call.calls.admin_ring_timeout,
            variables={"CALLBACK_APP": call.r.app, "CALLERID(name)": biz.caller_id_name[:40]},
        )
    except AriServerError as exc:
        if exc.allocation_failed:
            await call.r.journal.leg_update(
                call.admin_id, state=LegStatus.ENDED, cause_txt="Allocation failed"
            )
            raise End(*await allocation_failed(call, admin.endpoint, "admin")) from None
        raise
    except AriOutcomeUnknown:
        # Sent, answer lost: the id is this installation's alone, so a channel by that id is ours.
        leg.created = True
        await call.r.journal.leg_update(call.admin_id, state=LegStatus.DIAL_UNKNOWN)
        log.warning("attempt %s: originate answer lost; following events", call.plan.attempt_id)
    else:
        leg.created = True
        # Not awaited: recovery tells an admin leg only by whether it ended (it asks Asterisk about every
        # other one by its id), so an ``intent`` row serves it as well as a ``requested`` one. The lead's
        # intent, awaited before anything of the lead is requested, stores this first.
        call.r.journal.leg_note(call.admin_id, state=LegStatus.REQUESTED)

    answered: Literal["up", "gone"] | None = await call.until(
        lambda: "up" if leg.in_stasis and leg.up_at else ("gone" if leg.ended else None),
        call.calls.admin_ring_timeout + RING_MARGIN,
    )
    if answered != "up":
        # A hang-up seen: its cause (on ChannelDestroyed) says whether our configuration is wrong.
        await call.until(lambda: leg.destroyed or not leg.ended, 5.0)
        outcome = classify_admin(leg.cause, leg.dial_status, answered=False, accepted=False)
        cause = f" ({leg.describe()})" if leg.cause is not None else ""
        raise End(outcome or Outcome.ADMIN_UNAVAILABLE, f"admin {admin.name} did not answer{cause}")


async def allocation_failed(call: Call, endpoint: str, role: str) -> tuple[Outcome, str]:
    """Tell an offline phone (admin unavailable) from an endpoint that doesn't exist (configuration)."""
    tech, _, resource = endpoint.partition("/")
    resource = resource.split("@", 1)[-1] if "@" in resource else resource
    try:
        ep = await call.r.ari.get_endpoint(tech, resource)
    except AriNotFound:
        return Outcome.SYSTEM_ERROR, f"{role} endpoint {tech}/{resource} does not exist (check the config)"
    if role == "admin":
        return Outcome.ADMIN_UNAVAILABLE, f"admin phone {endpoint} is not registered ({ep.state})"
    return Outcome.SYSTEM_ERROR, f"trunk {tech}/{resource} is not reachable ({ep.state})"


async def whisper(call: Call) -> None:
    """Who is waiting, then "press 1", twice at most. The key must stop the whisper for real."""
    leg = call.legs[call.admin_id]
    key = call.calls.accept_key
    digits = dial_digits(call.plan.lead_phone).lstrip("+")
    # Every item a sound: a stop during a digits: item is ignored by Asterisk and the rest plays on
    # (recording 15), while a stop during a sound item ends the whole list at once.
    items = ["admin-whisper", *(f"digit-{d}" for d in digits), "press-1"]
    for round_no in (1, 2):
        leg.digits.clear()
        pb = await call.play_prompts(call.admin_id, items, f"whisper-{round_no}")

        def heard(pb: PlaybackState = pb) -> Heard | None:
            if key in leg.digits:
                return "accepted"
            if leg.ended:
                return "gone"
            return "prompted" if pb.finished_at is not None else None

        got: Heard | None = await call.until(heard, pb.length + 10.0)
        if got in (None, "prompted"):
            got = await call.until(
                lambda: "accepted" if key in leg.digits else ("gone" if leg.ended else None),
                call.calls.accept_timeout,
            )
        if got == "accepted":
            call_log.admin_accepted(call.plan.admin.name, key)
            await call.stop(pb)
            if pb.finished_at is None and not leg.ended:
                raise End(Outcome.SYSTEM_ERROR, "the whisper did not stop when the admin accepted")
            return
        if got == "gone":
            break
    outcome = classify_admin(leg.cause, leg.dial_status, answered=True, accepted=False)
    what = "hung up at the whisper" if leg.ended else f"did not press {key}"
    raise End(outcome or Outcome.ADMIN_UNAVAILABLE, f"admin {call.plan.admin.name} {what}")


async def tell_admin(call: Call, prompt: str) -> PlaybackState | None:
    """Start a last prompt to the admin (None: the admin is gone)."""
    if call.legs[call.admin_id].ended:
        return None
    return await call.play_prompts(call.admin_id, [prompt], "release")


async def let_admin_go(call: Call, told: PlaybackState | None) -> None:
    """Hang up the admin once their last prompt has played."""
    admin = call.legs[call.admin_id]
    if told is not None:
        await call.until(lambda: told.finished_at is not None or admin.ended, told.length + 5.0)
    await call.hangup(call.admin_id)
