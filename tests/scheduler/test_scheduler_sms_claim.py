"""The SMS sender claims a round's batch in one statement (SQLite and PostgreSQL): two senders racing over one
outbox send each message once and never read what the other claimed; the checks made at send time (opt-out,
do-not-call, quiet hours) still hold back claimed messages; a round that finds nothing is one transaction."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from ari_app.clock import VirtualClock
from ari_app.lifecycle import Lifecycle
from ari_app.scheduler.sms_sender import SmsSender
from ari_app.settings import load_settings
from ari_app.sms.gateway import SendResult
from ari_app.store.engine import make_engine, make_sessionmaker
from ari_app.store.models import Contact, Dnc, SmsOutbox

# A Tuesday, 10:00 in New York and 07:00 in Los Angeles: both leads' quiet hours (08:00-21:00) allow a text
# in New York only.
MORNING = datetime(2025, 3, 4, 15, 0, tzinfo=UTC)
NY_LEAD = "+12015550123"
LA_LEAD = "+12132345678"


@dataclass
class Provider:
    """An SMS provider that answers after a moment (so senders interleave) and keeps every send it got,
    repeats included (the console gateway hides repeats)."""

    delay: float = 0.005
    got: list[tuple[str, str]] = field(default_factory=list)  # (to, idempotency key)
    name: str = "test-provider"
    confirms_opt_out: bool = True

    async def send(
        self, to: str, body: str, *, idempotency_key: str, dlr_url: str | None = None
    ) -> SendResult:
        await asyncio.sleep(self.delay)
        self.got.append((to, idempotency_key))
        return SendResult(provider_message_id=f"p-{idempotency_key}", status="sent")

    async def close(self) -> None:
        pass


@dataclass
class Seen:
    """What one sender's engine ran: every statement, and the transactions it began."""

    statements: list[str] = field(default_factory=list)
    transactions: int = 0


def watch(engine: AsyncEngine) -> Seen:
    seen = Seen()

    def on_statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.statements.append(" ".join(statement.split()))

    def on_begin(_conn: Any) -> None:
        seen.transactions += 1

    event.listen(engine.sync_engine, "before_cursor_execute", on_statement)
    event.listen(engine.sync_engine, "begin", on_begin)
    return seen


def sender(
    sessions: async_sessionmaker[AsyncSession], provider: Provider, clock: VirtualClock, batch: int = 20
) -> SmsSender:
    settings = load_settings(environ={}, overrides={})
    lifecycle = Lifecycle(settings, clock)
    return SmsSender(
        sessions=sessions, gateway=provider, lifecycle=lifecycle, clock=clock, batch=batch, safety_poll=None
    )


@pytest.fixture
async def engines(migrated_db_url: str) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    """Two engines on one database: two processes' senders."""
    first, second = make_engine(migrated_db_url), make_engine(migrated_db_url)
    try:
        yield first, second
    finally:
        await first.dispose()
        await second.dispose()


async def queue(
    sessions: async_sessionmaker[AsyncSession], phone: str, kinds: list[str], at: datetime
) -> list[int]:
    """A contact and its queued messages, due at ``at`` (what the outreach writes)."""
    clock = VirtualClock(at)
    outreach = Lifecycle(load_settings(environ={}, overrides={}), clock).outreach
    async with sessions.begin() as session:
        contact = Contact(phone=phone, first_name="Ada", last_name="Lovelace", created_at=at, updated_at=at)
        session.add(contact)
        await session.flush()
        messages = [
            await outreach.queue_sms(session, contact, None, kind, key=str(n)) for n, kind in enumerate(kinds)
        ]
        for message in messages:
            message.next_try_at = at
        return [m.id for m in messages]


async def rows(sessions: async_sessionmaker[AsyncSession]) -> dict[int, SmsOutbox]:
    async with sessions() as session:
        return {m.id: m for m in await session.scalars(select(SmsOutbox))}


async def drain(sms: SmsSender) -> int:
    claimed = 0
    while n := await sms.deliver_due(time_next=True):
        claimed += n
    return claimed


