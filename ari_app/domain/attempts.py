"""One attempt as the scheduler hands it to the call, and as the call hands it back: plain values, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .outcomes import Outcome


class Admin(Protocol):
    """Who answers first (``AdminSettings`` in the configuration has these)."""

    @property
    def name(self) -> str: ...

    @property
    def endpoint(self) -> str: ...


@dataclass(frozen=True)
class AttemptStart:
    """An attempt marked running, before the database has given it an admin."""

    attempt_id: int
    lead_phone: str  # E.164, validated at intake
    final: bool
    amd: bool

    def with_admin(self, admin: Admin) -> AttemptPlan:
        return AttemptPlan(self.attempt_id, self.lead_phone, self.final, self.amd, admin)


@dataclass(frozen=True)
class AttemptPlan(AttemptStart):
    admin: Admin


@dataclass
class AttemptResult:
    outcome: Outcome
    detail: str = ""
    admin_name: str | None = None
    talk_seconds: float | None = None
    drop_played_seconds: float | None = None
    lead_dialled: bool = False  # Asterisk accepted the lead's dial (or its answer was lost): it may have rung
    admin_said_machine: bool = False  # the admin pressed the drop key: a machine, labelled by them
