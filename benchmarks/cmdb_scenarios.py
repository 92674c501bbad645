"""The CMDB benchmark's scenarios (benchmarks/cmdb.py runs them): the filtered CI list API, impact
analysis and the CSV import, each with its floor in raw SQL, and the figures' table."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import inspect
import json
import random
import statistics
import time
from dataclasses import dataclass

from cmdb_seed import mark_graph_changed

TARGETS = {"list": 50.0, "typical": 10.0, "worst": 500.0, "import": 2000.0}  # ms (p95; worst: max) and CIs/s
LIST_QUERIES = [
    ("status, class, environment", "status=in_production&ci_class=server&environment=production", {}),
    ("+ attr.cpu_count__gte=8", "status=in_production&ci_class=server&environment=production"
                                "&attr.cpu_count__gte=8", {"cpu": 8}),
    ("+ ordering=-updated_at", "status=in_production&ci_class=server&environment=production"
                               "&ordering=-updated_at", {"order": "updated"}),
]


class BenchmarkError(RuntimeError):
    pass


@dataclass
class Line:
    """One scenario: the product's figure, the raw-SQL floor beside it, and the target."""

    group: str
    name: str
    product: object  # measure.Result
    floor: object | None = None
    size: str = ""  # rows matched / CIs impacted
    target: float | None = None  # ms, or CIs/s for a rate
    target_on: str = "p95"  # p95, max or rate

    def met(self) -> str:
        if self.target is None:
            return ""
        if self.target_on == "rate":
            return "yes" if (self.product.throughput or 0) >= self.target else "**no**"
        value = self.product.p95_ms if self.target_on == "p95" else max(self.product.runs) * 1000
        return "yes" if value <= self.target else "**no**"

    def as_dict(self) -> dict:
        return {"group": self.group, "name": self.name, "size": self.size, "target": self.target,
                "target_on": self.target_on, "met": self.met().strip("*"), "product": self.product.as_dict(),
                "max_ms": round(max(self.product.runs) * 1000, 2),
                "floor": self.floor.as_dict() if self.floor is not None else None}


def _ms(value: float) -> str:
    from measure import fmt_ms

    return fmt_ms(value)


