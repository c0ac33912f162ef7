"""Benchmark: SLA due dates and elapsed business time on realistic calendars.

Prints the median microseconds per call over many random cases (warm caches, as in a
long-running worker; one row with cold caches) and its ratio to the 50 µs budget.

    python bench/sla_clock.py [--cases 100000] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from time import perf_counter_ns

try:
    from sportello.routing.calendar import BusinessCalendar
except ImportError:  # running from a checkout without an installed package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from sportello.routing.calendar import BusinessCalendar

BUDGET_US = 50.0
START = datetime(2026, 1, 1, tzinfo=UTC)
SPAN_US = int(timedelta(days=2 * 365) / timedelta(microseconds=1))


def office() -> BusinessCalendar:
    return BusinessCalendar(
        weekly={
            **{wd: [(time(9), time(13)), (time(14), time(18))] for wd in range(5)},
            5: [(time(9), time(12, 30))],
        },
        subdiv="MI",
        closures=[
            (
                datetime(2026, 8, 10, tzinfo=UTC),
                datetime(2026, 8, 22, tzinfo=UTC),
            )
        ],
    )


def median_us(cases: list[tuple[datetime, timedelta]], call: Callable[..., object]) -> float:
    samples = []
    for start, arg in cases:
        t0 = perf_counter_ns()
        call(start, arg)
        samples.append(perf_counter_ns() - t0)
    return statistics.median(samples) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    def instant() -> datetime:
        return START + timedelta(microseconds=rng.randrange(SPAN_US))

    def target(max_hours: float) -> timedelta:
        return timedelta(seconds=rng.uniform(60, max_hours * 3600))

    due_short = [(instant(), target(27)) for _ in range(args.cases)]  # up to 3 working days
    due_long = [(instant(), target(24 * 45)) for _ in range(args.cases // 10)]  # ~6 months
    ranges = [(s, s + timedelta(hours=rng.uniform(0, 96))) for s, _ in due_short]

    rows: list[tuple[str, float]] = []
    for name, cal in (("office Mon-Sat", office()), ("24/7", BusinessCalendar.always_open())):
        # Warm the day caches once over the whole span (a long-running worker's state).
        cal.business_time_between(START, START + timedelta(days=2 * 365 + 200))
        rows.append(
            (
                f"{name}: due date, target <= 27 business hours",
                median_us(due_short, cal.add_business_time),
            )
        )
        rows.append(
            (
                f"{name}: due date, target <= 1080 business hours",
                median_us(due_long, cal.add_business_time),
            )
        )
        rows.append(
            (
                f"{name}: elapsed business time, range <= 4 days",
                median_us(ranges, cal.business_time_between),
            )
        )

    # Cold: a freshly built calendar per call (holiday and day caches empty).
    cold = due_short[: max(1, args.cases // 100)]
    rows.append(
        (
            "office Mon-Sat: due date, cold caches (calendar built per call)",
            median_us(cold, lambda s, d: office().add_business_time(s, d)),
        )
    )

    width = max(len(label) for label, _ in rows)
    print(
        f"{args.cases} cases, seed {args.seed}; "
        f"median µs per call, ratio to the {BUDGET_US:.0f} µs budget"
    )
    for label, value in rows:
        print(f"{label:<{width}}  {value:8.2f} µs  {value / BUDGET_US:6.3f}x")


if __name__ == "__main__":
    main()
