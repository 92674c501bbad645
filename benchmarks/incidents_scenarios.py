"""The incident benchmark's scenarios (benchmarks/incidents.py runs them): the queue (HTML and API),
the SLA due date, the SLA sweep and MTTA/MTTR for a month, each with its floor, and the figures' table."""

from __future__ import annotations

import datetime
import random
import time
from dataclasses import dataclass

from measure import Result, fmt_ms, run_scenario

TARGETS = {"queue": 100.0, "due": 50.0, "sweep": 5.0, "report": 2000.0}  # ms p95, µs per call, s, ms
OPEN_STATES = ("new", "acknowledged", "in_progress", "on_hold")


class BenchmarkError(RuntimeError):
    pass


@dataclass
class Line:
    """One scenario: the product's figure, the floor beside it, and the target (in the line's unit)."""

    group: str
    name: str
    product: Result
    floor: Result | None = None
    size: str = ""
    target: float | None = None
    unit: str = "ms"  # ms (per request), µs (per call) or s (per run)
    note: str = ""

    def value(self, seconds: float) -> float:
        return seconds * {"ms": 1e3, "µs": 1e6, "s": 1.0}[self.unit]

    @property
    def p50(self) -> float:
        return self.value(self.product.median_ms / 1000)

    @property
    def p95(self) -> float:
        return self.value(self.product.p95_ms / 1000)

    def met(self) -> str:
        if self.target is None:
            return ""
        return "yes" if self.p95 <= self.target else "**no**"

    def as_dict(self) -> dict:
        return {"group": self.group, "name": self.name, "size": self.size, "unit": self.unit,
                "p50": round(self.p50, 3), "p95": round(self.p95, 3), "runs": len(self.product.runs),
                "queries": self.product.queries, "target": self.target, "met": self.met().strip("*"),
                "note": self.note, "product": self.product.as_dict(),
                "floor": self.floor.as_dict() if self.floor is not None else None,
                "floor_p50": round(self.value(self.floor.median_ms / 1000), 3) if self.floor else None,
                "floor_p95": round(self.value(self.floor.p95_ms / 1000), 3) if self.floor else None}


def _fmt(value: float, unit: str) -> str:
    return (fmt_ms(value) if unit != "s" else f"{value:,.2f}") + f" {unit}"


