"""The orchestrator's journal on the store: each leg's intent and the facts learned about it.

One writer task per worker commits whatever every live call has journalled since its last transaction, in
one transaction (group commit): a busy worker writes a few transactions a second instead of two per event
(``bench/scale_out.py`` measured 28 of a call's 36 transactions here). What must be stored *before* the
orchestrator acts on it — a leg's intent before its channel is requested, a lead's dial before it is sent —
is awaited until its transaction has committed; the events observed during a call, and what the call notes
that recovery does not need before it goes on, are queued and stored in order within a few milliseconds,
and ``settle`` waits for them at the end of the call. A worker killed in between loses at most the facts
of that last moment, as if it had died a moment earlier: recovery asks Asterisk about every leg whose
intent was stored.

The journal owns the rows of its live legs: it keeps each one's id and mutable columns as last committed,
so a transaction changes every leg that changed with one statement that writes their whole mutable set.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..ari.events import Event
from ..clock import Clock
from ..domain.statuses import LegStatus
from .errors import describe, is_transient, retry_while_unavailable
from .models import Base, Leg, LegEvent

log = logging.getLogger(__name__)

# How long (wall time) facts wait for the database to come back before they are given up.
_FACT_RETRY_SECONDS = 15.0
# Wall seconds facts nobody awaits wait for others before their transaction: the events of one moment (an
# answer and its Dial, both legs entering the bridge, a hang-up and its ChannelDestroyed) arrive a
# millisecond or two apart, and each started a transaction of its own; a worker a quarter busy committed
# for nearly every event (bench/README.md: 3 ms saved ~1.5 commits per attempt, 20 ms ~2 more). An awaited
# fact (an intent, a lead's dial, ``stored``, ``settle``) ends the wait at once, so no call waits for it;
# a worker killed meanwhile loses those facts, as if it had died that moment earlier.
GATHER_SECONDS = 0.02

# The columns of a leg the journal changes after its intent (all of them but its identity and created_at).
_MUTABLE = (
    "state",
    "dial_status",
    "cause",
    "cause_txt",
    "amd_status",
    "amd_cause",
    "amd_params",
    "amd_seconds",
    "greeting_end_seconds",
    "drop_early",
    "answered_at",
    "bridged_at",
    "ended_at",
    "updated_at",
)
_MUTABLE_SET = frozenset(_MUTABLE)
# Work a call's settle runs after its facts, in their transaction (its outcome: ``settle``).
Then = Callable[[AsyncSession], Coroutine[Any, Any, None]]
_legs = Base.metadata.tables["legs"]
# Every changed leg's whole mutable set, by id: the same statement for every row, so one executemany.
_UPDATE_LEGS = update(_legs).where(_legs.c.id == bindparam("leg_id"))


def intent_row(
    attempt_id: int, role: str, try_no: int, channel_id: str, endpoint: str, now: datetime
) -> dict[str, Any]:
    """A leg's row as its intent: before its channel is requested."""
    return {
        "attempt_id": attempt_id,
        "role": role,
        "try_no": try_no,
        "channel_id": channel_id,
        "endpoint": endpoint,
        "state": LegStatus.INTENT,
        "created_at": now,
        "updated_at": now,
    }


_INSERT_INTENTS = insert(_legs).returning(_legs.c.id, _legs.c.channel_id)


async def insert_intent(session: AsyncSession, row: dict[str, Any]) -> int:
    """Store one intent (``intent_row``) in the caller's transaction: the leg's id. For a leg whose intent
    comes with another write (the attempt's start); the journal is then told (``stored_with_start``)."""
    leg_id, _channel_id = (await session.execute(_INSERT_INTENTS, row)).one()
    return int(leg_id)


@dataclass
class _Fact:
    channel_id: str
    intent: dict[str, Any] | None = None  # a new leg's row
    fields: dict[str, Any] = field(default_factory=dict)  # an update of the leg's row
    event: tuple[str, Mapping[str, Any], datetime] | None = None  # type, raw JSON, received at
    done: asyncio.Future[None] | None = None  # set once the fact is committed (or failed), if awaited
    then: Then | None = None  # run after the batch's facts, in its transaction (``settle``)
    # The settling call's context and task name (its log ids: ``logs.current_log_ids``), for ``then``.
    context: contextvars.Context | None = None
    task_name: str | None = None
    ran: bool = False  # ``then`` ran and its transaction committed


@dataclass
class _LiveLeg:
    id: int
    row: dict[str, Any]  # its mutable columns as last committed


