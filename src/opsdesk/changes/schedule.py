"""The change calendar (forward schedule of change): the changes, freeze windows and maintenance windows of a
period, read in a constant number of queries whatever the period holds, and laid out as a month grid, a
week or a list of days in the viewer's time zone. The pages and the iCal/JSON feeds are in calendar_views."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.db.models import Exists, OuterRef, Prefetch, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from opsdesk.core.permissions import has_role

from .models import CHANGE_TYPES, RISK_LEVELS, ChangeRequest, FreezeWindow
from .workflows import CHANGE_PLANNED_STATES

# A page shows at most this many changes (the month of a busy team holds a few hundred); the feeds more.
MAX_CHANGES = 500
MAX_FEED_CHANGES = 5000
MAX_WINDOWS = 200
# The grids show at most this many changes a day, then "+N more" (a link to the list of that month).
PER_DAY = {"month": 4, "week": 12}
# The longest period one read may cover (a feed of a year and some).
MAX_DAYS = 400

CHANGE_COLUMNS = ("id", "number", "title", "status", "change_type", "risk_level", "outcome", "planned_start",
                  "planned_end", "owner_team_id", "owner_team__name", "owner_team__slug")
RISK_STYLES = {"low": "success", "medium": "warning", "high": "danger", "very_high": "dark", "": "secondary"}
RISK_CHOICES = dict(RISK_LEVELS)
TYPE_CHOICES = dict(CHANGE_TYPES)


@dataclass
class Schedule:
    start: datetime.datetime
    end: datetime.datetime
    changes: list = field(default_factory=list)
    freezes: list = field(default_factory=list)
    maintenance: list = field(default_factory=list)
    truncated: bool = False  # more changes overlap the period than were read
    # With per_day: how many changes touch each local day (shown or not).
    day_counts: dict = field(default_factory=dict)


def _ids(values) -> list[int]:
    return [getattr(v, "pk", v) for v in values or []]


def entries(start: datetime.datetime, end: datetime.datetime, *, user, services=None, teams=None, risks=None,
            types=None, limit: int = MAX_CHANGES, per_day: int | None = None) -> Schedule:
    """What holds the period [start, end): the changes in a planned state and the closed ones whose planned
    window overlaps it (ordered by start, at most `limit`), the active freeze windows and the maintenance
    windows not cancelled. Filters narrow the changes (services, owner teams, risk levels, types) and the
    windows (services: the windows on them and those on every service). Five queries.

    With `per_day` (the month and week grids): every matching change is counted per local day
    (`day_counts`), but only the first `per_day` changes of each day are read in full, so a busy month
    costs the same to show as a quiet one. Six queries."""
    from opsdesk.alerts.models import MaintenanceWindow
    from opsdesk.services.models import Service

    schedule = Schedule(start=start, end=end)
    if user is not None and not has_role(user, "viewer"):
        return schedule
    service_ids = _ids(services)
    changes = (ChangeRequest.objects.filter(Q(status__in=CHANGE_PLANNED_STATES) | Q(status="closed"),
                                            planned_start__lt=end, planned_end__gt=start)
               .select_related("owner_team").only(*CHANGE_COLUMNS))
    if service_ids:
        through = ChangeRequest.services.through
        changes = changes.filter(Exists(through.objects.filter(changerequest_id=OuterRef("pk"),
                                                               service_id__in=service_ids)))
    if teams:
        changes = changes.filter(owner_team_id__in=_ids(teams))
    if risks:
        changes = changes.filter(risk_level__in=list(risks))
    if types:
        changes = changes.filter(change_type__in=list(types))
    changes = changes.order_by("planned_start", "id")
    if per_day is None:
        rows = list(changes[: limit + 1])
        schedule.truncated = len(rows) > limit
        schedule.changes = rows[:limit]
    else:
        _first_per_day(schedule, changes, per_day)

    def names():
        return Prefetch("services", queryset=Service.objects.only("id", "name", "slug").order_by("name"))

    freezes = FreezeWindow.objects.filter(active=True, starts_at__lt=end, ends_at__gt=start)
    maintenance = MaintenanceWindow.objects.filter(cancelled_at__isnull=True, starts_at__lt=end, ends_at__gt=start)
    if service_ids:
        freeze_through = FreezeWindow.services.through
        freezes = freezes.filter(
            ~Exists(freeze_through.objects.filter(freezewindow_id=OuterRef("pk")))
            | Exists(freeze_through.objects.filter(freezewindow_id=OuterRef("pk"), service_id__in=service_ids)))
        maintenance_through = MaintenanceWindow.services.through
        maintenance = maintenance.filter(
            Exists(maintenance_through.objects.filter(maintenancewindow_id=OuterRef("pk"),
                                                      service_id__in=service_ids)))
    schedule.freezes = list(freezes.prefetch_related(names()).order_by("starts_at", "id")[:MAX_WINDOWS])
    schedule.maintenance = list(maintenance.only("id", "title", "starts_at", "ends_at")
                                .prefetch_related(names()).order_by("starts_at", "id")[:MAX_WINDOWS])
    return schedule


# The grids count at most this many changes of one period (a month of a very busy organisation holds a few
# thousand; the count is two timestamps per change).
MAX_COUNTED = 20_000


def _first_per_day(schedule: Schedule, changes, per_day: int) -> None:
    """Count the changes per local day from their windows alone, then read in full only the first
    `per_day` of each day (by start): the ones the grid shows."""
    counts: dict[datetime.date, int] = {}
    wanted: list[int] = []
    seen: set[int] = set()
    windows = changes.values_list("id", "planned_start", "planned_end")[: MAX_COUNTED + 1]
    for index, (pk, starts, ends) in enumerate(windows.iterator(chunk_size=5000)):
        if index == MAX_COUNTED:
            schedule.truncated = True
            break
        day, last = _local_days(max(starts, schedule.start), min(ends, schedule.end))
        while day <= last:
            counts[day] = counts.get(day, 0) + 1
            if counts[day] <= per_day and pk not in seen:
                seen.add(pk)
                wanted.append(pk)
            day += datetime.timedelta(days=1)
    schedule.day_counts = counts
    by_id = {c.pk: c for c in changes.model.objects.filter(pk__in=wanted).select_related("owner_team")
             .only(*CHANGE_COLUMNS)} if wanted else {}
    schedule.changes = [by_id[pk] for pk in wanted if pk in by_id]


# --- periods and layout (local time of the viewer: the time zone the middleware activated) ----------------

VIEWS = ("month", "week", "list")


def local_midnight(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min), timezone.get_current_timezone())


def period(view: str, day: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The first day shown and the day after the last: the month grid shows whole weeks (Monday first)."""
    if view == "week":
        first = day - datetime.timedelta(days=day.weekday())
        return first, first + datetime.timedelta(days=7)
    month_start = day.replace(day=1)
    next_month = (month_start + datetime.timedelta(days=32)).replace(day=1)
    if view == "list":
        return month_start, next_month
    first = month_start - datetime.timedelta(days=month_start.weekday())
    last = next_month + datetime.timedelta(days=(7 - next_month.weekday()) % 7)
    return first, last


