"""The lead's side of an attempt: create their channel, dial it once (after its StasisStart), answering-
machine detection."""

from __future__ import annotations

import logging
from typing import Literal

from ..ari.errors import AriError, AriNotFound, AriOutcomeUnknown, AriServerError
from ..domain.amd import AmdParams, route_of
from ..domain.outcomes import Outcome
from ..domain.phone import dial_digits
from ..domain.statuses import LegStatus
from ..logs import call_log
from .admin_side import RING_MARGIN, allocation_failed
from .amd_clip import start_clip
from .call import Call, End
from .drop import listen_for_talk
from .legs import LegState

# How the lead's ringing ended.
Rung = Literal["up", "gone", "admin-gone"]

log = logging.getLogger(__name__)

# Wall seconds to wait for a created channel's StasisStart: Asterisk answers the create, then hands the
# channel to the application on another thread (1.4-4.6 ms measured); a dial sent before it is refused.
_STASIS_WAIT_WALL = 5.0


async def ring_lead(call: Call) -> LegState:
    """Ring the lead once; returns their answered leg, or ends the attempt with why it did not answer."""
    admin = call.legs[call.admin_id]
    leg = call.add_leg(call.lead_id, "lead")
    endpoint = lead_endpoint(call)
    await call.r.journal.leg_intent(call.plan.attempt_id, "lead", 1, call.lead_id, endpoint)
    call_log.ringing_lead(call.plan.lead_phone, endpoint)
    await _create(call, leg, endpoint)

    # Asterisk answers the create before the channel is in the application; a dial sent before its
    # StasisStart is refused with 409 and dials nothing (recording 14). The subscription is older than the
    # create, so the StasisStart is never missed.
    entered: Literal["in", "gone"] | None = await call.until(
        lambda: "in" if leg.in_stasis else ("gone" if leg.ended else None), _STASIS_WAIT_WALL, wall=True
    )
    if entered != "in":
        raise End(Outcome.SYSTEM_ERROR, "the lead's channel never entered the application; not dialled")

    ring_timeout = call.calls.final_lead_ring_timeout if call.plan.final else call.calls.lead_ring_timeout
    await call.r.journal.leg_update(call.lead_id, state=LegStatus.REQUESTED)
    try:
        await call.r.ari.dial(call.lead_id, timeout=ring_timeout)
    except AriOutcomeUnknown:
        # Sent, answer lost: the phone may ring. Resolve from events, never dial again.
        call.lead_dialled = True
        await call.r.journal.leg_update(call.lead_id, state=LegStatus.DIAL_UNKNOWN)
        log.warning("attempt %s: dial answer lost; resolving from events", call.plan.attempt_id)
    except AriError as exc:
        # Refused (or the channel vanished first): Asterisk dialled nothing, so it is not the lead's
        # outcome. A refused channel stays Down in the application until hung up (cleanup does).
        # Not awaited: the leg stays ``requested`` (maybe dialled, for recovery), which reads no cause text.
        call.r.journal.leg_note(call.lead_id, cause_txt=f"dial refused: {exc.status} {exc}"[:200])
        raise End(
            Outcome.SYSTEM_ERROR, f"Asterisk refused the lead's dial ({exc.status} {exc}); not dialled"
        ) from None
    else:
        call.lead_dialled = True  # only once Asterisk accepted the dial

    def rung() -> Rung | None:
        if leg.up_at is not None and not leg.destroyed:
            return "up"
        if leg.destroyed:
            return "gone"
        if admin.ended:
            return "admin-gone"
        return None

    got: Rung | None = await call.until(rung, ring_timeout + RING_MARGIN)
    if got is None:
        got = await _settle_unknown_lead(call, leg)
    if got == "up":
        return leg
    if got == "admin-gone":
        await call.hangup(call.lead_id)
        raise End(Outcome.ADMIN_UNAVAILABLE, f"admin {call.plan.admin.name} hung up while the lead rang")
    # The lead leg ended without answering: wait briefly for the ChannelDestroyed cause if only the
    # hang-up request was seen.
    await call.until(lambda: leg.destroyed, 5.0)
    raise End(call.classify_lead(leg, talk=None), leg.describe())