def table(lines: list[Line]) -> str:
    header = ["group", "scenario", "size", "p50", "p95", "runs", "SQL", "floor p50", "floor p95", "target", "met"]
    rows = [header]
    for line in lines:
        f = line.floor
        rows.append([line.group, line.name, line.size, _fmt(line.p50, line.unit), _fmt(line.p95, line.unit),
                     str(len(line.product.runs)), "" if line.product.queries is None else str(line.product.queries),
                     "" if f is None else _fmt(line.value(f.median_ms / 1000), line.unit),
                     "" if f is None else _fmt(line.value(f.p95_ms / 1000), line.unit),
                     "" if line.target is None else f"p95 <= {line.target:,.0f} {line.unit}", line.met()])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    out = ["| " + " | ".join(c.ljust(w) for c, w in zip(rows[0], widths, strict=True)) + " |",
           "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    for row in rows[1:]:
        out.append("| " + " | ".join(c.ljust(w) if i < 3 else c.rjust(w)
                                     for i, (c, w) in enumerate(zip(row, widths, strict=True))) + " |")
    notes = [f"- {line.group} / {line.name}: {line.note}" for line in lines if line.note]
    return "\n".join(out + ([""] + notes if notes else []))


def _progress(line: Line) -> None:
    f = line.floor
    floor = (f"   floor {_fmt(line.value(f.median_ms / 1000), line.unit)} / "
             f"{_fmt(line.value(f.p95_ms / 1000), line.unit)}") if f is not None else ""
    sql = f"  {line.product.queries} SQL" if line.product.queries is not None else ""
    print(f"  {line.group:<8} {line.name:<48} {line.size:>22}  {_fmt(line.p50, line.unit):>11} / "
          f"{_fmt(line.p95, line.unit):>11}{sql}{floor}", flush=True)


def print_explain(lines: list[Line]) -> None:
    from django.db import connection

    for line in lines:
        for label, result in (("product", line.product), ("floor", line.floor)):
            if result is None or result.slowest_sql_ms < 2 or not result.slowest_sql.lstrip().upper().startswith(
                    ("SELECT", "WITH")):
                continue
            prefix = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN (ANALYZE, BUFFERS) "
            try:
                with connection.cursor() as cursor:
                    cursor.execute(prefix + result.slowest_sql)
                    rows = cursor.fetchall()
            except Exception as exc:  # noqa: BLE001  (an un-runnable captured statement is just reported)
                rows = [(f"(could not explain: {exc})",)]
            print(f"\n--- {line.group}: {line.name} ({label}) — slowest SQL {result.slowest_sql_ms:.1f} ms")
            print(result.slowest_sql[:1500] + (" ..." if len(result.slowest_sql) > 1500 else ""))
            for row in rows:
                print("   ", row[-1] if connection.vendor == "sqlite" else row[0])


# --- the queue --------------------------------------------------------------------------------------------
@dataclass
class QueueCase:
    label: str
    where: str  # the floor's WHERE (i = the incident, t = its team)
    params: list
    api_query: str
    api_order: str  # the floor's ORDER BY for the API's ordering
    html_query: str
    html_order: str  # ... and for the page's sort (sla_due_at with NULLs last, then -id)


def _queue_cases(seeded) -> list[QueueCase]:
    team = seeded.busiest_team_slug
    states = ", ".join(["%s"] * len(OPEN_STATES))
    by_due_api, by_due_html = "i.sla_due_at, i.id", "i.sla_due_at ASC NULLS LAST, i.id DESC"
    return [
        QueueCase("open, by time to breach", f"i.status IN ({states})", list(OPEN_STATES),
                  "open=true&ordering=sla_due_at", by_due_api, "open=true", by_due_html),
        QueueCase(f"open, team {team} + P3", f"i.status IN ({states}) AND t.slug = %s AND i.priority = %s",
                  [*OPEN_STATES, team, "P3"], f"open=true&assignment_group={team}&priority=P3&ordering=sla_due_at",
                  by_due_api, f"open=true&assignment_group={team}&priority=P3", by_due_html),
        QueueCase("search \"ledger\", all incidents", "(i.number LIKE %s OR i.title LIKE %s)",
                  ["%ledger%", "%ledger%"], "q=ledger", "i.id DESC", "q=ledger", by_due_html),
    ]


def _like(vendor: str, where: str) -> str:
    # Django's icontains is LIKE on SQLite (case-insensitive for ASCII) and UPPER(..) LIKE UPPER(..) on
    # PostgreSQL; the floor takes the cheapest equivalent of each (ILIKE on PostgreSQL).
    return where.replace(" LIKE ", " ILIKE ") if vendor == "postgresql" else where


def _queue_floor(vendor: str, where: str, params: list, order: str, ct_id: int):
    """The count, the page with the names a row shows (team, assignee, service, category) and the page's
    SLA timers: what the queue needs, written by hand."""
    from django.db import connection

    where = _like(vendor, where)
    team_join = ' LEFT JOIN "accounts_team" t ON t.id = i.assignment_group_id' if "t." in where else ""
    count_sql = f'SELECT COUNT(*) FROM "incidents_incident" i{team_join} WHERE {where}'
    page_sql = ('SELECT i.*, t.slug, u.username, s.name, c.name FROM "incidents_incident" i '
                'LEFT JOIN "accounts_team" t ON t.id = i.assignment_group_id '
                'LEFT JOIN "accounts_user" u ON u.id = i.assignee_id '
                'LEFT JOIN "services_service" s ON s.id = i.service_id '
                'LEFT JOIN "incidents_category" c ON c.id = i.category_id '
                f"WHERE {where} ORDER BY {order} LIMIT 50")

    def floor():
        with connection.cursor() as cursor:
            cursor.execute(count_sql, params)
            matched = cursor.fetchone()[0]
            cursor.execute(page_sql, params)
            rows = cursor.fetchall()
            ids = [row[0] for row in rows]
            if ids:
                cursor.execute('SELECT * FROM "sla_slatimer" WHERE content_type_id = %s AND object_id IN ('
                               + ", ".join(["%s"] * len(ids)) + ")", [ct_id, *ids])
                cursor.fetchall()
        return None, len(rows), matched

    return floor


def _count_floor(sql: str, params: list):
    from django.db import connection

    def floor():
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        return None, len(row), row[0]

    return floor


def _clients():
    from django.test import Client
    from rest_framework.test import APIClient

    from opsdesk.accounts.models import User
    from opsdesk.accounts.services import create_token
    from opsdesk.core.actors import Actor

    admin = User.objects.get(username="admin")
    _token, plaintext = create_token(admin, actor=Actor.system("bench"), name="bench")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    ui = Client()
    ui.force_login(admin)
    return api, ui


def _get(client, url, *, json_body: bool):
    response = client.get(url)
    if response.status_code != 200:
        raise BenchmarkError(f"GET {url} answered {response.status_code}: {response.content[:300]!r}")
    if json_body:
        body = response.json()
        return len(response.content), len(body["results"]), body["count"]
    return len(response.content), None


def _measure(lines, group, label, call, floor, args, *, size=None, note="") -> Line | None:
    try:
        product = run_scenario("queue", f"{group} {label}", call, budget=args.budget, max_runs=args.max_runs)
    except Exception as exc:  # noqa: BLE001  (a page still being written: report it, measure the rest)
        print(f"  {group:<8} {label}: not measured: {str(exc)[:300]}")
        return None
    if product.matched is not None and floor is not None and floor.matched != product.matched:
        print(f"  (!) the floor matched {floor.matched:,} rows, the {group} {product.matched:,}")
    if size is None:
        size = f"{product.rows} of {product.matched:,}" if product.matched is not None else ""
    kib = f", {product.size_bytes / 1024:,.0f} KiB" if product.size_bytes else ""
    line = Line(group, label, product, floor, size=size, target=TARGETS["queue"], note=note + kib)
    _progress(line)
    lines.append(line)
    return line


def queue_scenarios(seeded, args) -> list[Line]:
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection
    from django.urls import NoReverseMatch, reverse
    from django.utils import timezone

    from opsdesk.incidents.models import Incident

    api, ui = _clients()
    ct_id = ContentType.objects.get_for_model(Incident).pk
    vendor = connection.vendor
    try:
        ui_url = reverse("incidents:list")
    except NoReverseMatch:
        ui_url = None
        print("  (the HTML queue has no URL yet: only the API is measured)")
    lines: list[Line] = []
    for case in _queue_cases(seeded):
        api_floor = run_scenario("queue", case.label + " (API floor)",
                                 _queue_floor(vendor, case.where, case.params, case.api_order, ct_id),
                                 budget=args.budget, max_runs=args.max_runs)
        url = f"/api/v1/incidents/incidents/?{case.api_query}"
        _measure(lines, "API", case.label, lambda url=url: _get(api, url, json_body=True), api_floor, args,
                 note=f"GET {url}")
        if ui_url is None:
            continue
        html_floor = api_floor
        if case.html_order != case.api_order:
            html_floor = run_scenario("queue", case.label + " (HTML floor)",
                                      _queue_floor(vendor, case.where, case.params, case.html_order, ct_id),
                                      budget=args.budget, max_runs=args.max_runs)
        url = f"{ui_url}?{case.html_query}"
        _measure(lines, "HTML", case.label, lambda url=url: _get(ui, url, json_body=False), html_floor, args,
                 size=f"{html_floor.rows} of {html_floor.matched:,}", note=f"GET {url}")
    if ui_url is None:
        return lines
    # What an open queue page asks for besides itself: the saved-view tabs' counts (loaded by htmx
    # after the page) and the poll for news every 30 s.
    states = ", ".join(["%s"] * len(OPEN_STATES))
    try:
        views_url, news_url = reverse("incidents:queue_views"), reverse("incidents:queue_news")
    except NoReverseMatch:
        return lines
    soon = timezone.now() + datetime.timedelta(minutes=60)
    adapt = connection.ops.adapt_datetimefield_value if vendor == "sqlite" else (lambda value: value)
    admin_id = ui.session.get("_auth_user_id")
    counts_sql = ("SELECT COUNT(*), SUM(CASE WHEN assignee_id = %s THEN 1 ELSE 0 END), "
                  "SUM(CASE WHEN assignee_id IS NULL THEN 1 ELSE 0 END), "
                  "SUM(CASE WHEN sla_due_at <= %s THEN 1 ELSE 0 END), "
                  "SUM(CASE WHEN major_status = 'major' THEN 1 ELSE 0 END) "
                  f'FROM "incidents_incident" WHERE status IN ({states})')
    floor = run_scenario("queue", "saved-view counts (floor)",
                         _count_floor(counts_sql, [admin_id, adapt(soon), *OPEN_STATES]),
                         budget=args.budget, max_runs=args.max_runs)
    url = f"{views_url}?open=true"
    _measure(lines, "HTML", "saved-view counts (htmx, after the page)",
             lambda: _get(ui, url, json_body=False), floor, args, size=f"{floor.matched:,} open", note=f"GET {url}")
    since = timezone.now() - datetime.timedelta(seconds=30)
    for label, query, where, params in (
            ("news poll, open incidents", "open=true", f"status IN ({states}) AND ", list(OPEN_STATES)),
            ("news poll, all incidents", "", "", [])):
        floor = run_scenario("queue", f"{label} (floor)", _count_floor(
            f'SELECT COUNT(*) FROM "incidents_incident" WHERE {where}updated_at > %s', [*params, adapt(since)]),
            budget=args.budget, max_runs=args.max_runs)
        url = f"{news_url}?{query}&since={since.isoformat()}".replace("?&", "?").replace("+", "%2B")
        _measure(lines, "HTML", label + " (every 30 s)", lambda url=url: _get(ui, url, json_body=False), floor, args,
                 size="", note=f"GET {url}")
    return lines


# --- the SLA due date -------------------------------------------------------------------------------------
def _per_call(group: str, name: str, micros: list[float]) -> Result:
    return Result(group=group, name=name, runs=[m / 1e6 for m in micros])


def due_date_scenarios(args) -> list[Line]:
    from sla_due_date import HOUR, calendars, random_starts, time_calls

    from opsdesk.sla import specs
    from opsdesk.sla.business_time import add_business_seconds
    from opsdesk.sla.models import SLATimer

    rng = random.Random(4)
    n = args.due_calls
    starts = random_starts(rng, n)
    floor_args = [(start, datetime.timedelta(seconds=8 * HOUR)) for start in starts]
    floor = _per_call("due", "floor", time_calls(lambda start, delta: start + delta, floor_args))
    lines = []
    # The engine's own path: a running timer's due date from its calendar row (spec from the per-process
    # cache, then the arithmetic), over the seeded running timers and their shipped calendars and goals.
    timers = list(SLATimer.objects.filter(state="running").select_related("calendar").order_by("id")[:n])
    if timers:
        calls = [(timer,) for timer in (timers * (n // len(timers) + 1))[:n]]

        def engine_due(timer):
            return add_business_seconds(specs.for_timer(timer), timer.resumed_at,
                                        timer.goal_seconds - timer.elapsed_seconds)

        product = _per_call("due", "engine", time_calls(engine_due, calls))
        line = Line("due date", "seeded running timers (shipped calendars)", product, floor,
                    size=f"{len(calls):,} calls", target=TARGETS["due"], unit="µs",
                    note="specs.for_timer + add_business_seconds, as sla.services computes due_at")
        _progress(line)
        lines.append(line)
    for cal_name, spec in calendars().items():
        for goal_hours in (1, 8, 40, 400):
            if cal_name.startswith("24x7") and goal_hours in (8, 400):
                continue
            adds = [(spec, start, goal_hours * HOUR) for start in starts]
            product = _per_call("due", cal_name, time_calls(add_business_seconds, adds))
            line = Line("due date", f"{cal_name}, {goal_hours} h", product, floor, size=f"{n:,} calls",
                        target=TARGETS["due"] if goal_hours <= 40 else None, unit="µs")
            _progress(line)
            lines.append(line)
    return lines


# --- the SLA sweep ----------------------------------------------------------------------------------------
class Restorer:
    """Puts the seeded state back after a sweep: every row added since seeding (change log, events,
    notifications, core timers, escalations ...) deleted by id, the change-log chain head as it was, and
    the SLA timers and open incidents the sweep may have changed copied back from copies taken right
    after seeding. Rows are copied back with UPDATE (no foreign key changes, so no key checks), and an
    incident only where its updated_at or sla_due_at differs from the copy."""

    TIMERS = "bench_seed_sla_timers"
    INCIDENTS = "bench_seed_open_incidents"
    MARKS = "bench_seed_marks"

    def __init__(self, append_only: list, marks: dict):
        self.append_only = append_only
        self.seed_marks = marks

    @classmethod
    def create(cls, *, reuse: bool = False) -> Restorer:
        """After seeding (or on a kept database: from the copies made then). The copies' columns must
        still be the tables' columns: a migration that changed them needs a new seed."""
        from django.apps import apps
        from django.db import connection, models
        from django.db.models import Max

        from opsdesk.core.models import AuditChainHead
        from opsdesk.incidents.models import Incident
        from opsdesk.sla.models import SLATimer

        append_only = [m for m in apps.get_models()
                       if m.__module__.startswith("opsdesk.") and m not in (Incident, SLATimer)
                       and isinstance(m._meta.pk, models.AutoField | models.BigAutoField)]
        tables = connection.introspection.table_names()
        for copy, model, where in ((cls.TIMERS, SLATimer, ""),
                                   (cls.INCIDENTS, Incident, "WHERE status IN ('new', 'acknowledged', "
                                                             "'in_progress', 'on_hold')")):
            live = model._meta.db_table
            if reuse and copy in tables:
                with connection.cursor() as cursor:
                    columns = [c.name for c in connection.introspection.get_table_description(cursor, live)]
                    kept = [c.name for c in connection.introspection.get_table_description(cursor, copy)]
                if columns != kept:
                    raise SystemExit(f"{live} changed since the data was seeded (a migration): run with --reseed")
                continue
            with connection.cursor() as cursor:
                cursor.execute(f'DROP TABLE IF EXISTS "{copy}"')
                cursor.execute(f'CREATE TABLE "{copy}" AS SELECT * FROM "{live}" {where}')
                cursor.execute(f'CREATE UNIQUE INDEX "{copy}_id" ON "{copy}" (id)')
        if not (reuse and cls.MARKS in tables):
            # The seeded state's last id of every table the product appends to, and the chain head.
            head = AuditChainHead.objects.filter(pk=1).values_list("last_hash", "last_entry_id").first()
            with connection.cursor() as cursor:
                cursor.execute(f'DROP TABLE IF EXISTS "{cls.MARKS}"')
                cursor.execute(f'CREATE TABLE "{cls.MARKS}" (name varchar(200) PRIMARY KEY, mark bigint, '
                               "hash varchar(64))")
                rows = [(m._meta.db_table, m.objects.aggregate(top=Max("pk"))["top"] or 0, None)
                        for m in append_only]
                if head is not None:
                    rows.append(("audit chain head", head[1], head[0]))
                cursor.executemany(f'INSERT INTO "{cls.MARKS}" (name, mark, hash) VALUES (%s, %s, %s)', rows)
        with connection.cursor() as cursor:
            cursor.execute(f'SELECT name, mark, hash FROM "{cls.MARKS}"')
            marks = {name: (mark, hash_) for name, mark, hash_ in cursor.fetchall()}
        return cls(append_only, marks)

    def restore(self, timer_ids: list[int] | None = None, incident_ids: list[int] | None = None) -> None:
        """Back to the seeded state: the timers given (or all) and the open incidents given (or all)."""
        from django.db import connection, transaction

        from opsdesk.core.models import AuditChainHead
        from opsdesk.incidents.models import Incident
        from opsdesk.sla.models import SLATimer

        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
            # Newest first: rows added later may point at rows added earlier (a notification at its event).
            for model in reversed(self.append_only):
                mark = self.seed_marks.get(model._meta.db_table, (None,))[0]
                if mark is not None and model.objects.filter(pk__gt=mark).exists():
                    cursor.execute(f'DELETE FROM "{model._meta.db_table}" WHERE "{model._meta.pk.column}" > %s',
                                   [mark])
            if "audit chain head" in self.seed_marks:
                entry_id, last_hash = self.seed_marks["audit chain head"]
                AuditChainHead.objects.filter(pk=1).update(last_entry_id=entry_id, last_hash=last_hash)
            for model, copy, ids, changed in (
                    (SLATimer, self.TIMERS, timer_ids, ""),
                    (Incident, self.INCIDENTS, incident_ids,
                     " AND NOT (t.updated_at = s.updated_at AND (t.sla_due_at = s.sla_due_at "
                     "OR (t.sla_due_at IS NULL AND s.sla_due_at IS NULL)))")):
                table = model._meta.db_table
                columns = [f.column for f in model._meta.concrete_fields if f.column != "id"]
                assignments = ", ".join(f'"{c}" = s."{c}"' for c in columns)
                sql = (f'UPDATE "{table}" AS t SET {assignments} FROM "{copy}" AS s WHERE s.id = t.id{changed}')
                if ids is None:
                    cursor.execute(sql)
                    continue
                for start in range(0, len(ids), 500):
                    chunk = ids[start:start + 500]
                    cursor.execute(sql + f" AND t.id IN ({', '.join(['%s'] * len(chunk))})", chunk)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:  # outside a transaction: the dead rows of the copy back
                cursor.execute(f'VACUUM ANALYZE "{SLATimer._meta.db_table}"')
                cursor.execute(f'VACUUM ANALYZE "{Incident._meta.db_table}"')


def _due(now: datetime.datetime) -> tuple[list[int], list[int]]:
    """The running timers due at `now` and their incidents."""
    from opsdesk.sla.models import SLATimer

    rows = list(SLATimer.objects.filter(state="running", next_check_at__lte=now).values_list("pk", "object_id"))
    return sorted(pk for pk, _ in rows), sorted({object_id for _, object_id in rows})


def _make_all_due(*, last_only: bool) -> None:
    """Every running timer due at once, as if the sweeper had been down since the timers started: with
    every threshold still to announce, or (last_only) with only the last one (the breach) left."""
    import json

    from django.db import connection, transaction
    from django.db.models import F

    from opsdesk.sla.models import SLATimer

    with transaction.atomic():
        running = SLATimer.objects.filter(state="running")
        running.update(thresholds_done=[], breached_at=None, next_check_at=F("resumed_at"))
        if last_only:
            rows = [(json.dumps(sorted(thresholds)[:-1]), pk) for pk, thresholds in
                    running.values_list("pk", "thresholds").iterator(chunk_size=5000) if thresholds]
            with connection.cursor() as cursor:
                cursor.executemany('UPDATE "sla_slatimer" SET thresholds_done = %s WHERE id = %s', rows)


def _sweep_floor(now: datetime.datetime) -> tuple[int, float]:
    """The database's part of the sweep, by hand: the due timers taken in batches of 500 by the same index
    (FOR UPDATE SKIP LOCKED on PostgreSQL), every pending threshold marked done and the next check
    cleared, one UPDATE per timer (executemany) and a commit per batch; no change log, no events, no
    calendar arithmetic. Returns (timers, seconds)."""
    import json

    from django.db import connection, transaction

    lock = " FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
    adapt = connection.ops.adapt_datetimefield_value
    now_param = adapt(now) if connection.vendor == "sqlite" else now
    taken = 0
    t0 = time.perf_counter()
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute('SELECT id, thresholds, due_at FROM "sla_slatimer" WHERE state = %s AND next_check_at <= %s '
                           f"ORDER BY next_check_at LIMIT 500{lock}", ["running", now_param])
            rows = cursor.fetchall()
            if not rows:
                break
            updates = []
            for pk, thresholds, due_at in rows:
                done = thresholds if isinstance(thresholds, str) else json.dumps(thresholds)
                updates.append([done, due_at, pk])
            cursor.executemany('UPDATE "sla_slatimer" SET thresholds_done = %s, breached_at = %s, '
                               "next_check_at = NULL WHERE id = %s", updates)
            taken += len(rows)
    return taken, time.perf_counter() - t0


def sweep_scenarios(seeded, restorer: Restorer, args) -> list[Line]:
    from django.db.models import Max

    from opsdesk.core.models import AuditEntry, OutboxEvent
    from opsdesk.sla import services as sla
    from opsdesk.sla.models import SLATimer

    lines = []
    running = SLATimer.objects.filter(state="running").count()
    cases = [("routine: the sweeper was stopped for "
              f"{seeded.sweep_lag_seconds // 60} min", seeded.now_at, None, 3)]
    latest = SLATimer.objects.filter(state="running").aggregate(top=Max("due_at"))["top"]
    if latest is not None:
        after = latest + datetime.timedelta(days=1)
        cases += [("all running timers due, one threshold each", after, "last", 2),
                  ("all running timers due, one threshold each, listeners off", after, "last-quiet", 1),
                  ("all running timers due, every threshold", after, "every", 1)]
    for label, now, all_due, repeats in cases:
        # "listeners off": the engine's own cost, without what other apps do on each crossing (the
        # incidents app's escalation check); the registry is emptied for the run and put back.
        listeners = dict(sla._LISTENERS)
        product = Result(group="sweep", name=label)
        floor = Result(group="sweep", name=label + " (floor)")
        due_timers = crossings = 0
        for _ in range(repeats):
            if all_due:
                _make_all_due(last_only=all_due != "every")
            timer_ids, incident_ids = (None, None) if all_due else _due(now)
            due_timers = SLATimer.objects.filter(state="running", next_check_at__lte=now).count()
            audit_before = AuditEntry.objects.count()
            events_before = OutboxEvent.objects.count()
            if all_due == "last-quiet":
                sla._LISTENERS.clear()
            try:
                t0 = time.perf_counter()
                crossings = sla.sweep(now=now, limit=max(1, running) * 2)
                product.runs.append(time.perf_counter() - t0)
            finally:
                sla._LISTENERS.update(listeners)
            product.rows = due_timers
            written = (AuditEntry.objects.count() - audit_before, OutboxEvent.objects.count() - events_before)
            restorer.restore(timer_ids, incident_ids)
            if all_due:
                _make_all_due(last_only=all_due != "every")
            taken, seconds = _sweep_floor(now)
            floor.runs.append(seconds)
            floor.rows = taken
            restorer.restore(timer_ids, incident_ids)
        line = Line("sweep", label, product, floor, size=f"{due_timers:,} of {running:,} timers due",
                    target=TARGETS["sweep"], unit="s",
                    note=f"{crossings:,} crossings announced ({written[0]:,} change-log rows, {written[1]:,} "
                         f"events) at now = {now:%Y-%m-%d %H:%M}; {repeats} runs, restored after each")
        _progress(line)
        lines.append(line)
    return lines


# --- MTTA / MTTR for a month ------------------------------------------------------------------------------
def _month(seeded) -> tuple[datetime.datetime, datetime.datetime]:
    """The last whole calendar month (UTC) before the data's `now`."""
    now = seeded.now_at
    until = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    since = (until - datetime.timedelta(days=1)).replace(day=1)
    return since, until


def _report_floor(vendor: str, since, until):
    """The same two means and counts by hand: one aggregate over each period's index range."""
    from django.db import connection

    if vendor == "postgresql":
        ack = "AVG(EXTRACT(EPOCH FROM acknowledged_at - created_at))"
        res = "AVG(EXTRACT(EPOCH FROM resolved_at - created_at))"
        params = [since, until]
    else:
        ack = "AVG((julianday(acknowledged_at) - julianday(created_at)) * 86400.0)"
        res = "AVG((julianday(resolved_at) - julianday(created_at)) * 86400.0)"
        params = [connection.ops.adapt_datetimefield_value(since), connection.ops.adapt_datetimefield_value(until)]
    sql_ack = (f'SELECT {ack}, COUNT(*) FROM "incidents_incident" WHERE created_at >= %s AND created_at < %s '
               "AND acknowledged_at IS NOT NULL")
    sql_res = f'SELECT {res}, COUNT(*) FROM "incidents_incident" WHERE resolved_at >= %s AND resolved_at < %s'

    def floor():
        with connection.cursor() as cursor:
            cursor.execute(sql_ack, params)
            mtta, n_ack = cursor.fetchone()
            cursor.execute(sql_res, params)
            mttr, n_res = cursor.fetchone()
        return None, n_ack, n_res

    return floor


def report_scenarios(seeded, args) -> list[Line]:
    from django.db import connection

    try:
        from opsdesk.incidents import kpis
    except ImportError:
        print("  (incidents.kpis is not there yet)")
        return []
    since, until = _month(seeded)
    lines = []
    figures = {}

    def product_call():
        figures.update(kpis.mtta_mttr(since, until))
        return None, figures["count_acknowledged"], figures["count_resolved"]

    product = run_scenario("report", "mtta_mttr", product_call, budget=args.budget, max_runs=args.max_runs)
    floor = run_scenario("report", "mtta_mttr (floor)", _report_floor(connection.vendor, since, until),
                         budget=args.budget, max_runs=args.max_runs)
    if (floor.rows, floor.matched) != (product.rows, product.matched):
        print(f"  (!) the floor counted {floor.rows:,} / {floor.matched:,}, "
              f"kpis {product.rows:,} / {product.matched:,}")
    mtta = figures.get("mtta_seconds") or 0
    mttr = figures.get("mttr_seconds") or 0
    line = Line("report", f"kpis.mtta_mttr, {since:%B %Y}", product, floor,
                size=f"{product.rows:,} acknowledged, {product.matched:,} resolved", target=TARGETS["report"],
                note=f"MTTA {mtta / 60:,.1f} min, MTTR {mttr / 3600:,.1f} h")
    _progress(line)
    lines.append(line)
    if hasattr(kpis, "mtta_mttr_by_day"):
        product = run_scenario("report", "mtta_mttr_by_day",
                               lambda: (None, len(kpis.mtta_mttr_by_day(since, until))),
                               budget=args.budget, max_runs=args.max_runs)
        line = Line("report", f"kpis.mtta_mttr_by_day, {since:%B %Y}", product, None,
                    size=f"{product.rows} days", target=TARGETS["report"])
        _progress(line)
        lines.append(line)
    return lines