def step(view: str, day: datetime.date, direction: int) -> datetime.date:
    """The date of the previous (-1) or next (+1) page."""
    if view == "week":
        return day + datetime.timedelta(days=7 * direction)
    month_start = day.replace(day=1)
    if direction < 0:
        return (month_start - datetime.timedelta(days=1)).replace(day=1)
    return (month_start + datetime.timedelta(days=32)).replace(day=1)


def _local_days(start: datetime.datetime, end: datetime.datetime) -> tuple[datetime.date, datetime.date]:
    """The local days a window [start, end) touches (an end at midnight does not touch the next day)."""
    first = timezone.localtime(start).date()
    last = timezone.localtime(end - datetime.timedelta(microseconds=1)).date()
    return first, max(first, last)


@dataclass
class Entry:
    """One item of one day: a change, a freeze window or a maintenance window, with its local times that day."""

    kind: str  # "change" | "freeze" | "maintenance"
    record: object
    starts: datetime.datetime
    ends: datetime.datetime
    day: datetime.date
    first_day: bool
    last_day: bool

    @property
    def style(self) -> str:
        if self.kind == "change":
            return RISK_STYLES.get(self.record.risk_level or "", "secondary")
        return "freeze" if self.kind == "freeze" else "maintenance"

    @property
    def label(self) -> str:
        return self.record.title if self.kind != "freeze" else self.record.name

    @property
    def time_range(self) -> str:
        starts = timezone.localtime(self.starts).strftime("%H:%M") if self.first_day else "…"
        ends = timezone.localtime(self.ends).strftime("%H:%M") if self.last_day else "…"
        return f"{starts}–{ends}"


@dataclass
class Day:
    date: datetime.date
    in_period: bool
    today: bool
    changes: list = field(default_factory=list)
    windows: list = field(default_factory=list)  # freezes and maintenance
    total: int = 0  # changes touching the day, shown or not (grids with a per-day cap)

    @property
    def more(self) -> int:
        return max(0, self.total - len(self.changes))

    @property
    def empty(self) -> bool:
        return not self.changes and not self.windows


def lay_out(schedule: Schedule, first: datetime.date, stop: datetime.date, *,
            month: int | None = None, per_day: int | None = None) -> list[Day]:
    """One Day per date in [first, stop), each with the items that touch it (a change spanning three days
    is on each of them), changes by start time; with `per_day`, at most that many changes a day and
    `Day.more` saying how many are not shown."""
    today = timezone.localdate()
    days = {first + datetime.timedelta(days=n): None for n in range((stop - first).days)}
    for date in days:
        days[date] = Day(date, in_period=month is None or date.month == month, today=date == today)

    def place(kind, record, starts, ends):
        day_one, day_last = _local_days(starts, ends)
        date = max(day_one, first)
        while date <= day_last and date < stop:
            entry = Entry(kind, record, starts, ends, date, first_day=date == day_one, last_day=date == day_last)
            (days[date].changes if kind == "change" else days[date].windows).append(entry)
            date += datetime.timedelta(days=1)

    for change in schedule.changes:
        place("change", change, change.planned_start, change.planned_end)
    for freeze in schedule.freezes:
        place("freeze", freeze, freeze.starts_at, freeze.ends_at)
    for window in schedule.maintenance:
        place("maintenance", window, window.starts_at, window.ends_at)
    if per_day is not None:
        for day in days.values():
            day.changes.sort(key=lambda e: (e.record.planned_start, e.record.pk))
            day.total = max(schedule.day_counts.get(day.date, 0), len(day.changes))
            day.changes = day.changes[:per_day]
    return list(days.values())


def weeks(days: list[Day]) -> list[list[Day]]:
    return [days[i:i + 7] for i in range(0, len(days), 7)]


LEGEND = [("success", _("Low risk")), ("warning", _("Medium risk")), ("danger", _("High risk")),
          ("dark", _("Very high risk")), ("secondary", _("Risk not assessed"))]
