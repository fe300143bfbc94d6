"""One readable log line per step of a callback, at INFO on ``callback.calls``: what "watch the log" shows.

request received (who, when the first call is planned and why) → call N of M starts → ringing the admin →
admin accepted → ringing the lead → bridged → ended with the outcome (``Lifecycle.attempts.finish``). Each SMS
is logged once, by the gateway that sends it. The ids (contact, attempt) are appended by the formatter
(``ari_app.logs``); these lines name the call by its number for the lead ("call 2 of 2"), never by its id.
Secrets are redacted there too; names and numbers appear as in the rest of the log.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

log = logging.getLogger("callback.calls")


def when_text(at: datetime, tz: ZoneInfo) -> str:
    """``2026-03-02 15:15 EST``: the business's wall clock, with its zone, so the line can't be misread."""
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def plan_reason(evidence: dict[str, Any], at: datetime, blocked: dict[str, Any] | None) -> str:
    """Why the first call is planned when it is. ``evidence``: the slot's (``first_call_at``);
    ``blocked``: ``is_allowed`` evidence at the earliest instant considered, when the slot had to move."""
    delay = float(evidence.get("delay_seconds") or 0.0)
    if blocked is None or blocked.get("allowed"):
        if delay > 0:
            return f"after the {_duration(delay)} first-call delay"
        return "at once"
    business = blocked.get("business", {})
    if business.get("holiday"):
        return f"business calendar: a holiday ({business.get('tz')})"
    if not business.get("open", True):
        return f"business calendar: closed until then ({business.get('tz')})"
    closed = [z for z in blocked.get("lead", {}).get("zones", []) if not z.get("allowed")]
    if closed:
        window = closed[0].get("window") or {}
        span = f"{window.get('start', '?')}-{window.get('end', '?')}" if isinstance(window, dict) else window
        return f"the lead's quiet hours: calls only {span} {closed[0].get('tz')}"
    return "the next allowed time"


def _duration(seconds: float) -> str:
    if seconds >= 120 and seconds % 60 == 0:
        return f"{int(seconds // 60)} min"
    return f"{seconds:g} s"


def request_received(name: str, phone: str, at: datetime, tz: ZoneInfo, why: str) -> None:
    log.info("request from %s (%s): first call planned for %s (%s)", name, phone, when_text(at, tz), why)


def request_merged(name: str, phone: str) -> None:
    log.info("request from %s (%s): merged into the open request, no second call", name, phone)


def call_starting(number: int, of: int, name: str, phone: str, *, final: bool, amd: bool) -> None:
    extra = " (final; answering-machine detection on)" if final and amd else " (final)" if final else ""
    log.info("call %d of %d to %s (%s) starts%s", number, of, name, phone, extra)


def ringing_admin(admin: str, endpoint: str) -> None:
    log.info("ringing admin %s (%s)", admin, endpoint)


def admin_accepted(admin: str, key: str) -> None:
    log.info("admin %s accepted (pressed %s)", admin, key)


def ringing_lead(phone: str, endpoint: str) -> None:
    log.info("ringing the lead %s via %s", phone, endpoint)


def bridged(admin: str) -> None:
    log.info("bridged: %s and the lead are talking", admin)
