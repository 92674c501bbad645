"""Reads of the SLA engine for reports: breaches counted in the database, never in Python loops."""

from __future__ import annotations

import datetime

from django.db.models import Count

from .models import SLATimer


def _breaches(record_type: str, since: datetime.datetime, until: datetime.datetime):
    """Timers of the record type breached in [since, until); a cancelled record's clocks do not count."""
    return (SLATimer.objects.filter(content_type__model=record_type, breached_at__gte=since, breached_at__lt=until)
            .exclude(state="cancelled"))


def breach_counts(record_type: str, since: datetime.datetime, until: datetime.datetime) -> dict[str, int]:
    """{metric: breaches} in the period, e.g. {"acknowledge": 3, "resolve": 7}."""
    rows = _breaches(record_type, since, until).values("metric").annotate(n=Count("id")).order_by("metric")
    return {row["metric"]: row["n"] for row in rows}


def breach_counts_by_policy(record_type: str, since: datetime.datetime,
                            until: datetime.datetime) -> dict[str, dict[str, int]]:
    """{policy key: {metric: breaches}} in the period."""
    rows = (_breaches(record_type, since, until).values("policy__slug", "metric").annotate(n=Count("id"))
            .order_by("policy__slug", "metric"))
    counts: dict[str, dict[str, int]] = {}
    for row in rows:
        counts.setdefault(row["policy__slug"], {})[row["metric"]] = row["n"]
    return counts
