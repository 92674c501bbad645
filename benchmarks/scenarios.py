"""The requests under test, made in-process with Django's test Client (session login, for the pages)
and DRF's APIClient (a real bearer token from `create_token`, for the API)."""

from __future__ import annotations

import itertools
import time

from measure import Result, StatementCounter, run_scenario, selected
from seed import SEARCH_TERM, Seeded


class BenchmarkError(RuntimeError):
    pass


def _get(client, url, expect=200):
    def call():
        response = client.get(url)
        if response.status_code != expect:
            raise BenchmarkError(f"GET {url} answered {response.status_code}, expected {expect}: "
                                 f"{response.content[:300]!r}")
        return len(response.content), None

    return call


def _rows_of_api_page(client, url):
    def call():
        response = client.get(url)
        if response.status_code != 200:
            raise BenchmarkError(f"GET {url} answered {response.status_code}: {response.content[:300]!r}")
        body = response.json()
        return len(response.content), len(body["results"]), body.get("count")

    return call


def _team_value(seeded: Seeded) -> str:
    """The owner_team filter takes a team's slug or its id, whichever the filter set declares."""
    from opsdesk.services.filters import ServiceFilterSet

    to_field = ServiceFilterSet.base_filters["owner_team"].extra.get("to_field_name")
    return seeded.team_slug if to_field == "slug" else str(seeded.team_id)


def _orderings(*wanted) -> list[str]:
    """The API orderings to time, as the viewset offers them today (DRF ignores an unknown ?ordering=
    silently, which would time the default order under the wrong name). A tuple means "the first of
    these that exists"."""
    from opsdesk.services.api import ServiceViewSet

    offered = set(ServiceViewSet.ordering_fields)
    chosen = []
    for item in wanted:
        for candidate in item if isinstance(item, tuple) else (item,):
            if candidate.lstrip("-") in offered:
                chosen.append(candidate)
                break
        else:
            print(f"  (skipped: the services API offers no ordering {item!r})")
    return chosen


def _ui_sorts(*wanted) -> list[str]:
    """UI sort keys the services list offers today (an unknown ?sort= falls back to the default)."""
    from opsdesk.services.views import ServiceUI

    offered = {column.sort for column in ServiceUI.columns if column.sort}
    for key in wanted:
        if key.lstrip("-") not in offered:
            print(f"  (skipped: the services list offers no sort {key!r})")
    return [key for key in wanted if key.lstrip("-") in offered]


def clients(seeded: Seeded):
    from django.test import Client
    from rest_framework.test import APIClient

    from opsdesk.accounts.services import create_token
    from opsdesk.core.actors import Actor

    _token, plaintext = create_token(seeded.admin, actor=Actor.system("bench"), name="bench")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    ui = Client()
    ui.force_login(seeded.admin)
    return api, ui


