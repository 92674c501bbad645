"""Opsdesk benchmarks: seed a throwaway database, time the pages, API calls, writes and the audit check.

    .venv/bin/python benchmarks/run.py                       # SQLite, 20,000 services, 20,000 change-log rows
    OPSDESK_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/opsdesk_bench .venv/bin/python benchmarks/run.py
    .venv/bin/python benchmarks/run.py --http                # also load `opsdesk serve` with wrk (10 s per URL)

Everything happens in a new temporary data directory (and, for PostgreSQL, a database that is
created at the start and dropped at the end), so a developer's `./var` is never touched. Timings are
printed, never asserted (CONVENTIONS §8); docs/benchmarks.md keeps the figures and how they were made.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--services", type=int, default=20_000, help="services to seed (default 20,000)")
    parser.add_argument("--audit-rows", type=int, default=20_000,
                        help="change-log rows to record through core.audit.record (default 20,000; "
                             "the documented run uses 100,000)")
    parser.add_argument("--budget", type=float, default=1.5,
                        help="seconds of timed runs per scenario (at least 3 runs; default 1.5)")
    parser.add_argument("--max-runs", type=int, default=30, help="most timed runs per scenario (default 30)")
    parser.add_argument("--creates", type=int, default=100, help="most services created through the API (100)")
    parser.add_argument("--only", default="",
                        help="run only scenarios whose name contains one of these comma-separated texts")
    parser.add_argument("--config-apply", default="", metavar="N,N",
                        help="also time `config apply` of files with N new services each (e.g. 200,2000)")
    parser.add_argument("--explain", action="store_true",
                        help="print the query plan of each scenario's slowest SQL statement (>= 2 ms)")
    parser.add_argument("--http", action="store_true", help="also load a real `opsdesk serve` with wrk")
    parser.add_argument("--http-duration", type=int, default=10, help="seconds per wrk run (default 10)")
    parser.add_argument("--http-connections", type=int, default=8, help="wrk connections (default 8)")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers for --http (default 2)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--keep", action="store_true", help="keep the data directory and the database")
    return parser.parse_args(argv)


# --- environment, before Django loads ----------------------------------------------------------------
def prepare_environment(data_dir: Path, database_url: str | None) -> None:
    for name in ("OPSDESK_DATABASE_URL", "OPSDESK_BROKER_URL", "OPSDESK_CACHE_URL", "OPSDESK_DEBUG",
                 "OPSDESK_TASKS_EAGER", "OPSDESK_SECRET_KEY"):
        os.environ.pop(name, None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "opsdesk.settings"
    os.environ["OPSDESK_DATA_DIR"] = str(data_dir)
    (data_dir / "static").mkdir(exist_ok=True)  # WhiteNoise warns about a missing STATIC_ROOT otherwise
    os.environ["OPSDESK_ALLOWED_HOSTS"] = "testserver,127.0.0.1,localhost"
    os.environ["OPSDESK_LOG_LEVEL"] = "WARNING"
    # One token makes every API request here; the default 3000/min would answer 429 to wrk. The
    # throttle still runs (and costs what it costs), it just never refuses.
    os.environ["OPSDESK_API_THROTTLE_USER"] = "100000000/min"
    if database_url:
        os.environ["OPSDESK_DATABASE_URL"] = database_url


def postgres_database(url: str) -> tuple[str, str]:
    """(the benchmark database URL, its name). Defaults to a database called opsdesk_bench."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/") or "opsdesk_bench"
    if name in {"postgres", "template0", "template1"}:
        name = "opsdesk_bench"
    if "bench" not in name:
        raise SystemExit(f"refusing to drop and create database {name!r}: its name must contain 'bench'")
    return urlunsplit(parts._replace(path=f"/{name}")), name


def _maintenance_connection(url: str):
    import psycopg

    parts = urlsplit(url)
    return psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True)


def create_postgres(url: str, name: str) -> None:
    with _maintenance_connection(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_postgres(url: str, name: str) -> None:
    with _maintenance_connection(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- reporting -----------------------------------------------------------------------------------------
def machine_info() -> dict:
    import django
    from django.db import connection

    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        memory = f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, IndexError, ValueError):
        pass
    if connection.vendor == "sqlite":
        import sqlite3

        database = f"SQLite {sqlite3.sqlite_version} (WAL, synchronous=NORMAL)"
    else:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            database = f"PostgreSQL {cursor.fetchone()[0]}"
    return {
        "commit": _commit(),
        "cpus": os.cpu_count(), "cpu_model": cpu_model, "memory": memory,
        "python": platform.python_version(), "django": django.get_version(), "platform": platform.platform(),
        "database": database, "date": time.strftime("%Y-%m-%d %H:%M"),
        "load_average": ", ".join(f"{v:.2f}" for v in os.getloadavg()),
    }


def _commit() -> str:
    """The commit measured, and whether the working tree had changes (read-only git calls)."""
    import subprocess

    root = HERE.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "src"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" + uncommitted changes in src/" if dirty else "")


def explain(results) -> None:
    from django.db import connection

    for result in results:
        sql = result.slowest_sql
        if result.slowest_sql_ms < 2 or not sql.lstrip().upper().startswith("SELECT"):
            continue
        prefix = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN (ANALYZE, BUFFERS) "
        try:
            with connection.cursor() as cursor:
                cursor.execute(prefix + sql)
                rows = cursor.fetchall()
        except Exception as exc:  # noqa: BLE001  (an un-runnable captured statement is just reported)
            rows = [(f"(could not explain: {exc})",)]
        print(f"\n--- {result.group}: {result.name} — slowest SQL {result.slowest_sql_ms:.1f} ms")
        print(sql[:1500] + (" ..." if len(sql) > 1500 else ""))
        for row in rows:
            print("   ", row[-1] if connection.vendor == "sqlite" else row[0])


