"""A claiming worker in its own OS process: prints "ready", waits for "go" on stdin, then claims until
nothing is left and prints the ids it won as JSON. Usage: python store_claim_worker.py URL WORKER NOW_ISO"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime

from ari_app.store import claim_due_attempts, make_engine, make_sessionmaker


async def main(url: str, worker: str, now: datetime) -> None:
    engine = make_engine(url)
    session_maker = make_sessionmaker(engine)
    won: list[int] = []
    try:
        async with engine.connect():  # connect before the start line, so both start claiming together
            pass
        print("ready", flush=True)
        await asyncio.wait_for(asyncio.to_thread(sys.stdin.readline), timeout=30)
        while ids := await claim_due_attempts(
            session_maker, now=now, worker=worker, lease_seconds=300, limit=3
        ):
            won.extend(ids)
    finally:
        await engine.dispose()
    print(json.dumps(won), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], datetime.fromisoformat(sys.argv[3])))
