"""JSON builders in Asterisk 22's shapes (see tests/recordings): timestamps, causes, events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

ASTERISK_ID = "02:51:4d:00:00:01"

# Q.850 cause texts as Asterisk prints them in ChannelDestroyed.cause_txt.
CAUSE_TEXT: dict[int, str] = {
    0: "Unknown",
    1: "Unallocated (unassigned) number",
    16: "Normal Clearing",
    17: "User busy",
    18: "No user responding",
    19: "User alerting, no answer",
    21: "Call Rejected",
    27: "Destination out of order",
    28: "Invalid number format (incomplete number)",
    31: "Normal, unspecified",
    34: "Circuit/channel congestion",
    38: "Network out of order",
    41: "Temporary failure",
    42: "Switching equipment congestion",
    58: "Bearer capability not available",
    127: "Interworking, unspecified",
    26: "Answered elsewhere",
}

# DELETE /channels/{id}?reason=... as Asterisk maps it.
HANGUP_REASONS: dict[str, int] = {
    "normal": 16,
    "busy": 17,
    "congestion": 34,
    "no_answer": 19,
    "timeout": 18,
    "rejected": 21,
    "unallocated": 1,
    "normal_unspecified": 31,
    "number_incomplete": 28,
    "codec_mismatch": 58,
    "interworking": 127,
    "failure": 27,
    "answered_elsewhere": 26,
}


def ari_time(moment: datetime) -> str:
    """Asterisk's timestamp format: 2026-11-26T06:59:04.679+0000 (UTC here)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def cause_text(cause: int) -> str:
    return CAUSE_TEXT.get(cause, "Unknown")


def event(kind: str, timestamp: datetime, application: str, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"type": kind, "timestamp": ari_time(timestamp)}
    body.update(fields)
    body["asterisk_id"] = ASTERISK_ID
    body["application"] = application
    return body


def error_body(message: str) -> dict[str, str]:
    return {"message": message}
