"""Admin and lead connected: the bridge, the talk, and the admin's drop key."""

from __future__ import annotations

from typing import Literal

from ..domain.attempts import AttemptResult
from ..domain.outcomes import Outcome
from ..domain.statuses import LegStatus
from ..logs import call_log
from .call import Call, End
from .drop import admin_drop
from .legs import LegState, talk_seconds

_MAX_TALK_SECONDS = 4 * 3600.0


async def bridge_and_talk(call: Call, lead: LegState) -> AttemptResult:
    admin = call.legs[call.admin_id]
    if admin.ended:
        await call.hangup(call.lead_id)
        raise End(Outcome.ADMIN_UNAVAILABLE, "admin hung up before the lead was connected")
    drop_key = call.calls.drop_key if not call.plan.final else ""
    # With plain mixing Asterisk bridges two SIP legs natively the moment the second joins, and the admin's
    # keys never reach us (recording 16); dtmf_events keeps the media in Asterisk. The lead still hears them.
    bridge_type = "mixing,dtmf_events" if drop_key else "mixing"
    # The lead's answer (queued when its event came) is stored before they are connected: recovery re-adopts
    # a bridged call only from an answered lead leg, and a worker killed once they talk must not leave a
    # lead that reads as never answered (a retry would ring them while they are still on the phone).
    await call.r.journal.stored()
    await call.r.ari.create_bridge(bridge_type=bridge_type, bridge_id=call.bridge_id, name=call.bridge_id)
    call.bridge_created = True
    assert call.sub is not None
    call.sub.add_bridge(call.bridge_id)
    await call.r.ari.add_channel(call.bridge_id, [call.admin_id, call.lead_id])
    # Wall time: how long Asterisk takes to answer is not business time.
    await call.until(lambda: lead.bridged_at is not None or lead.ended or admin.ended, 5.0, wall=True)
    if lead.bridged_at is None and not (lead.ended or admin.ended):
        raise End(Outcome.SYSTEM_ERROR, "the lead was added to the bridge but never entered it")
    bridged_at = lead.bridged_at or call.now()
    if not (lead.ended or admin.ended):
        call_log.bridged(call.plan.admin.name)
    if lead.bridged_at is None:
        lead.bridged_at = bridged_at
        # Not awaited: recovery re-adopts an ``up`` lead as well (the bridge on the PBX is what it checks,
        # and the answer's time stands in for the bridge's), and judges a lead by its answer and cause.
        call.r.journal.leg_note(call.lead_id, state=LegStatus.BRIDGED, bridged_at=bridged_at)
    admin.digits.clear()  # keys from the whisper are not a drop request

    def over() -> Literal["lead", "admin", "drop"] | None:
        if lead.ended:
            return "lead"
        if admin.ended:
            return "admin"
        if drop_key and drop_key in admin.digits:
            return "drop"
        return None

    who = await call.until(over, _MAX_TALK_SECONDS)
    if who == "drop":
        return await admin_drop(call)
    talk = talk_seconds(lead, admin, bridged_at, call.now())
    outcome = call.classify_lead(lead, talk=talk)
    who_text = {"lead": "lead hung up", "admin": "admin hung up", None: "talk time limit"}[who]
    return AttemptResult(outcome, f"talked {talk:.0f} s; {who_text}", talk_seconds=talk)
