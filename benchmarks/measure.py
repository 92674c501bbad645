"""Timing helpers: repeat a request, keep the figures, count its SQL queries.

Each scenario runs once with the queries captured (this run warms caches and gives the query
count and the slowest query), then is timed without the capture, because recording every query
costs time of its own. A scenario stops after `max_runs` runs or once `budget` seconds are spent,
but never before `min_runs` (3) runs, so a slow page does not hold up the whole benchmark. For the
long runs (CSV export, audit verify) the captured run is timed too: a few dozen captured queries cost
nothing next to seconds of work.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field


class StatementCounter:
    """`with StatementCounter() as counter:` counts the SQL statements run inside (`counter.count`)."""

    def __init__(self):
        self.count = 0
        self._wrapper = None

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)

    def __enter__(self):
        from django.db import connection

        self._wrapper = connection.execute_wrapper(self)
        self._wrapper.__enter__()
        return self

    def __exit__(self, *exc):
        return self._wrapper.__exit__(*exc)


def selected(only: str, label: str) -> bool:
    """`--only "search,dashboard"`: does this scenario's label contain one of the comma-separated terms?"""
    terms = [t.strip().lower() for t in only.split(",") if t.strip()]
    return not terms or any(t in label.lower() for t in terms)


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile: with fewer than 20 runs, p95 is the slowest run."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Result:
    group: str
    name: str
    runs: list[float] = field(default_factory=list)  # seconds
    queries: int | None = None
    slowest_sql: str = ""
    slowest_sql_ms: float = 0.0
    size_bytes: int | None = None
    rows: int | None = None  # rows in the answer (API pages, CSV)
    matched: int | None = None  # rows the filter matched (an API page's "count")
    units: int | None = None  # rows (or writes) handled per run, for a throughput figure
    unit_label: str = ""
    note: str = ""

    @property
    def median_ms(self) -> float:
        return statistics.median(self.runs) * 1000

    @property
    def p95_ms(self) -> float:
        return percentile(self.runs, 95) * 1000

    @property
    def throughput(self) -> float | None:
        if not self.units or not self.runs:
            return None
        return self.units / statistics.median(self.runs)

    def as_dict(self) -> dict:
        return {
            "group": self.group, "name": self.name, "runs": len(self.runs),
            "median_ms": round(self.median_ms, 2), "p95_ms": round(self.p95_ms, 2), "queries": self.queries,
            "slowest_sql_ms": round(self.slowest_sql_ms, 2), "slowest_sql": self.slowest_sql,
            "size_bytes": self.size_bytes, "rows": self.rows, "matched": self.matched,
            "throughput": round(self.throughput, 1) if self.throughput else None,
            "unit_label": self.unit_label, "note": self.note,
        }


def _query_ms(query: dict) -> float:
    try:
        return float(query.get("time") or 0) * 1000
    except (TypeError, ValueError):
        return 0.0


def run_scenario(group: str, name: str, call, *, min_runs: int = 3, max_runs: int = 30, budget: float = 2.0,
                 units=None, unit_label: str = "", note: str = "", time_captured_run: bool = False) -> Result:
    """`call()` does one request and returns (size in bytes or None, rows in the answer or None[, matched]).
    With a `unit_label`, the rows (or the given `units`) per median run make the throughput figure."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    result = Result(group=group, name=name, unit_label=unit_label, note=note)
    with CaptureQueriesContext(connection) as captured:
        t0 = time.perf_counter()
        answer = call()
        elapsed = time.perf_counter() - t0
    if time_captured_run:
        result.runs.append(elapsed)
    result.queries = len(captured.captured_queries)
    if captured.captured_queries:
        slowest = max(captured.captured_queries, key=_query_ms)
        result.slowest_sql, result.slowest_sql_ms = slowest["sql"], _query_ms(slowest)
    result.size_bytes, result.rows = answer[0], answer[1]
    result.matched = answer[2] if len(answer) > 2 else None
    if unit_label:
        result.units = units if units is not None else result.rows
    started = time.perf_counter()
    while len(result.runs) < max_runs and (len(result.runs) < min_runs or time.perf_counter() - started < budget):
        t0 = time.perf_counter()
        call()
        result.runs.append(time.perf_counter() - t0)
    return result


def fmt_ms(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def fmt_rate(value: float | None, label: str) -> str:
    if value is None:
        return ""
    return f"{value:,.0f} {label}/s"


def table(results: list[Result]) -> str:
    """A plain-text table (also valid Markdown) of the results."""
    header = ["group", "scenario", "median ms", "p95 ms", "runs", "SQL", "slowest SQL ms", "rows", "KiB",
              "throughput"]
    rows = [header, ["---"] * len(header)]
    for r in results:
        rows.append([
            r.group, r.name, fmt_ms(r.median_ms), fmt_ms(r.p95_ms), str(len(r.runs)),
            "" if r.queries is None else str(r.queries), fmt_ms(r.slowest_sql_ms) if r.slowest_sql else "",
            ("" if r.rows is None else f"{r.rows:,}") + ("" if r.matched is None else f" of {r.matched:,}"),
            "" if r.size_bytes is None else f"{r.size_bytes / 1024:,.0f}", fmt_rate(r.throughput, r.unit_label),
        ])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for row in rows:
        if row[0] == "---":
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
            continue
        cells = [c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
