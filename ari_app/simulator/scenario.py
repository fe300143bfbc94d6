"""Scripted callee behaviour: who answers, rings out, is busy, is a machine, presses a key.

A scenario is plain data (TOML or the same shape as JSON). Destinations are matched on the endpoint
(`PJSIP/admin`), or on the user part of a trunk dial string (`sim-busy` in `PJSIP/sim-busy@trunk`), or on
the number (digits compared without a leading `+`).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from .destination import Destination, matches, number_key

Behaviour = Literal[
    "answer", "noanswer", "busy", "reject", "congestion", "unallocated", "machine", "offline", "hangup"
]
BEHAVIOURS: tuple[str, ...] = (
    "answer",
    "noanswer",
    "busy",
    "reject",
    "congestion",
    "unallocated",
    "machine",
    "offline",
    "hangup",
)
FAILURES: frozenset[str] = frozenset({"busy", "reject", "congestion", "unallocated"})

# Endpoints that exist on the simulated PBX whatever the scenario says.
TRUNK_ENDPOINT = "trunk"
DEFAULT_ADMIN = "PJSIP/admin"


class ScenarioError(ValueError):
    """The scenario file or document is invalid; the message names the bad key."""


@dataclass(frozen=True)
class Press:
    """Keys the callee presses at a time of its own: ``after`` seconds after answering, or after first
    entering a bridge (``since = "bridged"``: a story that needs the key while bridged keeps no margin
    against how long the call took to get there)."""

    dtmf: str
    after: float
    since: Literal["answer", "bridged"] = "answer"


# AMD()'s parameters as amd.conf gives them by default (what AMD uses when a variable is empty or unset).
AMD_PARAMETERS: dict[str, int] = {
    "initial_silence": 2500,
    "greeting": 1500,
    "after_greeting_silence": 800,
    "total_analysis_time": 5000,
    "min_word_length": 100,
    "between_words_silence": 50,
    "maximum_number_of_words": 2,
    "silence_threshold": 256,
    "maximum_word_length": 5000,
}
AMD_STATUSES = ("MACHINE", "HUMAN", "NOTSURE")
_AMD_CAUSES = {"MACHINE": "LONGGREETING-1500-1500", "HUMAN": "HUMAN-800-800", "NOTSURE": "TOOLONG-5000"}


@dataclass(frozen=True)
class AmdAnswer:
    """What AMD says on this callee when it was given these parameters (those named; others any value)."""

    when: tuple[tuple[str, int], ...]
    status: str
    cause: str
    after: float | None = None  # seconds to decide; None: the callee's ``amd_after``

    def matches(self, given: dict[str, int]) -> bool:
        return all(given.get(name) == value for name, value in self.when)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {**dict(self.when), "status": self.status, "cause": self.cause}
        if self.after is not None:
            out["after"] = self.after
        return out


@dataclass(frozen=True)
class Callee:
    """How one destination behaves on one dial. Times are seconds of simulated time."""

    behaviour: Behaviour = "answer"
    answer_after: float = 1.0
    talk: float | None = 30.0
    hangup_after: float | None = None
    dtmf: str | None = None
    dtmf_after: str | float | None = None
    greeting: float = 6.0
    beep: float = 1.0
    record_max: float = 120.0
    # machine: a silence of ``pause`` seconds ``pause_at`` seconds into the greeting (part of its length)
    pause_at: float = 0.0
    pause: float = 0.0
    # machine: false for a box that sends no audio at all after its beep (silence suppression): talk
    # detection then never hears the silence, as on a real Asterisk
    audio_after_beep: bool = True
    fail_after: float = 0.0
    unbridged_hangup: float = 120.0
    amd_after: float | None = None
    hangup_cause: int | None = None
    hello: float = 1.5
    presses: tuple[Press, ...] = ()
    # AMD's verdict per parameter set, first match wins; none matching: MACHINE for a machine, else HUMAN
    amd: tuple[AmdAnswer, ...] = ()

    @classmethod
    def from_dict(cls, data: dict[str, Any], base: Callee | None = None, where: str = "callee") -> Callee:
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key in ("match", "sequence"):
                continue
            if key not in known:
                raise ScenarioError(f"{where}.{key}: unknown key")
            values[key] = value
        if "behaviour" in values and values["behaviour"] not in BEHAVIOURS:
            raise ScenarioError(f"{where}.behaviour: must be one of {', '.join(BEHAVIOURS)}")
        for key in (
            "answer_after",
            "greeting",
            "beep",
            "record_max",
            "pause_at",
            "pause",
            "fail_after",
            "unbridged_hangup",
            "hello",
        ):
            if key in values:
                values[key] = _seconds(values[key], f"{where}.{key}")
        for key in ("talk", "hangup_after", "amd_after"):
            if key in values and values[key] is not None:
                values[key] = _seconds(values[key], f"{where}.{key}")
        if "dtmf" in values and values["dtmf"] is not None:
            values["dtmf"] = _dtmf(values["dtmf"], f"{where}.dtmf")
        if "dtmf_after" in values and values["dtmf_after"] is not None:
            after = values["dtmf_after"]
            if after != "playback":
                values["dtmf_after"] = _seconds(after, f"{where}.dtmf_after")
        if "audio_after_beep" in values and not isinstance(values["audio_after_beep"], bool):
            raise ScenarioError(f"{where}.audio_after_beep: true or false")
        if "presses" in values:
            values["presses"] = _presses(values["presses"], f"{where}.presses")
        if "amd" in values:
            values["amd"] = _amd_answers(values["amd"], f"{where}.amd")
        if "hangup_cause" in values and values["hangup_cause"] is not None:
            values["hangup_cause"] = int(values["hangup_cause"])
        return replace(base or cls(), **values)


@dataclass(frozen=True)
class CalleeEntry:
    match: str
    callee: Callee
    sequence: tuple[Callee, ...] = ()

    def for_attempt(self, nth: int) -> Callee:
        """The callee for the ``nth`` dial (0-based) of this destination; the last entry repeats."""
        if not self.sequence:
            return self.callee
        return self.sequence[min(nth, len(self.sequence) - 1)]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"match": self.match, **_callee_dict(self.callee)}
        if self.sequence:
            out["sequence"] = [_callee_dict(c) for c in self.sequence]
        return out


def _dtmf(value: Any, where: str) -> str:
    text = str(value)
    if not re.fullmatch(r"[0-9A-D*#]+", text):
        raise ScenarioError(f"{where}: digits 0-9, A-D, * or # only")
    return text


def _presses(value: Any, where: str) -> tuple[Press, ...]:
    if not isinstance(value, list | tuple):
        raise ScenarioError(f"{where}: must be a list of {{dtmf, after}} tables")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or not {"dtmf", "after"} <= set(item) <= {"dtmf", "after", "since"}:
            raise ScenarioError(f"{where}[{i}]: needs dtmf and after (and since, if any), nothing else")
        since = item.get("since", "answer")
        if since not in ("answer", "bridged"):
            raise ScenarioError(f'{where}[{i}].since: "answer" or "bridged"')
        out.append(
            Press(
                dtmf=_dtmf(item["dtmf"], f"{where}[{i}].dtmf"),
                after=_seconds(item["after"], f"{where}[{i}].after"),
                since=since,
            )
        )
    return tuple(out)


def _amd_answers(value: Any, where: str) -> tuple[AmdAnswer, ...]:
    if not isinstance(value, list | tuple):
        raise ScenarioError(f"{where}: must be a list of tables (AMD parameters, status, cause, after)")
    out = []
    for i, item in enumerate(value):
        at = f"{where}[{i}]"
        if not isinstance(item, dict):
            raise ScenarioError(f"{at}: must be a table")
        status = item.get("status")
        if status not in AMD_STATUSES:
            raise ScenarioError(f"{at}.status: must be one of {', '.join(AMD_STATUSES)}")
        when: list[tuple[str, int]] = []
        for key, raw in item.items():
            if key in ("status", "cause", "after"):
                continue
            if key not in AMD_PARAMETERS:
                raise ScenarioError(f"{at}.{key}: unknown key (an AMD parameter, status, cause or after)")
            if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
                raise ScenarioError(f"{at}.{key}: must be a whole number from 0")
            when.append((key, raw))
        cause = item.get("cause", _AMD_CAUSES[status])
        if not isinstance(cause, str):
            raise ScenarioError(f"{at}.cause: must be text, e.g. LONGGREETING-1500-1500")
        after = _seconds(item["after"], f"{at}.after") if "after" in item else None
        out.append(AmdAnswer(tuple(when), status, cause, after))
    return tuple(out)


def _seconds(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScenarioError(f"{where}: must be a number of seconds")
    if value < 0:
        raise ScenarioError(f"{where}: must not be negative")
    return float(value)


def _callee_dict(callee: Callee) -> dict[str, Any]:
    out = {k: v for k, v in asdict(callee).items() if v is not None}
    # "since" only where it isn't the default, so a scenario reads back as it was written
    out["presses"] = [{k: v for k, v in p.items() if (k, v) != ("since", "answer")} for p in out["presses"]]
    if not out["presses"]:
        del out["presses"]
    out["amd"] = [a.to_dict() for a in callee.amd]
    if not out["amd"]:
        del out["amd"]
    return out


ADMIN_CALLEE = Callee(behaviour="answer", answer_after=1.0, talk=None, dtmf="1", dtmf_after="playback")
LEAD_CALLEE = Callee(behaviour="answer", answer_after=1.0, talk=30.0)


_TOP_KEYS = ("defaults", "callee", "missing_sounds", "missing_modules", "asterisk_version")


@dataclass(frozen=True)
class Scenario:
    defaults: Callee = LEAD_CALLEE
    callees: tuple[CalleeEntry, ...] = field(default_factory=tuple)
    missing_sounds: frozenset[str] = frozenset()
    missing_modules: frozenset[str] = frozenset()  # module names (``app_amd``) not loaded
    asterisk_version: str = "22.10.1"  # what GET /asterisk/info reports

    @classmethod
    def default(cls) -> Scenario:
        return cls.from_dict({})

    @classmethod
    def from_toml(cls, path: str | Path) -> Scenario:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ScenarioError(f"{path}: {exc}") from exc
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scenario:
        for key in data:
            if key not in _TOP_KEYS:
                raise ScenarioError(f"{key}: unknown key (expected {', '.join(_TOP_KEYS)})")
        defaults = Callee.from_dict(dict(data.get("defaults", {})), base=LEAD_CALLEE, where="defaults")
        entries: list[CalleeEntry] = []
        raw_callees = data.get("callee", [])
        if not isinstance(raw_callees, list):
            raise ScenarioError("callee: must be an array of tables ([[callee]])")
        for i, raw in enumerate(raw_callees):
            where = f"callee[{i}]"
            if not isinstance(raw, dict) or not raw.get("match"):
                raise ScenarioError(f"{where}.match: required")
            match = str(raw["match"])
            base = ADMIN_CALLEE if Destination.parse(match).is_local_endpoint and "/" in match else defaults
            callee = Callee.from_dict(raw, base=base, where=where)
            sequence = tuple(
                Callee.from_dict(dict(step), base=callee, where=f"{where}.sequence[{j}]")
                for j, step in enumerate(raw.get("sequence", []))
            )
            entries.append(CalleeEntry(match=match, callee=callee, sequence=sequence))
        if not any(e.match.lower() == DEFAULT_ADMIN.lower() for e in entries):
            entries.append(CalleeEntry(match=DEFAULT_ADMIN, callee=ADMIN_CALLEE))
        missing = data.get("missing_sounds", [])
        if not isinstance(missing, list):
            raise ScenarioError("missing_sounds: must be a list of sound names")
        modules = data.get("missing_modules", [])
        if not isinstance(modules, list):
            raise ScenarioError("missing_modules: must be a list of module names (app_amd)")
        return cls(
            defaults=defaults,
            callees=tuple(entries),
            missing_sounds=frozenset(map(str, missing)),
            missing_modules=frozenset(str(m).removesuffix(".so") for m in modules),
            asterisk_version=str(data.get("asterisk_version", "22.10.1")),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "defaults": _callee_dict(self.defaults),
            "callee": [e.to_dict() for e in self.callees],
            "missing_sounds": sorted(self.missing_sounds),
            "missing_modules": sorted(self.missing_modules),
            "asterisk_version": self.asterisk_version,
        }

    def entry_for(self, dest: Destination) -> CalleeEntry | None:
        for entry in self.callees:
            if matches(entry.match, dest):
                return entry
        return None

    def callee_for(self, dest: Destination, nth: int) -> Callee:
        entry = self.entry_for(dest)
        return entry.for_attempt(nth) if entry else self.defaults

    def local_endpoints(self) -> dict[str, bool]:
        """PJSIP endpoints that exist on the PBX (resource → online)."""
        out: dict[str, bool] = {TRUNK_ENDPOINT: True}
        for entry in self.callees:
            dest = Destination.parse(entry.match)
            if "/" in entry.match and dest.is_local_endpoint:
                out[dest.resource] = entry.callee.behaviour != "offline"
        return out


__all__ = [
    "BEHAVIOURS",
    "Behaviour",
    "Callee",
    "CalleeEntry",
    "Destination",
    "Press",
    "Scenario",
    "ScenarioError",
    "number_key",
]