def table(lines: list[Line]) -> str:
    header = ["group", "scenario", "size", "p50 ms", "p95 ms", "max ms", "runs", "SQL", "floor p50", "floor p95",
              "target", "met"]
    rows = [header]
    for line in lines:
        r, f = line.product, line.floor
        if line.target_on == "rate":
            target = f">= {line.target:,.0f}/s"
        else:
            target = "" if line.target is None else f"{line.target_on} <= {line.target:,.0f}"
        size = f"{line.size} ({r.throughput:,.0f} {r.unit_label}/s)" if r.throughput else line.size
        floor_rate = f" ({f.throughput:,.0f}/s)" if f is not None and f.throughput else ""
        rows.append([line.group, line.name, size, _ms(r.median_ms), _ms(r.p95_ms), _ms(max(r.runs) * 1000),
                     str(len(r.runs)), "" if r.queries is None else str(r.queries),
                     "" if f is None else _ms(f.median_ms) + floor_rate, "" if f is None else _ms(f.p95_ms),
                     target, line.met()])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    out = ["| " + " | ".join(c.ljust(w) for c, w in zip(rows[0], widths, strict=True)) + " |",
           "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    for row in rows[1:]:
        out.append("| " + " | ".join(c.ljust(w) if i < 3 else c.rjust(w)
                                     for i, (c, w) in enumerate(zip(row, widths, strict=True))) + " |")
    return "\n".join(out)


def _progress(line: Line) -> None:
    r, f = line.product, line.floor
    floor = f"   floor {f.median_ms:8.1f} / {f.p95_ms:8.1f} ms" if f is not None else ""
    rate = f"  {r.throughput:,.0f} {r.unit_label}/s" if r.throughput else ""
    print(f"  {line.group:<7} {line.name:<52} {line.size:>24}  {r.median_ms:9.1f} / {r.p95_ms:9.1f} ms"
          f"{rate}{floor}", flush=True)


# --- the CI list ------------------------------------------------------------------------------------------
def list_scenarios(api, args) -> list[Line]:
    from django.db import connection
    from measure import run_scenario

    lines = []
    for label, query, floor_options in LIST_QUERIES:
        url = f"/api/v1/cmdb/cis/?{query}"

        def call(url=url):
            response = api.get(url)
            if response.status_code != 200:
                raise BenchmarkError(f"GET {url} answered {response.status_code}: {response.content[:300]!r}")
            body = response.json()
            return len(response.content), len(body["results"]), body["count"]

        product = run_scenario("list", label, call, budget=args.budget, max_runs=args.max_runs)
        count_sql, page_sql, params = _list_floor_sql(connection.vendor, **floor_options)

        def floor(count_sql=count_sql, page_sql=page_sql, params=params):
            with connection.cursor() as cursor:
                cursor.execute(count_sql, params)
                matched = cursor.fetchone()[0]
                cursor.execute(page_sql, params)
                rows = cursor.fetchall()
            return None, len(rows), matched

        floor_result = run_scenario("list", label + " (floor)", floor, budget=args.budget, max_runs=args.max_runs)
        if floor_result.matched != product.matched:
            print(f"  (!) the floor matched {floor_result.matched:,} rows, the API {product.matched:,}")
        line = Line("list API", label, product, floor_result, size=f"{product.rows} of {product.matched:,}",
                    target=TARGETS["list"])
        _progress(line)
        lines.append(line)
    return lines


def _list_floor_sql(vendor: str, cpu: int | None = None, order: str = "name") -> tuple[str, str, list]:
    """The list's count and page as one would write them by hand: the class by its key, the owner team's
    key for the page, ordered as the API orders (name, then id)."""
    where = ("c.status = %s AND k.slug = %s AND c.environment = %s")
    params: list = ["in_production", "server", "production"]
    if cpu is not None:
        where += (" AND json_extract(c.attributes, '$.cpu_count') >= %s" if vendor == "sqlite"
                  else " AND (c.attributes -> 'cpu_count') >= %s::jsonb")
        params.append(cpu if vendor == "sqlite" else json.dumps(cpu))
    joins = ('FROM "cmdb_configurationitem" c INNER JOIN "cmdb_ciclass" k ON k.id = c.ci_class_id ')
    order_by = "c.updated_at DESC, c.id DESC" if order == "updated" else "c.name, c.id"
    count = f"SELECT COUNT(*) {joins} WHERE {where}"
    page = (f"SELECT c.*, k.slug, t.slug {joins} LEFT JOIN \"accounts_team\" t ON t.id = c.owner_team_id "
            f"WHERE {where} ORDER BY {order_by} LIMIT 50")
    return count, page, params


# --- impact analysis ----------------------------------------------------------------------------------------
def _impact_url_exists(pk: int) -> bool:
    from django.urls import Resolver404, resolve

    try:
        resolve(f"/api/v1/cmdb/cis/{pk}/impact/")
        return True
    except Resolver404:
        return False


def choose_cis(seeded, args) -> list[tuple[str, int, str]]:
    """(label, CI id, how it was chosen): the typical CI, a large one and the worst."""
    from opsdesk.cmdb.impact import analyse
    from opsdesk.cmdb.models import ConfigurationItem

    rng = random.Random(7)
    servers = list(ConfigurationItem.objects.filter(pk__in=seeded.roles.get("app-server", []),
                                                    status="in_production").values_list("pk", flat=True))
    sample = sorted(rng.sample(servers, min(args.sample, len(servers))))
    counts = {pk: len(analyse([pk], depth=args.depth, details=False).impacted) for pk in sample}
    ordered = sorted(counts.values())
    typical = min(counts, key=lambda pk: (abs(counts[pk] - 300), pk))
    share = sum(1 for c in ordered if 100 <= c <= 1000) / len(ordered)
    p75, p90 = ordered[int(len(ordered) * 0.75)], ordered[int(len(ordered) * 0.9)]
    print(f"  {len(sample)} application servers (VMs running applications) impact: median "
          f"{statistics.median(ordered):,.0f}, p75 {p75:,}, p90 {p90:,}, max {ordered[-1]:,}; "
          f"{share:.0%} impact 100 to 1,000. Typical: the one nearest 300.")
    hubs = [pk for role in ("hub-core", "hub-platform", "hub-storage") for pk in seeded.roles.get(role, [])]
    reach = {pk: len(analyse([pk], depth=args.depth, details=False).impacted) for pk in hubs}
    worst = max(reach, key=lambda pk: (reach[pk], -pk))
    clusters = seeded.roles.get("k8s-cluster", [])
    large = clusters[0] if clusters else worst
    names = dict(ConfigurationItem.objects.filter(pk__in=[typical, large, worst]).values_list("pk", "name"))
    print(f"  worst: {names[worst]} (the largest reach of the {len(hubs)} shared hubs: core networks, DNS, "
          f"registries, storage arrays)")
    return [("typical", typical, f"application server {names[typical]}"),
            ("large", large, f"Kubernetes cluster {names[large]}"),
            ("worst", worst, names[worst])]


def impact_scenarios(api, seeded, args) -> list[Line]:
    from measure import Result, run_scenario

    from opsdesk.cmdb.impact import analyse

    lines = []
    chosen = choose_cis(seeded, args)
    has_api = _impact_url_exists(chosen[0][1])
    if not has_api:
        print("  (skipped: GET /api/v1/cmdb/cis/{id}/impact/ is not routed yet)")
    # The API lists at most `limit` (default 1,000) impacted CIs and services and asks analyse() for the
    # display fields of those only; time analyse() the same way where it takes `limit`.
    as_api = {"limit": 1000} if "limit" in inspect.signature(analyse).parameters else {}
    t0 = time.perf_counter()
    graph = MemoryGraph()
    loaded = time.perf_counter() - t0
    print(f"  (in-memory graph: {graph.n_edges:,} impact edges loaded in {loaded * 1000:,.0f} ms)")
    for label, pk, description in chosen:
        worst = label == "worst"
        # The slow ones: the captured run counts too, and fewer runs (at least 2).
        options = {"budget": args.budget, "max_runs": 5 if worst else args.max_runs, "min_runs": 2 if worst else 3,
                   "time_captured_run": label != "typical"}
        full = analyse([pk], depth=args.depth, **as_api)
        plain = analyse([pk], depth=args.depth, redundancy=False, details=False)
        n_ci, n_svc = len(full.impacted_ci_ids), len(full.impacted_service_ids)
        size = f"{n_ci:,} CIs + {n_svc:,} services"
        print(f"  {label}: {description} (CI id {pk}) impacts {size} at depth {args.depth} "
              f"({len(plain.impacted):,} nodes without redundancy, {len(full.degraded):,} redundant CIs degraded)")

        def product(pk=pk):
            return None, len(analyse([pk], depth=args.depth, **as_api).impacted)

        def no_redundancy(pk=pk):
            return None, len(analyse([pk], depth=args.depth, redundancy=False, details=False).impacted)

        def in_memory(pk=pk):
            return None, len(graph.downstream(pk, args.depth))

        floor = run_scenario("impact", f"{label} (floor)", cte_floor(pk, args.depth), **options)
        memory = run_scenario("impact", f"{label} (memory)", in_memory, **options)
        for other, name in ((floor.rows, "the recursive CTE"), (memory.rows, "the in-memory walk")):
            if other != len(plain.impacted):
                print(f"  (!) {name} found {other:,} nodes, analyse(redundancy=False) {len(plain.impacted):,}")
        target = TARGETS["typical"] if label == "typical" else TARGETS["worst"] if worst else None
        target_on = "p95" if label == "typical" else "max"
        specs = [(f"{label}: analyse({'limit=1000' if as_api else ''}) — {description}", product, size, target)]
        specs.append((f"{label}: analyse(redundancy=False, details=False)", no_redundancy,
                      f"{len(plain.impacted):,} nodes", None))
        if has_api:
            url = f"/api/v1/cmdb/cis/{pk}/impact/?direction=downstream&depth={args.depth}"

            def call(url=url):
                response = api.get(url)
                if response.status_code != 200:
                    raise BenchmarkError(f"GET {url} answered {response.status_code}: {response.content[:300]!r}")
                return len(response.content), None

            specs.append((f"{label}: GET …/impact/", call, size, target))
        for name, call, line_size, line_target in specs:
            result = run_scenario("impact", name, call, **options)
            if result.size_bytes:
                name += f" ({result.size_bytes / 1024:,.0f} KiB)"
            line = Line("impact", name, result, floor, size=line_size, target=line_target, target_on=target_on)
            _progress(line)
            lines.append(line)
        closure = run_scenario("impact", f"{label} (closure)", cte_floor(pk), **options)
        line = Line("impact", f"{label}: recursive CTE without the depth limit (each node once)", closure,
                    size=f"{closure.rows:,} nodes")
        _progress(line)
        lines.append(line)
        line = Line("impact", f"{label}: walk of a graph held in memory (for comparison)", memory,
                    size=f"{memory.rows:,} nodes")
        _progress(line)
        lines.append(line)
        if label == "typical" and mark_graph_changed():
            runs = []
            for _run in range(3):
                mark_graph_changed()  # any write to the graph: the next analysis reads it anew
                t0 = time.perf_counter()
                analyse([pk], depth=args.depth, **as_api)
                runs.append(time.perf_counter() - t0)
            line = Line("impact", "typical: analyse(), first after a write to the graph (rebuilt)",
                        Result("impact", "rebuilt", runs=runs), floor, size=size)
            _progress(line)
            lines.append(line)
    lines.append(Line("impact", "loading that graph (once per process)", Result("impact", "load", runs=[loaded]),
                      size=f"{graph.n_edges:,} edges"))
    return lines


class MemoryGraph:
    """The impact edges (no redundancy) loaded into dictionaries once, and a breadth-first walk over them:
    what an analysis costs once the graph needs no database round trips. Nodes: CI id, -service id."""

    def __init__(self):
        from django.db import connection

        from opsdesk.cmdb.models import RelationshipType

        impact = dict(RelationshipType.objects.values_list("pk", "impact"))
        t2s = {p for p, i in impact.items() if i in ("target_to_source", "both")}
        s2t = {p for p, i in impact.items() if i in ("source_to_target", "both")}
        self.edges: dict[int, list[int]] = {}
        add = self.edges.setdefault
        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM \"cmdb_configurationitem\" WHERE status IN ('retired', 'disposed')")
            gone = {row[0] for row in cursor.fetchall()}
            cursor.execute("SELECT id FROM \"services_service\" WHERE status = 'retired'")
            gone |= {-row[0] for row in cursor.fetchall()}
            cursor.execute("SELECT source_id, target_id, target_service_id, type_id FROM \"cmdb_relationship\" "
                           "WHERE ended_at IS NULL")
            for source, target, service, type_id in cursor.fetchall():
                target = target if target is not None else -service
                if type_id in t2s:
                    add(target, []).append(source)
                if type_id in s2t:
                    add(source, []).append(target)
            cursor.execute("SELECT configurationitem_id, service_id FROM \"cmdb_configurationitem_services\"")
            for ci, service in cursor.fetchall():
                add(ci, []).append(-service)
            cursor.execute("SELECT to_service_id, from_service_id FROM \"services_service_depends_on\"")
            for needed, dependent in cursor.fetchall():
                add(-needed, []).append(-dependent)
        for node, targets in self.edges.items():
            self.edges[node] = [t for t in targets if t not in gone]
        self.n_edges = sum(len(t) for t in self.edges.values())

    def downstream(self, root: int, depth: int) -> set[int]:
        seen, frontier, edges = {root}, [root], self.edges
        for _level in range(depth):
            following = []
            for node in frontier:
                for other in edges.get(node, ()):
                    if other not in seen:
                        seen.add(other)
                        following.append(other)
            if not following:
                break
            frontier = following
        seen.discard(root)
        return seen


