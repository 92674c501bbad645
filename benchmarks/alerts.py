"""Alert intake benchmark (issue 5): sustained ingest of Alertmanager webhooks over HTTP into a real
`gunicorn` + Celery worker(s) on Redis, a 5,000-alert burst and its drain time, and the alert list
(page and API) with 100,000 active alerts in 5,000 groups.

    .venv/bin/python benchmarks/alerts.py                                  # SQLite (make bench-alerts)
    OPSDESK_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_alerts \\
        .venv/bin/python benchmarks/alerts.py                              # PostgreSQL (the targets' database)
    .venv/bin/python benchmarks/alerts.py --duration 10 --list-alerts 20000 --list-groups 1000   # quick

What runs: a new data directory under /tmp and (PostgreSQL) a database created for the run and
dropped at the end (its name must contain "bench"; --keep keeps both); `opsdesk serve --no-worker`
(gunicorn, the product's gthread workers) on a free port; `celery worker` (prefork, --worker-concurrency
processes) on the Redis broker (OPSDESK_BENCH_BROKER_URL, default redis://127.0.0.1:6379/14) with a
queue of its own; the load from client processes (benchmarks/alerts_load.py, which describes the
traffic: 70 % repeats, groups of 1-20 alerts, up to 10 alerts a payload).

Figures, printed (never asserted, CONVENTIONS §8; docs/benchmarks.md "Alerts (issue 5)" keeps them):

- ingest: alerts/s and payloads/s accepted over the run, p50/p99 request latency, non-2xx answers,
  then the drain (until the worker processed every stored payload); checks after the drain: lost
  (alerts in accepted payloads that are not stored), duplicates (alert rows per fingerprint, open
  groups per key and incidents per group key above 1), incidents created vs the groups sent, repeats
  counted (every accepted alert event is one alert row or one repeat on it);
- deferred: the same ingest with the worker stopped during the load and started after it, which
  separates what the web tier accepts from what the worker processes;
- burst: the same traffic for 5,000 alerts posted as fast as the server answers; drain time from the
  first request until every payload is processed;
- list: 100,000 active alerts in 5,000 groups seeded in bulk; the alert list page and API, median
  and p95 (in-process requests like the other benchmarks, no socket).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

DEFAULT_DATABASE = "bench_alerts"
DEFAULT_BROKER = "redis://127.0.0.1:6379/14"
TARGETS = {"alerts_per_second": 1000, "p99_ms": 100, "burst_drain_s": 10, "list_p95_ms": 100}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=30, help="seconds of sustained ingest (default 30)")
    parser.add_argument("--rate", type=int, default=1000, help="target alerts per second, all clients (1,000)")
    parser.add_argument("--clients", type=int, default=2, help="client processes (default 2)")
    parser.add_argument("--threads", type=int, default=6, help="threads (connections) per client (default 6)")
    parser.add_argument("--repeat-share", type=float, default=0.7, help="payloads that repeat a known group (0.7)")
    parser.add_argument("--group-sizes", default="1-20", help="alerts per group, min-max (default 1-20)")
    parser.add_argument("--per-payload", type=int, default=10, help="most alerts per payload (default 10)")
    parser.add_argument("--burst", type=int, default=5000, help="alerts in the burst (default 5,000; 0: none)")
    parser.add_argument("--list-alerts", type=int, default=100_000, help="active alerts seeded for the list")
    parser.add_argument("--list-groups", type=int, default=5_000, help="groups they are in (default 5,000)")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--worker-concurrency", type=int, default=2, help="Celery worker processes (default 2)")
    parser.add_argument("--drain-timeout", type=int, default=300, help="longest wait for the drain (s)")
    parser.add_argument("--budget", type=float, default=3.0, help="seconds of timed runs per list scenario")
    parser.add_argument("--max-runs", type=int, default=60, help="most timed runs per list scenario")
    parser.add_argument("--only", default="", help="phases whose name contains one of these comma-separated "
                                                   "texts (ingest, deferred, burst, list)")
    parser.add_argument("--profile", action="store_true",
                        help="afterwards, profile 300 ingest requests and the processing of 200 payloads "
                             "in this process with pyinstrument")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--keep", action="store_true", help="keep the data directory and the database")
    return parser.parse_args(argv)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _database_url() -> tuple[str, str | None]:
    from run import postgres_database

    url = os.environ.get("OPSDESK_BENCH_DATABASE_URL", "").strip()
    if not url:
        return "", None
    parts = urlsplit(url)
    if parts.path.lstrip("/") in {"", "postgres", "template0", "template1"}:
        url = urlunsplit(parts._replace(path=f"/{DEFAULT_DATABASE}"))
    return postgres_database(url)


def percentile(values: list[float], pct: float) -> float:
    from measure import percentile as nearest_rank

    return nearest_rank(values, pct) if values else float("nan")


# --- processes ---------------------------------------------------------------------------------------


class Servers:
    """`opsdesk serve --no-worker` (gunicorn) and one `celery worker` on the Redis broker."""

    def __init__(self, env: dict, log_dir: Path, *, web_workers: int, concurrency: int, queue: str):
        self.env, self.log_dir = env, log_dir
        self.web_workers, self.concurrency, self.queue = web_workers, concurrency, queue
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.processes: dict[str, subprocess.Popen] = {}
        self._logs = []

    def start(self) -> Servers:
        try:
            self._spawn("web", [str(Path(sys.executable).parent / "opsdesk"), "serve", "--no-worker", "--host",
                                "127.0.0.1", "--port", str(self.port), "--web-workers", str(self.web_workers)])
            self.start_worker()
            deadline = time.monotonic() + 60
            while not self._healthy():
                for name, process in self.processes.items():
                    if process.poll() is not None:
                        raise RuntimeError(f"{name} exited with {process.returncode}; see {self.log_dir}/{name}.log")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the web server did not come up; see {self.log_dir / 'web.log'}")
                time.sleep(0.3)
            return self
        except BaseException:
            self.stop()  # what did start must not outlive the benchmark
            raise

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base}/healthz", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def _spawn(self, name: str, command: list[str]) -> None:
        log = open(self.log_dir / f"{name}.log", "a")  # noqa: SIM115  (closed in stop)
        self._logs.append(log)
        # Own sessions, so a stop reaches gunicorn's and Celery's children too.
        self.processes[name] = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                                start_new_session=True)

    def start_worker(self) -> None:
        self._spawn("worker", [sys.executable, "-m", "celery", "-A", "opsdesk", "worker", "--queues", self.queue,
                               "--concurrency", str(self.concurrency), "--loglevel", "WARNING", "--hostname",
                               f"bench-{os.getpid()}@%h", "--without-mingle", "--without-gossip",
                               "--without-heartbeat"])

    def stop_worker(self) -> None:
        """Warm shutdown: the worker finishes the task in hand; the rest waits in Redis."""
        self._end(self.processes.pop("worker"))

    @staticmethod
    def _end(process: subprocess.Popen) -> None:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def stop(self) -> None:
        for process in self.processes.values():
            self._end(process)
        for log in self._logs:
            log.close()


# --- phases ---------------------------------------------------------------------------------------------


def post_load(url: str, *, name: str, clients: int, threads: int, rate: int, duration: int, alerts: int,
              repeat_share: float, sizes: tuple[int, int], per_payload: int, seed: int) -> dict:
    """Run the client processes; merge what they saw."""
    from alerts_load import run_client

    mean = (sizes[0] + sizes[1]) / 2
    mean = min(mean, per_payload) if sizes[1] <= per_payload else (
        sum(min(s, per_payload) for s in range(sizes[0], sizes[1] + 1)) / (sizes[1] - sizes[0] + 1))
    if alerts:  # a fixed amount of alerts, as fast as possible
        payloads_each = int(alerts / mean / clients) + 1
    else:  # enough for the duration at the rate (and some: a faster server takes more)
        payloads_each = int(rate * duration / mean / clients * 1.3) + 50
    start_at = time.time() + 1.0 + clients * 0.5  # after every client has built its plan
    alerts_each = -(-alerts // clients) if alerts else 0  # the burst: at least `alerts` in all
    jobs = [{"client": f"{name}{n}", "seed": seed * 100 + n, "payloads": payloads_each, "alerts": alerts_each,
             "repeat_share": repeat_share, "sizes": sizes, "per_payload": per_payload, "threads": threads,
             "rate": rate / clients if rate else 0, "duration": duration, "url": url, "start_at": start_at}
            for n in range(clients)]
    with multiprocessing.get_context("spawn").Pool(clients) as pool:
        parts = pool.map(run_client, jobs)
    merged = {"latencies_ms": [], "statuses": {}, "errors": [], "accepted_alert_events": 0,
              "accepted_fingerprints": set(), "accepted_group_keys": set(), "sent_payloads": 0}
    for part in parts:
        merged["latencies_ms"] += part["latencies_ms"]
        for status, count in part["statuses"].items():
            merged["statuses"][status] = merged["statuses"].get(status, 0) + count
        merged["errors"] += part["errors"]
        merged["accepted_alert_events"] += part["accepted_alert_events"]
        merged["accepted_fingerprints"].update(part["accepted_fingerprints"])
        merged["accepted_group_keys"].update(part["accepted_group_keys"])
        merged["sent_payloads"] += part["sent_payloads"]
    merged["first_send"] = min(p["first_send"] for p in parts)
    merged["last_answer"] = max(p["last_answer"] for p in parts)
    merged["mean_alerts_per_payload"] = sum(p["mean_alerts_per_payload"] for p in parts) / len(parts)
    return merged


def wait_for_drain(integration, accepted_payloads: int, timeout: float) -> float | None:
    """time.time() when every accepted payload of the integration is processed (None: timeout)."""
    from django.db import connection

    from opsdesk.alerts.models import RawPayload

    deadline = time.monotonic() + timeout
    payloads = RawPayload.objects.filter(integration=integration)
    while time.monotonic() < deadline:
        stored = payloads.count()
        pending = payloads.filter(processed_at__isnull=True).count()
        if stored >= accepted_payloads and pending == 0:
            return time.time()
        connection.close()  # a fresh snapshot every poll (and no idle transaction)
        time.sleep(0.05)
    return None


def check_integrity(integration, load: dict) -> dict:
    """What must hold after the drain: nothing lost, nothing doubled, one incident per group."""
    from django.db.models import Count, Max, Min, Sum

    from opsdesk.alerts.models import Alert, AlertGroup, RawPayload

    alerts = Alert.objects.filter(integration=integration)
    stored = set(alerts.values_list("fingerprint", flat=True))
    accepted = load["accepted_fingerprints"]
    groups = AlertGroup.objects.filter(integration=integration)
    incidents_per_key = groups.exclude(incident=None).values("key_hash").annotate(
        n=Count("incident", distinct=True)).filter(n__gt=1).count()
    totals = alerts.aggregate(rows=Count("id"), repeats=Sum("repeat_count"))
    span = RawPayload.objects.filter(integration=integration).aggregate(first=Min("processed_at"),
                                                                       last=Max("processed_at"))
    seconds = (span["last"] - span["first"]).total_seconds() if span["first"] and span["last"] else None
    return {
        "processing_span_s": round(seconds, 2) if seconds else None,
        "processing_alerts_per_s": round(load["accepted_alert_events"] / seconds, 1) if seconds else None,
        "accepted_alerts": len(accepted),
        "stored_alerts": len(stored),
        "lost": len(accepted - stored),
        "unexpected": len(stored - accepted),
        "duplicate_alert_rows": alerts.values("fingerprint").annotate(n=Count("id")).filter(n__gt=1).count(),
        "duplicate_open_groups": groups.filter(is_open=True).values("key_hash").annotate(n=Count("id"))
        .filter(n__gt=1).count(),
        "group_keys_with_several_incidents": incidents_per_key,
        "groups_sent": len(load["accepted_group_keys"]),
        "groups_stored": groups.values("key_hash").distinct().count(),
        "incidents": groups.exclude(incident=None).values("incident").distinct().count(),
        "alert_events": load["accepted_alert_events"],
        "events_counted": (totals["rows"] or 0) + (totals["repeats"] or 0),
        "payload_errors": RawPayload.objects.filter(integration=integration).exclude(error="").count(),
    }


def ingest_phase(args, servers: Servers, name: str, *, rate: int, duration: int, alerts: int, seed: int,
                 defer: bool = False) -> dict:
    """Post the load, wait for the drain, check. With `defer`, the worker is stopped during the load and
    started after it: the ingest alone, then the processing alone."""
    from django.db import connection

    from opsdesk.alerts.integrations import create_integration
    from opsdesk.core.actors import Actor

    integration, key = create_integration(actor=Actor.system("bench"), data={
        "name": f"Bench {name}", "kind": "alertmanager", "severity_map": {"critical": "P2", "warning": "P3",
                                                                           "info": "P4"}})
    connection.close()
    url = f"{servers.base}/api/v1/integrations/alertmanager/{key}/"
    sizes = tuple(int(x) for x in args.group_sizes.split("-"))
    if defer:
        servers.stop_worker()
    load = post_load(url, name=name, clients=args.clients, threads=args.threads, rate=rate, duration=duration,
                     alerts=alerts, repeat_share=args.repeat_share, sizes=sizes, per_payload=args.per_payload,
                     seed=seed)
    accepted_payloads = sum(c for s, c in load["statuses"].items() if 200 <= int(s) < 300)
    if defer:
        servers.start_worker()
    drained_at = wait_for_drain(integration, accepted_payloads, args.drain_timeout)
    wall = load["last_answer"] - load["first_send"]
    latencies = load["latencies_ms"]
    figures = {
        "phase": name, "wall_s": round(wall, 2), "payloads_sent": load["sent_payloads"],
        "payloads_accepted": accepted_payloads,
        "statuses": {str(k): v for k, v in sorted(load["statuses"].items())},
        "errors": load["errors"][:5],
        "alerts_per_s": round(load["accepted_alert_events"] / wall, 1) if wall else 0,
        "payloads_per_s": round(accepted_payloads / wall, 1) if wall else 0,
        "mean_alerts_per_payload": round(load["mean_alerts_per_payload"], 2),
        "p50_ms": round(percentile(latencies, 50), 1), "p99_ms": round(percentile(latencies, 99), 1),
        "max_ms": round(max(latencies), 1) if latencies else None,
        "drain_after_load_s": round(drained_at - load["last_answer"], 2) if drained_at else None,
        "drain_from_first_request_s": round(drained_at - load["first_send"], 2) if drained_at else None,
        "processed_alerts_per_s": round(load["accepted_alert_events"] / (drained_at - load["first_send"]), 1)
        if drained_at else None,
    }
    figures.update(check_integrity(integration, load))
    connection.close()
    return figures


def print_ingest(figures: dict) -> None:
    f = figures
    print(f"  {f['phase']}: {f['payloads_accepted']:,} payloads ({f['alert_events']:,} alert events, "
          f"{f['mean_alerts_per_payload']} a payload) in {f['wall_s']} s: {f['alerts_per_s']:,} alerts/s, "
          f"{f['payloads_per_s']:,} payloads/s; latency p50 {f['p50_ms']} ms, p99 {f['p99_ms']} ms, "
          f"max {f['max_ms']} ms; answers {f['statuses']}" + (f"; errors {f['errors']}" if f["errors"] else ""))
    drain = (f"{f['drain_after_load_s']} s after the last request, {f['drain_from_first_request_s']} s after the "
             f"first ({f['processed_alerts_per_s']:,} alerts/s processed)") if f["drain_after_load_s"] is not None \
        else "NOT drained within the timeout"
    print(f"    drained {drain}; processing itself (first to last payload processed): "
          f"{f['processing_span_s']} s, {f['processing_alerts_per_s']} alerts/s")
    print(f"    alerts accepted {f['accepted_alerts']:,}, stored {f['stored_alerts']:,}, lost {f['lost']}, "
          f"unexpected {f['unexpected']}; duplicate alert rows {f['duplicate_alert_rows']}, duplicate open groups "
          f"{f['duplicate_open_groups']}, group keys with more than one incident "
          f"{f['group_keys_with_several_incidents']}")
    print(f"    groups sent {f['groups_sent']:,}, stored {f['groups_stored']:,}, incidents {f['incidents']:,}; "
          f"alert events {f['alert_events']:,}, counted (rows + repeats) {f['events_counted']:,}; "
          f"payload errors {f['payload_errors']}")


def list_phase(args, incident_ids: list[int]) -> list:
    from alerts_seed import seed_active_alerts
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from measure import run_scenario
    from rest_framework.test import APIClient

    from opsdesk.accounts.services import create_token
    from opsdesk.core.actors import Actor

    seeded = seed_active_alerts(args.list_alerts, args.list_groups, incident_ids=incident_ids)
    print(f"  seeded {seeded['alerts']:,} alerts in {seeded['groups']:,} groups in {seeded['seconds']:.1f} s")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    admin = get_user_model().objects.get(username="bench-admin")
    _token, plaintext = create_token(admin, actor=Actor.system("bench"), name="bench-list")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    ui = Client()
    ui.force_login(admin)

    def page(client, url):
        def call():
            response = client.get(url)
            if response.status_code != 200:
                raise RuntimeError(f"GET {url} answered {response.status_code}: {response.content[:300]!r}")
            rows = None
            if response.get("Content-Type", "").startswith("application/json"):
                body = response.json()
                rows = len(body.get("results", [])) if isinstance(body, dict) else len(body)
                return len(response.content), rows, body.get("count") if isinstance(body, dict) else None
            return len(response.content), rows
        return call

    label = seeded["label"]
    specs = [
        ("UI", "alert list, page 1", ui, "/alerts/"),
        ("UI", "alert list, firing + critical", ui, "/alerts/?status=firing&severity=critical"),
        ("UI", f"alert list, label {label}", ui, f"/alerts/?label={label}"),
        ("API", "alerts, page 1", api, "/api/v1/alerts/alerts/"),
        ("API", "alerts, firing + critical", api, "/api/v1/alerts/alerts/?status=firing&severity=critical"),
        ("API", "alert groups, page 1", api, "/api/v1/alerts/groups/"),
    ]
    results = []
    for group, name, client, url in specs:
        try:
            result = run_scenario(group, name, page(client, url), budget=args.budget, max_runs=args.max_runs)
        except Exception as error:  # noqa: BLE001  (a missing page is a finding to print, not a crash)
            print(f"  {group} {name}: {type(error).__name__}: {error}")
            continue
        print(f"  {group} {name:<34} median {result.median_ms:7.1f} ms  p95 {result.p95_ms:7.1f} ms  "
              f"{result.queries} SQL  ({url})", flush=True)
        results.append(result)
    return results


def profile_ingest(n: int = 300) -> None:
    """Post payloads in-process (Django's test client: all middleware, no socket, no gunicorn) under
    pyinstrument: where the request's time goes."""
    from alerts_load import build_plan
    from django.test import Client

    from opsdesk.alerts.integrations import create_integration
    from opsdesk.core.actors import Actor

    try:
        from pyinstrument import Profiler
    except ImportError:
        print("  pyinstrument is not installed (.venv/bin/pip install pyinstrument)")
        return
    _integration, key = create_integration(actor=Actor.system("bench"), data={"name": "Bench ingest profile",
                                                                               "kind": "alertmanager"})
    plan = build_plan(client="p", seed=3, payloads=n, repeat_share=0.7, sizes=(1, 20), per_payload=10)
    client = Client()
    url = f"/api/v1/integrations/alertmanager/{key}/"
    client.post(url, plan.bodies[0], content_type="application/json")  # warm
    profiler = Profiler(interval=0.0005)
    t0 = time.perf_counter()
    with profiler:
        for body in plan.bodies[1:]:
            response = client.post(url, body, content_type="application/json")
            assert response.status_code == 202, response.content
    seconds = time.perf_counter() - t0
    print(f"  {n - 1} requests in-process in {seconds:.2f} s: {seconds / (n - 1) * 1000:.1f} ms each")
    print(profiler.output_text(unicode=False, color=False, show_all=False))


def profile_processing(n: int = 200) -> None:
    """Re-process copies of stored payloads in this process under pyinstrument: where the worker's time goes."""
    from django.db import connection

    from opsdesk.alerts import processing
    from opsdesk.alerts.models import RawPayload

    try:
        from pyinstrument import Profiler
    except ImportError:
        print("  pyinstrument is not installed (.venv/bin/pip install pyinstrument)")
        return
    from opsdesk.alerts.integrations import create_integration
    from opsdesk.core.actors import Actor

    # The first payloads of the ingest run, again, for a new integration: new alerts, groups and
    # incidents first, then repeats, as in the run.
    integration, _key = create_integration(actor=Actor.system("bench"), data={"name": "Bench profile",
                                                                              "kind": "alertmanager"})
    first = RawPayload.objects.filter(integration__name="Bench ingest").order_by("pk")
    sources = list(first[:n] if first.exists() else RawPayload.objects.order_by("pk")[:n])
    copies = RawPayload.objects.bulk_create([
        RawPayload(integration=integration, received_at=p.received_at, content_type=p.content_type,
                   body=p.body, size=p.size, events=p.events, event_count=p.event_count) for p in sources])
    ids = [p.pk for p in copies]
    profiler = Profiler()
    t0 = time.perf_counter()
    with profiler:
        for payload_id in ids:
            processing.process_payload(payload_id)
    seconds = time.perf_counter() - t0
    events = sum(p.event_count for p in sources)
    from opsdesk.alerts.models import AlertGroup

    incidents = AlertGroup.objects.filter(integration=integration).exclude(incident=None).count()
    print(f"  {len(ids)} payloads ({events} alert events, {incidents} new incidents) processed in {seconds:.2f} s "
          f"in one process: {events / seconds:,.0f} alerts/s, {connection.vendor}")
    print(profiler.output_text(unicode=False, color=False, show_all=False))
    # SQL statements per payload: a payload of a new group (it opens an incident) and a repeat of it.
    fresh, _key = create_integration(actor=Actor.system("bench"), data={"name": "Bench statements",
                                                                        "kind": "alertmanager"})
    source = max(sources[:50], key=lambda p: p.event_count)
    import collections
    import re

    from django.test.utils import CaptureQueriesContext

    for label in ("new group", "repeat of it"):
        copy = RawPayload.objects.create(integration=fresh, received_at=source.received_at, body=source.body,
                                         size=source.size, events=source.events, event_count=source.event_count)
        with CaptureQueriesContext(connection) as captured:
            processing.process_payload(copy.pk)
        tables = collections.Counter()
        for query in captured.captured_queries:
            sql = query["sql"]
            verb = sql.split(None, 1)[0].upper() if sql.strip() else "?"
            found = re.search(r'(?:FROM|INTO|UPDATE)\s+"?([a-z_]+)"?', sql)
            tables[f"{verb} {found.group(1) if found else ''}".strip()] += 1
        print(f"  one payload of {source.event_count} alerts, {label}: {len(captured.captured_queries)} SQL "
              f"statements: " + ", ".join(f"{name} x{n}" for name, n in tables.most_common()))


def main(argv=None) -> int:
    from run import create_postgres, drop_postgres, prepare_environment

    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_args: sys.exit(143))
    bench_url, pg_name = _database_url()
    data_dir = Path(tempfile.mkdtemp(prefix="opsdesk-bench-alerts-"))
    prepare_environment(data_dir, bench_url or None)
    broker_url = os.environ.get("OPSDESK_BENCH_BROKER_URL", DEFAULT_BROKER)
    queue = f"bench-alerts-{os.getpid()}"
    os.environ["OPSDESK_BROKER_URL"] = broker_url
    os.environ["OPSDESK_QUEUE"] = queue
    if pg_name:
        create_postgres(bench_url, pg_name)
    started = time.perf_counter()
    servers = None
    try:
        import django

        django.setup()
        servers = _prepare(args, data_dir, queue)
        return _run(args, data_dir, servers, pg_name, started)
    finally:
        if servers is not None:
            servers.stop()
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001,S110  (Django may not have loaded)
            pass
        _forget_queue(broker_url, queue)
        if args.keep:
            print(f"\nkept: data directory {data_dir}" + (f", database {pg_name}" if pg_name else ""))
        else:
            if pg_name:
                drop_postgres(bench_url, pg_name)
            shutil.rmtree(data_dir, ignore_errors=True)


