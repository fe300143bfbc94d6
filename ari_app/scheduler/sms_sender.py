"""Delivers the SMS outbox: at most once, within quiet hours, opt-out and do-not-call checked at send time.

A message is marked "sending" (tries + 1) and committed before the gateway is called. Gateways we support
have no idempotent send, so a crash between the send and "sent" leaves a "sending" row that is never sent
again: it is marked failed ("interrupted") rather than risk a duplicate text.

It looks at the outbox when woken (a commit queued a message), when the next queued message is due (one
timer), or after the slow safety-net poll (``scheduler/wakeups.py``).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from sqlalchemy import Update, bindparam, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..clock import Clock
from ..domain.calendar import NoSlotError, is_allowed, next_allowed_slot
from ..domain.statuses import SmsStatus
from ..lifecycle import ANSWERS_TO_THE_CONTACT, Lifecycle
from ..sms.gateway import SmsGateway, SmsPermanentError, SmsTemporaryError
from ..store.errors import describe, is_transient, retry_while_unavailable
from ..store.models import Contact, Dnc, SmsOutbox
from .wakeups import DueTimer

log = logging.getLogger(__name__)

_MAX_TRIES = 8
_BACKOFF_FIRST = 30.0
_BACKOFF_MAX = 3600.0


_TO_SEND = (
    select(
        SmsOutbox.status,
        SmsOutbox.kind,
        SmsOutbox.to_phone,
        SmsOutbox.body,
        SmsOutbox.idempotency_key,
        SmsOutbox.tries,
        Contact.sms_opted_out,
        exists().where(Dnc.phone == SmsOutbox.to_phone).label("listed"),
    )
    .join(Contact, Contact.id == SmsOutbox.contact_id)
    .where(SmsOutbox.id == bindparam("sms_id"))
)


def _still_queued(sms_id: int) -> Update:
    return update(SmsOutbox).where(SmsOutbox.id == sms_id, SmsOutbox.status == SmsStatus.QUEUED)


class SmsSender:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        gateway: SmsGateway,
        lifecycle: Lifecycle,
        clock: Clock,
        dlr_url: str | None = None,
        batch: int = 20,
        safety_poll: float | None = 10.0,  # None: a SafetyNet looks for it (wakeups.py)
    ) -> None:
        self.sessions = sessions
        self.gateway = gateway
        self.lifecycle = lifecycle
        self.clock = clock
        self.dlr_url = dlr_url
        self.batch = batch
        self.timer = DueTimer(clock, safety_poll)

    async def fail_interrupted(self) -> int:
        """At start: messages left "sending" by a crash may have gone out; never send them again."""
        now = self.clock.now()
        async with self.sessions.begin() as session:
            result = await session.execute(
                update(SmsOutbox)
                .where(SmsOutbox.status == SmsStatus.SENDING)
                .values(
                    status=SmsStatus.FAILED,
                    error="interrupted while sending; it may or may not have been delivered (not resent)",
                    updated_at=now,
                ),
                execution_options={"synchronize_session": False},
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def due(self, at: datetime) -> None:
        """A message is queued for ``at``: look then (at once if it is due already)."""
        self.timer.due(at)

    async def run(self, stop: asyncio.Event) -> None:
        await retry_while_unavailable(self.fail_interrupted, what="SMS outbox at start", within=60.0)
        woken = False
        while not stop.is_set():
            self.timer.start_round()
            try:
                if await self.deliver_due() == self.batch:
                    self.timer.wake()  # a full batch: there may be more
                elif not woken:  # after a wake-up the next due time is known already
                    await self._time_next()
            except Exception as exc:
                if not is_transient(exc):
                    raise
                # A database restart must not stop the outbox: what is queued stays queued.
                log.warning("SMS outbox round failed: database unavailable (%s)", describe(exc))
            woken = await self.timer.wait(stop)

    async def _time_next(self) -> None:
        async with self.sessions() as session:
            at = await session.scalar(
                select(func.min(SmsOutbox.next_try_at)).where(SmsOutbox.status == SmsStatus.QUEUED)
            )
        if at is not None:
            self.timer.due(at)

    async def deliver_due(self) -> int:
        """Send what is due; the number of messages looked at (up to ``batch``)."""
        now = self.clock.now()
        async with self.sessions() as session:
            ids = list(
                await session.scalars(
                    select(SmsOutbox.id)
                    .where(SmsOutbox.status == SmsStatus.QUEUED, SmsOutbox.next_try_at <= now)
                    .order_by(SmsOutbox.next_try_at, SmsOutbox.id)
                    .limit(self.batch)
                )
            )
        for sms_id in ids:
            await self.deliver_one(sms_id)
        return len(ids)

    async def deliver_one(self, sms_id: int) -> bool:
        now = self.clock.now()
        lc = self.lifecycle.context
        async with self.sessions.begin() as session:
            # One read: the message, its contact's opt-out and the do-not-call list (no ORM objects).
            row = (await session.execute(_TO_SEND, {"sms_id": sms_id})).one_or_none()
            if row is None or row.status != SmsStatus.QUEUED:
                return False
            opted_out = row.sms_opted_out and row.kind not in ANSWERS_TO_THE_CONTACT
            # The do-not-call list blocks every text but the confirmation of the STOP that put it there.
            listed = row.kind != "opt_out_confirmation" and row.listed
            if opted_out or listed:
                why = "the contact opted out of SMS" if opted_out else "do-not-call list"
                await session.execute(
                    _still_queued(sms_id).values(status=SmsStatus.CANCELLED, error=why, updated_at=now)
                )
                return False
            if row.kind not in ANSWERS_TO_THE_CONTACT:
                allowed, _ = is_allowed(now, calendar=lc.sms_calendar, quiet=lc.quiet, lead_e164=row.to_phone)
                if not allowed:
                    try:
                        later = next_allowed_slot(
                            now, calendar=lc.sms_calendar, quiet=lc.quiet, lead_e164=row.to_phone
                        ).at
                    except NoSlotError:
                        later = now + timedelta(hours=1)
                    await session.execute(_still_queued(sms_id).values(next_try_at=later, updated_at=now))
                    self.timer.due(later)
                    return False
            # Compare-and-set: only one sender moves a queued message to sending.
            claimed = await session.execute(
                _still_queued(sms_id).values(
                    status=SmsStatus.SENDING, tries=SmsOutbox.tries + 1, updated_at=now
                ),
                execution_options={"synchronize_session": False},
            )
            if getattr(claimed, "rowcount", 0) != 1:
                return False
            to, body, key, tries = row.to_phone, row.body, row.idempotency_key, row.tries + 1
        try:
            result = await self.gateway.send(to, body, idempotency_key=key, dlr_url=self.dlr_url)
        except SmsPermanentError as exc:
            await self._finish(sms_id, status=SmsStatus.FAILED, error=exc.reason)
            return False
        except SmsTemporaryError as exc:
            if exc.maybe_sent:
                await self._finish(
                    sms_id, status=SmsStatus.FAILED, error=f"answer lost, not resent: {exc.reason}"
                )
                return False
            if tries >= _MAX_TRIES:
                await self._finish(
                    sms_id, status=SmsStatus.FAILED, error=f"gave up after {tries} tries: {exc.reason}"
                )
                return False
            delay = min(_BACKOFF_FIRST * 2 ** (tries - 1), _BACKOFF_MAX)
            retry_at = self.clock.now() + timedelta(seconds=delay)
            await self._finish(sms_id, status=SmsStatus.QUEUED, error=exc.reason, next_try_at=retry_at)
            self.timer.due(retry_at)
            return False
        # Handed to the gateway: "sent"; the delivery report moves it on to delivered or failed.
        await self._finish(sms_id, status=SmsStatus.SENT, provider_id=result.provider_message_id)
        return True

    async def _finish(self, sms_id: int, *, status: str, error: str | None = None, **extra: object) -> None:
        now = self.clock.now()
        values: dict[str, object] = {"status": status, "updated_at": now}
        if error is not None:
            values["error"] = error
        if status == SmsStatus.SENT:
            values["sent_at"] = now
        if "provider_id" in extra:
            values["provider_message_id"] = extra["provider_id"]
        if "next_try_at" in extra:
            values["next_try_at"] = extra["next_try_at"]

        async def write() -> None:  # conditional on "sending": a second run changes nothing
            async with self.sessions.begin() as session:
                await session.execute(
                    update(SmsOutbox)
                    .where(SmsOutbox.id == sms_id, SmsOutbox.status == SmsStatus.SENDING)
                    .values(**values),
                    execution_options={"synchronize_session": False},
                )

        # The gateway has answered: record it, or the message stays "sending" and is never tried again.
        await retry_while_unavailable(write, what=f"SMS {sms_id} result")
