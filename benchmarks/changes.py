"""Changes benchmark (issue 7): the change calendar's month page and the collision check with 100,000 CIs
and 50,000 changes, on SQLite or PostgreSQL, with the targets of the issue (p95 <= 100 ms each).

    .venv/bin/python benchmarks/changes.py                               # SQLite (make bench-changes)
    OPSDESK_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_opsdesk_changes \\
        .venv/bin/python benchmarks/changes.py                           # PostgreSQL
    .venv/bin/python benchmarks/changes.py --reuse                       # measure the kept seed again
    .venv/bin/python benchmarks/changes.py --cis 10000 --changes 5000    # quick
    .venv/bin/python benchmarks/changes.py --drop                        # delete the kept data and stop

The CMDB is seeded as the CMDB benchmark seeds it (cmdb_seed.py: a two-datacentre estate, VMs hosted on
hypervisor clusters whose hypervisors are members, applications running on VMs ...). The changes go in
with COPY (PostgreSQL) or executemany (SQLite), not through the services: 50,000 changes spread over two
years (one back, one ahead) with windows of 1-8 hours, 1-3 CIs each (a third of them a VM, half of those with
the hypervisor cluster it is hosted on), 0-2 services, 200 implementers, every type and a state the date makes
plausible (past: closed with an outcome; now: implementing; ahead: draft .. scheduled), and a month-end freeze
window at every month of the two years.
The impact graph's version stamp is bumped after the bulk CMDB insert (docs/architecture.md).

Measured, ~50 runs each after 5 warm-up runs: (1) GET /changes/calendar/?view=month&date= of the busiest
month through the Django test client, logged in as the admin; (2) `schedule.entries()` for the same
months alone; (3) `collisions.find(change)` for random changes in a planned state. Figures are printed,
never asserted; docs/benchmarks.md ("Changes (issue 7)") keeps them.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import shutil
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

SEED_FILE = "changes_seed.json"
SEED_FORMAT = 1
DEFAULT_DATABASE = "bench_opsdesk_changes"
N_IMPLEMENTERS = 200
TITLES = ["Patch the operating system of {ci}", "Upgrade the agent on {ci}", "Resize {ci}", "Move {ci} to a new host",
          "Rotate the TLS certificate on {ci}", "Change the firewall rules for {ci}", "Upgrade the database on {ci}",
          "Deploy a new version to {ci}", "Replace a disk in {ci}", "Tune the kernel parameters of {ci}"]
PAST_OUTCOMES = (["successful"] * 80 + ["successful_with_issues"] * 8 + ["failed"] * 5 + ["backed_out"] * 4
                 + ["cancelled"] * 3)
AHEAD_STATES = ["draft"] * 10 + ["submitted"] * 10 + ["assessment"] * 10 + ["approval"] * 20 + ["scheduled"] * 50


@dataclass
class ChangesSeeded:
    n_cis: int
    n_relationships: int
    n_changes: int
    n_change_cis: int
    now: str
    busiest_month: str  # YYYY-MM-01 (ahead of now: the month a change manager looks at)
    format: int = SEED_FORMAT
    seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cis", type=int, default=100_000)
    parser.add_argument("--relationships", type=int, default=200_000)
    parser.add_argument("--changes", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=50, help="timed runs per scenario (default 50)")
    parser.add_argument("--reuse", action="store_true", help="measure the kept seed again (no seeding)")
    parser.add_argument("--drop", action="store_true", help="delete the kept data (directory, database) and stop")
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--explain", action="store_true", help="print the plan of the slowest collision check")
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
    data_dir = (args.data_dir or Path(f"/tmp/opsdesk-bench-changes-{'pg' if pg_name else 'sqlite'}")).resolve()
    if args.drop:
        shutil.rmtree(data_dir, ignore_errors=True)
        if pg_name:
            drop_postgres(bench_url, pg_name)
        print(f"dropped {data_dir}" + (f" and database {pg_name}" if pg_name else ""))
        return 0
    kept = None
    seed_path = data_dir / SEED_FILE
    if args.reuse:
        if not seed_path.exists():
            raise SystemExit(f"--reuse: nothing kept in {data_dir}; run once without --reuse")
        kept = json.loads(seed_path.read_text())
        if kept.get("format") != SEED_FORMAT:
            raise SystemExit("--reuse: the kept seed has an older format; run without --reuse")
    else:
        shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    prepare_environment(data_dir, bench_url or None)
    if pg_name and kept is None:
        create_postgres(bench_url, pg_name)
    try:
        return _run(args, data_dir, kept)
    finally:
        from django.db import connections

        connections.close_all()


# --- seeding ---------------------------------------------------------------------------------------------
def seed(n_cis: int, n_relationships: int, n_changes: int, *, log=print, seed_value: int = 17) -> ChangesSeeded:
    from cmdb_seed import mark_graph_changed
    from cmdb_seed import seed as seed_cmdb
    from django.db import connection, transaction
    from django.utils import timezone
    from incidents_seed import RowWriter, reset_sequences

    from opsdesk.accounts.models import Membership, Team, User
    from opsdesk.changes.models import ChangeCategory, ChangeRequest, FreezeWindow
    from opsdesk.cmdb.models import ConfigurationItem, Relationship
    from opsdesk.core.models import NumberSequence
    from opsdesk.services.models import Service

    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    cmdb = seed_cmdb(n_cis, n_relationships, log=log)
    mark_graph_changed()  # plain INSERTs bypass cmdb.services, which bump the stamp on every write
    seconds.update({f"cmdb: {k}": v for k, v in cmdb.seconds.items()})
    log(f"  CMDB: {cmdb.n_cis:,} CIs, {cmdb.n_relationships:,} relationships in {time.perf_counter() - t0:.1f} s",
        flush=True)

    rng = random.Random(seed_value)
    admin = cmdb.admin
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    t0 = time.perf_counter()
    team_ids = list(Team.objects.order_by("id").values_list("id", flat=True))
    users = User.objects.bulk_create([User(username=f"impl{i:03d}", first_name="Implementer", last_name=f"{i:03d}",
                                           email=f"impl{i:03d}@example.com", role="responder")
                                      for i in range(N_IMPLEMENTERS)])
    user_ids = [u.pk for u in users] or list(User.objects.filter(username__startswith="impl")
                                             .values_list("id", flat=True))
    Membership.objects.bulk_create([Membership(team_id=team_ids[i % len(team_ids)], user_id=pk,
                                                       role="responder") for i, pk in enumerate(user_ids)],
                                       ignore_conflicts=True)
    category_ids = list(ChangeCategory.objects.values_list("id", flat=True))
    if not category_ids:
        for slug in ("database", "network", "application", "infrastructure", "security", "access"):
            ChangeCategory.objects.get_or_create(slug=f"bench-{slug}", defaults={"name": f"Bench {slug}"})
        category_ids = list(ChangeCategory.objects.values_list("id", flat=True))
    service_ids = list(Service.objects.filter(status="active").values_list("id", flat=True))
    by_class: dict[str, list[int]] = {}
    for pk, cls in ConfigurationItem.objects.exclude(status="retired").values_list("id", "ci_class__slug"):
        by_class.setdefault(cls, []).append(pk)
    vms = by_class.get("virtual-machine", [])
    others = [pk for cls, pks in by_class.items() if cls != "virtual-machine" for pk in pks]
    # A VM's host (the hypervisor cluster it is hosted on): the pairs whose changes collide through the CMDB.
    hosted = dict(Relationship.objects.filter(source_id__in=vms, type__slug="hosted-on", ended_at__isnull=True)
                  .values_list("source_id", "target_id"))
    names = dict(ConfigurationItem.objects.filter(pk__in=rng.sample(vms + others, min(5000, len(vms + others))))
                 .values_list("id", "name"))
    seconds["prepare changes (read CIs)"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    span_start = now - datetime.timedelta(days=365)
    writer = RowWriter(ChangeRequest)
    cis_writer = RowWriter(ChangeRequest.cis.through, with_id=False)
    services_writer = RowWriter(ChangeRequest.services.through, with_id=False)
    months: dict[str, int] = {}
    n_change_cis = 0
    with transaction.atomic():
        for index in range(n_changes):
            pk = index + 1
            start = span_start + datetime.timedelta(hours=rng.randrange(2 * 365 * 24))
            end = start + datetime.timedelta(hours=rng.randint(1, 8))
            kind = rng.choices(["standard", "normal", "emergency"], [35, 60, 5])[0]
            roll = rng.random()
            if roll < 0.34 and vms:
                vm = rng.choice(vms)
                cis = [vm] + ([hosted[vm]] if vm in hosted and rng.random() < 0.5 else [])
            elif roll < 0.67 and vms:
                cis = rng.sample(vms, rng.randint(1, 3))
            else:
                cis = rng.sample(others, min(len(others), rng.randint(1, 3)))
            if end < now:
                status, outcome = "closed", rng.choice(PAST_OUTCOMES)
            elif start < now:
                status, outcome = "implementing", ""
            else:
                status, outcome = rng.choice(AHEAD_STATES), ""
                if kind == "standard" and status in ("assessment", "approval"):
                    status = "scheduled"
            created = start - datetime.timedelta(days=rng.uniform(1, 20))
            risk = rng.choices(["low", "medium", "high", "very_high"], [50, 30, 15, 5])[0]
            title = rng.choice(TITLES).format(ci=names.get(cis[0], f"CI {cis[0]}"))
            writer.add({
                "id": pk, "number": f"CHG-{pk}", "created_at": created, "updated_at": created,
                "created_by_id": admin.pk, "updated_by_id": admin.pk, "title": title[:300],
                "description": "Bench change.", "change_type": kind, "category_id": rng.choice(category_ids),
                "requester_id": rng.choice(user_ids), "owner_team_id": rng.choice(team_ids),
                "implementer_id": rng.choice(user_ids) if rng.random() < 0.9 else None,
                "planned_start": start, "planned_end": end,
                "actual_start": start if status in ("implementing", "closed") and outcome != "cancelled" else None,
                "actual_end": end if status == "closed" and outcome != "cancelled" else None,
                "status": status, "outcome": outcome, "risk_score": {"low": 10, "medium": 30, "high": 60,
                                                                     "very_high": 80}[risk],
                "risk_level": risk, "risk_assessed_at": created, "submitted_at": created if status != "draft" else None,
                "approved_at": created if status in ("scheduled", "implementing", "closed") else None,
                "closed_at": end if status == "closed" else None,
                "review_required": outcome in ("failed", "backed_out") or kind == "emergency"})
            for ci in cis:
                cis_writer.add({"changerequest_id": pk, "configurationitem_id": ci})
            n_change_cis += len(cis)
            for service in rng.sample(service_ids, min(len(service_ids), rng.choice([0, 1, 1, 2]))):
                services_writer.add({"changerequest_id": pk, "service_id": service})
            if start >= now:
                key = start.strftime("%Y-%m-01")
                months[key] = months.get(key, 0) + 1
        for w in (writer, cis_writer, services_writer):
            w.flush()
        NumberSequence.objects.update_or_create(prefix="CHG", defaults={"last_value": n_changes})
        reset_sequences([ChangeRequest])
        # A freeze at every month-end of the two years, and a year-end freeze naming a few services.
        for m in range(-12, 13):
            year, month = divmod(now.year * 12 + now.month - 1 + m, 12)
            first = now.replace(year=year, month=month + 1, day=1, hour=0)
            FreezeWindow.objects.create(name=f"Month-end freeze {first:%Y-%m}", starts_at=first - datetime.timedelta(
                days=2), ends_at=first + datetime.timedelta(days=1), created_by=admin, updated_by=admin)
    seconds["insert changes"] = time.perf_counter() - t0
    log(f"  inserted {writer.written:,} changes, {n_change_cis:,} change-CI links, {services_writer.written:,} "
        f"change-service links in {seconds['insert changes']:.1f} s", flush=True)
    if connection.vendor == "postgresql":
        t0 = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        seconds["vacuum analyze"] = time.perf_counter() - t0
    else:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    busiest = max(months.items(), key=lambda item: item[1])[0] if months else now.strftime("%Y-%m-01")
    return ChangesSeeded(n_cis=cmdb.n_cis, n_relationships=cmdb.n_relationships, n_changes=writer.written,
                         n_change_cis=n_change_cis, now=now.isoformat(), busiest_month=busiest, seconds=seconds)


# --- measuring -------------------------------------------------------------------------------------------
def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, -(-len(ordered) * pct // 100)) - 1]


def _measure(label: str, inputs: list, call, *, warmup: int = 5) -> dict:
    for item in inputs[:warmup]:  # warm the caches the way a running server has them
        call(item)
    runs, sizes = [], []
    for item in inputs:
        t0 = time.perf_counter()
        size = call(item)
        runs.append(time.perf_counter() - t0)
        sizes.append(size)
    result = {"scenario": label, "runs": len(runs), "p50_ms": statistics.median(runs) * 1000,
              "p95_ms": _percentile(runs, 95) * 1000, "max_ms": max(runs) * 1000,
              "median_size": statistics.median(sizes) if sizes else 0, "nonzero": sum(1 for x in sizes if x),
              "slowest": inputs[runs.index(max(runs))] if runs else None}
    print(f"  {label:<52} p50 {result['p50_ms']:7.1f} ms   p95 {result['p95_ms']:7.1f} ms   "
          f"max {result['max_ms']:7.1f} ms   median size {result['median_size']:,} ({result['nonzero']} of {len(runs)} "
          "non-empty)", flush=True)
    return result


def _is_stub(module, name: str) -> bool:
    return "stub" in (module.__doc__ or "").lower() or not hasattr(module, name)


def _run(args, data_dir: Path, kept: dict | None) -> int:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from run import machine_info

    from opsdesk.accounts.models import User
    from opsdesk.changes import collisions, schedule
    from opsdesk.changes.models import ChangeRequest
    from opsdesk.changes.workflows import CHANGE_PLANNED_STATES

    info = machine_info()
    print(f"Opsdesk changes benchmark — {info['date']}")
    print(f"machine: {info['cpus']} CPUs ({info['cpu_model']}), {info['memory']} RAM; {info['database']}; "
          f"load average {info['load_average']}; commit {info['commit']}")
    call_command("migrate", interactive=False, verbosity=0)
    if kept is None:
        print(f"  seeding {args.cis:,} CIs, {args.relationships:,} relationships, {args.changes:,} changes ...",
              flush=True)
        seeded = seed(args.cis, args.relationships, args.changes)
        (data_dir / SEED_FILE).write_text(json.dumps(seeded.as_dict(), indent=2))
    else:
        seeded = ChangesSeeded(**kept)
        print(f"  reusing the data seeded at {seeded.now} ({seeded.n_changes:,} changes, {seeded.n_cis:,} CIs)")
        from cmdb_seed import mark_graph_changed

        mark_graph_changed()
    if seeded.seconds:
        print("  seeding: " + ", ".join(f"{k} {v:.1f} s" for k, v in seeded.seconds.items()))

    rng = random.Random(23)
    admin = User.objects.get(username="admin")
    busiest = datetime.date.fromisoformat(seeded.busiest_month)
    # The busiest month and the months around it: the dates a change manager pages through.
    dates = [busiest + datetime.timedelta(days=rng.randrange(0, 28)) for _ in range(args.runs)]
    results = []
    print(f"\nchange calendar, month view ({connection.vendor}; busiest month {busiest:%Y-%m}):", flush=True)
    if _is_stub(schedule, "entries"):
        print("  schedule.entries() is still the stub: calendar not measured")
    else:
        client = Client()
        client.force_login(admin)

        def page(day):
            response = client.get(f"/changes/calendar/?view=month&date={day.isoformat()}")
            assert response.status_code == 200, response.status_code
            return len(response.content)

        with CaptureQueriesContext(connection) as queries:
            try:
                status = client.get(f"/changes/calendar/?view=month&date={busiest.isoformat()}").status_code
            except Exception as exc:  # noqa: BLE001  (the page being written: say so and measure the rest)
                status = f"{type(exc).__name__}: {exc}"
        if status != 200:
            print(f"  GET /changes/calendar/?view=month answered {status} (the page is not there yet): not measured")
        else:
            print(f"  (one month page: {len(queries.captured_queries)} queries)")
            if args.explain:
                _repeated(queries.captured_queries)
            results.append(_measure("GET /changes/calendar/?view=month (bytes)", dates, page))

        def entries(day):
            first = day.replace(day=1)
            start = datetime.datetime.combine(first, datetime.time(), tzinfo=datetime.UTC)
            end = (start + datetime.timedelta(days=32)).replace(day=1)
            found = schedule.entries(start, end, user=admin)
            return _size(found)

        results.append(_measure("schedule.entries() for the month (entries)", dates, entries))

    print(f"\ncollision check, collisions.find(change) ({connection.vendor}):", flush=True)
    if _is_stub(collisions, "find"):
        print("  collisions.find() is still the stub: not measured")
    else:
        ids = list(ChangeRequest.objects.filter(status__in=CHANGE_PLANNED_STATES).values_list("id", flat=True))
        picked = rng.sample(ids, min(args.runs, len(ids)))
        changes = list(ChangeRequest.objects.filter(pk__in=picked))
        rng.shuffle(changes)
        result = _measure("collisions.find(change) (warnings)", changes, lambda c: len(collisions.find(c)))
        results.append(result)
        with CaptureQueriesContext(connection) as queries:
            collisions.find(result["slowest"])
        print(f"  (the slowest, {result['slowest'].number}: {len(queries.captured_queries)} queries)")
        if args.explain:
            _explain(queries.captured_queries)
    for r in results:
        r["slowest"] = str(r["slowest"])
    if results:
        print("\ntarget p95 <= 100 ms: " + ", ".join(
            f"{r['scenario'].split(' (')[0]} {'met' if r['p95_ms'] <= 100 else 'MISSED'}" for r in results))
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "seeded": seeded.as_dict(), "results": results},
                                        indent=2, default=str))
    return 0


def _size(found) -> int:
    """How many entries schedule.entries() gave, whatever shape it returns them in."""
    if isinstance(found, dict):
        return sum(len(v) for v in found.values() if hasattr(v, "__len__"))
    if isinstance(found, (list, tuple)):
        return len(found)
    for name in ("changes", "entries"):
        if hasattr(found, name):
            return len(getattr(found, name))
    return 0


def _repeated(captured, top: int = 5) -> None:
    """The statements a page repeats most (numbers stripped): where an N+1 shows."""
    import re
    from collections import Counter

    shapes = Counter(re.sub(r"\b\d+\b", "?", q["sql"])[:300] for q in captured)
    for shape, count in shapes.most_common(top):
        print(f"    {count:4d} x {shape}")


def _explain(captured) -> None:
    from django.db import connection

    slowest = max(captured, key=lambda q: float(q.get("time") or 0))
    print(f"\n  slowest statement ({slowest['time']} s):\n    {slowest['sql'][:2000]}")
    prefix = "EXPLAIN ANALYZE " if connection.vendor == "postgresql" else "EXPLAIN QUERY PLAN "
    with connection.cursor() as cursor:
        cursor.execute(prefix + slowest["sql"])
        for row in cursor.fetchall():
            print("    " + " | ".join(str(c) for c in row))


if __name__ == "__main__":
    sys.exit(main())
