"""How long a media item plays, in simulated seconds, and which ones Asterisk can't find.

``sound:`` lengths come from the callback sounds manifest (``sounds_durations``) when given; ``sound:http…``
is fetched for its real length when played (remote_media.py).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .engine import Pbx

SPOKEN = frozenset({"digits", "number", "characters"})  # said sound by sound; a stop cuts one sound
DIGIT_SECONDS = 0.5  # one spoken digit or character, unless sounds_durations gives ``digits/N``
NUMBER_SECONDS = 1.0
RECORDING_SECONDS = 2.0
SOUND_SECONDS = 2.0


def scheme_of(uri: str) -> str:
    return uri.partition(":")[0]


def media_seconds(pbx: Pbx, uri: str) -> float | None:
    """Length of one media item in simulated seconds; None if Asterisk can't find it; inf for tones."""
    scheme, _, name = uri.partition(":")
    if scheme == "sound":
        base = name.rsplit("/", 1)[-1].rsplit(".", 1)[0] if name.startswith("http") else name
        if name in pbx.scenario.missing_sounds or base in pbx.scenario.missing_sounds:
            return None
        durations = pbx.sounds_durations
        return durations.get(name, durations.get(base, SOUND_SECONDS))
    if scheme in SPOKEN:
        return sum(spoken_units(pbx, uri))
    if scheme == "tone":
        return math.inf
    if scheme == "recording":
        return RECORDING_SECONDS
    return None


def spoken_units(pbx: Pbx, uri: str) -> list[float]:
    """The sounds a digits:/characters:/number: item is said with, in simulated seconds each."""
    scheme, _, text = uri.partition(":")
    if scheme == "number":
        return [NUMBER_SECONDS]
    return [pbx.sounds_durations.get(f"digits/{c}", DIGIT_SECONDS) for c in text]
