"""SLA business-time micro benchmark: microseconds per call of add_business_seconds (a due date) and
business_seconds_between (elapsed business time), for a 24x7 calendar and a Berlin Mon-Fri 09:00-17:00
calendar with the German (Berlin) public holidays, goals 1 h / 8 h / 40 h / 400 h, random starts over
three years. The target of issue 4: add_business_seconds <= 50 µs per call on average for typical
goals (1 h .. 5 business days) after warm-up.

    .venv/bin/python benchmarks/sla_due_date.py                  # 25,000 calls per line
    .venv/bin/python benchmarks/sla_due_date.py --calls 100000 --seed 7

Standalone: imports opsdesk.sla.business_time from src/ (no Django). Every call is timed on its own
(perf_counter_ns, whose own cost of well under a microsecond is included); the calls of a line run
in batches of 1,000 after one warm-up pass over the same starts. Figures are printed, never asserted
(CONVENTIONS §8); docs/benchmarks.md keeps them with the command that made them.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from opsdesk.sla.business_time import (  # noqa: E402  (after the sys.path insert)
    CalendarSpec,
    add_business_seconds,
    business_seconds_between,
)

HOUR = 3600
YEARS = range(2026, 2032)  # the starts span 2026-2028; 400 business hours reach a few months beyond
BATCH = 1000


def german_holidays() -> frozenset[datetime.date]:
    try:
        import holidays
    except ImportError:  # the benchmark still runs, with the weekday holidays of 2026 written out
        return frozenset(datetime.date(2026, m, d) for m, d in [(1, 1), (3, 9), (4, 3), (4, 6), (5, 1), (5, 14),
                                                                (5, 25), (12, 25)])
    return frozenset(holidays.country_holidays("DE", subdiv="BE", years=YEARS).keys())


def calendars() -> dict[str, CalendarSpec]:
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    return {
        "24x7 Europe/Berlin": CalendarSpec("Europe/Berlin", {d: [["00:00", "24:00"]] for d in days}),
        "Berlin Mon-Fri 09-17 + holidays": CalendarSpec(
            "Europe/Berlin", {d: [["09:00", "17:00"]] for d in days[:5]}, holidays=german_holidays()),
    }


def random_starts(rng: random.Random, n: int) -> list[datetime.datetime]:
    origin = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    return [origin + datetime.timedelta(seconds=rng.randrange(3 * 365 * 86400)) for _ in range(n)]


def time_calls(func, argument_lists) -> list[float]:
    """Microseconds of each call, after one untimed warm-up pass."""
    for args in argument_lists:
        func(*args)
    clock = time.perf_counter_ns
    out: list[float] = []
    for i in range(0, len(argument_lists), BATCH):
        batch = argument_lists[i:i + BATCH]
        timings = []
        for args in batch:
            t0 = clock()
            func(*args)
            timings.append(clock() - t0)
        out.extend(ns / 1000 for ns in timings)
    return out


def summary(micros: list[float]) -> str:
    ordered = sorted(micros)
    p95 = ordered[int(len(ordered) * 0.95)]
    return f"{statistics.fmean(ordered):8.2f} {ordered[len(ordered) // 2]:8.2f} {p95:8.2f} {ordered[-1]:9.1f}"


def cold_compile(spec: CalendarSpec, rng: random.Random, n: int = 200) -> float:
    """Mean µs to build an equal spec anew and make its first due date (what a caller pays when it
    rebuilds the spec from the database for every call and the compiled form is not cached)."""
    from opsdesk.sla import business_time

    starts = random_starts(rng, n)
    total = 0
    for start in starts:
        business_time._compile.cache_clear()
        t0 = time.perf_counter_ns()
        fresh = CalendarSpec(spec.time_zone, spec.hours, holidays=spec.holidays, extra_days=spec.extra_days)
        add_business_seconds(fresh, start, 8 * HOUR)
        total += time.perf_counter_ns() - t0
    return total / n / 1000


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=25_000, help="timed calls per line (default 25,000)")
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    print(f"Python {platform.python_version()} on {platform.machine()}, {args.calls:,} calls per line, "
          f"seed {args.seed}; microseconds per call")
    print(f"{'calendar':34} {'function':26} {'goal':>5} {'mean':>8} {'p50':>8} {'p95':>8} {'max':>9}")
    for name, spec in calendars().items():
        for goal_hours in (1, 8, 40, 400):
            starts = random_starts(rng, args.calls)
            adds = [(spec, start, goal_hours * HOUR) for start in starts]
            print(f"{name:34} {'add_business_seconds':26} {goal_hours:4}h "
                  f"{summary(time_calls(add_business_seconds, adds))}")
            betweens = [(spec, start, add_business_seconds(spec, start, goal_hours * HOUR)) for start in starts]
            print(f"{name:34} {'business_seconds_between':26} {goal_hours:4}h "
                  f"{summary(time_calls(business_seconds_between, betweens))}")
        print(f"{name:34} {'new spec + first due date':26} {8:4}h {cold_compile(spec, rng):8.2f}")


if __name__ == "__main__":
    main()
