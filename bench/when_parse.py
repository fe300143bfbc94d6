"""CPU cost of reading a time from a lead's reply, against bare ``dateparser.parse`` in the same run.

    python bench/when_parse.py [--rounds 20]

Runs ``domain.when.understand_time`` over the phrasings of the unit table (times, days, and texts that are
no time at all), then ``dateparser.parse`` with the same base instant over the same texts. The first call of
each is timed apart: it loads dateparser's English data. Goal: under 5 ms per reply after the first (an
inbound SMS hook answers the gateway within a few ms). The last line holds the figures as key=value.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ari_app.domain.when import understand_time  # noqa: E402

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 3, 3, 12, 0, tzinfo=NY)
TEXTS = [
    "tomorrow at 3", "3pm", "after 5", "Friday morning", "in 2 hours", "not today", "tomorrow 3pm",
    "Can you call me tomorrow at 3?", "call me at 4:30", "monday 10am", "next week", "tonight",
    "in 30 mins", "2moro 3pm", "at noon", "this afternoon", "tmrw at 9", "15:00", "after lunch",
    "thursday after 2", "next tuesday at 11am", "half past two", "3/5 at 2pm", "March 5th at 10",
    "yes", "ok thanks", "who is this?", "my wife will call you at 3", "3 or 4", "I'm driving",
]  # fmt: skip


def per_text_us(parse: object, rounds: int) -> tuple[float, float]:
    """(first call in ms, median per text in µs over ``rounds`` passes)."""
    assert callable(parse)
    t0 = time.perf_counter()
    parse(TEXTS[0])
    first_ms = (time.perf_counter() - t0) * 1000
    passes = []
    for _ in range(rounds):
        t0 = time.process_time()
        for text in TEXTS:
            parse(text)
        passes.append((time.process_time() - t0) / len(TEXTS) * 1e6)
    return first_ms, statistics.median(passes)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()

    ours_first, ours = per_text_us(lambda text: understand_time(text, now=NOW, tz=NY), args.rounds)

    import dateparser

    settings = {"RELATIVE_BASE": NOW.replace(tzinfo=None), "PREFER_DATES_FROM": "future"}
    bare_first, bare = per_text_us(
        lambda text: dateparser.parse(text, languages=["en"], settings=settings), args.rounds
    )
    goal_us = 5000.0
    print(f"texts: {len(TEXTS)}, rounds: {args.rounds}; CPU per text, median of rounds")
    print(f"understand_time: first call {ours_first:.0f} ms, then {ours:.0f} us per text")
    print(f"dateparser.parse: first call {bare_first:.0f} ms, then {bare:.0f} us per text")
    print(
        f"texts={len(TEXTS)} ours_us={ours:.0f} bare_dateparser_us={bare:.0f} ratio={ours / bare:.2f} "
        f"ours_first_ms={ours_first:.0f} goal_us={goal_us:.0f} ok={ours < goal_us}"
    )


if __name__ == "__main__":
    main()
