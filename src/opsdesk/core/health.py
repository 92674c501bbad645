"""/healthz (alive), /readyz (database and broker reachable) and /metrics (Prometheus text)."""

from __future__ import annotations

import datetime
import logging
import time

from django.conf import settings
from django.db import connection
from django.db.models import Count
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache

from opsdesk import __version__

log = logging.getLogger(__name__)


def check_database() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return True, connection.vendor
    except Exception:  # noqa: BLE001
        log.warning("readiness: database unreachable", exc_info=True)
        return False, "unreachable"


def check_broker(timeout: float = 3.0) -> tuple[bool, str]:
    from opsdesk.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
            return True, (app.conf.broker_url or "").split(":", 1)[0]
    except Exception:  # noqa: BLE001
        log.warning("readiness: broker unreachable", exc_info=True)
        return False, "unreachable"


@never_cache
def healthz(request):
    return JsonResponse({"status": "ok", "version": __version__})


@never_cache
def readyz(request):
    started = time.monotonic()
    db_ok, db_detail = check_database()
    broker_ok, broker_detail = check_broker()
    body = {
        "status": "ok" if db_ok and broker_ok else "unavailable",
        "checks": {
            "database": {"ok": db_ok, "detail": db_detail},
            "broker": {"ok": broker_ok, "detail": broker_detail},
        },
        "duration_ms": int((time.monotonic() - started) * 1000),
    }
    return JsonResponse(body, status=200 if db_ok and broker_ok else 503)


def _line(name, value, labels=None):
    label_text = ""
    if labels:
        label_text = "{" + ",".join(f'{k}="{str(v).replace(chr(34), "")}"' for k, v in labels.items()) + "}"
    return f"{name}{label_text} {value}"


@never_cache
def metrics(request):
    """Gauges computed from the database at scrape time, so every web process reports the same."""
    from .models import Delivery, JobRun, OutboxEvent, Timer
    from .registry import RECORD_TYPES

    token = getattr(settings, "METRICS_TOKEN", None)
    if token and request.headers.get("Authorization") != f"Bearer {token}":
        return HttpResponse(status=401)
    lines = ["# HELP opsdesk_info Opsdesk version.", "# TYPE opsdesk_info gauge",
             _line("opsdesk_info", 1, {"version": __version__})]
    db_ok, _ = check_database()
    lines += ["# HELP opsdesk_database_up Whether the database answers.", "# TYPE opsdesk_database_up gauge",
              _line("opsdesk_database_up", int(db_ok))]
    lines += ["# HELP opsdesk_records Records per type.", "# TYPE opsdesk_records gauge"]
    for record_type in RECORD_TYPES:
        lines.append(_line("opsdesk_records", record_type.model.objects.count(),
                           {"type": record_type.model._meta.label_lower}))
    lines += ["# HELP opsdesk_outbox_undispatched Events not yet dispatched.",
              "# TYPE opsdesk_outbox_undispatched gauge",
              _line("opsdesk_outbox_undispatched", OutboxEvent.objects.filter(dispatched_at__isnull=True).count())]
    lines += ["# HELP opsdesk_deliveries Deliveries by status.", "# TYPE opsdesk_deliveries gauge"]
    for status, n in Delivery.objects.values_list("status").annotate(n=Count("id")):
        lines.append(_line("opsdesk_deliveries", n, {"status": status}))
    lines += ["# HELP opsdesk_timers_overdue Pending timers past due.", "# TYPE opsdesk_timers_overdue gauge",
              _line("opsdesk_timers_overdue", Timer.objects.filter(status="pending", due_at__lt=timezone.now())
                    .count())]
    lines += ["# HELP opsdesk_job_runs Job runs in the last 24 hours by task and status.",
              "# TYPE opsdesk_job_runs gauge"]
    since = timezone.now() - datetime.timedelta(days=1)
    for task, status, n in JobRun.objects.filter(started_at__gte=since).values_list("task_name", "status")\
            .annotate(n=Count("id")):
        lines.append(_line("opsdesk_job_runs", n, {"task": task, "status": status}))
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain; version=0.0.4; charset=utf-8")