class StoreJournal:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], clock: Clock, *, gather: float = GATHER_SECONDS
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.gather = gather
        self._live: dict[str, _LiveLeg] = {}  # legs of live calls; forgotten when the call settles
        self._with_start: set[str] = set()  # legs whose intent their start stored, not yet asked for
        self._queue: list[_Fact] = []
        self._queued = asyncio.Event()
        self._awaited = asyncio.Event()  # a queued fact has a caller waiting for it
        self._writer: asyncio.Task[None] | None = None

    # -- what the orchestrator calls --------------------------------------------------------------------

    async def leg_intent(
        self, attempt_id: int, role: str, try_no: int, channel_id: str, endpoint: str
    ) -> None:
        """Stored before the channel is requested: a restarted worker finds it and never dials it again. A
        leg whose intent its attempt's start stored already (``stored_with_start``) costs nothing here."""
        if channel_id in self._with_start:
            self._with_start.discard(channel_id)
            return
        row = intent_row(attempt_id, role, try_no, channel_id, endpoint, self.clock.now())
        await self._commit(_Fact(channel_id, intent=row))

    def stored_with_start(self, leg_id: int, row: dict[str, Any]) -> None:
        """A leg whose intent (``intent_row``) the attempt's start committed, in its own transaction: the
        journal takes it as one of its live legs."""
        self._live[row["channel_id"]] = _LiveLeg(leg_id, {c: row.get(c) for c in _MUTABLE})
        self._with_start.add(row["channel_id"])

    async def leg_update(self, channel_id: str, **fields: Any) -> None:
        """Stored before this returns (the outcome of a request the orchestrator is about to act on)."""
        await self._commit(_Fact(channel_id, fields=self._changes(fields)))

    def leg_note(self, channel_id: str, **fields: Any) -> None:
        """A change recovery does not need before the call goes on: stored in order soon, like an observed
        event; the call does not wait (``settle`` does)."""
        self._enqueue(_Fact(channel_id, fields=self._changes(fields)))

    def observed(self, channel_id: str, event: Event | None, fields: dict[str, Any]) -> None:
        """An event seen on a leg and what it changed, stored in order soon; the call does not wait."""
        fact = self._event_fact(channel_id, event, fields)
        if fact.event is not None or fact.fields:
            self._enqueue(fact)

    async def stored(self) -> None:
        """Wait until everything journalled so far is stored."""
        await self._commit(_Fact(""))

    async def settle(self, channel_ids: Iterable[str], then: Then | None = None) -> bool:
        """Wait until everything journalled so far is stored, then forget these (ended) legs.

        ``then`` (the call's outcome) runs in the same transaction, after the facts: one commit where there
        were two, and the facts are still stored before the outcome. True when it ran and committed. If that
        transaction fails, the facts are stored without it and this says False: the caller writes its
        outcome in a transaction of its own (a fact the database refuses, or its outcome's own error, must
        not cost the other)."""
        task = asyncio.current_task()
        fact = _Fact(
            "",
            then=then,
            context=contextvars.copy_context(),
            task_name=task.get_name() if task is not None else None,
        )
        try:
            await self._commit(fact)
        finally:
            for channel_id in channel_ids:
                self._live.pop(channel_id, None)
                self._with_start.discard(channel_id)
        return fact.ran

    async def aclose(self) -> None:
        """Store what is queued, then stop the writer."""
        if self._writer is None:
            return
        with contextlib.suppress(Exception):
            await self._commit(_Fact(""))
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer
        self._writer = None
        _finish(self._queue, RuntimeError("the leg journal is closed"))  # nobody waits for ever
        self._queue = []

    # -- the writer -------------------------------------------------------------------------------------

    def _changes(self, fields: dict[str, Any]) -> dict[str, Any]:
        # Refused here, to the caller (a bug): the writer writes every leg's same mutable columns.
        if not fields.keys() <= _MUTABLE_SET:
            raise ValueError(f"not a mutable leg column: {sorted(fields.keys() - _MUTABLE_SET)}")
        return {**fields, "updated_at": self.clock.now()}

    def _event_fact(self, channel_id: str, event: Event | None, fields: dict[str, Any]) -> _Fact:
        fields = self._changes(fields) if fields else fields
        now = self.clock.now()
        return _Fact(channel_id, fields=fields, event=(event.type, event.raw, now) if event else None)

    async def _commit(self, fact: _Fact) -> None:
        fact.done = asyncio.get_running_loop().create_future()
        self._enqueue(fact)
        self._awaited.set()
        await asyncio.shield(fact.done)  # a cancelled caller must not cancel the batch it joined

    def _enqueue(self, fact: _Fact) -> None:
        self._queue.append(fact)
        self._queued.set()
        if self._writer is None or self._writer.done():
            # A context of its own: not the log ids of whichever call happened to start it.
            self._writer = asyncio.get_running_loop().create_task(
                self._run(), name="leg-journal", context=contextvars.Context()
            )

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._queued.wait()
            if not self._awaited.is_set():
                gathered = loop.call_later(self.gather, self._awaited.set)
                await self._awaited.wait()
                gathered.cancel()
            self._awaited.clear()
            self._queued.clear()
            batch, self._queue = self._queue, []
            try:
                await self._store(batch)
            except asyncio.CancelledError:
                _finish(batch, RuntimeError("the leg journal is closed"))
                raise
            except Exception:  # never lose the writer: the next batch must still be stored
                log.exception("leg journal: a batch could not be stored")
                _finish(batch, RuntimeError("the leg journal failed"))

    async def _store(self, batch: list[_Fact]) -> None:
        if any(f.then is not None for f in batch):
            try:
                await self._write(batch)
            except Exception as exc:
                # Their callers write their outcomes on their own (``settle``); the facts go on without them.
                log.warning("leg journal: an outcome could not be stored with its facts (%s)", describe(exc))
                for f in batch:
                    f.then = None
            else:
                for f in batch:
                    f.ran = f.then is not None
                _finish(batch, None)
                return
        try:
            await retry_while_unavailable(
                lambda: self._write(batch), what="leg journal", within=_FACT_RETRY_SECONDS
            )
        except IntegrityError:
            # One fact the database refuses must not take its batch with it: each alone, its error its own.
            for fact in batch:
                try:
                    await self._write([fact])
                except Exception as exc:
                    if not (isinstance(exc, DBAPIError) or is_transient(exc)):
                        raise  # not the database's answer about this fact: the writer's bug
                    log.error("leg journal: fact about %s not stored: %s", fact.channel_id, describe(exc))
                    _finish([fact], exc)
                else:
                    _finish([fact], None)
            return
        except Exception as exc:
            if not is_transient(exc):
                raise
            log.error("leg journal: %d facts not stored: %s", len(batch), describe(exc))
            _finish(batch, exc)
            return
        _finish(batch, None)

    async def _write(self, batch: list[_Fact]) -> None:
        """One transaction: new legs, then each changed leg's updates merged in order and written whole (one
        statement for all of them), then the events."""
        intents = [f.intent for f in batch if f.intent is not None]
        updates: dict[str, dict[str, Any]] = {}
        for f in batch:
            if f.fields:
                updates.setdefault(f.channel_id, {}).update(f.fields)
        events = [f for f in batch if f.event is not None]
        if not (intents or updates or events or any(f.then is not None for f in batch)):
            return
        live: dict[str, _LiveLeg] = {}  # what this transaction makes of the legs it touches
        async with self.sessions.begin() as session:
            if intents:
                rows = await session.execute(_INSERT_INTENTS, intents)
                ids = {channel_id: leg_id for leg_id, channel_id in rows}
                for intent in intents:
                    channel_id = intent["channel_id"]
                    live[channel_id] = _LiveLeg(ids[channel_id], {c: intent.get(c) for c in _MUTABLE})
            whole: list[dict[str, Any]] = []
            for channel_id, fields in updates.items():
                leg = live.get(channel_id) or self._live.get(channel_id)
                if leg is None:
                    # Not a leg whose intent this journal stored (refused, or settled already): only the
                    # fields given, by channel id, as nothing else is known of its row.
                    await session.execute(update(Leg).where(Leg.channel_id == channel_id).values(**fields))
                    continue
                # A column never set keeps what the row holds (NULL from the intent): it is written as is.
                leg = live[channel_id] = _LiveLeg(leg.id, {**leg.row, **fields})
                whole.append({"leg_id": leg.id, **leg.row})
            if whole:
                await session.execute(_UPDATE_LEGS, whole)
            if events:
                leg_ids: dict[str, int] = {}
                for channel_id in {f.channel_id for f in events}:
                    known = live.get(channel_id) or self._live.get(channel_id)
                    if known is not None:
                        leg_ids[channel_id] = known.id
                unknown = {f.channel_id for f in events} - leg_ids.keys()
                if unknown:
                    rows = await session.execute(
                        select(Leg.id, Leg.channel_id).where(Leg.channel_id.in_(unknown))
                    )
                    leg_ids.update({channel_id: leg_id for leg_id, channel_id in rows})
                values = [
                    {"leg_id": leg_ids[f.channel_id], "type": kind, "data": raw, "received_at": at}
                    for f in events
                    if f.event is not None and f.channel_id in leg_ids
                    for kind, raw, at in [f.event]
                ]
                if values:
                    await session.execute(insert(LegEvent), values)
            for f in batch:  # after the facts: a call's facts are stored before its outcome
                if f.then is not None:  # as the settling call's task: its log lines name it
                    loop = asyncio.get_running_loop()
                    await loop.create_task(f.then(session), name=f.task_name, context=f.context)
        # Remembered only once committed: a rolled-back transaction's ids and values don't exist.
        self._live.update(live)


def _finish(batch: list[_Fact], error: BaseException | None) -> None:
    for fact in batch:
        if fact.done is not None and not fact.done.done():
            if error is None:
                fact.done.set_result(None)
            else:
                fact.done.set_exception(error)