def cte_floor(pk: int, depth: int | None = None):
    """The downstream closure of one CI in one recursive query, without redundancy: every impact edge
    of impact.py (relationships by their type's direction, CI supports service, service needed by
    service, service to the CIs that depend on it), retired and disposed CIs and retired services
    left out. Nodes are (kind, id): 0 a CI, 1 a service. `depth`: at most that many steps (the
    benchmark's floor leaves it out, see impact_scenarios)."""
    from django.db import connection

    from opsdesk.cmdb.models import RelationshipType

    t2s = [p for p, impact in RelationshipType.objects.values_list("pk", "impact") if impact in ("target_to_source",
                                                                                              "both")]
    s2t = [p for p, impact in RelationshipType.objects.values_list("pk", "impact") if impact in ("source_to_target",
                                                                                              "both")]
    in_t2s, in_s2t = ", ".join(str(int(p)) for p in t2s), ", ".join(str(int(p)) for p in s2t)
    live_ci = "c.status NOT IN ('retired', 'disposed')"
    live_service = "s.status <> 'retired'"
    steps = [
        # a relationship whose target failed, of a type that spreads target -> source: its source
        (0, "r.source_id", '"cmdb_relationship" r INNER JOIN "cmdb_configurationitem" c ON c.id = r.source_id',
         f"r.target_id = w.id AND r.ended_at IS NULL AND r.type_id IN ({in_t2s}) AND {live_ci}"),
        # ... whose source failed, spreading source -> target: its target CI or service
        (0, "r.target_id", '"cmdb_relationship" r INNER JOIN "cmdb_configurationitem" c ON c.id = r.target_id',
         f"r.source_id = w.id AND r.ended_at IS NULL AND r.type_id IN ({in_s2t}) AND {live_ci}"),
        (0, "r.target_service_id",
         '"cmdb_relationship" r INNER JOIN "services_service" s ON s.id = r.target_service_id',
         f"r.source_id = w.id AND r.ended_at IS NULL AND r.type_id IN ({in_s2t}) AND {live_service}"),
        # the services a failed CI supports
        (0, "m.service_id",
         '"cmdb_configurationitem_services" m INNER JOIN "services_service" s ON s.id = m.service_id',
         f"m.configurationitem_id = w.id AND {live_service}"),
        # the services that depend on a failed service
        (1, "d.from_service_id", '"services_service_depends_on" d INNER JOIN "services_service" s '
                                 'ON s.id = d.from_service_id', f"d.to_service_id = w.id AND {live_service}"),
        # the CIs that depend on a failed service
        (1, "r.source_id", '"cmdb_relationship" r INNER JOIN "cmdb_configurationitem" c ON c.id = r.source_id',
         f"r.target_service_id = w.id AND r.ended_at IS NULL AND r.type_id IN ({in_t2s}) AND {live_ci}"),
    ]
    kinds = [0, 0, 1, 1, 1, 0]  # the kind of the node each step reaches
    # With a depth limit every (node, depth) pair is a row of the walk, so a node reached again by a longer
    # path (cycles, diamonds) is expanded again; without one, UNION keeps each node once.
    columns, step, limit = ("kind, id, depth", ", w.depth + 1", " AND w.depth < %s") if depth else ("kind, id", "", "")
    if connection.vendor == "sqlite":  # SQLite (3.34+) takes one recursive SELECT per step
        recursive = " UNION ".join(
            f"SELECT {kind}, {column}{step} FROM walk w, {tables} WHERE w.kind = {from_kind}{limit} AND {condition}"
            for (from_kind, column, tables, condition), kind in zip(steps, kinds, strict=True))
        params = [pk] + [depth] * len(steps) if depth else [pk]
    else:  # PostgreSQL allows one reference to the recursive table: the steps go into a LATERAL union
        union = " UNION ALL ".join(
            f"SELECT {kind} AS kind, {column} AS id FROM {tables} WHERE w.kind = {from_kind} AND {condition}"
            for (from_kind, column, tables, condition), kind in zip(steps, kinds, strict=True))
        recursive = f"SELECT e.kind, e.id{step} FROM walk w CROSS JOIN LATERAL ({union}) e WHERE TRUE{limit}"
        params = [pk, depth] if depth else [pk]
    start = "SELECT 0, CAST(%s AS BIGINT)" + (", 0" if depth else "")
    sql = f"WITH RECURSIVE walk({columns}) AS ({start} UNION {recursive}) SELECT DISTINCT kind, id FROM walk"

    def call():
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        return None, sum(1 for kind, node in rows if (kind, node) != (0, pk))

    return call


