"""How often AMD was right on this operator's own calls, from the admins' labels: pure arithmetic.

A labelled call is an attempt whose lead answered, that AMD judged (or that the admin judged by pressing the
drop key) and that an admin labelled "person" or "machine". Per carrier route: the confusion table (people
taken for machines, machines taken for people), how long AMD took to decide (median, p90, on the PBX's
clock), and how many voicemail drops started before the beep. Every share carries the count behind it and
is withheld (None) below ``MIN_LABELS``: five labels saying "80 %" would be read as a measurement.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .amd import Label, Verdict

MIN_LABELS = 20  # no share is shown on fewer labels (or drops) than this


@dataclass(frozen=True)
class LabelledCall:
    route: str
    label: Label | None  # None: answered, not labelled (yet)
    verdict: Verdict | None  # None: AMD gave no verdict on this call
    decide_seconds: float | None = None  # AMD's start to its verdict
    drop_early: bool | None = None  # None: no voicemail drop on this call


@dataclass(frozen=True)
class Share:
    """``count`` of ``base``; ``percent`` only when the base is large enough to mean something."""

    count: int
    base: int
    percent: float | None

    @staticmethod
    def of(count: int, base: int, minimum: int = MIN_LABELS) -> Share:
        percent = round(100.0 * count / base, 1) if base >= minimum and base > 0 else None
        return Share(count, base, percent)


@dataclass(frozen=True)
class RouteAccuracy:
    route: str
    answered: int  # answered calls AMD judged, labelled or not
    labelled: int  # of them, labelled by an admin
    people: int  # labelled "person"
    machines: int  # labelled "machine"
    correct: Share  # AMD agreed with the label, of the labelled calls AMD judged
    person_as_machine: Share  # of the people: AMD said machine (a person hung up on or left a message)
    machine_as_person: Share  # of the machines: AMD said person (an admin rang through to a greeting)
    decide_median: float | None
    decide_p90: float | None
    decided: int  # calls behind the two figures above
    drops: int  # voicemail drops played
    drops_early: Share  # of the drops: started before the beep (the greeting went on)


@dataclass(frozen=True)
class AccuracyReport:
    routes: list[RouteAccuracy] = field(default_factory=list)
    total: RouteAccuracy | None = None  # every route together (None when there are no calls)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) by linear interpolation between closest ranks; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def route_accuracy(route: str, calls: Sequence[LabelledCall], minimum: int = MIN_LABELS) -> RouteAccuracy:
    judged = [c for c in calls if c.verdict is not None]
    labelled = [c for c in judged if c.label is not None]
    people = [c for c in labelled if c.label is Label.PERSON]
    machines = [c for c in labelled if c.label is Label.MACHINE]
    agreed = sum(1 for c in labelled if c.verdict is not None and c.verdict.value == c.label)
    decided = [c.decide_seconds for c in judged if c.decide_seconds is not None]
    drops = [c for c in calls if c.drop_early is not None]
    p50, p90 = percentile(decided, 0.5), percentile(decided, 0.9)
    return RouteAccuracy(
        route=route,
        answered=len(judged),
        labelled=len(labelled),
        people=len(people),
        machines=len(machines),
        correct=Share.of(agreed, len(labelled), minimum),
        person_as_machine=Share.of(
            sum(1 for c in people if c.verdict is Verdict.MACHINE), len(people), minimum
        ),
        machine_as_person=Share.of(
            sum(1 for c in machines if c.verdict is Verdict.PERSON), len(machines), minimum
        ),
        decide_median=round(p50, 3) if p50 is not None else None,
        decide_p90=round(p90, 3) if p90 is not None else None,
        decided=len(decided),
        drops=len(drops),
        drops_early=Share.of(sum(1 for c in drops if c.drop_early), len(drops), minimum),
    )


def accuracy_report(calls: Iterable[LabelledCall], minimum: int = MIN_LABELS) -> AccuracyReport:
    """Per route (sorted by name), and all routes together."""
    every = list(calls)
    by_route: dict[str, list[LabelledCall]] = {}
    for c in every:
        by_route.setdefault(c.route, []).append(c)
    routes = [route_accuracy(r, by_route[r], minimum) for r in sorted(by_route)]
    return AccuracyReport(routes=routes, total=route_accuracy("all", every, minimum) if every else None)
