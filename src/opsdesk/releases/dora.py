"""The four DORA figures per service and month (and over all services), from production deployments.

- Deployment frequency: succeeded production deployments (rollbacks are not deployments of a release).
- Lead time for changes: the median, over succeeded production deployments, of the time from the earliest
  submission of a change linked to the release (the release's creation when none is linked) to the deployment.
- Change failure rate: production deployments that failed, were rolled back (a rollback deployment names them,
  or their release is in the state "rolled back"), whose release had a rise flagged by the post-release watch,
  or whose changes caused incidents (`changes.CausedIncident`), over all production deployments.
- Time to restore: the median of the resolution times (opened to resolved) of incidents caused by changes linked
  to a release, and of the times from a failed production deployment to its rollback.

A deployment counts in the month (UTC) it finished (started, when it has no end), an incident in the month it
was resolved, a rollback in the month of the rollback; each counts for every service of its release. The counts
are aggregated in the database; the medians are taken over the durations of the months asked for, read in one
bounded query each (MAX_ROWS).
"""

from __future__ import annotations

import datetime
import statistics
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Count, Exists, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import Deployment

UTC = datetime.UTC
DEFAULT_MONTHS = 6
MAX_MONTHS = 24
MAX_ROWS = 50000  # durations read per figure (deployments, incidents, rollbacks of the months asked for)

BANDS = ("elite", "high", "medium", "low")
BAND_LABELS = {"elite": _("Elite"), "high": _("High"), "medium": _("Medium"), "low": _("Low")}
# The DORA 2023 report's performance levels, read per month.
METHOD = [
    (_("Deployment frequency"),
     _("Succeeded production deployments in the month. Elite: 30 or more (on demand, daily); high: 4 or more "
       "(weekly); medium: at least 1 (monthly); low: none.")),
    (_("Lead time for changes"),
     _("Median time from the first submission of a change linked to the release (else the release's creation) to "
       "its succeeded production deployment. Elite: under a day; high: under a week; medium: under a month; "
       "low: longer.")),
    (_("Change failure rate"),
     _("Share of production deployments that failed, were rolled back, had a rise flagged by the post-release "
       "watch, or whose changes caused incidents. Elite: 5% or less; high: 10% or less; medium: 15% or less; "
       "low: more.")),
    (_("Time to restore"),
     _("Median of the resolution times of incidents caused by the release's changes and of the times from a "
       "failed production deployment to its rollback. Elite: under an hour; high: under a day; medium: under a "
       "week; low: longer.")),
]


def frequency_band(count: int) -> str:
    return "elite" if count >= 30 else "high" if count >= 4 else "medium" if count >= 1 else "low"


def lead_time_band(hours: float | None) -> str | None:
    if hours is None:
        return None
    return "elite" if hours < 24 else "high" if hours < 24 * 7 else "medium" if hours < 24 * 30 else "low"


def failure_rate_band(rate: float | None) -> str | None:
    if rate is None:
        return None
    return "elite" if rate <= 0.05 else "high" if rate <= 0.10 else "medium" if rate <= 0.15 else "low"


def restore_band(hours: float | None) -> str | None:
    if hours is None:
        return None
    return "elite" if hours < 1 else "high" if hours < 24 else "medium" if hours < 24 * 7 else "low"


@dataclass
class Figures:
    """The DORA figures of one month for one service (or all)."""

    deployments: int = 0  # succeeded production deployments
    total: int = 0  # all production deployments (the change failure rate's denominator)
    failed: int = 0
    lead_hours: list[float] = field(default_factory=list, repr=False)
    restore_hours: list[float] = field(default_factory=list, repr=False)

    @property
    def change_failure_rate(self) -> float | None:
        return round(self.failed / self.total, 4) if self.total else None

    @property
    def lead_time_hours(self) -> float | None:
        return round(statistics.median(self.lead_hours), 2) if self.lead_hours else None

    @property
    def time_to_restore_hours(self) -> float | None:
        return round(statistics.median(self.restore_hours), 2) if self.restore_hours else None

    def bands(self) -> dict[str, str | None]:
        return {"deployment_frequency": frequency_band(self.deployments),
                "lead_time": lead_time_band(self.lead_time_hours),
                "change_failure_rate": failure_rate_band(self.change_failure_rate),
                "time_to_restore": restore_band(self.time_to_restore_hours)}

    def as_dict(self) -> dict:
        return {"deployment_frequency": self.deployments, "production_deployments": self.total,
                "failed_deployments": self.failed, "change_failure_rate": self.change_failure_rate,
                "lead_time_hours": self.lead_time_hours, "lead_time_count": len(self.lead_hours),
                "time_to_restore_hours": self.time_to_restore_hours, "restore_count": len(self.restore_hours),
                "bands": self.bands()}