# --- CSV import -----------------------------------------------------------------------------------------------
def import_scenarios(seeded, args) -> list[Line]:
    from cmdb_seed import raw_insert
    from django.db import transaction
    from django.utils import timezone
    from measure import Result, StatementCounter

    from opsdesk.accounts.models import Team
    from opsdesk.cmdb import import_runs
    from opsdesk.cmdb.models import CIClass, ConfigurationItem
    from opsdesk.core.actors import Actor

    n = args.import_rows
    rng = random.Random(11)
    columns = ["name", "environment", "team", "location", "ip", "hostname", "serial", "vendor", "model", "os",
               "os_version", "cpu_count", "memory_gb", "disk_gb"]
    rows = []
    for i in range(n):
        name = f"import-srv-{i:06d}"
        vendor, model = rng.choice([("Dell", "PowerEdge R660"), ("HPE", "ProLiant DL360"), ("Lenovo", "SR630")])
        rows.append([name, rng.choice(["production", "staging", "test"]), f"team-{rng.randrange(50):03d}",
                     f"DC{1 + i % 2} / rack {900 + i // 20:04d}",
                     f"10.{200 + i // 62500}.{(i // 250) % 250}.{i % 250 + 1}",
                     f"{name}.dc{1 + i % 2}.example.net", f"IMP{i:08d}", vendor, model, "debian", "12",
                     rng.choice([8, 16, 32, 64]), rng.choice([64, 128, 256]), rng.choice([480, 960])])
    name = f"{hashlib.sha256(str(n).encode()).hexdigest()[:12]}.csv"
    path = import_runs.import_dir() / name
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(rows)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    mapping = {"name": "name", "environment": "environment", "team": "owner_team", "location": "location",
               "ip": "ip_addresses", "hostname": "hostnames", "serial": "serial_number", "vendor": "vendor",
               "model": "model_name", "os": "attr.os", "os_version": "attr.os_version", "cpu_count": "attr.cpu_count",
               "memory_gb": "attr.memory_gb", "disk_gb": "attr.disk_gb"}
    options = {"name": "benchmark", "default_class": "server", "mapping": mapping, "match_keys": ["name"],
               "on_no_match": "create", "on_one_match": "update", "on_many_matches": "error", "on_unseen": "ignore"}
    actor = Actor.for_user(seeded.admin)

    def one_import(dry_run: bool, label: str, expect: dict):
        with _phase_timers() as phases:
            result = _one_import(dry_run, label, expect)
        result.note = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in phases.items() if seconds >= 0.005)
        print(f"    {label}: {result.note}")
        return result

    def _one_import(dry_run: bool, label: str, expect: dict):
        staged = import_runs.StagedFile(name, sha, "servers.csv", "csv")
        run = import_runs.create_import(actor=actor, staged=staged, options={**options, "dry_run": dry_run})
        with StatementCounter() as counter:
            t0 = time.perf_counter()
            done = import_runs.execute(run.pk)
            elapsed = time.perf_counter() - t0
        got = {"created": done.created_count, "updated": done.updated_count, "unchanged": done.unchanged_count,
               "errors": done.error_count}
        if done.status != "done" or any(got[k] != v for k, v in expect.items()):
            raise BenchmarkError(f"{label}: {done.status} {got} {done.error} {done.report[:3]}")
        units = expect.get("created") or n
        return Result(group="import", name=label, runs=[elapsed], queries=counter.count, units=units,
                      unit_label="CIs" if expect.get("created") and not dry_run else "rows")

    lines = []
    dry = one_import(True, "dry run (preview), all new", {"created": n, "errors": 0})
    lines.append(Line("import", "dry run of the file: plan only, nothing written", dry, size=f"{n:,} rows"))
    _progress(lines[-1])
    first = one_import(False, "import: creates", {"created": n, "errors": 0})

    server = CIClass.objects.get(slug="server")
    teams = dict(Team.objects.values_list("slug", "id"))

    def floor_rows(prefix):
        return [{"number": f"{prefix}-{i}", "name": f"{prefix.lower()}-{r[0]}", "ci_class_id": server.pk,
                 "status": "planned", "environment": r[1], "owner_team_id": teams[r[2]], "location": r[3],
                 "ip_addresses": [r[4]], "hostnames": [r[5]], "identifiers": f" {r[4]} {r[5]} ",
                 "serial_number": f"{prefix}{r[6]}", "vendor": r[7], "model_name": r[8],
                 "created_by_id": seeded.admin.pk, "updated_by_id": seeded.admin.pk,
                 "attributes": {"os": r[9], "os_version": r[10], "cpu_count": r[11], "memory_gb": r[12],
                                "disk_gb": r[13]}} for i, r in enumerate(rows)]

    def bulk_create_floor():
        now = timezone.now()
        objects = [ConfigurationItem(**fields, created_at=now, updated_at=now) for fields in floor_rows("FLOOR")]
        t0 = time.perf_counter()
        with transaction.atomic():
            ConfigurationItem.objects.bulk_create(objects, batch_size=500)
        return time.perf_counter() - t0

    def raw_floor():
        now = timezone.now()
        items = [{**fields, "created_at": now, "updated_at": now} for fields in floor_rows("RAW")]
        t0 = time.perf_counter()
        with transaction.atomic():
            raw_insert(ConfigurationItem, items)
        return time.perf_counter() - t0

    floor = Result(group="import", name="floor", runs=[bulk_create_floor()], units=n, unit_label="CIs")
    raw = Result(group="import", name="raw", runs=[raw_floor()], units=n, unit_label="CIs")
    ConfigurationItem.objects.filter(number__startswith="FLOOR-").delete()
    ConfigurationItem.objects.filter(number__startswith="RAW-").delete()
    lines.append(Line("import", "import run: every row creates a server", first, floor, size=f"{n:,} CIs",
                      target=TARGETS["import"], target_on="rate"))
    _progress(lines[-1])
    lines.append(Line("import", "raw INSERT executemany of the same rows (no ORM)", raw, size=f"{n:,} CIs"))
    _progress(lines[-1])
    second = one_import(False, "import again: unchanged", {"created": 0, "updated": 0, "unchanged": n, "errors": 0})
    lines.append(Line("import", "the same file again: 0 creates, all unchanged", second, size=f"{n:,} rows"))
    _progress(lines[-1])
    return lines


@contextlib.contextmanager
def _phase_timers():
    """Where an import's time goes: wrap the engine's steps with timers for the duration (benchmark only)."""
    from opsdesk.cmdb import import_parsers, import_runs, imports

    spent: dict[str, float] = {}
    targets = [(import_parsers, "parse", "read the file"), (imports.Reconciler, "prepare", "rows to values"),
               (imports.Reconciler, "match", "match"), (imports.Reconciler, "decide", "decide"),
               (imports.Reconciler, "apply", "write"), (imports.Reconciler, "create_all", "of which creates"),
               (imports.Reconciler, "bookkeeping", "of which seen-again bookkeeping"),
               (imports.Reconciler, "record_discovered_hosts", "of which discovered hosts"),
               (import_runs, "_finish", "store the report")]
    saved = []
    for owner, name, label in targets:
        original = getattr(owner, name)
        spent[label] = 0.0

        def timed(*a, _original=original, _label=label, **kw):
            t0 = time.perf_counter()
            try:
                return _original(*a, **kw)
            finally:
                spent[_label] += time.perf_counter() - t0

        saved.append((owner, name, original))
        setattr(owner, name, timed)
    try:
        yield spent
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)
