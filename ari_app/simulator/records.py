"""What the PBX did, kept for GET /_simulator/ after the channels are gone, and the faults still to inject."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from .destination import Destination
from .state import CallRecord, DialKind, DialRecord


class Records:
    """Owns the inspection records: every dial, every channel's story, the pending fault counts."""

    def __init__(self) -> None:
        self.dials: list[DialRecord] = []
        self.calls: dict[str, CallRecord] = {}
        self.faults: Counter[str] = Counter()

    def failed_dial(self, channel_id: str, endpoint: str, kind: DialKind, at: datetime) -> None:
        """A dial Asterisk could not even allocate a channel for (its 500 Allocation failed)."""
        dest = (
            Destination.parse(endpoint)
            if "/" in endpoint
            else Destination(endpoint, endpoint, endpoint, None)
        )
        self.dials.append(
            DialRecord(
                channel_id=channel_id,
                endpoint=dest.endpoint,
                destination=dest.resource,
                number=dest.number,
                kind=kind,
                at=at,
                behaviour="allocation_failed",
                allocated=False,
            )
        )

    def clear(self) -> None:
        self.dials.clear()
        self.calls.clear()
        self.faults.clear()
