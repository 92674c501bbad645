"""Incident benchmark (issue 4): 1,000,000 incidents, 100,000 of them open with their SLA timers; the
50-row queue page (HTML and API, with filters and the count), the SLA due-date arithmetic, a full
SLA sweep of the open incidents and MTTA/MTTR for a month, each next to its floor (the same list,
count and aggregate in raw SQL, the same timer updates as plain statements) timed in the same run,
with the targets of the issue.

    .venv/bin/python benchmarks/incidents.py                              # SQLite (make bench-incidents)
    OPSDESK_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_incidents \\
        .venv/bin/python benchmarks/incidents.py                          # PostgreSQL
    .venv/bin/python benchmarks/incidents.py --incidents 50000 --open 5000 --data-dir /tmp/inc-small  # quick

Seeding a million incidents takes minutes, so the seeded database is kept and measured again by the
next run: a data directory (SQLite: /tmp/opsdesk-bench-incidents-sqlite; PostgreSQL:
/tmp/opsdesk-bench-incidents-pg, with the database bench_incidents, or the one the URL names: its
name must contain "bench"). It is seeded again with --reseed, when the sizes asked differ from the
kept ones, or when the seed's format changed; otherwise it is only migrated (the code may have
moved on). The sweeps change timers and write change-log rows and events: the run puts the timers
back from a copy taken after seeding and deletes the rows they added, so every run starts from the
seeded state. Figures are printed, never asserted (CONVENTIONS §8); docs/benchmarks.md ("Incidents")
keeps them with the command that made them. Data: incidents_seed.py; scenarios: incidents_scenarios.py.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

SEED_FILE = "incidents_seed.json"
DEFAULT_DATABASE = "bench_incidents"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--incidents", type=int, default=1_000_000, help="incidents to seed (default 1,000,000)")
    parser.add_argument("--open", type=int, default=100_000, help="of which open, about (default 100,000)")
    parser.add_argument("--reseed", action="store_true", help="seed again even if the kept data would do")
    parser.add_argument("--data-dir", type=Path, help="where the data is kept (default per database, under /tmp)")
    parser.add_argument("--sweep-lag", type=int, default=600,
                        help="seconds since the sweeper last ran, in the seeded state (default 600)")
    parser.add_argument("--budget", type=float, default=2.0, help="seconds of timed runs per scenario (default 2)")
    parser.add_argument("--max-runs", type=int, default=40, help="most timed runs per scenario (default 40)")
    parser.add_argument("--due-calls", type=int, default=100_000,
                        help="due-date calculations per calendar and goal (default 100,000)")
    parser.add_argument("--only", default="", help="scenarios whose name contains one of these comma-separated "
                                                   "texts (queue, due, sweep, report)")
    parser.add_argument("--explain", action="store_true", help="print the query plan of the slowest SQL statement "
                                                                "of each queue and report scenario")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    return parser.parse_args(argv)


def _database_url() -> tuple[str, str | None]:
    """The PostgreSQL URL and database name (bench_incidents unless the URL names a bench database)."""
    from run import postgres_database

    url = os.environ.get("OPSDESK_BENCH_DATABASE_URL", "").strip()
    if not url:
        return "", None
    parts = urlsplit(url)
    if parts.path.lstrip("/") in {"", "postgres", "template0", "template1"}:
        url = urlunsplit(parts._replace(path=f"/{DEFAULT_DATABASE}"))
    return postgres_database(url)


def _postgres_exists(url: str, name: str) -> bool:
    from run import _maintenance_connection

    with _maintenance_connection(url) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def _kept(data_dir: Path, args) -> dict | None:
    """What the data directory holds, if it is a complete seed of the sizes asked and this format."""
    from incidents_seed import SEED_FORMAT

    path = data_dir / SEED_FILE
    if not path.exists():
        return None
    kept = json.loads(path.read_text())
    asked = kept.get("asked", {})
    if (kept.get("seeded", {}).get("format") != SEED_FORMAT or asked.get("incidents") != args.incidents
            or asked.get("open") != args.open or asked.get("sweep_lag") != args.sweep_lag):
        return None
    return kept


def main(argv=None) -> int:
    from run import create_postgres, prepare_environment

    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_args: sys.exit(143))
    bench_url, pg_name = _database_url()
    data_dir = (args.data_dir or Path(f"/tmp/opsdesk-bench-incidents-{'pg' if pg_name else 'sqlite'}")).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    kept = None if args.reseed else _kept(data_dir, args)
    if kept is not None and pg_name and (kept.get("database") != pg_name or not _postgres_exists(bench_url, pg_name)):
        kept = None
    if kept is None:
        # A new seed: nothing of an earlier one may survive (a half-made seed has no seed file).
        for child in data_dir.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
    else:
        # Messages for a worker that never runs here: the broker file only grows.
        for child in data_dir.glob("broker.sqlite3*"):
            child.unlink()
    prepare_environment(data_dir, bench_url or None)
    if pg_name and kept is None:
        create_postgres(bench_url, pg_name)
    started = time.perf_counter()
    try:
        return _run(args, data_dir, kept, pg_name, started)
    finally:
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001,S110  (Django may not have loaded)
            pass


def _run(args, data_dir: Path, kept: dict | None, pg_name: str | None, started: float) -> int:
    import django

    django.setup()
    from django.core.management import call_command
    from incidents_scenarios import (
        Restorer,
        due_date_scenarios,
        print_explain,
        queue_scenarios,
        report_scenarios,
        sweep_scenarios,
        table,
    )
    from incidents_seed import IncidentsSeeded, seed
    from measure import selected
    from run import machine_info

    info = machine_info()
    print(f"Opsdesk incident benchmark — {info['date']}")
    print(f"machine: {info['cpus']} CPUs ({info['cpu_model']}), {info['memory']} RAM; Python {info['python']}, "
          f"Django {info['django']}; {info['database']}; load average {info['load_average']}")
    print(f"code: commit {info['commit']}; data dir {data_dir}" + (f", database {pg_name}" if pg_name else ""))
    t0 = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    print(f"  migrated in {time.perf_counter() - t0:.1f} s")
    if kept is None:
        print(f"  seeding {args.incidents:,} incidents (about {args.open:,} open) ...", flush=True)
        seeded = seed(args.incidents, args.open, sweep_lag_seconds=args.sweep_lag)
        restorer = Restorer.create()
        (data_dir / SEED_FILE).write_text(json.dumps({
            "asked": {"incidents": args.incidents, "open": args.open, "sweep_lag": args.sweep_lag},
            "database": pg_name, "seeded": json.loads(seeded.as_json())}, indent=2))
    else:
        seeded = IncidentsSeeded(**kept["seeded"])
        restorer = Restorer.create(reuse=True)
        print(f"  reusing the data seeded for {seeded.now} (--reseed to make it again)")
    # What the web process does once the application is loaded (opsdesk/wsgi.py): the request
    # figures are those of a served Opsdesk, not of a process still holding start-up garbage.
    from opsdesk.core.runtime import tune_gc

    tune_gc()
    print(f"  {seeded.n_incidents:,} incidents: " + ", ".join(f"{k} {v:,}" for k, v in sorted(
        seeded.by_status.items(), key=lambda i: -i[1])) + "; " + ", ".join(
        f"{k} {v:,}" for k, v in seeded.by_priority.items()) + f"; {seeded.n_timers:,} SLA timers")

    lines = []
    if selected(args.only, "queue"):
        print("\nthe queue, 50 a page (median / p95; floor = the same count and page in raw SQL):", flush=True)
        lines += queue_scenarios(seeded, args)
    if selected(args.only, "due"):
        print("\nSLA due date, add_business_seconds (µs per call: median / p95 of the calls; "
              "floor = start + timedelta):", flush=True)
        lines += due_date_scenarios(args)
    if selected(args.only, "sweep"):
        print("\nSLA sweep (seconds; floor = the same due timers selected and updated in plain SQL):", flush=True)
        lines += sweep_scenarios(seeded, restorer, args)
    if selected(args.only, "report"):
        print("\nMTTA / MTTR for a month (median / p95; floor = the same averages in raw SQL):", flush=True)
        lines += report_scenarios(seeded, args)

    print("\n## Results\n")
    print(f"{info['date']} · commit {info['commit']} · {info['cpus']} CPUs ({info['cpu_model']}) · "
          f"Python {info['python']} · Django {info['django']} · {info['database']} · {seeded.n_incidents:,} "
          f"incidents ({seeded.n_open:,} open, {seeded.n_timers:,} SLA timers) seeded for {seeded.now}\n")
    print(table(lines))
    if args.explain:
        print_explain(lines)
    total = time.perf_counter() - started
    info["load_average_at_end"] = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    if seeded.seconds:
        print("\nseeding: " + ", ".join(f"{k} {v:.1f} s" for k, v in seeded.seconds.items()))
    print(f"total time {total:.0f} s; load average at the start {info['load_average']}, "
          f"at the end {info['load_average_at_end']} (other work on the machine skews the figures)")
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "seeded": json.loads(seeded.as_json()),
                                         "lines": [x.as_dict() for x in lines],
                                         "total_seconds": round(total, 1)}, indent=2, default=str))
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
