"""Knowledge benchmark (issue 6): full-text search over 100,000 articles and 1,000,000 incidents, and
trend detection over the incidents, on SQLite or PostgreSQL, with the targets of the issue (search
p95 <= 100 ms, trend detection <= 30 s).

    .venv/bin/python benchmarks/knowledge.py                             # SQLite (make bench-knowledge)
    OPSDESK_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_opsdesk_knowledge \\
        .venv/bin/python benchmarks/knowledge.py                         # PostgreSQL
    .venv/bin/python benchmarks/knowledge.py --incidents 50000 --articles 5000   # quick
    .venv/bin/python benchmarks/knowledge.py --drop                      # delete the kept data and stop

The seed (knowledge_seed.py) is kept in a data directory (/tmp/opsdesk-bench-knowledge-sqlite or -pg)
and measured again by the next run unless --reseed or the sizes differ. A SQLite seed of the full size
takes about 1.8 GB: remove it with --drop when done.

Queries: titles of randomly chosen incidents (what the KEDB panel and "Search for an incident's title"
ask), run as the knowledge search runs them (articles published, known errors active, incidents
resolved or closed) and as the global search box runs them (every kind, no state). Figures are
printed, never asserted; docs/benchmarks.md ("Knowledge (issue 6)") keeps them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

SEED_FILE = "knowledge_seed.json"
DEFAULT_DATABASE = "bench_opsdesk_knowledge"
KNOWLEDGE_SCOPE = {"kinds": ["article", "knownerror", "incident"],
                   "states": {"article": ["published"], "knownerror": ["active"], "incident": ["resolved", "closed"]}}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--incidents", type=int, default=1_000_000)
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300, help="incident titles to search for (default 300)")
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--drop", action="store_true", help="delete the kept data (directory, database) and stop")
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--no-trends", action="store_true", help="skip trend detection")
    parser.add_argument("--json", type=Path)
    return parser.parse_args(argv)


def _database_url() -> tuple[str, str | None]:
    from run import postgres_database

    url = os.environ.get("OPSDESK_BENCH_DATABASE_URL", "").strip()
    if not url:
        return "", None
    parts = urlsplit(url)
    if parts.path.lstrip("/") in {"", "postgres", "template0", "template1"}:
        url = urlunsplit(parts._replace(path=f"/{DEFAULT_DATABASE}"))
    return postgres_database(url)


def main(argv=None) -> int:
    from run import create_postgres, drop_postgres, prepare_environment

    args = parse_args(argv)
    bench_url, pg_name = _database_url()
    data_dir = (args.data_dir or Path(f"/tmp/opsdesk-bench-knowledge-{'pg' if pg_name else 'sqlite'}")).resolve()
    if args.drop:
        shutil.rmtree(data_dir, ignore_errors=True)
        if pg_name:
            drop_postgres(bench_url, pg_name)
        print(f"dropped {data_dir}" + (f" and database {pg_name}" if pg_name else ""))
        return 0
    data_dir.mkdir(parents=True, exist_ok=True)
    kept = None
    seed_path = data_dir / SEED_FILE
    if seed_path.exists() and not args.reseed:
        kept = json.loads(seed_path.read_text())
        from knowledge_seed import SEED_FORMAT

        if (kept.get("format") != SEED_FORMAT or kept.get("n_incidents") != args.incidents
                or kept.get("n_articles") != args.articles):
            kept = None
    if kept is None:
        for child in data_dir.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    prepare_environment(data_dir, bench_url or None)
    if pg_name and kept is None:
        create_postgres(bench_url, pg_name)
    try:
        return _run(args, data_dir, kept, pg_name)
    finally:
        from django.db import connections

        connections.close_all()


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, -(-len(ordered) * pct // 100)) - 1]


def _measure(label: str, texts: list[str], call) -> dict:
    for text in texts[:10]:  # warm the caches the way a running server has them
        call(text)
    runs, found = [], 0
    for text in texts:
        t0 = time.perf_counter()
        hits = call(text)
        runs.append(time.perf_counter() - t0)
        found += bool(hits)
    result = {"scenario": label, "queries": len(runs), "p50_ms": statistics.median(runs) * 1000,
              "p95_ms": _percentile(runs, 95) * 1000, "max_ms": max(runs) * 1000, "with_hits": found}
    print(f"  {label:<58} p50 {result['p50_ms']:7.1f} ms   p95 {result['p95_ms']:7.1f} ms   "
          f"max {result['max_ms']:7.1f} ms   {found}/{len(runs)} found something", flush=True)
    return result


def _run(args, data_dir: Path, kept: dict | None, pg_name: str | None) -> int:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from knowledge_seed import KnowledgeSeeded, seed
    from run import machine_info

    from opsdesk.core import search

    info = machine_info()
    print(f"Opsdesk knowledge benchmark — {info['date']}")
    print(f"machine: {info['cpus']} CPUs ({info['cpu_model']}), {info['memory']} RAM; {info['database']}; "
          f"load average {info['load_average']}; commit {info['commit']}")
    call_command("migrate", interactive=False, verbosity=0)
    if kept is None:
        print(f"  seeding {args.incidents:,} incidents and {args.articles:,} articles ...", flush=True)
        seeded = seed(args.incidents, args.articles)
        (data_dir / SEED_FILE).write_text(json.dumps(seeded.as_dict(), indent=2))
    else:
        seeded = KnowledgeSeeded(**kept)
        print(f"  reusing the data seeded at {seeded.now} (--reseed to make it again)")
    if seeded.seconds:
        print("  seeding: " + ", ".join(f"{k} {v:.1f} s" for k, v in seeded.seconds.items()))

    from opsdesk.incidents.models import Incident

    rng = random.Random(11)
    ids = rng.sample(range(1, seeded.n_incidents + 1), min(args.queries, seeded.n_incidents))
    titles = list(Incident.objects.filter(pk__in=ids).values_list("title", flat=True))
    rng.shuffle(titles)
    print(f"\nsearch.query() for {len(titles)} incident titles (e.g. {titles[0]!r}), limit 20, "
          f"{seeded.n_entries:,} entries ({connection.vendor}):", flush=True)
    results = [
        _measure("knowledge scope (published, active, resolved/closed)", titles,
                 lambda t: search.query(t, limit=20, **KNOWLEDGE_SCOPE)),
        _measure("articles only (published)", titles,
                 lambda t: search.query(t, kinds=["article"], states={"article": ["published"]}, limit=10)),
        _measure("every kind, every state (the global search box)", titles, lambda t: search.query(t, limit=20)),
        _measure("one common word", ["slow", "errors", "disk", "certificate", "login"] * 4,
                 lambda t: search.query(t, limit=20)),
    ]
    trend = None
    if not args.no_trends:
        try:
            from opsdesk.problems import trends
        except ImportError:  # noqa: BLE001
            trends = None
        if trends is None or not hasattr(trends, "detect"):
            print("\ntrend detection: opsdesk.problems.trends.detect() is not there yet; skipped")
        else:
            print(f"\ntrend detection over {seeded.n_incidents:,} incidents (trends.detect()):", flush=True)
            t0 = time.perf_counter()
            candidates = trends.detect()
            trend = {"seconds": time.perf_counter() - t0, "candidates": len(candidates)}
            print(f"  {trend['seconds']:.1f} s, {trend['candidates']} candidates (target <= 30 s)")
    print("\ntarget: search p95 <= 100 ms: " + ", ".join(
        f"{r['scenario'].split(' (')[0]} {'met' if r['p95_ms'] <= 100 else 'MISSED'}" for r in results))
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "seeded": seeded.as_dict(), "search": results,
                                         "trends": trend}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
