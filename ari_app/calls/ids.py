"""The ids we give Asterisk's channels, bridges and playbacks: built here and nowhere else.

``cb-{installation}-{attempt}-{role}-{try}``. Every installation numbers its attempts from 1, so two of them
on one PBX (a test instance beside production, two businesses on one operator's Asterisk) asked for the
same ids without the installation part: Asterisk refused the second originate (409), and cleanup by id then
hung up the other installation's admin mid-whisper (seen on 22.10.1). The installation part is short, so the
ids stay readable in Asterisk's CLI.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

PREFIX = "cb"
# Lower-case letters and digits only: the id goes into channel, bridge and playback ids unescaped.
_INSTALLATION = re.compile(r"^[a-z0-9]{1,16}$")
# Any installation's call ids: cb-<installation>-<attempt>-<role>-<try> or …-bridge (old: cb-<attempt>-…).
_OUR_SHAPE = re.compile(r"^cb-(?:[a-z0-9]{1,16}-)?\d+-(?:(?:admin|lead)-\d+|bridge)(?:-.*)?$")
_LEG = re.compile(r"^cb-(?P<inst>[a-z0-9]{1,16})-(?P<attempt>\d+)-(?P<role>admin|lead)-(?P<try>\d+)$")


def valid_installation(value: str) -> bool:
    return bool(_INSTALLATION.match(value))


def new_installation_id() -> str:
    """Six hex digits: generated once per installation and stored, so a database reset keeps it."""
    return secrets.token_hex(3)


def has_our_shape(object_id: str) -> bool:
    """Does an id on the PBX look like one of ours (this installation's or another's)?"""
    return bool(_OUR_SHAPE.match(object_id))


@dataclass(frozen=True)
class LegId:
    installation: str
    attempt_id: int
    role: str
    try_no: int


def parse_leg_id(channel_id: str) -> LegId | None:
    """A leg's channel id read back (None: not one of ours)."""
    m = _LEG.match(channel_id)
    if m is None:
        return None
    return LegId(m["inst"], int(m["attempt"]), m["role"], int(m["try"]))


def belongs_to(object_id: str, installation: str) -> bool:
    return object_id.startswith(f"{PREFIX}-{installation}-")


@dataclass(frozen=True)
class CallIds:
    """The ids of one attempt's channels, bridge and playbacks."""

    installation: str
    attempt_id: int

    def __post_init__(self) -> None:
        if not valid_installation(self.installation):
            raise ValueError(f"installation id {self.installation!r}: 1-16 lower-case letters or digits")

    def leg(self, role: str, try_no: int = 1) -> str:
        return f"{PREFIX}-{self.installation}-{self.attempt_id}-{role}-{try_no}"

    @property
    def bridge(self) -> str:
        return f"{PREFIX}-{self.installation}-{self.attempt_id}-bridge"

    @staticmethod
    def playback(channel_id: str, label: str) -> str:
        return f"{channel_id}-{label}"