def month_starts(months: int, now: datetime.datetime | None = None) -> list[datetime.datetime]:
    """The first instants (UTC) of the last `months` months, the current one last."""
    now = (now or timezone.now()).astimezone(UTC)
    year, month = now.year, now.month
    starts = []
    for _i in range(months):
        starts.append(datetime.datetime(year, month, 1, tzinfo=UTC))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return starts[::-1]


def _next_month(start: datetime.datetime) -> datetime.datetime:
    return start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)


def _month(value) -> datetime.date:
    return datetime.date(value.year, value.month, 1)


def _hours(start, end) -> float:
    return max(0.0, (end - start).total_seconds() / 3600)


def production_deployments(start, end, service=None):
    """Production deployments of releases (not rollbacks) that finished in [start, end), with `at`, `month`
    and `is_failure`."""
    from opsdesk.changes.models import CausedIncident

    rows = (Deployment.objects.filter(environment__is_production=True, is_rollback=False)
            .annotate(at=Coalesce("finished_at", "started_at")).filter(at__gte=start, at__lt=end)
            .annotate(month=TruncMonth("at", tzinfo=UTC),
                      rolled_back=Exists(Deployment.objects.filter(rollback_of=OuterRef("pk"))),
                      caused=Exists(CausedIncident.objects.filter(
                          Q(change__releases=OuterRef("release_id")) | Q(change_id=OuterRef("change_id"))))))
    if service is not None:
        rows = rows.filter(release__services=service)
    return rows


FAILURE = (Q(result="failed") | Q(release__status="rolled_back") | Q(release__watch_status="rise")
           | Q(rolled_back=True) | Q(caused=True))
COUNTS = {"total": Count("pk", distinct=True),
          "succeeded": Count("pk", distinct=True, filter=Q(result="succeeded")),
          "failed": Count("pk", distinct=True, filter=FAILURE)}


