"""Delivers the SMS outbox: at most once, within quiet hours, opt-out and do-not-call checked at send time.

A round claims its batch in one statement and one transaction: due messages become "sending" (tries + 1),
and those the checks hold back are put back in the same transaction (cancelled, or queued for later), so
what another sender has claimed is never read, and a round that finds nothing costs one transaction. The
claim commits before the gateway is called. Gateways we support have no idempotent send, so a crash
between the claim and "sent" leaves "sending" rows that are never sent again: they are marked failed
("interrupted") rather than risk a duplicate text. The batch's texts to different numbers are handed to
the gateway at once (each number's in order), so what a crash leaves "sending" is what was in flight. On
a stop, or a send that fails unexpectedly, claimed messages not handed to the gateway go back to the queue.

It looks at the outbox when woken (a commit queued a message), when the next queued message is due (one
timer), or after the slow safety-net poll (``scheduler/wakeups.py``).

Running (``run``), a round's results ("sent", failed, queued again) wait up to ``RESULT_GATHER_SECONDS`` to
be written by the next round's claim, in its transaction: a text then costs one transaction, not two. A
crash meanwhile leaves those texts "sending", marked failed ("interrupted") at the next start, as a crash
between a send and its result always did; a stop writes them first. After a round that claimed texts,
the next waits up to ``ROUND_GAP_SECONDS`` for company (not after a full batch), so a busy worker's texts
share claims.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Row,
    String,
    Update,
    bindparam,
    exists,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..clock import Clock
from ..domain.calendar import NoSlotError, is_allowed, next_allowed_slot
from ..domain.statuses import SmsStatus
from ..lifecycle import ANSWERS_TO_THE_CONTACT, Lifecycle
from ..sms.gateway import SmsGateway, SmsPermanentError, SmsTemporaryError
from ..store.engine import one_statement
from ..store.errors import describe, is_transient, retry_while_unavailable
from ..store.models import Base, Contact, Dnc, SmsOutbox
from .wakeups import DueTimer

log = logging.getLogger(__name__)

_MAX_TRIES = 8
_BACKOFF_FIRST = 30.0
_BACKOFF_MAX = 3600.0


# SQLite's compiler writes RETURNING columns without their table, and that reaches into subqueries
# ("WHERE id = contact_id"): the outer row's columns are spelled with their table, so neither database can
# take them for a column of the subquery's own table.
_ITS_CONTACT = literal_column("sms_outbox.contact_id", Integer)
_ITS_PHONE = literal_column("sms_outbox.to_phone", String)

# A round's claim, one statement: the due messages no other sender holds become "sending" (tries + 1),
# returned with what the checks need. PostgreSQL skips rows another sender's claim has locked; SQLite has
# no SKIP LOCKED (nothing is rendered) and needs none: it runs one writer at a time. The due rows are a
# MATERIALIZED CTE, run once: as "id IN (SELECT ... LIMIT n)" PostgreSQL may plan a nested loop that runs
# the locking subquery again for every outer row, each run locking the next n rows (measured: a batch of
# 3 claimed 10 messages).
_DUE = (
    select(SmsOutbox.id)
    .where(SmsOutbox.status == SmsStatus.QUEUED, SmsOutbox.next_try_at <= bindparam("now"))
    .order_by(SmsOutbox.next_try_at, SmsOutbox.id)
    .limit(bindparam("batch"))
    .with_for_update(skip_locked=True)
    .cte("due")
    .prefix_with("MATERIALIZED")
)
_CLAIM = (
    update(SmsOutbox)
    .where(SmsOutbox.id.in_(select(_DUE.c.id)), SmsOutbox.status == SmsStatus.QUEUED)
    .values(status=SmsStatus.SENDING, tries=SmsOutbox.tries + 1, updated_at=bindparam("now"))
    .returning(
        SmsOutbox.id,
        SmsOutbox.kind,
        SmsOutbox.to_phone,
        SmsOutbox.body,
        SmsOutbox.idempotency_key,
        SmsOutbox.tries,
        select(Contact.sms_opted_out).where(Contact.id == _ITS_CONTACT).scalar_subquery().label("opted_out"),
        exists().where(Dnc.phone == _ITS_PHONE).label("listed"),
    )
)

_NEXT_DUE = select(func.min(SmsOutbox.next_try_at)).where(SmsOutbox.status == SmsStatus.QUEUED)

_NO_SYNC = {"synchronize_session": False}
# Wall seconds a result waits for the next round's claim to carry it (then a round of its own carries it,
# no sooner than ROUND_GAP_SECONDS after the round that sent the text).
RESULT_GATHER_SECONDS = 0.25
# Wall seconds before held results are tried again after a round the database was away for.
RESULT_RETRY_SECONDS = 2.0
# Least wall seconds from a round that claimed texts to the next (a full batch goes on at once): texts
# queued in quick succession (calls ending on a busy worker) then share one claim and its transaction, and
# the results it carries. A text waits at most this long; one after a quiet spell goes at once.
ROUND_GAP_SECONDS = 0.5
_RESULT_COLUMNS = ("status", "updated_at", "error", "sent_at", "provider_message_id", "next_try_at")


def _unclaim(ids: Collection[int], now: datetime) -> Update:
    """Claimed messages that were not tried: their try is given back."""
    return (
        update(SmsOutbox)
        .where(SmsOutbox.id.in_(ids), SmsOutbox.status == SmsStatus.SENDING)
        .values(tries=SmsOutbox.tries - 1, updated_at=now)
    )


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
        result_gather: float = RESULT_GATHER_SECONDS,
        round_gap: float = ROUND_GAP_SECONDS,
    ) -> None:
        self.sessions = sessions
        self.gateway = gateway
        self.lifecycle = lifecycle
        self.clock = clock
        self.dlr_url = dlr_url
        self.batch = batch
        self.timer = DueTimer(clock, safety_poll)
        # Results the gateway gave that are not written yet, by message id: its columns' new values.
        self._results: dict[int, dict[str, object]] = {}
        self._hold_results = False  # running: results wait for the next round's claim (module docstring)
        self.result_gather = result_gather
        self.round_gap = round_gap

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
                execution_options=_NO_SYNC,
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def due(self, at: datetime) -> None:
        """A message is queued for ``at``: look then (at once if it is due already)."""
        self.timer.due(at)

    async def run(self, stop: asyncio.Event) -> None:
        await retry_while_unavailable(self.fail_interrupted, what="SMS outbox at start", within=60.0)
        woken = False
        self._hold_results = True
        try:
            while not stop.is_set():
                self.timer.start_round()
                started = time.monotonic()
                gather = self.result_gather
                claimed = 0
                try:
                    # After a wake-up the next due time is known already; otherwise the claim reads it.
                    claimed = await self.deliver_due(stop, time_next=not woken)
                    if claimed == self.batch:
                        self.timer.wake()  # a full batch: there may be more
                except Exception as exc:
                    if not is_transient(exc):
                        raise
                    # A database restart must not stop the outbox: what is queued stays queued.
                    log.warning("SMS outbox round failed: database unavailable (%s)", describe(exc))
                    gather = max(gather, RESULT_RETRY_SECONDS)
                if self._results:  # the next round carries them: no later than this
                    self.timer.due(self.clock.now() + timedelta(seconds=gather * self.clock.speed))
                woken = await self.timer.wait(stop)
                if 0 < claimed < self.batch:  # texts that came meanwhile (or soon) go together
                    rest = self.round_gap - (time.monotonic() - started)
                    if rest > 0:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stop.wait(), rest)
        finally:
            self._hold_results = False
            # The gateway has answered: record it, or the message stays "sending" and is never tried again.
            await retry_while_unavailable(self._write_held_results, what="SMS results at stop")

    async def deliver_due(self, stop: asyncio.Event | None = None, *, time_next: bool = False) -> int:
        """Claim what is due, then send it; the number of messages claimed (up to ``batch``).

        One transaction claims the batch, puts back those that may not go now (cancelled, or queued for
        later, their try given back) and, with ``time_next`` and room left in the batch, reads when the next
        message is due. Each claimed message is then sent and its result written in a transaction of its
        own: texts to different numbers at once, each number's in order. A sender never reads a message
        another one has claimed."""
        now = self.clock.now()
        carried = dict(self._results)  # the last rounds' results, written by this claim's transaction
        async with self.sessions.begin() as session:
            await _write_results(session, carried)
            claimed = (
                await session.execute(_CLAIM, {"now": now, "batch": self.batch}, execution_options=_NO_SYNC)
            ).all()
            to_send, cancelled, later = self._checked(claimed, now)
            for why, ids in cancelled.items():
                await session.execute(
                    _unclaim(ids, now).values(status=SmsStatus.CANCELLED, error=why),
                    execution_options=_NO_SYNC,
                )
            for at, ids in later.items():
                await session.execute(
                    _unclaim(ids, now).values(status=SmsStatus.QUEUED, next_try_at=at),
                    execution_options=_NO_SYNC,
                )
            next_at = await session.scalar(_NEXT_DUE) if time_next and len(claimed) < self.batch else None
        self._forget(carried)
        for at in later:
            self.timer.due(at)
        if next_at is not None:
            self.timer.due(next_at)
        # Each number's texts go in order, the numbers at once: a claimed message waits for the gateway
        # only behind texts to the same number, so a crash leaves "sending" only what was in flight.
        by_number: dict[str, list[Row[Any]]] = {}
        for row in to_send:
            by_number.setdefault(row.to_phone, []).append(row)
        results = await asyncio.gather(
            *(self._send_in_order(rows, stop) for rows in by_number.values()), return_exceptions=True
        )
        if not self._hold_results:
            # Called on its own (not by ``run``): this round's results are written before it returns.
            await retry_while_unavailable(self._write_held_results, what="SMS results")
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return len(claimed)

    async def _write_held_results(self) -> None:
        if not self._results:
            return
        carried = dict(self._results)
        async with self.sessions() as session:
            await one_statement(session)  # one executemany; each text's row stands on its own
            await _write_results(session, carried)
            await session.commit()
        self._forget(carried)

    def _forget(self, written: dict[int, dict[str, object]]) -> None:
        for sms_id, values in written.items():
            if self._results.get(sms_id) is values:
                del self._results[sms_id]

    async def _send_in_order(self, rows: list[Row[Any]], stop: asyncio.Event | None) -> None:
        started = 0
        try:
            for row in rows:
                if stop is not None and stop.is_set():
                    break
                started += 1  # from here on it may have gone out
                await self._send(row)
        finally:
            if started < len(rows):
                # Stopping, or the send before failed: what was never handed to the gateway goes back to
                # the queue rather than to "interrupted".
                await self._put_back([row.id for row in rows[started:]])

    def _checked(
        self, claimed: Sequence[Row[Any]], now: datetime
    ) -> tuple[list[Row[Any]], dict[str, list[int]], dict[datetime, list[int]]]:
        """The claimed messages that may go now; those cancelled, by reason; those for later, by time."""
        lc = self.lifecycle.context
        to_send: list[Row[Any]] = []
        cancelled: dict[str, list[int]] = {}
        later: dict[datetime, list[int]] = {}
        for row in claimed:
            opted_out = row.opted_out and row.kind not in ANSWERS_TO_THE_CONTACT
            # The do-not-call list blocks every text but the confirmation of the STOP that put it there.
            listed = row.kind != "opt_out_confirmation" and row.listed
            if opted_out or listed:
                why = "the contact opted out of SMS" if opted_out else "do-not-call list"
                cancelled.setdefault(why, []).append(row.id)
                continue
            if row.kind not in ANSWERS_TO_THE_CONTACT:
                allowed, _ = is_allowed(now, calendar=lc.sms_calendar, quiet=lc.quiet, lead_e164=row.to_phone)
                if not allowed:
                    try:
                        at = next_allowed_slot(
                            now, calendar=lc.sms_calendar, quiet=lc.quiet, lead_e164=row.to_phone
                        ).at
                    except NoSlotError:
                        at = now + timedelta(hours=1)
                    later.setdefault(at, []).append(row.id)
                    continue
            to_send.append(row)
        return to_send, cancelled, later

    async def _put_back(self, ids: list[int]) -> None:
        async def write() -> None:
            async with self.sessions.begin() as session:
                stmt = _unclaim(ids, self.clock.now()).values(status=SmsStatus.QUEUED)
                await session.execute(stmt, execution_options=_NO_SYNC)

        await retry_while_unavailable(write, what="SMS not handed to the gateway")

    async def _send(self, row: Row[Any]) -> None:
        sms_id, tries = row.id, row.tries  # tries counts this one
        try:
            result = await self.gateway.send(
                row.to_phone, row.body, idempotency_key=row.idempotency_key, dlr_url=self.dlr_url
            )
        except SmsPermanentError as exc:
            await self._finish(sms_id, status=SmsStatus.FAILED, error=exc.reason)
            return
        except SmsTemporaryError as exc:
            if exc.maybe_sent:
                await self._finish(
                    sms_id, status=SmsStatus.FAILED, error=f"answer lost, not resent: {exc.reason}"
                )
                return
            if tries >= _MAX_TRIES:
                await self._finish(
                    sms_id, status=SmsStatus.FAILED, error=f"gave up after {tries} tries: {exc.reason}"
                )
                return
            delay = min(_BACKOFF_FIRST * 2 ** (tries - 1), _BACKOFF_MAX)
            retry_at = self.clock.now() + timedelta(seconds=delay)
            await self._finish(sms_id, status=SmsStatus.QUEUED, error=exc.reason, next_try_at=retry_at)
            self.timer.due(retry_at)
            return
        # Handed to the gateway: "sent"; the delivery report moves it on to delivered or failed.
        await self._finish(sms_id, status=SmsStatus.SENT, provider_id=result.provider_message_id)

    async def _finish(self, sms_id: int, *, status: str, error: str | None = None, **extra: object) -> None:
        """The gateway's answer, held until a transaction writes it (the next round's claim, or the round's
        own end when ``deliver_due`` runs on its own)."""
        now = self.clock.now()
        self._results[sms_id] = {
            "status": status,
            "updated_at": now,
            "error": error,
            "sent_at": now if status == SmsStatus.SENT else None,
            "provider_message_id": extra.get("provider_id"),
            "next_try_at": extra.get("next_try_at"),
        }


# One conditional UPDATE for any number of results (executemany, on the table: an ORM entity's executemany
# is a bulk update by primary key): only a message still "sending" changes, so writing a result twice
# changes nothing. A column a result leaves None keeps its value.
_OUTBOX = Base.metadata.tables["sms_outbox"]


def _kept(column: str) -> ColumnElement[Any]:
    return func.coalesce(bindparam(f"r_{column}", type_=_OUTBOX.c[column].type), _OUTBOX.c[column])


_RESULTS = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("sms_id"), _OUTBOX.c.status == SmsStatus.SENDING)
    .values(
        status=bindparam("r_status", type_=_OUTBOX.c.status.type),
        updated_at=bindparam("r_updated_at", type_=_OUTBOX.c.updated_at.type),
        error=_kept("error"),
        sent_at=_kept("sent_at"),
        provider_message_id=_kept("provider_message_id"),
        next_try_at=_kept("next_try_at"),
    )
)


async def _write_results(session: AsyncSession, results: dict[int, dict[str, object]]) -> None:
    if results:
        rows = [{"sms_id": i, **{f"r_{k}": v[k] for k in _RESULT_COLUMNS}} for i, v in results.items()]
        await session.execute(_RESULTS, rows, execution_options=_NO_SYNC)
