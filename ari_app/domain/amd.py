"""Answering-machine detection: AMD()'s nine parameters, its verdict, and the labels admins give.

Asterisk's ``AMD()`` runs in the dialplan (``asterisk_conf/extensions.conf``, ``[callback-amd]``) and reads
its parameters from channel variables the app sets on the lead's channel when it creates it, so each
carrier route (trunk) can have its own set and a tuned set is used from the next call on. An empty variable
keeps ``amd.conf``'s value. The defaults are Asterisk's own (``amd.conf.sample``, app_amd's docs).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from enum import StrEnum
from typing import Any


class Label(StrEnum):
    """What an admin says the lead's side was, after the call (or by pressing the drop key during it)."""

    PERSON = "person"
    MACHINE = "machine"


class Verdict(StrEnum):
    """What AMD said, as the call used it (NOTSURE is resolved by ``calls.amd_notsure``)."""

    PERSON = "person"
    MACHINE = "machine"


@dataclass(frozen=True)
class AmdParams:
    """AMD()'s arguments in its order, in milliseconds except the word count and the silence level."""

    initial_silence: int = 2500  # silence before the first word longer than this: MACHINE (INITIALSILENCE)
    greeting: int = 1500  # a greeting longer than this: MACHINE (LONGGREETING)
    after_greeting_silence: int = 800  # this much silence after the greeting: HUMAN
    total_analysis_time: int = 5000  # no decision within this: NOTSURE (TOOLONG)
    min_word_length: int = 100  # shorter voice is not a word
    between_words_silence: int = 50  # silence that separates two words
    maximum_number_of_words: int = 2  # more words than this: MACHINE (MAXWORDS)
    silence_threshold: int = 256  # average level (0-32767) below which a frame is silence
    maximum_word_length: int = 5000  # one utterance longer than this: MACHINE (MAXWORDLENGTH)

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"AMD parameter {f.name} must be a whole number from 0, not {value!r}")
        if not 0 < self.silence_threshold <= 32767:
            raise ValueError("AMD parameter silence_threshold must be from 1 to 32767")

    def channel_variables(self) -> dict[str, str]:
        """The variables ``[callback-amd]`` passes to AMD(): ``AMD_INITIAL_SILENCE`` … in AMD()'s order."""
        return {variable_name(name): str(value) for name, value in asdict(self).items()}

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def with_overrides(self, overrides: dict[str, Any]) -> AmdParams:
        """This set with the given parameters changed (None: keep this set's value)."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


PARAMETER_NAMES: tuple[str, ...] = tuple(f.name for f in fields(AmdParams))


def variable_name(parameter: str) -> str:
    """The channel variable that carries one parameter into the AMD context."""
    return f"AMD_{parameter.upper()}"


@dataclass(frozen=True)
class AmdCause:
    """``AMDCAUSE`` as Asterisk words it: a reason, then the numbers that decided it
    (``LONGGREETING-1500-1500``: the greeting's length and the limit, ``HUMAN-800-800``, ``TOOLONG-5000``)."""

    reason: str
    numbers: tuple[int, ...]


def parse_cause(raw: str | None) -> AmdCause | None:
    if not raw:
        return None
    reason, *rest = raw.strip().split("-")
    numbers: list[int] = []
    for part in rest:
        if part.isdigit():
            numbers.append(int(part))
    return AmdCause(reason.upper(), tuple(numbers))


def verdict_of(status: str | None, notsure: str) -> Verdict | None:
    """The verdict the call acted on: MACHINE / HUMAN as said, NOTSURE as ``calls.amd_notsure`` says;
    None when AMD gave no verdict (not run, or the lead hung up during it)."""
    if status == "MACHINE":
        return Verdict.MACHINE
    if status == "HUMAN":
        return Verdict.PERSON
    if status == "NOTSURE":
        return Verdict.MACHINE if notsure == "machine" else Verdict.PERSON
    return None


def route_of(endpoint: str) -> str:
    """The carrier route of a dial string: the part after ``@`` (``PJSIP/+1555…@trunk`` → ``trunk``),
    else the technology and resource without the number."""
    if "@" in endpoint:
        return endpoint.rsplit("@", 1)[1]
    return endpoint.split("/", 1)[0] if "/" in endpoint else endpoint