# --- main ----------------------------------------------------------------------------------------------
def main(argv=None) -> int:
    args = parse_args(argv)
    bench_url = os.environ.get("OPSDESK_BENCH_DATABASE_URL", "").strip()
    pg_name = None
    if bench_url:
        bench_url, pg_name = postgres_database(bench_url)
    data_dir = Path(tempfile.mkdtemp(prefix="opsdesk-bench-"))
    prepare_environment(data_dir, bench_url or None)
    if pg_name:
        create_postgres(bench_url, pg_name)
    started = time.perf_counter()
    try:
        return _run(args, data_dir, started)
    finally:
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001,S110  (Django may not have loaded)
            pass
        if args.keep:
            print(f"\nkept: data directory {data_dir}" + (f", database {pg_name}" if pg_name else ""))
        else:
            if pg_name:
                drop_postgres(bench_url, pg_name)
            shutil.rmtree(data_dir, ignore_errors=True)


def _run(args, data_dir: Path, started: float) -> int:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from measure import Result, selected, table
    from scenarios import (
        audit_verify,
        audit_verify_cli,
        clients,
        config_apply,
        create_scenarios,
        csv_export,
        read_scenarios,
    )
    from seed import seed

    info = machine_info()
    print(f"Opsdesk benchmark — {info['date']}")
    print(f"machine: {info['cpus']} CPUs ({info['cpu_model']}), {info['memory']} RAM; Python {info['python']}, "
          f"Django {info['django']}; {info['database']}; load average {info['load_average']}")
    print(f"code: commit {info['commit']}")
    print(f"data: {args.services:,} services, {args.audit_rows:,} change-log rows; data dir {data_dir}\n")

    t0 = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    print(f"  migrated in {time.perf_counter() - t0:.1f} s")
    seeded = seed(args.services, args.audit_rows)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # what autovacuum would have done on a live system
    seeding = [
        Result(group="seed", name=name, runs=[seconds],
               units=args.services if name.startswith("bulk") else seeded.n_audit_rows,
               unit_label="services" if name.startswith("bulk") else "rows")
        for name, seconds in seeded.seconds.items()
    ]

    api, ui = clients(seeded)
    print("\nscenarios (median / p95 of timed runs; SQL = queries in one request):")
    results = read_scenarios(seeded, api, ui, budget=args.budget, max_runs=args.max_runs, only=args.only)
    results += csv_export(seeded, ui, only=args.only)
    results += create_scenarios(seeded, api, budget=args.budget, max_runs=args.creates, only=args.only)
    if args.config_apply:
        results += config_apply(seeded, [int(n) for n in args.config_apply.split(",") if n.strip()])
    results += audit_verify(seeded, only=args.only)
    if selected(args.only, "CLI opsdesk audit verify (new process)"):
        results.append(audit_verify_cli(dict(os.environ)))

    http_results = []
    if args.http:
        from http_load import run_http

        print("\nHTTP load with wrk against `opsdesk serve --no-worker` "
              f"({args.web_workers} gunicorn workers, {args.http_connections} connections, {args.http_duration} s):")
        connection.close()
        from opsdesk.services.models import Service

        http_results = run_http(dict(os.environ), duration=args.http_duration, connections=args.http_connections,
                                threads=2, web_workers=args.web_workers, log_dir=data_dir,
                                session_cookie=ui.cookies["sessionid"].value, csv_rows=Service.objects.count())

    print("\n## Results\n")
    print(f"{info['date']} · commit {info['commit']} · {info['cpus']} CPUs ({info['cpu_model']}) · "
          f"Python {info['python']} · Django {info['django']} · {info['database']} · {args.services:,} services · "
          f"{seeded.n_audit_rows:,} change-log rows\n")
    print(table(seeding + results))
    wrk_results = [r for r in http_results if hasattr(r, "requests_per_second")]
    if wrk_results:
        print("\n| wrk | req/s | p50 ms | p90 ms | p99 ms | requests | non-2xx |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for r in wrk_results:
            lat = r.latency_ms
            print(f"| {r.name} | {r.requests_per_second:,.0f} | {lat.get('p50', 0):.1f} | {lat.get('p90', 0):.1f} | "
                  f"{lat.get('p99', 0):.1f} | {r.requests:,} | {r.non_2xx} |")
    for r in http_results:
        if not hasattr(r, "requests_per_second"):
            print(f"\n{r.name} through gunicorn: {r.rows:,} of {r.expected_rows:,} rows in {r.seconds:.1f} s "
                  f"({r.rows / r.seconds if r.seconds else 0:,.0f} rows/s), {r.status}")
    if args.explain:
        explain(results)
    total = time.perf_counter() - started
    info["load_average_at_end"] = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"\ntotal time {total:.0f} s; load average at the start {info['load_average']}, "
          f"at the end {info['load_average_at_end']} (other work on the machine skews the figures)")
    if args.json:
        args.json.write_text(json.dumps({
            "machine": info, "services": args.services, "audit_rows": seeded.n_audit_rows,
            "seed": [r.as_dict() for r in seeding], "results": [r.as_dict() for r in results],
            "http": [r.as_dict() for r in http_results], "total_seconds": round(total, 1),
        }, indent=2))
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
