"""Dial targets as the simulator reads them: ``PJSIP/admin``, ``PJSIP/+1555@trunk``, and numbers compared by
their digits (without a leading `+`)."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Destination:
    """A parsed dial target: ``PJSIP/+1555@trunk`` → tech PJSIP, user +1555, host trunk."""

    tech: str
    resource: str
    user: str
    host: str | None

    @classmethod
    def parse(cls, endpoint: str) -> Destination:
        tech, _, resource = endpoint.partition("/")
        user, sep, host = resource.partition("@")
        return cls(tech=tech, resource=resource, user=user, host=host if sep else None)

    @property
    def endpoint(self) -> str:
        return f"{self.tech}/{self.resource}"

    @property
    def is_local_endpoint(self) -> bool:
        """A PJSIP endpoint on this PBX (an admin phone), not a number through a trunk."""
        return self.tech.upper() == "PJSIP" and self.host is None

    @property
    def number(self) -> str:
        return number_key(self.user)

    @property
    def key(self) -> str:
        """What the dial counter for `sequence` is keyed on."""
        return self.endpoint.lower() if self.is_local_endpoint else self.number


def number_key(text: str) -> str:
    """Digits of a number without a leading `+`; anything else is returned as is (lower case)."""
    stripped = text.strip()
    if re.fullmatch(r"\+?[0-9]+", stripped):
        return stripped.lstrip("+")
    return stripped.lower()


def matches(pattern: str, dest: Destination) -> bool:
    """Whether a scenario `match` (an endpoint, a trunk user part, or a number) names this destination."""
    if "/" in pattern:
        want = Destination.parse(pattern)
        if want.tech.lower() != dest.tech.lower():
            return False
        if want.host is None and dest.host is not None:
            return number_key(want.user) == dest.number
        return want.resource.lower() == dest.resource.lower()
    return number_key(pattern) == dest.number
