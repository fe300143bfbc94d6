"""One attempt on the wire: ring the admin, whisper, ringback, dial the lead once, AMD, bridge, talk, drop.

The orchestrator is the only code that talks ARI. It writes each leg's intent through the leg journal before
any request that can make a phone ring, never re-sends a dial whose answer was lost, and ends every attempt
with an ``AttemptResult``: a failed call is an outcome, not an exception. An error or timeout on our side of
ARI is never the lead's outcome. The steps are in ``admin_side``, ``lead_side``, ``connected`` and ``drop``;
the facts they gather are classified by ``domain.outcomes``.
"""

from __future__ import annotations

from ..ari.errors import AriError, AriUnreachable
from ..domain.attempts import AttemptResult
from ..domain.outcomes import Outcome
from .admin_side import let_admin_go, ring_admin, tell_admin, whisper
from .call import Call, End
from .connected import bridge_and_talk
from .drop import voicemail_drop
from .lead_side import detect_machine, ring_lead


class AttemptCall(Call):
    async def run(self) -> AttemptResult:
        self.sub = self.r.router.subscription()
        result: AttemptResult
        try:
            result = await self._script()
        except End as end:
            result = AttemptResult(end.outcome, end.detail)
        except AriUnreachable as exc:
            result = AttemptResult(
                Outcome.SYSTEM_ERROR, f"PBX unreachable: {exc.ari_message or exc}{self.lead_evidence()}"
            )
        except AriError as exc:
            # An error or timeout on our side of ARI is never the lead's outcome (it would spend one of their
            # attempts, or close the request, on our fault): system_error, with what the lead leg did.
            result = AttemptResult(
                Outcome.SYSTEM_ERROR,
                f"ARI error in {exc.operation}: {exc.status} {exc}{self.lead_evidence()}",
            )
        finally:
            await self.cleanup()
            self.sub.close()
        result.admin_name = result.admin_name or self.plan.admin.name
        result.lead_dialled = self.lead_dialled
        result.admin_said_machine = result.admin_said_machine or self.admin_said_machine
        return result

    async def _script(self) -> AttemptResult:
        await ring_admin(self)
        if self.calls.whisper:
            await whisper(self)
        ringback = await self.play(self.admin_id, ["tone:ring;tonezone=us"], "ringback")
        lead = await ring_lead(self)
        # A tone stops at once; the admin joins the bridge only once it really has (recording 15).
        await self.stop(ringback)
        if self.plan.amd and await detect_machine(self):
            if self.plan.final:
                return await voicemail_drop(self)
            await let_admin_go(self, await tell_admin(self, "lead-machine-admin"))
            outcome = self.classify_lead(lead, talk=None, machine=True)
            raise End(outcome, "answering machine (AMD); no drop before the final attempt")
        return await bridge_and_talk(self, lead)