async def _create(call: Call, leg: LegState, endpoint: str) -> None:
    biz = call.r.settings.business
    cid_num = dial_digits(biz.caller_id_number)
    cid_name = biz.caller_id_name[:40]
    variables = {
        # create has no caller-ID parameter; PJSIP builds From from the connected line (FIELD-NOTES).
        "CALLERID(num)": cid_num,
        "CALLERID(name)": cid_name,
        "CONNECTEDLINE(num,i)": cid_num,
        "CONNECTEDLINE(name,i)": cid_name,
        "CALLBACK_APP": call.r.app,
    }
    if call.plan.amd:
        # Read by AMD() in the AMD context (asterisk_conf/extensions.conf): this route's parameters.
        variables.update(amd_params(call, endpoint).channel_variables())
    try:
        await call.r.ari.create_channel(
            endpoint,
            channel_id=call.lead_id,
            app=call.r.app,
            app_args=f"lead,{call.plan.attempt_id}",
            variables=variables,
        )
    except AriServerError as exc:
        if exc.allocation_failed:
            await call.r.journal.leg_update(
                call.lead_id, state=LegStatus.ENDED, cause_txt="Allocation failed"
            )
            raise End(*await allocation_failed(call, endpoint, "lead")) from None
        raise
    except AriOutcomeUnknown:
        # create does not ring anything: look whether the channel exists before dialling it.
        try:
            await call.r.ari.get_channel(call.lead_id)
        except AriNotFound:
            raise End(Outcome.SYSTEM_ERROR, "lead channel create: answer lost, no channel") from None
    leg.created = True


async def _settle_unknown_lead(call: Call, leg: LegState) -> Literal["up", "gone"]:
    """Nothing decisive within the ring time: ask Asterisk, then hang up what still rings."""
    try:
        ch = await call.r.ari.get_channel(leg.channel_id)
    except AriNotFound:
        leg.destroyed = True
        return "gone"
    if ch.state == "Up":
        leg.up_at = leg.up_at or call.now()
        return "up"
    await call.hangup(leg.channel_id)
    if leg.dial_status is None:
        leg.dial_status = "NOANSWER"
    return "gone"


def lead_endpoint(call: Call) -> str:
    """The lead's dial string through the trunk (its carrier route is the part after ``@``)."""
    return call.r.settings.ari.trunk_template.format(number=dial_digits(call.plan.lead_phone))


def amd_params(call: Call, endpoint: str) -> AmdParams:
    """The AMD parameters of the carrier route this lead is dialled through (settings [amd])."""
    return call.r.settings.amd.params_for(route_of(endpoint))


async def detect_machine(call: Call) -> bool:
    """Send the answered lead through the AMD dialplan context and read the verdict on its way back:
    True for a machine."""
    leg = call.legs[call.lead_id]
    await call.r.ari.subscribe(call.r.app, f"channel:{call.lead_id}")
    call.r.journal.observed(
        call.lead_id, None, {"amd_params": amd_params(call, lead_endpoint(call)).as_dict()}
    )
    if call.plan.final:
        # Listen from the answer: on a machine the drop must wait for the greeting's end, which may come
        # while AMD decides or while the admin hears the release prompt (a 3 s greeting did).
        await listen_for_talk(call, leg)
    if call.plan.final and call.r.clips is not None:
        await start_clip(call, call.r.clips)  # the first seconds of the lead's audio, while AMD runs
    await call.r.ari.continue_in_dialplan(
        call.lead_id, context=call.r.settings.ari.amd_context, extension=call.r.settings.ari.amd_extension
    )
    got: tuple[str, str] | Literal["gone"] | None = await call.until(
        lambda: leg.amd or ("gone" if leg.destroyed else None), 15.0
    )
    if got == "gone":
        raise End(call.classify_lead(leg, talk=0.0), "lead hung up during answering-machine detection")
    status = got[0] if isinstance(got, tuple) else "NOTSURE"
    if status == "NOTSURE":
        status = "MACHINE" if call.calls.amd_notsure == "machine" else "HUMAN"
    if not leg.in_stasis:
        # No verdict came back into the application in time: the leg is somewhere in the dialplan.
        raise End(Outcome.SYSTEM_ERROR, "lead did not return from the AMD context")
    return status == "MACHINE"
