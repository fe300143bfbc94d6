"""What the form's time choice costs: ``offered_slots`` (three days of half-hours, each checked against the
calendar and quiet hours) for a few calendars, with and without a number, against ``next_allowed_slot`` (what
an "as soon as possible" request computes) measured in the same run.

    python bench/offered_slots.py [--repeat 200]

Pure CPU, no I/O. The last line holds the figures as key=value.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from datetime import time as wall
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ari_app.domain.calendar import BusinessCalendar, QuietHours, Window, next_allowed_slot  # noqa: E402
from ari_app.domain.preferred_time import offered_slots  # noqa: E402

NY, LA = ZoneInfo("America/New_York"), ZoneInfo("America/Los_Angeles")
OFFICE = BusinessCalendar(tz=NY, weekdays=(Window(wall(9), wall(17)),), weekend=())
ALWAYS = BusinessCalendar(tz=NY, weekdays=(), weekend=(), always_open=True)
QUIET = QuietHours()
LEAD = "+12132345678"
CASES = {
    "office_tuesday": (OFFICE, datetime(2025, 3, 4, 15, tzinfo=UTC)),
    "office_friday_evening": (OFFICE, datetime(2025, 3, 7, 23, tzinfo=UTC)),
    "always_open": (ALWAYS, datetime(2025, 3, 4, 15, tzinfo=UTC)),
}


def _median_ms(repeat: int, run: object) -> float:
    times = []
    for n in range(repeat):
        start = time.perf_counter()
        run(n)  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=200)
    repeat = parser.parse_args().repeat
    figures: dict[str, float] = {}
    for name, (calendar, now) in CASES.items():
        for lead in (None, LEAD):
            # A new minute each run, so no cache (ours or calendar.py's per-day ones) hides the work.
            ms = _median_ms(
                repeat,
                lambda n, c=calendar, t=now, lead=lead: offered_slots(
                    t + timedelta(minutes=n), calendar=c, quiet=QUIET, zone=LA, lead_e164=lead, region="US"
                ),
            )
            key = f"{name}_{'number' if lead else 'zone'}_ms"
            figures[key] = ms
            print(f"offered_slots {name:22} {'with a number' if lead else 'zone only':14} {ms:6.2f} ms")
    asap = _median_ms(
        repeat,
        lambda n: next_allowed_slot(
            datetime(2025, 3, 7, 23, tzinfo=UTC) + timedelta(minutes=n),
            calendar=OFFICE,
            quiet=QUIET,
            lead_e164=LEAD,
        ),
    )
    figures["asap_next_allowed_slot_ms"] = asap
    print(f"next_allowed_slot (as soon as possible, Friday evening): {asap:6.3f} ms")
    print(" ".join(f"{k}={v:.2f}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
