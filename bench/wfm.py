"""Benchmark: staffing maths (sportello.workforce.erlang) side by side with pyworkforce 0.5.1.

Prints medians of several runs of:

1. 10,000 required-staffing computations (Erlang C, 80/20, random loads of 0.5-1,200 Erlangs),
   ours in one vectorised call against pyworkforce's `ErlangC(...).required_positions(...)` in a
   loop (timed on a sample, reported per second), and checks both give the same agents everywhere
   and the same service level to 1e-9;
2. a month of 15-minute intervals for 20 queues (57,600 intervals, a daily and weekly profile),
   ours only (pyworkforce's rate gives the time it would take);
3. the same 10,000 with Erlang A (patience 120 s), ours only;
4. a 60-agent, 4-week, 3-skill schedule (HiGHS MIP; goal: under 60 s).

pyworkforce is NOT a dependency. Install it for the bench only, without its ortools/pandas:

    pip install --no-deps --target /tmp/pyworkforce-bench pyworkforce==0.5.1 joblib cloudpickle
    python bench/wfm.py [--pyworkforce-path /tmp/pyworkforce-bench] [--runs 5]

Its package ``__init__`` imports the rostering module (ortools), so the bench loads only its
``queuing`` sub-package (the untouched ``pyworkforce/queuing/erlang.py``).

Goal: exact (same answers) and at least 100x faster than pyworkforce.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sportello.workforce import erlang  # noqa: E402


def load_pyworkforce(path: str) -> type | None:
    base = Path(path) / "pyworkforce"
    if not base.exists():
        return None
    sys.path.insert(0, path)
    package = types.ModuleType("pyworkforce")
    package.__path__ = [str(base)]  # skip its __init__ (it imports ortools)
    sys.modules["pyworkforce"] = package
    from pyworkforce.queuing.erlang import ErlangC

    return ErlangC


def median_time(fn, runs: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    times = []
    result = None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def month_of_intervals(queues: int = 20, days: int = 30) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    slot = np.arange(96)
    day_curve = np.clip(np.sin((slot - 30) / 60 * np.pi), 0, None) ** 1.5  # 7:30-22:30
    week = np.array([1.0, 0.9, 0.85, 0.85, 0.95, 0.6, 0.3])
    calls = []
    aht = []
    for _queue in range(queues):
        peak = rng.uniform(5, 400)
        for d in range(days):
            calls.append(rng.poisson(peak * week[d % 7] * day_curve))
            aht.append(np.full(96, rng.uniform(150, 420)))
    return np.concatenate(calls).astype(float), np.concatenate(aht)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pyworkforce-path", default="/tmp/pyworkforce-bench")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sample", type=int, default=1000, help="pyworkforce calls timed")
    args = parser.parse_args()

    rng = np.random.default_rng(42)
    n = 10_000
    aht = rng.uniform(120, 600, n)
    traffic = np.exp(rng.uniform(np.log(0.5), np.log(1200), n))
    calls = np.round(traffic * 900 / aht)
    calls[calls < 1] = 1

    erlang.required(calls=10, aht=180, interval=900, target=0.8, answer_within=20)  # warm scipy

    def ours() -> erlang.QueueMetrics:
        return erlang.required(calls=calls, aht=aht, interval=900, target=0.8, answer_within=20)

    t_ours, res = median_time(ours, args.runs)
    assert isinstance(res, erlang.QueueMetrics)
    rate_ours = n / t_ours
    print(f"erlang C required x{n:,}: median {t_ours * 1000:.1f} ms -> {rate_ours:,.0f}/s")

    ErlangC = load_pyworkforce(args.pyworkforce_path)
    if ErlangC is None:
        print(f"pyworkforce not found under {args.pyworkforce_path}: see the docstring")
    else:
        idx = rng.choice(n, size=min(args.sample, n), replace=False)

        def theirs() -> list[dict[str, float]]:
            return [
                ErlangC(
                    transactions=calls[i], aht=aht[i] / 60, asa=20 / 60, interval=15
                ).required_positions(service_level=0.8)
                for i in idx
            ]

        t_theirs, out = median_time(theirs, max(1, args.runs // 2))
        assert isinstance(out, list)
        rate_theirs = len(idx) / t_theirs
        mismatched = sum(
            int(o["raw_positions"] != res.agents[i]) for o, i in zip(out, idx, strict=True)
        )
        sl_err = max(
            abs(o["service_level"] - res.service_level[i]) for o, i in zip(out, idx, strict=True)
        )
        print(
            f"pyworkforce 0.5.1 ErlangC.required_positions on {len(idx):,} of them: "
            f"median {t_theirs * 1000:.0f} ms -> {rate_theirs:,.0f}/s "
            f"({n / rate_theirs:.2f} s for all {n:,})"
        )
        print(
            f"agreement: {len(idx) - mismatched:,}/{len(idx):,} same agents, "
            f"max |SL difference| {sl_err:.2e}; speed-up x{rate_ours / rate_theirs:,.0f}"
        )

    m_calls, m_aht = month_of_intervals()

    def month() -> erlang.QueueMetrics:
        return erlang.required(
            calls=m_calls, aht=m_aht, interval=900, target=0.8, answer_within=20,
            max_occupancy=0.9,
        )  # fmt: skip

    t_month, _ = median_time(month, args.runs)
    print(
        f"a month of 15-min intervals x 20 queues ({m_calls.size:,} intervals): "
        f"median {t_month * 1000:.1f} ms"
        + (f" (pyworkforce: ~{m_calls.size / rate_theirs:.1f} s)" if ErlangC else "")
    )

    def erlang_a() -> erlang.QueueMetrics:
        return erlang.required(
            calls=calls, aht=aht, interval=900, target=0.8, answer_within=20, patience=120
        )

    t_a, _ = median_time(erlang_a, args.runs)
    print(f"erlang A required x{n:,} (patience 120 s): median {t_a * 1000:.1f} ms")

    plan = schedule_60_agents()
    print(
        f"schedule 60 agents x 4 weeks x 3 skills: {plan.seconds:.1f} s, {plan.status}, "
        f"{len(plan.shifts):,} shifts, shortfall {plan.shortfall:.1f} agent-intervals"
    )


def schedule_60_agents():  # type: ignore[no-untyped-def]
    from datetime import date, timedelta
    from zoneinfo import ZoneInfo

    from sportello.workforce import scheduler

    days = [date(2026, 12, 14) + timedelta(days=i) for i in range(28)]
    rng = np.random.default_rng(0)
    channels = ["voice", "chat", "email"]
    agents = [
        scheduler.Agent(
            i + 1,
            20 if i % 6 == 0 else 40,  # every sixth agent part-time
            5,
            tuple(sorted(rng.choice(channels, int(rng.integers(1, 4)), replace=False))),
            days_off=(6,) if i % 2 else (5, 6),
            preferred_template_ids=(int(rng.integers(1, 4)),),
        )
        for i in range(60)
    ]
    templates = [
        scheduler.Template(1, "Mattina", 480, 840, 15, 0),
        scheduler.Template(2, "Pomeriggio", 780, 1140, 15, 0),
        scheduler.Template(3, "Giornata", 540, 1080, 15, 60),
    ]
    shape = np.zeros(96)
    shape[32:76] = np.sin(np.linspace(0.2, np.pi - 0.2, 44))
    week = np.array([1, 0.95, 0.9, 0.9, 1, 0.5, 0.0])
    requirement = {
        c: np.array([np.round(peak * week[d.weekday()] * shape) for d in days])
        for c, peak in zip(channels, [14, 8, 6], strict=True)
    }
    return scheduler.solve(
        days=days,
        templates=templates,
        agents=agents,
        requirement=requirement,
        interval_minutes=15,
        tz=ZoneInfo("Europe/Rome"),
    )


if __name__ == "__main__":
    main()