def _forget_queue(broker_url: str, queue: str) -> None:
    try:
        import redis

        client = redis.Redis.from_url(broker_url)
        keys = list(client.scan_iter(match=f"*{queue}*"))
        if keys:
            client.delete(*keys)
        client.close()
    except Exception:  # noqa: BLE001,S110  (cleaning up is best effort)
        pass


def _prepare(args, data_dir: Path, queue: str) -> Servers:
    from django.core.management import call_command
    from django.db import connection

    from opsdesk.accounts.services import create_user
    from opsdesk.core.actors import Actor

    t0 = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    print(f"  migrated in {time.perf_counter() - t0:.1f} s")
    create_user(actor=Actor.system("bench"), username="bench-admin", role="admin", is_superuser=True)
    connection.close()
    servers = Servers(dict(os.environ), data_dir, web_workers=args.web_workers,
                      concurrency=args.worker_concurrency, queue=queue).start()
    print(f"  gunicorn ({args.web_workers} workers x 4 threads) at {servers.base}, celery worker "
          f"(prefork, {args.worker_concurrency} processes) on {os.environ['OPSDESK_BROKER_URL']} queue {queue}")
    return servers


def _run(args, data_dir: Path, servers: Servers, pg_name: str | None, started: float) -> int:
    from measure import selected, table
    from run import machine_info

    from opsdesk.alerts.models import AlertGroup

    info = machine_info()
    print(f"Opsdesk alert benchmark — {info['date']}")
    print(f"machine: {info['cpus']} CPUs ({info['cpu_model']}), {info['memory']} RAM; Python {info['python']}, "
          f"Django {info['django']}; {info['database']}; load average {info['load_average']}")
    print(f"code: commit {info['commit']}; data dir {data_dir}" + (f", database {pg_name}" if pg_name else ""))
    phases: dict = {}
    if any(selected(args.only, name) for name in ("ingest", "deferred", "burst")):
        # A short warm-up: the servers import and connect before the figures count.
        ingest_phase(args, servers, "warmup", rate=200, duration=3, alerts=0, seed=7)
    if selected(args.only, "ingest"):
        print(f"\nsustained ingest: {args.rate:,} alerts/s asked for {args.duration} s, {args.clients} client "
              f"processes x {args.threads} connections", flush=True)
        phases["ingest"] = ingest_phase(args, servers, "ingest", rate=args.rate, duration=args.duration, alerts=0,
                                        seed=1)
        print_ingest(phases["ingest"])
    if selected(args.only, "deferred"):
        print(f"\nthe same ingest with the worker stopped, then the worker alone: {args.rate:,} alerts/s asked for "
              f"{args.duration} s", flush=True)
        phases["deferred"] = ingest_phase(args, servers, "deferred", rate=args.rate, duration=args.duration,
                                          alerts=0, seed=3, defer=True)
        print_ingest(phases["deferred"])
    if args.burst and selected(args.only, "burst"):
        print(f"\nburst: {args.burst:,} alerts as fast as the server answers", flush=True)
        phases["burst"] = ingest_phase(args, servers, "burst", rate=0, duration=0, alerts=args.burst, seed=2)
        print_ingest(phases["burst"])
    list_results = []
    if selected(args.only, "list"):
        print(f"\nalert list with {args.list_alerts:,} active alerts in {args.list_groups:,} groups", flush=True)
        incident_ids = list(AlertGroup.objects.exclude(incident=None).values_list("incident_id", flat=True)[:5000])
        list_results = list_phase(args, incident_ids)
    if args.profile:
        print("\nprofile of the ingest request (pyinstrument):")
        profile_ingest()
        print("\nprofile of processing (pyinstrument):")
        profile_processing()

    print("\n## Results\n")
    print(f"{info['date']} · commit {info['commit']} · {info['cpus']} CPUs ({info['cpu_model']}) · "
          f"Python {info['python']} · Django {info['django']} · {info['database']} · gunicorn {args.web_workers} "
          f"workers, Celery {args.worker_concurrency} processes on Redis\n")
    print(summary_table(phases, list_results))
    if list_results:
        print()
        print(table(list_results))
    total = time.perf_counter() - started
    info["load_average_at_end"] = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"\ntotal time {total:.0f} s; load average at the start {info['load_average']}, "
          f"at the end {info['load_average_at_end']} (other work on the machine skews the figures)")
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "args": {k: str(v) for k, v in vars(args).items()},
                                         "phases": phases, "list": [r.as_dict() for r in list_results],
                                         "total_seconds": round(total, 1)}, indent=2, default=str))
        print(f"figures written to {args.json}")
    return 0


