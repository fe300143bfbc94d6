"""A call from someone callback does not know, rung through to the admins (``returns.unknown = "ring"``)."""

from __future__ import annotations

import itertools
import logging
from typing import TYPE_CHECKING

from ..ari.dispatch import Subscription
from ..ari.errors import AriError
from ..ari.events import Event, StasisEnd
from ..domain.attempts import AttemptPlan
from ..domain.phone import dial_digits
from ..settings import AdminSettings
from .call import Call
from .legs import LegState, observe_leg, observe_playback
from .return_call import MAX_TALK_SECONDS, RING_MARGIN

if TYPE_CHECKING:
    from .inbound import InboundCalls

log = logging.getLogger(__name__)
calls_log = logging.getLogger("callback.calls")


class PlainCall(Call):
    """A caller callback does not know (``returns.unknown = "ring"``): the admins are rung in the roster's
    order with a plain whisper (the caller's number), the first to press 1 is bridged. Nobody: the call goes
    back to the dialplan's own routing. It has no request and no attempt row: its admin is held in this
    worker's roster and checked against every worker's running calls, not reserved in the database.
    Its ids are ``cb-{installation}-0-admin-{n}``: attempt 0 is never a real attempt."""

    def __init__(
        self, owner: InboundCalls, number: int, phone: str, channel_id: str, sub: Subscription
    ) -> None:
        super().__init__(owner.r, AttemptPlan(0, phone, False, False, owner.admins[0]))
        self.owner = owner
        self.number = number
        self.sub = sub
        self.lead_id = channel_id
        self.bridge_id = f"{self.ids.bridge}-{number}"  # attempt 0 is shared by every plain call

    def observe(self, ev: Event) -> None:
        # No attempt row, so nothing to journal: the legs' bookkeeping only.
        observe_playback(self.playbacks, ev, self.now())
        observe_leg(self.legs, ev, self.now())
        if isinstance(ev, StasisEnd) and ev.channel.id == self.lead_id:
            lead = self.legs[self.lead_id]
            lead.hangup_requested = lead.destroyed = True

    async def run(self) -> bool:
        """True when an admin took the call (it is over now); False: hand it back (still ours, unanswered)."""
        assert self.sub is not None
        lead = self.add_leg(self.lead_id, "lead")
        lead.created = lead.in_stasis = True
        taken = False
        try:
            taken = await self._script(lead)
        except AriError as exc:
            log.warning("inbound call %s: %s", self.lead_id, exc)
        finally:
            if not taken:
                self.legs.pop(self.lead_id, None)  # handed back: not ours to hang up
            await self.cleanup()
            self.sub.close()
        return taken

    async def _script(self, lead: LegState) -> bool:
        busy = await self.owner.desk.busy_admins()
        for try_no in itertools.count(1):
            admin = self.owner.pool.offer(busy=busy)
            if admin is None or lead.ended:
                return False
            busy = busy | {admin.name}
            try:
                if await self._offer(admin, try_no, lead):
                    return True
            finally:
                self.owner.pool.release(admin.name)
        return False

    async def _offer(self, admin: AdminSettings, try_no: int, lead: LegState) -> bool:
        calls = self.calls
        admin_id = self.ids.leg("admin", self.number * 100 + try_no)
        leg = self.add_leg(admin_id, "admin")
        await self.r.ari.originate(
            admin.endpoint,
            channel_id=admin_id,
            app=self.r.app,
            app_args="admin,0",
            caller_id=f"Caller <{dial_digits(self.plan.lead_phone)}>",
            timeout=calls.admin_ring_timeout,
            variables={"CALLBACK_APP": self.r.app},
        )
        leg.created = True
        if try_no == 1:
            await self.r.ari.ring(self.lead_id)  # the caller hears ringing; the call is not answered yet

        def answered() -> str | None:
            return "gone" if lead.ended or leg.ended else ("up" if leg.up_at else None)

        if await self.until(answered, calls.admin_ring_timeout + RING_MARGIN) != "up":
            await self.hangup(admin_id)
            return False
        digits = [d for d in dial_digits(self.plan.lead_phone).lstrip("+") if d.isdigit()]
        pb = await self.play_prompts(
            admin_id, ["inbound-call-whisper", *(f"digit-{d}" for d in digits), "press-1"], "whisper"
        )
        key = calls.accept_key

        def accepted() -> str | None:
            return "yes" if key in leg.digits else ("gone" if leg.ended or lead.ended else None)

        if await self.until(accepted, pb.length + calls.accept_timeout) != "yes":
            await self.hangup(admin_id)
            return False
        await self.stop(pb)
        await self.r.ari.answer(self.lead_id)
        bridge = self.bridge_id
        await self.r.ari.create_bridge(bridge_type="mixing", bridge_id=bridge, name=bridge)
        self.bridge_created = True
        assert self.sub is not None
        self.sub.add_bridge(bridge)
        await self.r.ari.add_channel(bridge, [admin_id, self.lead_id])
        await self.until(lambda: lead.ended or leg.ended, MAX_TALK_SECONDS)
        calls_log.info("a call from %s taken by %s", self.plan.lead_phone, admin.name)
        return True
