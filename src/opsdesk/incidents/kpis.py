"""Incident KPIs computed in the database (CONVENTIONS §4): MTTA, MTTR, open incidents by priority and
those about to breach their SLA.

MTTA is the mean time from creation to acknowledgement of the incidents created in the period (the
`incident_mtta_idx` index answers it alone); MTTR the mean time from creation to resolution of the
incidents resolved in the period. A period is [since, until)."""

from __future__ import annotations

import datetime

from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from .models import PRIORITIES, Incident
from .workflows import OPEN_STATES

TO_ACKNOWLEDGE = ExpressionWrapper(F("acknowledged_at") - F("created_at"), output_field=DurationField())
TO_RESOLVE = ExpressionWrapper(F("resolved_at") - F("created_at"), output_field=DurationField())


def _seconds(value) -> float | None:
    return None if value is None else round(value.total_seconds(), 1)


def _acknowledged(since, until) -> Q:
    return Q(created_at__gte=since, created_at__lt=until, acknowledged_at__isnull=False)


def _resolved(since, until) -> Q:
    return Q(resolved_at__gte=since, resolved_at__lt=until)


def mtta_mttr(since: datetime.datetime, until: datetime.datetime) -> dict:
    """{"mtta_seconds", "mttr_seconds", "count_acknowledged", "count_resolved"} in one query; the means
    are None when nothing was acknowledged (resolved) in the period."""
    acknowledged, resolved = _acknowledged(since, until), _resolved(since, until)
    row = Incident.objects.filter(acknowledged | resolved).aggregate(
        mtta=Avg(TO_ACKNOWLEDGE, filter=acknowledged), mttr=Avg(TO_RESOLVE, filter=resolved),
        count_acknowledged=Count("id", filter=acknowledged), count_resolved=Count("id", filter=resolved))
    return {"mtta_seconds": _seconds(row["mtta"]), "mttr_seconds": _seconds(row["mttr"]),
            "count_acknowledged": row["count_acknowledged"], "count_resolved": row["count_resolved"]}


def mtta_mttr_by_day(since: datetime.datetime, until: datetime.datetime) -> list[dict]:
    """One entry per day of the period (in the current time zone), days without data included:
    [{"day": date, "mtta_seconds", "mttr_seconds", "count_acknowledged", "count_resolved"}]. Two grouped
    queries, whatever the length of the period."""
    acknowledged = (Incident.objects.filter(_acknowledged(since, until)).annotate(day=TruncDate("created_at"))
                    .values("day").annotate(mean=Avg(TO_ACKNOWLEDGE), n=Count("id")).order_by())
    resolved = (Incident.objects.filter(_resolved(since, until)).annotate(day=TruncDate("resolved_at"))
                .values("day").annotate(mean=Avg(TO_RESOLVE), n=Count("id")).order_by())
    by_ack = {row["day"]: row for row in acknowledged}
    by_res = {row["day"]: row for row in resolved}
    first, last = timezone.localdate(since), timezone.localdate(until - datetime.timedelta(microseconds=1))
    days = []
    day = first
    while day <= last:  # the days of a chart (a month), not rows of the table
        ack, res = by_ack.get(day, {}), by_res.get(day, {})
        days.append({"day": day, "mtta_seconds": _seconds(ack.get("mean")), "mttr_seconds": _seconds(res.get("mean")),
                     "count_acknowledged": ack.get("n", 0), "count_resolved": res.get("n", 0)})
        day += datetime.timedelta(days=1)
    return days


def open_by_priority() -> dict[str, int]:
    """{"P1": n, ..., "P5": n} of the open incidents (every priority present, 0 when none)."""
    counts = dict(Incident.objects.filter(status__in=OPEN_STATES).values_list("priority")
                  .annotate(n=Count("id")).order_by())
    return {value: counts.get(value, 0) for value, _label in PRIORITIES}


def breaching_soon(minutes: int = 60, limit: int = 5):
    """Open incidents whose earliest SLA is due within `minutes` (the already breached first)."""
    due = timezone.now() + datetime.timedelta(minutes=minutes)
    return (Incident.objects.filter(status__in=OPEN_STATES, sla_due_at__lte=due)
            .select_related("assignment_group", "assignee").order_by("sla_due_at", "id")[:limit])


def month_start(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime(day.year, day.month, 1))


def dashboard() -> dict:
    """The dashboard's incident cards: five queries, whatever the number of incidents."""
    now = timezone.now()
    this_month = month_start(timezone.localdate(now))
    last_month = month_start((this_month - datetime.timedelta(days=1)).date())
    since = timezone.make_aware(datetime.datetime.combine(timezone.localdate(now) - datetime.timedelta(days=29),
                                                          datetime.time()))
    from .views import duration_text

    current, previous = mtta_mttr(this_month, now), mtta_mttr(last_month, this_month)
    for period in (current, previous):
        for key in ("mtta", "mttr"):
            seconds = period[f"{key}_seconds"]
            period[f"{key}_text"] = duration_text(seconds) if seconds is not None else None
    trend = mtta_mttr_by_day(since, now)
    soon = list(breaching_soon())
    for incident in soon:
        incident.breached = incident.sla_due_at < now
    return {
        "open_by_priority": open_by_priority(),
        "breaching_soon": soon,
        "this_month": current,
        "last_month": previous,
        "trend": {
            "labels": [d["day"].strftime("%d %b") for d in trend],
            "mtta": [round(d["mtta_seconds"] / 60, 1) if d["mtta_seconds"] is not None else None for d in trend],
            "mttr": [round(d["mttr_seconds"] / 60, 1) if d["mttr_seconds"] is not None else None for d in trend],
        },
    }