def summary_table(phases: dict, list_results: list) -> str:
    rows = [("figure", "value", "target", "met")]

    def add(name, value, target=None, ok=None):
        rows.append((name, value, target or "", "" if ok is None else ("yes" if ok else "NO")))

    ingest = phases.get("ingest")
    if ingest:
        add("sustained ingest, alerts/s accepted", f"{ingest['alerts_per_s']:,}",
            f">= {TARGETS['alerts_per_second']:,}", ingest["alerts_per_s"] >= TARGETS["alerts_per_second"])
        add("request latency p50 / p99 (ms)", f"{ingest['p50_ms']} / {ingest['p99_ms']}",
            f"p99 <= {TARGETS['p99_ms']}", ingest["p99_ms"] <= TARGETS["p99_ms"])
        add("non-2xx answers", str(sum(v for k, v in ingest["statuses"].items() if not k.startswith("2"))), "0")
        drained = ingest["drain_after_load_s"]
        add("drain after the load (s)", "not drained" if drained is None else str(drained))
        add("processed alerts/s (first request to drained)", str(ingest["processed_alerts_per_s"]))
        add("processing itself, alerts/s (first to last payload processed)", str(ingest["processing_alerts_per_s"]))
        add("incidents created / groups sent", f"{ingest['incidents']:,} / {ingest['groups_sent']:,}", "equal",
            ingest["incidents"] == ingest["groups_sent"])
        dups = (ingest["duplicate_alert_rows"] + ingest["duplicate_open_groups"]
                + ingest["group_keys_with_several_incidents"])
        add("duplicates (alert rows, open groups, incidents per key)", str(dups), "0", dups == 0)
        add("lost alerts", str(ingest["lost"]), "0", ingest["lost"] == 0 and drained is not None)
        add("alert events counted (rows + repeats) / accepted",
            f"{ingest['events_counted']:,} / {ingest['alert_events']:,}", "equal",
            ingest["events_counted"] == ingest["alert_events"])
    deferred = phases.get("deferred")
    if deferred:
        add("worker stopped during the load: alerts/s accepted", f"{deferred['alerts_per_s']:,}",
            f">= {TARGETS['alerts_per_second']:,}", deferred["alerts_per_s"] >= TARGETS["alerts_per_second"])
        add("worker stopped: request latency p50 / p99 (ms)", f"{deferred['p50_ms']} / {deferred['p99_ms']}",
            f"p99 <= {TARGETS['p99_ms']}", deferred["p99_ms"] <= TARGETS["p99_ms"])
        add("then the worker alone: processed alerts/s", str(deferred["processing_alerts_per_s"]))
        dups = (deferred["duplicate_alert_rows"] + deferred["duplicate_open_groups"]
                + deferred["group_keys_with_several_incidents"])
        add("worker stopped: lost / duplicates", f"{deferred['lost']} / {dups}", "0 / 0",
            deferred["lost"] == 0 and dups == 0 and deferred["drain_after_load_s"] is not None)
    burst = phases.get("burst")
    if burst:
        drain = burst["drain_from_first_request_s"]
        add(f"burst of {burst['alert_events']:,} alerts: posted in (s)", str(burst["wall_s"]))
        add("burst drained, from the first request (s)", "not drained" if drain is None else str(drain),
            f"<= {TARGETS['burst_drain_s']}", drain is not None and drain <= TARGETS["burst_drain_s"])
        dups = (burst["duplicate_alert_rows"] + burst["duplicate_open_groups"]
                + burst["group_keys_with_several_incidents"])
        add("burst: lost / duplicates", f"{burst['lost']} / {dups}", "0 / 0", burst["lost"] == 0 and dups == 0)
    for result in list_results:
        add(f"{result.group} {result.name}: median / p95 (ms)", f"{result.median_ms:.1f} / {result.p95_ms:.1f}",
            f"p95 <= {TARGETS['list_p95_ms']}", result.p95_ms <= TARGETS["list_p95_ms"])
    widths = [max(len(str(row[i])) for row in rows) for i in range(4)]
    lines = []
    for n, row in enumerate(rows):
        lines.append("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