class Report:
    """The figures of `months` months: `overall[month]` and `by_service[service_id][month]`."""

    def __init__(self, months: int = DEFAULT_MONTHS, service=None, now: datetime.datetime | None = None):
        self.months = [s for s in month_starts(months, now)]
        self.start, self.end = self.months[0], _next_month(self.months[-1])
        self.service = service
        self.overall: dict[datetime.date, Figures] = {_month(m): Figures() for m in self.months}
        self.by_service: dict[int, dict[datetime.date, Figures]] = defaultdict(
            lambda: {_month(m): Figures() for m in self.months})
        self._count()
        self._lead_times()
        self._restores()
        self.services = self._services()

    def _figures(self, service_id, month) -> list[Figures]:
        """Where a value of `month` for `service_id` goes: the service's figures (when it has one) and overall."""
        month = _month(month)
        if month not in self.overall:
            return []
        targets = []
        if service_id is not None and (self.service is None or service_id == self.service.pk):
            targets.append(self.by_service[service_id][month])
        return targets

    def _count(self) -> None:
        rows = production_deployments(self.start, self.end, self.service)
        for row in rows.values("month").annotate(**COUNTS).order_by():
            figures = self.overall.get(_month(row["month"]))
            if figures is not None:
                figures.deployments, figures.total, figures.failed = row["succeeded"], row["total"], row["failed"]
        for row in rows.values("month", "release__services").annotate(**COUNTS).order_by():
            for figures in self._figures(row["release__services"], row["month"]):
                figures.deployments, figures.total, figures.failed = row["succeeded"], row["total"], row["failed"]

    def _lead_times(self) -> None:
        from opsdesk.changes.models import ChangeRequest

        first_submitted = (ChangeRequest.objects.filter(releases=OuterRef("release_id"), submitted_at__isnull=False)
                           .order_by("submitted_at").values("submitted_at")[:1])
        rows = (production_deployments(self.start, self.end, self.service).filter(result="succeeded")
                .annotate(lead_start=Coalesce(Subquery(first_submitted), "release__created_at"))
                .values_list("pk", "month", "lead_start", "at", "release__services").order_by("pk")[:MAX_ROWS])
        self._spread(rows)

    def _restores(self) -> None:
        from opsdesk.changes.models import CausedIncident

        caused = (CausedIncident.objects.filter(change__releases__isnull=False, incident__resolved_at__gte=self.start,
                                                incident__resolved_at__lt=self.end)
                  .annotate(month=TruncMonth("incident__resolved_at", tzinfo=UTC),
                            opened=Coalesce("incident__detected_at", "incident__created_at")))
        rollbacks = (Deployment.objects.filter(environment__is_production=True, is_rollback=True,
                                               rollback_of__isnull=False)
                     .annotate(at=Coalesce("finished_at", "started_at"),
                               failed_at=Coalesce("rollback_of__finished_at", "rollback_of__started_at"))
                     .filter(at__gte=self.start, at__lt=self.end).annotate(month=TruncMonth("at", tzinfo=UTC)))
        if self.service is not None:
            caused = caused.filter(change__releases__services=self.service)
            rollbacks = rollbacks.filter(release__services=self.service)
        incident_rows = (caused.values_list("incident_id", "month", "opened", "incident__resolved_at",
                                            "change__releases__services").distinct().order_by("incident_id")[:MAX_ROWS])
        rollback_rows = rollbacks.values_list("pk", "month", "failed_at", "at", "release__services").order_by("pk")
        self._spread(incident_rows, restore=True, kind="incident")
        self._spread(rollback_rows[:MAX_ROWS], restore=True, kind="rollback")

    def _spread(self, rows, *, restore: bool = False, kind: str = "deployment") -> None:
        """Add each duration to its service's figures and, once per item, to the month's overall figures."""
        counted_overall: set = set()
        for key, month, start, end, service_id in rows:
            hours = _hours(start, end)
            attribute = "restore_hours" if restore else "lead_hours"
            for figures in self._figures(service_id, month):
                getattr(figures, attribute).append(hours)
            overall = self.overall.get(_month(month))
            if overall is not None and (kind, key) not in counted_overall:
                counted_overall.add((kind, key))
                getattr(overall, attribute).append(hours)

    def _services(self) -> list:
        from opsdesk.services.models import Service

        ids = [pk for pk in self.by_service if pk is not None]
        return list(Service.objects.filter(pk__in=ids).order_by("name"))

    def rows(self) -> list[dict]:
        """Per month, newest first: the overall figures and each service's."""
        result = []
        for start in reversed(self.months):
            month = _month(start)
            result.append({"month": month, "overall": self.overall[month],
                           "services": [(s, self.by_service[s.pk][month]) for s in self.services]})
        return result

    def as_dict(self) -> dict:
        return {
            "months": [_month(m).strftime("%Y-%m") for m in self.months],
            "service": self.service.slug if self.service is not None else None,
            "overall": [{"month": m.strftime("%Y-%m"), **self.overall[m].as_dict()} for m in
                        (_month(s) for s in self.months)],
            "services": [{"slug": s.slug, "name": s.name,
                          "months": [{"month": m.strftime("%Y-%m"), **self.by_service[s.pk][m].as_dict()}
                                     for m in (_month(x) for x in self.months)]} for s in self.services],
            "method": [{"figure": str(name), "how": str(how)} for name, how in METHOD],
        }


def report(months: int = DEFAULT_MONTHS, service=None, now: datetime.datetime | None = None) -> Report:
    months = max(1, min(int(months), MAX_MONTHS))
    return Report(months, service, now)
