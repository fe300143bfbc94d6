"""The AMD report's cost per /metrics scrape (and per report page): 30 days of answered calls, on SQLite.

    python bench/amd_report.py [--calls 20000] [--rounds 15]

A fresh SQLite database (a temporary file, migrated with ``ari_app.store.migrate.upgrade``) holds
``--calls`` answered attempts with their lead legs, a third of them labelled, over 30 days. Each round
times, with ``perf_counter``, what a scrape does (``store.amd_reads.labelled_calls`` over the window, then
``domain.amd_accuracy.accuracy_report``) against a baseline read in the same run: a count of the same
rows (the cheapest read that touches them). Rounds alternate the two. Goal: the report's median under
250 ms at 20 k calls in the window. The last line holds the figures as key=value.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select  # noqa: E402

from ari_app.domain.amd_accuracy import accuracy_report  # noqa: E402
from ari_app.store.amd_reads import labelled_calls  # noqa: E402
from ari_app.store.engine import make_engine, make_sessionmaker  # noqa: E402
from ari_app.store.migrate import upgrade  # noqa: E402
from ari_app.store.models import Attempt, CallbackRequest, Contact, Leg  # noqa: E402

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
GOAL_MS = 250.0


async def fill(url: str, calls: int) -> None:
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    async with sessions.begin() as session:
        await session.execute(
            insert(Contact),
            [{"id": 1, "phone": "+12015550100", "created_at": NOW, "updated_at": NOW}],
        )
        await session.execute(
            insert(CallbackRequest),
            [
                {
                    "id": 1,
                    "contact_id": 1,
                    "status": "incomplete",
                    "source": "api",
                    "created_at": NOW,
                    "updated_at": NOW,
                }
            ],
        )
        attempts, legs = [], []
        for i in range(1, calls + 1):
            at = NOW - timedelta(seconds=i * 30 * 86400 / calls)
            machine = i % 3 == 0
            attempts.append(
                {
                    "id": i,
                    "request_id": 1,
                    "number": i,
                    "lead_attempt": 1,
                    "kind": "lead",
                    "status": "done",
                    "due_at": at,
                    "started_at": at,
                    "created_at": at,
                    "updated_at": at,
                    "lead_label": ("machine" if machine else "person") if i % 3 != 1 else None,
                }  # fmt: skip
            )
            legs.append(
                {
                    "attempt_id": i,
                    "role": "lead",
                    "try_no": 1,
                    "channel_id": f"cb-b-{i}-lead-1",
                    "endpoint": f"PJSIP/1201555{i % 10000:04d}@trunk",
                    "state": "ended",
                    "amd_status": "MACHINE" if machine or i % 17 == 0 else "HUMAN",
                    "amd_seconds": 1.0 + i % 40 / 10,
                    "drop_early": (i % 11 == 0) if machine else None,
                    "answered_at": at,
                    "created_at": at,
                    "updated_at": at,
                }  # fmt: skip
            )
        for start in range(0, calls, 5000):
            await session.execute(insert(Attempt), attempts[start : start + 5000])
            await session.execute(insert(Leg), legs[start : start + 5000])
    await engine.dispose()


async def measure(url: str, rounds: int) -> tuple[list[float], list[float], int]:
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    report_ms: list[float] = []
    base_ms: list[float] = []
    labelled = 0
    since = NOW - timedelta(days=30)
    for _ in range(rounds):
        async with sessions() as session:
            t0 = time.perf_counter()
            await session.scalar(
                select(func.count())
                .select_from(Attempt)
                .join(Leg, Leg.attempt_id == Attempt.id)
                .where(Attempt.started_at >= since, Leg.answered_at.is_not(None))
            )
            base_ms.append((time.perf_counter() - t0) * 1000)
        async with sessions() as session:
            t0 = time.perf_counter()
            report = accuracy_report(await labelled_calls(session, since, NOW, notsure="human"))
            report_ms.append((time.perf_counter() - t0) * 1000)
            assert report.total is not None
            labelled = report.total.labelled
    await engine.dispose()
    return report_ms, base_ms, labelled


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'amd.db'}"
        await upgrade(url)
        await fill(url, args.calls)
        report_ms, base_ms, labelled = await measure(url, args.rounds)
    median, p90 = statistics.median(report_ms), sorted(report_ms)[int(0.9 * (len(report_ms) - 1))]
    base = statistics.median(base_ms)
    print(f"{args.calls} answered calls in 30 days, {labelled} labelled; median of {args.rounds} rounds")
    print(
        f"report (read + arithmetic): median {median:.1f} ms, p90 {p90:.1f} ms;"
        f" count of the same rows {base:.1f} ms"
    )
    print(
        f"calls={args.calls} report_ms={median:.1f} report_p90_ms={p90:.1f} count_ms={base:.1f} "
        f"ratio={median / base:.1f} goal_ms={GOAL_MS:.0f} ok={median < GOAL_MS}"
    )


if __name__ == "__main__":
    asyncio.run(main())
