"""Claim cost on PostgreSQL: ``claim_due_attempts`` with 1 k vs 1 M scheduled attempts, same run.

    python bench/claim_cost.py [--large 1000000] [--claims 600] [--due 40] [--limit 10]

Two databases of its own on 127.0.0.1:5432 (user postgres, trust auth), created, migrated with
``ari_app.store.migrate.upgrade`` and dropped at the end. Each holds a few parent rows (contacts and
callback requests) and ``--small`` or ``--large`` scheduled attempts, written by one
``INSERT … SELECT generate_series`` and then ANALYZEd; all but ``--due`` of them are due in the future
(tomorrow onwards, spread over a year), ``--due`` are due now, and none is leased.

Each measured claim is what a worker does every round: ``claim_due_attempts(…, limit=--limit)`` through
the app's own engine, timed with ``perf_counter``. After each claim the claimed rows are put back
(untimed), so every claim sees the same table. Claims alternate between the two sizes in blocks, so a
noisy neighbour hurts both alike. The taken-over-only claim (``only_expired=True``, also run each round)
is measured the same way. The plan of the claim's SELECT is printed for both sizes (EXPLAIN ANALYZE).
Goal: median claim at 1 M / median at 1 k <= 1.5. The last line holds the figures as key=value.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy.dialects import postgresql  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker  # noqa: E402

from ari_app.store.claims import claim_due_attempts  # noqa: E402
from ari_app.store.engine import make_engine, make_sessionmaker  # noqa: E402
from ari_app.store.migrate import upgrade  # noqa: E402

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
PARENTS = 100  # contacts, each with one open request; attempts spread over them (request_id, number)
BLOCK = 50  # claims per size before switching to the other
TIMEOUT_S = 600.0  # generous bound on the bulk insert; everything else is far quicker


async def create_db(name: str) -> str:
    admin = await asyncpg.connect(ADMIN_DSN, timeout=10)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close(timeout=10)
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


async def drop_db(name: str) -> None:
    admin = await asyncpg.connect(ADMIN_DSN, timeout=10)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close(timeout=10)


async def fill(name: str, rows: int, due_now: int, now: datetime) -> float:
    """Parents, then ``rows`` scheduled attempts (``due_now`` of them due now); returns seconds taken."""
    started = time.perf_counter()
    conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}", timeout=10)
    try:
        await conn.execute(
            """INSERT INTO contacts (phone, first_name, last_name, sms_opted_out, number_invalid,
                                     created_at, updated_at)
               SELECT '+1212555' || lpad(g::text, 4, '0'), 'Ada', 'Lovelace', false, false, $1, $1
               FROM generate_series(1, $2) g""",
            now,
            PARENTS,
        )
        await conn.execute(
            """INSERT INTO callback_requests (contact_id, reason, status, source, created_at, updated_at,
                                              lead_attempts_used, system_failures)
               SELECT id, 'bench', 'pending', 'api', $1, $1, 0, 0 FROM contacts""",
            now,
        )
        # Row g: request 1 + g % PARENTS, number g / PARENTS + 1 (unique together). The first ``due_now``
        # rows are due now; the rest tomorrow onwards, one every 31.5 s (a year for 1 M rows).
        await conn.execute(
            """INSERT INTO attempts (request_id, number, lead_attempt, final, kind, status, due_at,
                                     evidence, created_at, updated_at)
               SELECT r.first_id + g % $2, g / $2 + 1, 1, false, 'lead', 'scheduled',
                      CASE WHEN g < $3 THEN $4::timestamptz - interval '1 second'
                           ELSE $4::timestamptz + interval '1 day' + (g * interval '31.5 seconds') END,
                      '{}', $4::timestamptz, $4::timestamptz
               FROM generate_series(0, $1 - 1) g,
                    (SELECT min(id) AS first_id FROM callback_requests) r""",
            rows,
            PARENTS,
            due_now,
            now,
            timeout=TIMEOUT_S,
        )
        await conn.execute("VACUUM ANALYZE attempts", timeout=TIMEOUT_S)
    finally:
        await conn.close(timeout=10)
    return time.perf_counter() - started


async def put_back(conn: asyncpg.Connection, ids: list[int]) -> None:
    await conn.execute(
        "UPDATE attempts SET status = 'scheduled', lease_owner = NULL, lease_until = NULL "
        "WHERE id = ANY($1::int[])",
        ids,
    )


class Size:
    def __init__(self, name: str, rows: int, url: str) -> None:
        self.name, self.rows, self.url = name, rows, url
        self.engine = make_engine(url)
        self.sessions: async_sessionmaker[AsyncSession] = make_sessionmaker(self.engine)
        self.claim_ms: list[float] = []
        self.takeover_ms: list[float] = []
        self.claimed = 0

    async def block(self, conn: asyncpg.Connection, count: int, now: datetime, limit: int) -> None:
        for _ in range(count):
            t0 = time.perf_counter()
            ids = await claim_due_attempts(
                self.sessions, now=now, worker="bench", lease_seconds=120.0, limit=limit
            )
            t1 = time.perf_counter()
            await claim_due_attempts(
                self.sessions, now=now, worker="bench", lease_seconds=120.0, limit=10, only_expired=True
            )
            t2 = time.perf_counter()
            assert ids, f"{self.name}: nothing claimed (the due rows are missing)"
            self.claim_ms.append((t1 - t0) * 1000)
            self.takeover_ms.append((t2 - t1) * 1000)
            self.claimed += len(ids)
            await put_back(conn, ids)


def claim_sql(now: datetime, limit: int) -> str:
    """The SELECT inside the claim, with literal values, for EXPLAIN."""
    from sqlalchemy import select

    from ari_app.store.claims import _claimable
    from ari_app.store.models import Attempt

    stmt = (
        select(Attempt.id)
        .where(_claimable(now))
        .order_by(Attempt.due_at, Attempt.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return str(stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


async def explain(name: str, sql: str) -> str:
    conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}", timeout=10)
    try:
        async with conn.transaction():
            rows = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, timeout=60)
            raise _Rollback([r[0] for r in rows])
    except _Rollback as done:
        return "\n".join(done.lines)
    finally:
        await conn.close(timeout=10)


class _Rollback(Exception):
    def __init__(self, lines: list[str]) -> None:
        super().__init__("rollback")
        self.lines = lines


def ms(values: list[float], q: float | None = None) -> float:
    if q is None:
        return statistics.median(values)
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=40, help="attempts due now in each database")
    parser.add_argument("--limit", type=int, default=10, help="attempts per claim (a worker's free room)")
    parser.add_argument("--claims", type=int, default=600, help="measured claims per size")
    args = parser.parse_args()

    tag = secrets.token_hex(4)
    names = {"small": f"cb_bench_claim_small_{tag}", "large": f"cb_bench_claim_large_{tag}"}
    rows = {"small": args.small, "large": args.large}
    created: list[str] = []
    sizes: list[Size] = []
    now = datetime.now(UTC)
    try:
        for key in ("small", "large"):
            url = await create_db(names[key])
            created.append(names[key])
            await upgrade(url)
            took = await fill(names[key], rows[key], args.due, now)
            print(f"{key}: {rows[key]} scheduled attempts ({args.due} due now) written in {took:.1f} s")
            sizes.append(Size(key, rows[key], url))
        conns = {
            s.name: await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{names[s.name]}", timeout=10)
            for s in sizes
        }
        try:
            for s in sizes:  # warm-up: connection pool, statement caches, the table's hot pages
                await s.block(conns[s.name], 20, now, args.limit)
                s.claim_ms.clear()
                s.takeover_ms.clear()
                s.claimed = 0
            done = 0
            while done < args.claims:
                n = min(BLOCK, args.claims - done)
                for s in sizes if (done // BLOCK) % 2 == 0 else reversed(sizes):
                    await s.block(conns[s.name], n, now, args.limit)
                done += n
        finally:
            for c in conns.values():
                await c.close(timeout=10)
        for s in sizes:
            await s.engine.dispose()
            print(f"\nplan of the claim's SELECT at {s.rows} rows:")
            print(await explain(names[s.name], claim_sql(now, args.limit)))
    finally:
        for s in sizes:
            await s.engine.dispose()
        for name in created:
            await drop_db(name)

    small, large = sizes
    print()
    for s in sizes:
        print(
            f"{s.name} ({s.rows} rows): claim of up to {args.limit} median {ms(s.claim_ms):.2f} ms, "
            f"p90 {ms(s.claim_ms, 0.9):.2f} ms, p99 {ms(s.claim_ms, 0.99):.2f} ms "
            f"({len(s.claim_ms)} claims, {s.claimed / max(1, len(s.claim_ms)):.1f} rows each); "
            f"taken-over-only claim median {ms(s.takeover_ms):.2f} ms"
        )
    ratio = ms(large.claim_ms) / ms(small.claim_ms)
    takeover_ratio = ms(large.takeover_ms) / ms(small.takeover_ms)
    print(
        f"rows_small={small.rows} rows_large={large.rows} claim_ms_small={ms(small.claim_ms):.2f} "
        f"claim_ms_large={ms(large.claim_ms):.2f} ratio={ratio:.2f} "
        f"takeover_ms_small={ms(small.takeover_ms):.2f} takeover_ms_large={ms(large.takeover_ms):.2f} "
        f"takeover_ratio={takeover_ratio:.2f} ok={ratio <= 1.5}"
    )


if __name__ == "__main__":
    asyncio.run(main())
