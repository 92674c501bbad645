"""Calendar specs (the plain values business_time computes with) built from BusinessCalendar rows and
cached per process, keyed on the row's id and `updated_at`: an edited calendar is rebuilt on its next
use, and a page of 500 timers on one calendar builds its spec (and its holidays) once."""

from __future__ import annotations

import datetime
import threading

from django.utils import timezone

from . import business_time, holiday_dates
from .models import BusinessCalendar

YEARS_BACK, YEARS_AHEAD = 1, 5
_CACHE: dict[tuple, business_time.CalendarSpec] = {}
_LOCK = threading.Lock()
_CACHE_LIMIT = 1000


def _parse_date(value) -> datetime.date:
    if isinstance(value, datetime.date):
        return value
    return datetime.date.fromisoformat(str(value))


def build(calendar: BusinessCalendar, *, year: int | None = None) -> business_time.CalendarSpec:
    """The spec of a calendar row, uncached (also used to check a calendar before it is saved)."""
    year = year or timezone.now().year
    holidays: set[datetime.date] = set()
    if calendar.holiday_country:
        holidays |= holiday_dates.holiday_dates(calendar.holiday_country, calendar.holiday_subdivision or None,
                                                range(year - YEARS_BACK, year + YEARS_AHEAD + 1))
    holidays |= {_parse_date(item["date"]) for item in calendar.custom_holidays or []}
    extra: dict[datetime.date, list] = {}
    for item in calendar.extra_days or []:
        extra.setdefault(_parse_date(item["date"]), []).extend(item.get("hours") or [])
    return business_time.CalendarSpec(calendar.time_zone or "UTC", dict(calendar.hours or {}), frozenset(holidays),
                                      tuple(extra.items()))


def for_calendar(calendar: BusinessCalendar | None) -> business_time.CalendarSpec:
    if calendar is None:
        return business_time.ALWAYS_SPEC
    year = timezone.now().year
    key = (calendar.pk, calendar.updated_at, year)
    spec = _CACHE.get(key)
    if spec is None:
        spec = build(calendar, year=year)
        with _LOCK:
            if len(_CACHE) >= _CACHE_LIMIT:
                _CACHE.clear()
            _CACHE[key] = spec
    return spec


def for_timer(timer) -> business_time.CalendarSpec:
    """Calendar time (every minute counts) unless the target counts business time on a calendar."""
    if not timer.business_time or timer.calendar_id is None:
        return business_time.ALWAYS_SPEC
    return for_calendar(timer.calendar)
