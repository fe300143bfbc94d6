"""The tag router's rules: exactly one status tag while a contact is in this module, a stage derived from it.

Other tags are free-form and never touched. Tag names compare exactly (they are configuration).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..settings import StageSettings, TagSettings


class Status(StrEnum):
    PENDING = "pending"
    INCOMPLETE = "incomplete"
    COMPLETE = "complete"


@dataclass(frozen=True)
class TagNames:
    pending: str = "Request to Callback Pending"
    incomplete: str = "Request to Callback Incomplete"
    complete: str = "Request to Callback Complete"

    def __post_init__(self) -> None:
        names = (self.pending, self.incomplete, self.complete)
        if any(not n.strip() for n in names) or len(set(names)) != 3:
            raise ValueError("the three status tags must be distinct, non-empty names")

    @classmethod
    def from_settings(cls, tags: TagSettings) -> TagNames:
        return cls(pending=tags.pending, incomplete=tags.incomplete, complete=tags.complete)

    def for_status(self, status: Status) -> str:
        return {
            Status.PENDING: self.pending,
            Status.INCOMPLETE: self.incomplete,
            Status.COMPLETE: self.complete,
        }[status]

    @property
    def all(self) -> frozenset[str]:
        return frozenset({self.pending, self.incomplete, self.complete})

    def status_of(self, current_tags: Collection[str]) -> Status | None:
        """The status the tags say, if exactly one status tag is present."""
        present = [s for s in Status if self.for_status(s) in current_tags]
        return present[0] if len(present) == 1 else None


@dataclass(frozen=True)
class StageNames:
    pending: str = "Callback requested"
    incomplete: str = "Callback missed"
    complete: str = "Connected"
    cancelled: str = "Callback cancelled"
    cancelled_by_lead: str = "Cancelled by lead"

    @classmethod
    def from_settings(cls, stages: StageSettings) -> StageNames:
        return cls(
            pending=stages.pending,
            incomplete=stages.incomplete,
            complete=stages.complete,
            cancelled=stages.cancelled,
            cancelled_by_lead=stages.cancelled_by_lead,
        )

    def for_status(self, status: Status | None, *, by_lead: bool = False) -> str:
        """``by_lead``: the request left because the lead said it is no longer needed (a stage of its own,
        so a pipeline tells "the lead called it off" from "we stopped": neither is *Complete*)."""
        if status is None:
            return self.cancelled_by_lead if by_lead else self.cancelled
        return {
            Status.PENDING: self.pending,
            Status.INCOMPLETE: self.incomplete,
            Status.COMPLETE: self.complete,
        }[status]


@dataclass(frozen=True)
class TagChange:
    add: frozenset[str]
    remove: frozenset[str]
    stage: str
    changed: bool  # whether the tags change (the stage is always written: it is derived)

    def apply(self, current_tags: Collection[str]) -> frozenset[str]:
        return (frozenset(current_tags) - self.remove) | self.add


def route_status(
    current_tags: Collection[str],
    new: Status | None,
    *,
    tags: TagNames,
    stages: StageNames,
    by_lead: bool = False,
) -> TagChange:
    """Tags to add and remove so that exactly the status tag of ``new`` is present; ``None`` means the request
    left the module (cancelled): every status tag goes, and the stage says who called it off (``by_lead``)."""
    current = frozenset(current_tags)
    wanted = frozenset() if new is None else frozenset({tags.for_status(new)})
    add = wanted - current
    remove = (current & tags.all) - wanted
    stage = stages.for_status(new, by_lead=by_lead)
    return TagChange(add=add, remove=remove, stage=stage, changed=bool(add or remove))
