"""The lifecycle: workflow decisions applied, one transaction each (tags, stage, notes, SMS outbox, next
attempt). The caller owns the session and commits.

One module per use case, over a shared ``Context`` (settings read once into rules, the clock):
``intake`` (wf-1.1, a request arrives), ``attempts`` (an attempt starts; wf-1.2 / wf-1.3, it ends),
``closing`` (cancel, complete), ``outreach`` (the SMS outbox, opt-out and opt-in), ``inbound_sms`` (what a
text from the contact and a delivery report do), ``by_hand`` (call now, requeue, a note), ``labels``
(a person or a machine answered an attempt: the AMD report's ground truth), ``return_calls`` (the lead
calling the business back).
"""

from __future__ import annotations

from ..clock import Clock
from ..settings import Settings
from .attempts import Attempts
from .by_hand import ByHand
from .closing import Closing
from .context import Context
from .inbound_sms import SmsInbound
from .intake import Intake, IntakeResult
from .intake_rows import IntakeData
from .labels import Labels
from .outreach import ANSWERS_TO_THE_CONTACT, Outreach
from .return_calls import ReturnCalls

__all__ = ["ANSWERS_TO_THE_CONTACT", "IntakeData", "IntakeResult", "Lifecycle"]


class Lifecycle:
    """The use cases, built once (by the composition root) over one context; callers name the one they use:
    ``lifecycle.intake.submit(...)``, ``lifecycle.attempts.finish(...)``."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.context = Context(settings, clock)
        self.intake = Intake(self.context)
        self.closing = Closing(self.context)
        self.outreach = Outreach(self.context, self.closing)
        self.labels = Labels(self.context)
        self.attempts = Attempts(self.context, self.closing, self.outreach, self.labels)
        self.inbound_sms = SmsInbound(self.context, self.outreach, self.closing)
        self.by_hand = ByHand(self.context)
        self.return_calls = ReturnCalls(self.context, self.outreach)
