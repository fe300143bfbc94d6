"""Scoring AMD parameter sets on labelled calls, for tuning: pure arithmetic, no I/O.

A candidate set is judged by what AMD said with it on each labelled call (from a replay of the call's first
seconds through AMD() with those parameters). Its cost is ``person_weight`` for each person taken for a
machine (hung up on, or left a voicemail message while they listened) plus 1 for each machine taken for a
person (an admin rang through to a greeting, and pressed the drop key). A call the set left undecided
counts as what ``calls.amd_notsure`` makes of it, as on a real call. Lower is better.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import product

from .amd import AmdParams, Label, Verdict

DEFAULT_PERSON_WEIGHT = 5.0


@dataclass(frozen=True)
class Candidate:
    name: str
    params: AmdParams
    verdicts: Mapping[str, Verdict]  # call key → what AMD said with these parameters


@dataclass(frozen=True)
class Score:
    name: str
    params: AmdParams
    cost: float
    calls: int  # labelled calls the candidate was judged on
    person_as_machine: int
    machine_as_person: int
    people: int
    machines: int
    missing: int  # labelled calls the candidate has no verdict for (counted as its worst case)

    @property
    def errors(self) -> int:
        return self.person_as_machine + self.machine_as_person


def score(candidate: Candidate, labels: Mapping[str, Label], person_weight: float) -> Score:
    """The candidate's cost on ``labels`` (call key → label). A labelled call without a verdict from the
    candidate counts as a mistake: a replay that failed must not make a set look better."""
    if person_weight <= 0:
        raise ValueError("person_weight must be above 0")
    pam = map_ = missing = people = machines = 0
    for key, label in labels.items():
        verdict = candidate.verdicts.get(key)
        if label is Label.PERSON:
            people += 1
            if verdict is None:
                missing += 1
            if verdict is not Verdict.PERSON:
                pam += 1
        else:
            machines += 1
            if verdict is None:
                missing += 1
            if verdict is not Verdict.MACHINE:
                map_ += 1
    return Score(
        name=candidate.name,
        params=candidate.params,
        cost=person_weight * pam + map_,
        calls=len(labels),
        person_as_machine=pam,
        machine_as_person=map_,
        people=people,
        machines=machines,
        missing=missing,
    )


def rank(
    candidates: Sequence[Candidate], labels: Mapping[str, Label], person_weight: float = DEFAULT_PERSON_WEIGHT
) -> list[Score]:
    """Best first: the lowest cost; on a tie the fewer people taken for machines, then the given order
    (put the current set first, so a candidate must do strictly better to replace it)."""
    scored = [(score(c, labels, person_weight), i) for i, c in enumerate(candidates)]
    scored.sort(key=lambda s: (s[0].cost, s[0].person_as_machine, s[1]))
    return [s for s, _ in scored]


# The parameters that decide most verdicts, and the steps tried around the current value (ms, or words):
# the greeting's limit and the silence after it separate a "hello?" from a recorded greeting.
TUNED_STEPS: Mapping[str, tuple[int, ...]] = {
    "greeting": (-500, 0, 500, 1000),
    "after_greeting_silence": (-200, 0, 200, 400),
    "maximum_number_of_words": (0, 1, 2),
}


def candidate_sets(current: AmdParams, steps: Mapping[str, Sequence[int]] = TUNED_STEPS) -> list[AmdParams]:
    """The current set first, then every combination of the steps around it (values below 1 left out,
    each set once): what a replay would try."""
    names = list(steps)
    seen = {current}
    out = [current]
    for deltas in product(*(steps[n] for n in names)):
        values = {n: getattr(current, n) + d for n, d in zip(names, deltas, strict=True)}
        if any(v < 1 for v in values.values()):
            continue
        candidate = current.with_overrides(values)
        if candidate not in seen:
            seen.add(candidate)
            out.append(candidate)
    return out