async def test_two_senders_racing_send_each_message_once_and_never_read_the_others(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    first_engine, second_engine = engines
    first_sessions, second_sessions = make_sessionmaker(first_engine), make_sessionmaker(second_engine)
    ids: list[int] = []
    for n in range(20):
        ids += await queue(first_sessions, f"+1201555{n:04d}", ["missed_call", "final_miss"], MORNING)
    for engine in engines:  # both connected before the race, so neither starts late
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    seen = watch(first_engine), watch(second_engine)
    providers = Provider(delay=0.02), Provider(delay=0.02)
    clock = VirtualClock(MORNING)
    first = sender(first_sessions, providers[0], clock, batch=3)
    second = sender(second_sessions, providers[1], clock, batch=3)

    claimed = await asyncio.gather(drain(first), drain(second))
    ran = [[s for s in mine.statements if "sms_outbox" in s] for mine in seen]  # before the test's own reads

    keys = {m.id: m.idempotency_key for m in (await rows(first_sessions)).values()}
    got = [key for provider in providers for _to, key in provider.got]
    assert sorted(got) == sorted(keys.values())  # every message once, none twice
    assert all(claimed) and sum(claimed) == len(ids)  # both took part; no message was claimed twice
    after = await rows(first_sessions)
    assert {(m.status, m.tries, m.provider_message_id) for m in after.values()} == {
        ("sent", 1, f"p-{m.idempotency_key}") for m in after.values()
    }
    for touching in ran:
        # A sender's only looks at the outbox are its claims (which return the rows it took), the updates of
        # what it sent, and the next due time: no read of a message, so none of the other's.
        assert touching and all(
            "UPDATE sms_outbox SET" in s or s.startswith("SELECT min(sms_outbox.next_try_at)")
            for s in touching
        ), touching


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_a_claim_in_flight_elsewhere_is_skipped_not_waited_for(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    first_engine, second_engine = engines
    sessions = make_sessionmaker(first_engine)
    ids = await queue(sessions, NY_LEAD, ["missed_call", "final_miss", "confirmation"], MORNING)
    provider = Provider()
    sms = sender(sessions, provider, VirtualClock(MORNING))
    async with second_engine.connect() as other, other.begin():
        # Another sender's claim, not committed yet: it holds the first two rows.
        await other.execute(
            text("SELECT id FROM sms_outbox WHERE id IN (:a, :b) FOR UPDATE"), {"a": ids[0], "b": ids[1]}
        )
        assert await asyncio.wait_for(sms.deliver_due(), timeout=10.0) == 1
    after = await rows(sessions)
    assert [key for _to, key in provider.got] == [after[ids[2]].idempotency_key]
    assert [after[i].status for i in ids] == ["queued", "queued", "sent"]


async def test_the_send_time_checks_hold_back_claimed_messages(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    evening = datetime(2025, 3, 5, 2, 30, tzinfo=UTC)  # 21:30 in New York (quiet), 18:30 in Los Angeles
    sessions = db_sessionmaker
    plain = await queue(sessions, LA_LEAD, ["missed_call"], evening)
    opted_out = await queue(sessions, "+12135550001", ["missed_call", "help"], evening)
    listed = await queue(sessions, "+12135550002", ["missed_call", "opt_out_confirmation"], evening)
    quiet = await queue(sessions, NY_LEAD, ["missed_call", "help"], evening)
    async with sessions.begin() as session:  # after they were queued: the checks at send time must see it
        await session.execute(
            update(Contact).where(Contact.phone == "+12135550001").values(sms_opted_out=True)
        )
        session.add(Dnc(phone="+12135550002", reason="asked", source="test", created_at=evening))
    provider = Provider()
    sms = sender(sessions, provider, VirtualClock(evening))

    assert await sms.deliver_due() == 7  # one round, one claim, every message in it

    after = await rows(sessions)
    sent = {after[i].to_phone + " " + after[i].kind for i in after if after[i].status == "sent"}
    assert sent == {
        LA_LEAD + " missed_call",
        "+12135550001 help",  # an answer to the contact's own text goes out though it opted out
        "+12135550002 opt_out_confirmation",  # the confirmation of the STOP that listed the number
        NY_LEAD + " help",  # answers are not held to quiet hours
    }
    assert sorted(to for to, _key in provider.got) == sorted(s.split()[0] for s in sent)
    assert (after[opted_out[0]].status, after[opted_out[0]].error) == (
        "cancelled",
        "the contact opted out of SMS",
    )
    assert (after[listed[0]].status, after[listed[0]].error) == ("cancelled", "do-not-call list")
    held = after[quiet[0]]
    assert held.status == "queued" and held.error is None
    assert held.next_try_at is not None
    assert held.next_try_at.astimezone(UTC) == datetime(2025, 3, 5, 13, 0, tzinfo=UTC)  # 08:00 in New York
    # Held back, not tried: the claim's try is given back.
    assert [after[i].tries for i in (opted_out[0], listed[0], quiet[0])] == [0, 0, 0]
    assert after[plain[0]].tries == 1
    assert sms.timer._next == held.next_try_at  # the round looks again when it may go


async def test_a_round_that_finds_nothing_is_one_transaction(
    migrated_db_url: str,
) -> None:
    engine = make_engine(migrated_db_url)
    try:
        sessions = make_sessionmaker(engine)
        later = MORNING + timedelta(hours=2)
        await queue(sessions, NY_LEAD, ["missed_call"], later)
        seen = watch(engine)
        sms = sender(sessions, Provider(), VirtualClock(MORNING))
        assert await sms.deliver_due(time_next=True) == 0
        assert seen.transactions == 1  # the claim and the read of the next due time
        assert sms.timer._next is not None and abs(sms.timer._next - later) < timedelta(seconds=1)
        assert await sms.deliver_due() == 0
        assert seen.transactions == 2
    finally:
        await engine.dispose()


async def test_a_round_claims_no_more_than_its_batch(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """On PostgreSQL "id IN (SELECT ... LIMIT 3 FOR UPDATE SKIP LOCKED)" in a nested loop claimed all 10."""
    for n in range(5):
        await queue(db_sessionmaker, f"+1201555{n:04d}", ["missed_call", "final_miss"], MORNING)
    provider = Provider()
    sms = sender(db_sessionmaker, provider, VirtualClock(MORNING), batch=3)
    assert await sms.deliver_due() == 3
    assert len(provider.got) == 3
    assert sorted(m.status for m in (await rows(db_sessionmaker)).values()) == ["queued"] * 7 + ["sent"] * 3


@dataclass
class BrokenProvider(Provider):
    """Fails in a way the sender does not expect, after the message may have gone out."""

    async def send(
        self, to: str, body: str, *, idempotency_key: str, dlr_url: str | None = None
    ) -> SendResult:
        self.got.append((to, idempotency_key))
        raise RuntimeError("the provider's client broke")


async def test_claimed_messages_not_handed_to_the_gateway_go_back_to_the_queue(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    ids = await queue(db_sessionmaker, NY_LEAD, ["missed_call", "final_miss", "confirmation"], MORNING)
    stopped = asyncio.Event()
    stopped.set()
    provider = Provider()
    assert await sender(db_sessionmaker, provider, VirtualClock(MORNING)).deliver_due(stopped) == 3
    after = await rows(db_sessionmaker)
    assert provider.got == [] and [(after[i].status, after[i].tries) for i in ids] == [("queued", 0)] * 3

    broken = BrokenProvider()
    with pytest.raises(RuntimeError):
        await sender(db_sessionmaker, broken, VirtualClock(MORNING)).deliver_due()
    after = await rows(db_sessionmaker)
    # The first may have gone out: it stays "sending" (failed as interrupted at the next start); the
    # others were never handed over.
    assert len(broken.got) == 1
    assert [(after[i].status, after[i].tries) for i in ids] == [("sending", 1), ("queued", 0), ("queued", 0)]


@dataclass
class GatheringProvider(Provider):
    """Answers no send until ``expected`` sends are in flight at once: a sender that hands one text at a
    time to the gateway never gets an answer."""

    expected: int = 0
    in_flight: int = 0
    all_in: asyncio.Event = field(default_factory=asyncio.Event)

    async def send(
        self, to: str, body: str, *, idempotency_key: str, dlr_url: str | None = None
    ) -> SendResult:
        self.in_flight += 1
        if self.in_flight >= self.expected:
            self.all_in.set()
        await self.all_in.wait()
        return await super().send(to, body, idempotency_key=idempotency_key, dlr_url=dlr_url)


async def test_a_batch_reaches_the_gateway_at_once_each_numbers_texts_in_order(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    # Three numbers, one with two texts: a crash mid-batch must leave "sending" only texts in flight, and a
    # lead must get their texts in the order they were queued.
    numbers = [NY_LEAD, "+12015550124", "+12015550125"]
    first = await queue(db_sessionmaker, numbers[0], ["missed_call", "confirmation"], MORNING)
    for number in numbers[1:]:
        await queue(db_sessionmaker, number, ["missed_call"], MORNING)
    provider = GatheringProvider(expected=len(numbers))
    sms = sender(db_sessionmaker, provider, VirtualClock(MORNING))
    assert await asyncio.wait_for(sms.deliver_due(), 30) == 4  # a failure here: sent one at a time
    assert [key.split(":")[0] for to, key in provider.got if to == NY_LEAD] == ["missed_call", "confirmation"]
    after = await rows(db_sessionmaker)
    assert {after[i].status for i in first} == {"sent"} and len(provider.got) == 4


async def _until(what: Any, within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await what():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_a_running_sender_writes_a_result_with_the_next_rounds_claim_in_one_transaction(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    """Running, a text costs one transaction: its result rides with the next round's claim."""
    sender_engine, test_engine = engines
    outbox = make_sessionmaker(test_engine)  # the test's own reads and writes, not counted
    provider = Provider()
    settings = load_settings(environ={}, overrides={})
    clock = VirtualClock(MORNING, speed=1.0)
    sms = SmsSender(
        sessions=make_sessionmaker(sender_engine),
        gateway=provider,
        lifecycle=Lifecycle(settings, clock),
        clock=clock,
        safety_poll=None,
        result_gather=60.0,  # no round of its own for a result during the test
    )
    stop = asyncio.Event()
    running = asyncio.create_task(sms.run(stop))
    await asyncio.sleep(0.5)  # the start's own work (interrupted texts, the first round) is done
    seen = watch(sender_engine)
    [first] = await queue(outbox, NY_LEAD, ["missed_call"], MORNING)
    sms.timer.wake()  # what the commit that queued it does in a worker
    await _until(lambda: _provider_got(provider, 1))
    [second] = await queue(outbox, "+12015550124", ["missed_call"], MORNING)
    sms.timer.wake()
    await _until(lambda: _provider_got(provider, 2))
    assert (await rows(outbox))[first].status == "sent"  # written by the second text's claim
    stop.set()
    await running

    assert {i: m.status for i, m in (await rows(outbox)).items()} == {first: "sent", second: "sent"}
    # claim 1; claim 2 with result 1; result 2 at the stop
    assert seen.transactions == 3, seen.statements


async def test_a_result_is_written_soon_when_no_other_text_comes(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    provider = Provider()
    sms = sender(db_sessionmaker, provider, VirtualClock(MORNING, speed=1.0))
    stop = asyncio.Event()
    [sms_id] = await queue(db_sessionmaker, NY_LEAD, ["missed_call"], MORNING)
    running = asyncio.create_task(sms.run(stop))
    try:
        # Within a few RESULT_GATHER_SECONDS (0.25 s): a round of its own carries it, nothing else.
        await _until(lambda: _sent_count(db_sessionmaker, 1), within=10.0)
    finally:
        stop.set()
        await running
    assert (await rows(db_sessionmaker))[sms_id].status == "sent"


async def test_a_stopping_sender_writes_the_results_it_holds(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    provider = Provider()
    sms = sender(db_sessionmaker, provider, VirtualClock(MORNING, speed=1.0))
    stop = asyncio.Event()
    [sms_id] = await queue(db_sessionmaker, NY_LEAD, ["missed_call"], MORNING)
    running = asyncio.create_task(sms.run(stop))
    await _until(lambda: _provider_got(provider, 1))
    stop.set()  # before the round that would carry its result
    await running

    message = (await rows(db_sessionmaker))[sms_id]
    assert (message.status, message.provider_message_id) == ("sent", f"p-{message.idempotency_key}")
    assert message.sent_at is not None


async def _sent_count(sessions: async_sessionmaker[AsyncSession], n: int) -> bool:
    return sum(m.status == "sent" for m in (await rows(sessions)).values()) == n


async def _provider_got(provider: Provider, n: int) -> bool:
    return len(provider.got) >= n


async def test_texts_queued_in_quick_succession_share_one_round(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    """After a round that sent a text, the next waits ``round_gap`` for company: two texts queued 0.1 s
    apart go in one claim, which also carries the first text's result (without the gap: three claims)."""
    sender_engine, test_engine = engines
    outbox = make_sessionmaker(test_engine)
    provider = Provider()
    clock = VirtualClock(MORNING, speed=1.0)
    sms = SmsSender(
        sessions=make_sessionmaker(sender_engine),
        gateway=provider,
        lifecycle=Lifecycle(load_settings(environ={}, overrides={}), clock),
        clock=clock,
        safety_poll=None,
        result_gather=60.0,  # results only ride with claims (or the stop) during the test
        round_gap=1.0,
    )
    stop = asyncio.Event()
    running = asyncio.create_task(sms.run(stop))
    await asyncio.sleep(0.5)  # the start's own work is done
    seen = watch(sender_engine)
    [first] = await queue(outbox, NY_LEAD, ["missed_call"], MORNING)
    sms.timer.wake()
    await _until(lambda: _provider_got(provider, 1))
    [second] = await queue(outbox, "+12015550124", ["missed_call"], MORNING)
    sms.timer.wake()
    await asyncio.sleep(0.1)
    [third] = await queue(outbox, "+12015550125", ["missed_call"], MORNING)
    sms.timer.wake()
    await _until(lambda: _provider_got(provider, 3))
    stop.set()
    await running

    assert {i: m.status for i, m in (await rows(outbox)).items()} == {
        first: "sent",
        second: "sent",
        third: "sent",
    }
    claims = [s for s in seen.statements if s.startswith("WITH due AS")]
    assert len(claims) == 2, seen.statements  # the first text's; the second and third together
    # claim 1; claim 2 and 3 with result 1; results 2 and 3 at the stop
    assert seen.transactions == 3, seen.statements
