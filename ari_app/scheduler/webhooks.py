"""Publishes contact events (tag changes) to the configured webhook URLs: signed, retried, logged.

It looks when woken (a commit queued a delivery), when the next retry is due (one timer), or after the slow
safety-net poll (``scheduler/wakeups.py``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from datetime import datetime, timedelta

import aiohttp
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..clock import Clock
from ..domain.statuses import WebhookStatus
from ..store.errors import describe, is_transient
from ..store.models import ContactEvent, WebhookDelivery
from .wakeups import DueTimer

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Callback-Signature"
_MAX_TRIES = 10
_BACKOFF_FIRST = 10.0
_BACKOFF_MAX = 3600.0
_BATCH = 50


def sign(secret: bytes, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of the raw body>``; receivers compare it in constant time."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class WebhookSender:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        secret: bytes,
        http: aiohttp.ClientSession,
        timeout: float = 10.0,
        safety_poll: float | None = 10.0,  # None: a SafetyNet looks for it (wakeups.py)
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.secret = secret
        self.http = http
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.timer = DueTimer(clock, safety_poll)

    def due(self, at: datetime) -> None:
        """A delivery is pending from ``at``: look then (at once if it is due already)."""
        self.timer.due(at)

    async def run(self, stop: asyncio.Event) -> None:
        woken = False
        while not stop.is_set():
            self.timer.start_round()
            try:
                if await self.deliver_due() == _BATCH:
                    self.timer.wake()  # a full batch: there may be more
                elif not woken:  # after a wake-up the next due time is known already
                    await self._time_next()
            except Exception as exc:
                if not is_transient(exc):
                    raise
                # A database restart must not stop the webhooks; an unrecorded delivery is sent again.
                log.warning("webhook round failed: database unavailable (%s)", describe(exc))
            woken = await self.timer.wait(stop)

    async def _time_next(self) -> None:
        async with self.sessions() as session:
            at = await session.scalar(
                select(func.min(WebhookDelivery.next_try_at)).where(
                    WebhookDelivery.status == WebhookStatus.PENDING
                )
            )
        if at is not None:
            self.timer.due(at)

    async def deliver_due(self, limit: int = _BATCH) -> int:
        now = self.clock.now()
        async with self.sessions() as session:
            rows = (
                await session.execute(
                    select(WebhookDelivery, ContactEvent)
                    .join(ContactEvent, ContactEvent.id == WebhookDelivery.event_id)
                    .where(
                        WebhookDelivery.status == WebhookStatus.PENDING, WebhookDelivery.next_try_at <= now
                    )
                    .order_by(WebhookDelivery.id)
                    .limit(limit)
                )
            ).all()
        for delivery, event in rows:
            await self._deliver(delivery.id, delivery.url, delivery.tries, event)
        return len(rows)

    async def _deliver(self, delivery_id: int, url: str, tries: int, event: ContactEvent) -> None:
        body = json.dumps(
            {
                "id": event.id,
                "type": event.type,
                "contact_id": event.contact_id,
                "created_at": event.created_at.isoformat(),
                "data": event.data,
            },
            separators=(",", ":"),
        ).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self.secret, body),
            "X-Callback-Event": event.type,
            "X-Callback-Delivery": str(delivery_id),
        }
        status_code: int | None = None
        error: str | None = None
        try:
            async with self.http.post(url, data=body, headers=headers, timeout=self.timeout) as resp:
                status_code = resp.status
                if resp.status >= 300:
                    error = f"HTTP {resp.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        now = self.clock.now()
        async with self.sessions.begin() as session:
            delivery = await session.get(WebhookDelivery, delivery_id)
            if delivery is None:
                return
            delivery.tries = tries + 1
            delivery.last_status_code = status_code
            delivery.last_error = error
            delivery.updated_at = now
            if error is None:
                delivery.status = WebhookStatus.DELIVERED
            elif delivery.tries >= _MAX_TRIES or (
                status_code is not None and 400 <= status_code < 500 and status_code not in (408, 429)
            ):
                delivery.status = WebhookStatus.FAILED
            else:
                delay = min(_BACKOFF_FIRST * 2 ** (delivery.tries - 1), _BACKOFF_MAX)
                delivery.next_try_at = now + timedelta(seconds=delay)
        if error is not None:
            log.warning("webhook %s to %s: %s", delivery_id, url, error)
