"""CMDB benchmark: 100,000 CIs and 200,000 relationships in a throwaway database; the filtered CI list
API, impact analysis (a typical CI, a large one and the worst) and the CSV import rate, each next to
the equivalent raw SQL timed in the same run (the floor), with the targets of issue 3.

    .venv/bin/python benchmarks/cmdb.py                                   # SQLite (make bench-cmdb)
    OPSDESK_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/opsdesk_bench_cmdb \\
        .venv/bin/python benchmarks/cmdb.py                               # PostgreSQL
    .venv/bin/python benchmarks/cmdb.py --cis 10000 --relationships 20000 --import-rows 2000   # quick

Like benchmarks/run.py: a new temporary data directory on every run (and, for PostgreSQL, a database
whose name contains "bench", created at the start and dropped at the end; `--keep` keeps both and
`--reuse DIR` measures on them again without seeding); figures are printed, never asserted
(CONVENTIONS §8); docs/benchmarks.md ("CMDB") keeps them with the command that made them. The data
is made by cmdb_seed.py, the scenarios are in cmdb_scenarios.py.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

SEED_FILE = "cmdb_seed.json"  # in the data directory: what --reuse needs to know of the seeded data


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cis", type=int, default=100_000, help="CIs to seed (default 100,000)")
    parser.add_argument("--relationships", type=int, default=200_000, help="relationships (default 200,000)")
    parser.add_argument("--import-rows", type=int, default=20_000, help="new servers in the CSV (default 20,000)")
    parser.add_argument("--depth", type=int, default=10, help="impact depth (default 10, the API's default)")
    parser.add_argument("--budget", type=float, default=2.0, help="seconds of timed runs per scenario (default 2)")
    parser.add_argument("--max-runs", type=int, default=40, help="most timed runs per scenario (default 40)")
    parser.add_argument("--sample", type=int, default=150,
                        help="application servers analysed to choose the typical CI (default 150)")
    parser.add_argument("--only", default="", help="scenarios whose name contains one of these comma-separated "
                                                   "texts (list, impact, import)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--keep", action="store_true", help="keep the data directory and the database")
    parser.add_argument("--reuse", type=Path, metavar="DIR",
                        help="measure again on a data directory (and database) kept by --keep, without seeding; "
                             "kept as it is afterwards (the import scenarios add CIs to it)")
    return parser.parse_args(argv)


def _database_url() -> tuple[str, str | None]:
    """The PostgreSQL URL and database name (opsdesk_bench_cmdb unless the URL names a bench database)."""
    from run import postgres_database

    url = os.environ.get("OPSDESK_BENCH_DATABASE_URL", "").strip()
    if not url:
        return "", None
    parts = urlsplit(url)
    if parts.path.lstrip("/") in {"", "postgres", "template0", "template1"}:
        url = urlunsplit(parts._replace(path="/opsdesk_bench_cmdb"))
    return postgres_database(url)


def main(argv=None) -> int:
    from run import create_postgres, drop_postgres, prepare_environment

    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_args: sys.exit(143))  # `kill` still drops the database
    bench_url, pg_name = _database_url()
    if args.reuse:
        args.keep = True
        data_dir = args.reuse.resolve()
        if not (data_dir / SEED_FILE).exists():
            raise SystemExit(f"{data_dir} is not a data directory kept by benchmarks/cmdb.py --keep")
    else:
        data_dir = Path(tempfile.mkdtemp(prefix="opsdesk-bench-cmdb-"))
    prepare_environment(data_dir, bench_url or None)
    if pg_name and not args.reuse:
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


# --- the run ---------------------------------------------------------------------------------------------
def _run(args, data_dir: Path, started: float) -> int:
    import django

    django.setup()
    from cmdb_scenarios import impact_scenarios, import_scenarios, list_scenarios, table
    from cmdb_seed import mark_graph_changed, seed
    from django.core.management import call_command
    from django.db import connection
    from measure import selected
    from run import machine_info

    info = machine_info()
    print(f"Opsdesk CMDB benchmark — {info['date']}")
    print(f"machine: {info['cpus']} CPUs ({info['cpu_model']}), {info['memory']} RAM; Python {info['python']}, "
          f"Django {info['django']}; {info['database']}; load average {info['load_average']}")
    print(f"code: commit {info['commit']}")
    if args.reuse:
        call_command("migrate", interactive=False, verbosity=0)  # the code may have moved on since --keep
        seeded = _load_seeded(data_dir)
        print(f"  reusing {data_dir}: {seeded.n_cis:,} CIs seeded, {seeded.n_relationships:,} relationships")
    else:
        print(f"data: {args.cis:,} CIs, {args.relationships:,} relationships; data dir {data_dir}\n")
        t0 = time.perf_counter()
        call_command("migrate", interactive=False, verbosity=0)
        print(f"  migrated in {time.perf_counter() - t0:.1f} s")
        seeded = seed(args.cis, args.relationships)
        _save_seeded(data_dir, seeded)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")  # what autovacuum would have done on a live system
    mark_graph_changed()  # as the write path leaves it after a change
    print(f"  classes: {', '.join(f'{k} {v:,}' for k, v in sorted(seeded.by_class.items(), key=lambda i: -i[1]))}")
    api = _api_client(seeded.admin)

    lines = []
    if selected(args.only, "list"):
        print("\nCI list API, 50 a page (median / p95; floor = the same count and page in raw SQL):")
        lines += list_scenarios(api, args)
    if selected(args.only, "impact"):
        print("\nimpact analysis, downstream (median / p95; floor = a recursive CTE, no redundancy):")
        lines += impact_scenarios(api, seeded, args)
    if selected(args.only, "import"):
        print(f"\nCSV import of {args.import_rows:,} new servers (floor = bulk_create of the same rows):")
        lines += import_scenarios(seeded, args)

    print("\n## Results\n")
    print(f"{info['date']} · commit {info['commit']} · {info['cpus']} CPUs ({info['cpu_model']}) · "
          f"Python {info['python']} · Django {info['django']} · {info['database']} · {seeded.n_cis:,} CIs · "
          f"{seeded.n_relationships:,} relationships ({seeded.n_ended:,} ended)\n")
    print(table(lines))
    total = time.perf_counter() - started
    info["load_average_at_end"] = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print("\nseeding: " + ", ".join(f"{k} {v:.1f} s" for k, v in seeded.seconds.items()))
    print(f"total time {total:.0f} s; load average at the start {info['load_average']}, "
          f"at the end {info['load_average_at_end']} (other work on the machine skews the figures)")
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "cis": seeded.n_cis, "relationships": seeded.n_relationships,
                                         "seed_seconds": seeded.seconds, "lines": [x.as_dict() for x in lines],
                                         "total_seconds": round(total, 1)}, indent=2, default=str))
        print(f"figures written to {args.json}")
    return 0


def _save_seeded(data_dir: Path, seeded) -> None:
    fields = {k: v for k, v in vars(seeded).items() if k != "admin"}
    (data_dir / SEED_FILE).write_text(json.dumps(fields))


def _load_seeded(data_dir: Path):
    from cmdb_seed import CmdbSeeded

    from opsdesk.accounts.models import User

    return CmdbSeeded(admin=User.objects.get(username="admin"), **json.loads((data_dir / SEED_FILE).read_text()))


def _api_client(admin):
    from rest_framework.test import APIClient

    from opsdesk.accounts.services import create_token
    from opsdesk.core.actors import Actor

    _token, plaintext = create_token(admin, actor=Actor.system("bench"), name="bench")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    return api


if __name__ == "__main__":
    sys.exit(main())