def read_scenarios(seeded: Seeded, api, ui, *, budget: float, max_runs: int, only: str = "") -> list[Result]:
    n = seeded.n_services
    api_pages = max(1, -(-n // 50))
    deep = max(1, int(api_pages * 0.9))
    hot, hub, typical = seeded.hot_id, seeded.hub_id, seeded.typical_id
    specs = [
        # group, name, call, options
        ("API", "services list, page 1 (50, ordered by name)", _rows_of_api_page(api, "/api/v1/services/"), {}),
        ("API", "services list, page 1, page_size=500",
         _rows_of_api_page(api, "/api/v1/services/?page_size=500"), {}),
        ("API", f"services list, deep page {deep} of {api_pages}",
         _rows_of_api_page(api, f"/api/v1/services/?page={deep}"), {}),
        ("API", "filter status=active (70 % match)", _rows_of_api_page(api, "/api/v1/services/?status=active"), {}),
        ("API", "filter status=active&tier=1", _rows_of_api_page(api, "/api/v1/services/?status=active&tier=1"), {}),
        ("API", f"filter owner_team={_team_value(seeded)}",
         _rows_of_api_page(api, f"/api/v1/services/?owner_team={_team_value(seeded)}"), {}),
        ("API", f"filter tag={seeded.popular_tag} ({seeded.popular_tag_services:,} services)",
         _rows_of_api_page(api, f"/api/v1/services/?tag={seeded.popular_tag}"), {}),
        ("API", f"search q={SEARCH_TERM} (3 % match)",
         _rows_of_api_page(api, f"/api/v1/services/?q={SEARCH_TERM}"), {}),
        ("API", "search q=zzqx (no match)", _rows_of_api_page(api, "/api/v1/services/?q=zzqx"), {}),
        *[("API", f"ordering={ordering}", _rows_of_api_page(api, f"/api/v1/services/?ordering={ordering}"), {})
          for ordering in _orderings("-updated_at", ("criticality_rank", "criticality"), "tier")],
        ("API", "service retrieve", _get(api, f"/api/v1/services/{typical}/"), {}),
        ("API", "service history (hot service)", _rows_of_api_page(api, f"/api/v1/services/{hot}/history/"), {}),
        ("API", "change log /api/v1/audit/, page 1", _rows_of_api_page(api, "/api/v1/audit/"), {}),
        ("API", "change log /api/v1/audit/, deep page",
         _rows_of_api_page(api, f"/api/v1/audit/?page={max(1, int(seeded.n_audit_rows / 50 * 0.9))}"), {}),
        ("UI", "services list, page 1 (no query string)", _get(ui, "/services/"), {}),
        ("UI", "services list, ?page=2", _get(ui, "/services/?page=2"), {}),
        ("UI", f"services list, deep page {deep}", _get(ui, f"/services/?page={deep}"), {}),
        ("UI", "services list, status=active (70 % match)", _get(ui, "/services/?status=active"), {}),
        ("UI", "services list, status=active&tier=1", _get(ui, "/services/?status=active&tier=1"), {}),
        ("UI", f"services list, q={SEARCH_TERM}", _get(ui, f"/services/?q={SEARCH_TERM}"), {}),
        *[("UI", f"services list, sort={sort}", _get(ui, f"/services/?sort={sort}"), {})
          for sort in _ui_sorts("owner_team__name")],
        ("UI", "detail, details tab (typical service)", _get(ui, f"/services/{typical}/"), {}),
        ("UI", "detail, details tab (hub: 10 % depend on it)", _get(ui, f"/services/{hub}/"), {}),
        ("UI", "detail, timeline tab (hot service)", _get(ui, f"/services/{hot}/?tab=timeline"), {}),
        ("UI", "detail, history tab (hot service)", _get(ui, f"/services/{hot}/?tab=history"), {}),
        ("UI", "edit form (typical service)", _get(ui, f"/services/{typical}/edit/"), {}),
        ("UI", "dashboard", _get(ui, "/"), {}),
    ]
    results = []
    for group, name, call, options in specs:
        if not selected(only, f"{group} {name}"):
            continue
        results.append(run_scenario(group, name, call, budget=budget, max_runs=max_runs, **options))
        _progress(results[-1])
    return results


def csv_export(seeded: Seeded, ui, *, only: str = "") -> list[Result]:
    if not selected(only, "UI CSV export"):
        return []

    def call():
        response = ui.get("/services/?export=csv")
        if response.status_code != 200:
            raise BenchmarkError(f"CSV export answered {response.status_code}")
        body = b"".join(response.streaming_content)
        rows = body.count(b"\n") - 1
        if rows < seeded.n_services:
            raise BenchmarkError(f"CSV export had {rows} rows, expected {seeded.n_services}")
        return len(body), rows

    result = run_scenario("UI", f"CSV export, all {seeded.n_services:,} services", call, min_runs=2, max_runs=2,
                          budget=0, unit_label="rows", time_captured_run=True)
    _progress(result)
    return [result]


def create_scenarios(seeded: Seeded, api, *, budget: float, max_runs: int, only: str = "") -> list[Result]:
    if not selected(only, "API create service (POST)"):
        return []
    counter = itertools.count(1)

    def call():
        key = next(counter)
        payload = {
            "name": f"Bench created {key:06d}", "slug": f"bench-created-{key:06d}", "owner_team": seeded.team_slug,
            "tier": 2, "criticality": "high", "description": "Created by the benchmark.",
            "support_hours": {"mon": [["09:00", "17:00"]]}, "support_time_zone": "Europe/Berlin",
            "tags": ["payment-pci", f"bench-{key % 5}"], "depends_on": seeded.dependency_slugs,
        }
        response = api.post("/api/v1/services/", payload, format="json")
        if response.status_code != 201:
            raise BenchmarkError(f"create answered {response.status_code}: {response.content[:400]!r}")
        return len(response.content), 1

    result = run_scenario("API", "create service (POST, audit + outbox + enqueue)", call, budget=max(budget, 3.0),
                          min_runs=10, max_runs=max_runs, unit_label="writes")
    _progress(result)
    return [result, enqueue_only(budget=budget), *lock_hold(call)]


def lock_hold(create, runs: int = 30) -> list[Result]:
    """How long one create keeps the rows that serialise writers locked, from the statement that locks
    them to the commit. One over that time is a ceiling on writes per second, however many workers
    there are. PostgreSQL locks the NumberSequence row of the record type (SELECT ... FOR UPDATE in
    core.numbering) and the single AuditChainHead row (core.audit); SQLite locks the whole database
    from BEGIN IMMEDIATE."""
    from django.db import connection, transaction

    marks: dict[str, float] = {}
    number_sql, head_sql = '"core_numbersequence"', '"core_auditchainhead"'

    def watch(execute, sql, params, many, context):
        now = time.perf_counter()
        if sql.startswith("BEGIN"):
            marks.setdefault("begin", now)
        elif "FOR UPDATE" in sql and number_sql in sql:
            marks.setdefault("number", now)
        elif "FOR UPDATE" in sql and head_sql in sql:
            marks.setdefault("head", now)
        if "commit_hook" not in marks and connection.in_atomic_block:
            marks["commit_hook"] = now
            transaction.on_commit(lambda: marks.__setitem__("commit", time.perf_counter()))
        return execute(sql, params, many, context)

    held: dict[str, list[float]] = {"number": [], "head": []}
    with connection.execute_wrapper(watch):
        for _ in range(runs):
            marks.clear()
            create()
            if "commit" not in marks:
                continue
            for name in held:
                start = marks.get(name, marks.get("begin"))
                if start is not None:
                    held[name].append(marks["commit"] - start)
    if connection.vendor == "sqlite":
        labels = {"number": "  lock held per create: whole database (BEGIN IMMEDIATE to COMMIT)"}
    else:
        labels = {"number": "  lock held per create: NumberSequence row (SVC)",
                  "head": "  lock held per create: AuditChainHead row (all writes)"}
    results = []
    for name, label in labels.items():
        if held[name]:
            result = Result(group="API", name=label, runs=held[name], units=1, unit_label="writes ceiling")
            _progress(result)
            results.append(result)
    return results


def enqueue_only(*, budget: float) -> Result:
    """The part of every write that runs after the commit, inside the request: handing the outbox
    event to the broker (the embedded SQLite broker here, as `opsdesk serve` uses by default)."""
    from django.conf import settings

    from opsdesk.core.events import enqueue

    def call():
        enqueue("opsdesk.core.tasks.dispatch_event", 0)  # no such event: a worker would do nothing
        return None, 1

    broker = settings.CELERY_BROKER_URL.split(":", 1)[0]
    result = run_scenario("API", f"  of which: enqueue after commit ({broker} broker)", call, budget=budget,
                          min_runs=10, unit_label="tasks")
    _progress(result)
    return result


def audit_verify(seeded: Seeded, *, only: str = "") -> list[Result]:
    if not selected(only, "CLI audit verify (verify_chain, in-process)"):
        return []
    from opsdesk.core.audit import verify_chain

    def call():
        outcome = verify_chain()
        if not outcome.ok:
            raise BenchmarkError(f"audit chain broken at {outcome.bad_entry_id}: {outcome.reason}")
        return None, outcome.checked

    result = run_scenario("CLI", "audit verify (verify_chain, in-process)", call, min_runs=2, max_runs=2, budget=0,
                          unit_label="rows", time_captured_run=True)
    _progress(result)
    return [result]


def audit_verify_cli(env: dict) -> Result:
    """`opsdesk audit verify` as a user runs it: a new process, Django start-up included."""
    import subprocess
    import sys
    from pathlib import Path

    command = [str(Path(sys.executable).with_name("opsdesk")), "audit", "verify"]
    t0 = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise BenchmarkError(f"opsdesk audit verify failed: {done.stdout} {done.stderr}")
    rows = int(done.stdout.split(":")[1].split()[0])
    result = Result(group="CLI", name="opsdesk audit verify (new process)", runs=[elapsed], units=rows,
                    unit_label="rows", note=done.stdout.strip())
    _progress(result)
    return result


def _progress(result: Result) -> None:
    extra = f", {result.throughput:,.0f} {result.unit_label}/s" if result.throughput and result.unit_label else ""
    print(f"  {result.group:<4} {result.name:<58} median {result.median_ms:9.1f} ms  p95 {result.p95_ms:9.1f} ms  "
          f"{'' if result.queries is None else f'{result.queries} SQL'}{extra}", flush=True)


def config_apply(seeded: Seeded, sizes: list[int]) -> list[Result]:
    """`opsdesk config apply` of a file with K new services: one transaction for the whole file, so the
    number sequence and the audit chain head are updated K times in that transaction. The outbox
    events are handed to the worker after the commit, in one message."""

    from opsdesk.core import config_as_code
    from opsdesk.core.actors import Actor

    warm_up = [{"slug": "cfg-warm-up", "name": "Config warm-up", "owner_team": seeded.team_slug}]
    config_as_code.apply_document({"version": config_as_code.FORMAT_VERSION, "services": warm_up},
                                  actor=Actor.system("bench-config"))  # the broker connection, caches
    results = []
    for size in sizes:
        items = [{"slug": f"cfg-{size}-{i:05d}", "name": f"Config {size} {i:05d}", "owner_team": seeded.team_slug,
                  "tier": 3, "criticality": "medium", "tags": ["config-applied"]} for i in range(size)]
        document = {"version": config_as_code.FORMAT_VERSION, "services": items}
        with StatementCounter() as counter:
            t0 = time.perf_counter()
            changes = config_as_code.apply_document(document, actor=Actor.system("bench-config"))
            elapsed = time.perf_counter() - t0
        if sum(1 for c in changes if c.action == "create") != size:
            raise BenchmarkError(f"config apply created {len(changes)} services, expected {size}")
        result = Result(group="CLI", name=f"config apply: {size:,} new services in one transaction", runs=[elapsed],
                        queries=counter.count, units=size, unit_label="services",
                        note=f"{elapsed / size * 1000:.1f} ms per service")
        _progress(result)
        results.append(result)
    return results
