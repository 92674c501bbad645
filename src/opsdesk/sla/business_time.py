"""Business-time arithmetic for SLA clocks: pure functions on a calendar (weekly working hours in a time
zone, holidays, extra working days). Standard library only, so it is tested and benchmarked bare.

Rules (the tests in tests/sla/test_business_time.py show each of them with an example):

- Working ranges are local wall-clock times in the calendar's time zone; a range's real length is the
  UTC difference of its two ends. A range runs from the first occurrence of its start to the first
  occurrence of its end: a local time that does not exist (the spring-forward gap) resolves forward to
  the first real instant after the gap, an ambiguous one (the fall-back repeat) to its first
  occurrence (fold=0). So 00:00-24:00 lasts 23 h on the spring-forward day and 25 h on the fall-back
  day, and 01:00-04:00 across the Berlin spring jump lasts 2 h. Likewise a local day runs from the
  first occurrence of its 00:00 to the first occurrence of the next day's 00:00 (this matters only in
  zones that change the clock at midnight, such as America/Santiago).
- Intervals are half-open [start, end): 17:00 is not working time in a 09:00-17:00 day.
- A goal used up exactly at closing time is due at the closing instant (Monday 17:00), not at the
  next opening (Tuesday 09:00): no working time lies between the two, so both describe the same
  point of the business clock, and the earlier one is what a person reads as "by end of Monday".
- `add_business_seconds` with a goal of zero or less returns `start` (in UTC), unmoved: a goal
  already used up is due at once.
- Return values are aware datetimes in UTC; arguments must be aware.
- Arithmetic is exact to the microsecond (integers internally).

Speed: a calendar compiles once (module-level cache keyed on the frozen spec, and the compiled form
is kept on the spec object). A day's intervals are computed on intervals, never minute by minute;
long goals jump whole weeks arithmetically and correct for holidays, extra days and DST days inside
the jumped span with bisect over sorted lists, so only the last week or two is walked day by day.

Hashing: `CalendarSpec.hours` stays a dict in core.weekly_hours format (as the interface asks);
equality and hash use a normalized tuple form computed once at construction, so two specs with the
same rules share one compiled form. Treat a spec as immutable: do not mutate `hours` after building it.
"""

from __future__ import annotations

import bisect
import datetime
import functools
import threading
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

UTC = datetime.UTC
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_US = 1_000_000
_DAY_US = 86_400 * _US
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORD = _EPOCH.date().toordinal()
_ONE_US = datetime.timedelta(microseconds=1)
# Per calendar, the memo of day intervals is dropped when it grows past this many days, so a
# long-running worker that sees many far-apart dates keeps bounded memory.
_DAY_MEMO_LIMIT = 20_000


# --- the calendar --------------------------------------------------------------------------------

def _seconds_of_day(text: str, *, end: bool) -> int:
    try:
        hh, mm = (int(part) for part in str(text).split(":"))
    except ValueError:
        raise ValueError(f"not a time of day: {text!r} (write HH:MM)") from None
    if not (0 <= mm <= 59 and 0 <= hh <= 24) or (hh == 24 and (mm or not end)):
        raise ValueError(f"not a time of day: {text!r}")
    return hh * 3600 + mm * 60


def _normalize_ranges(ranges: Iterable) -> tuple[tuple[str, str], ...]:
    """Sorted, merged, validated ranges as ((start, end), ...) of "HH:MM" strings."""
    spans = []
    for rng in ranges or ():
        start, end = rng
        s, e = _seconds_of_day(start, end=False), _seconds_of_day(end, end=True)
        if s >= e:
            raise ValueError(f"a working range must end after it starts: {start}-{end}")
        spans.append([s, e])
    spans.sort()
    merged: list[list[int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return tuple((f"{s // 3600:02d}:{s % 3600 // 60:02d}", f"{e // 3600:02d}:{e % 3600 // 60:02d}")
                 for s, e in merged)


def _normalize_hours(hours) -> tuple[tuple[tuple[str, str], ...], ...]:
    items = hours.items() if isinstance(hours, Mapping) else (hours or ())
    week: dict[str, tuple] = {}
    for day, ranges in items:
        if day not in DAYS:
            raise ValueError(f"unknown day {day!r}; use {', '.join(DAYS)}")
        week[day] = _normalize_ranges(list(week.get(day, ())) + list(ranges or ()))
    return tuple(week.get(day, ()) for day in DAYS)


def _normalize_extra_days(extra_days) -> tuple:
    items = extra_days.items() if isinstance(extra_days, Mapping) else (extra_days or ())
    by_date: dict[datetime.date, list] = {}
    for day, ranges in items:
        if isinstance(day, datetime.datetime) or not isinstance(day, datetime.date):
            raise ValueError(f"an extra working day must be a datetime.date, not {day!r}")
        by_date.setdefault(day, []).extend(ranges or ())
    return tuple((day, _normalize_ranges(ranges)) for day, ranges in sorted(by_date.items()))


@dataclass(frozen=True, eq=False)
class CalendarSpec:
    """A business calendar as plain values.

    time_zone: IANA name ("Europe/Berlin"). hours: weekly hours in core.weekly_hours format,
    {"mon": [["09:00", "17:00"]], ...}, "24:00" allowed as an end; a missing day does not work.
    holidays: local dates that are not working days. extra_days: ((date, (("09:00", "13:00"), ...)),
    ...), dates that are working with these ranges instead of the weekly ones, even a Saturday or a
    holiday (a mapping date -> ranges is accepted too). Invalid values raise ValueError."""

    time_zone: str
    hours: dict
    holidays: frozenset = frozenset()
    extra_days: tuple = ()

    def __post_init__(self):
        try:
            zoneinfo.ZoneInfo(self.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
            raise ValueError(f"unknown time zone {self.time_zone!r}") from None
        week = _normalize_hours(self.hours)
        holidays = frozenset(self.holidays or ())
        if any(isinstance(d, datetime.datetime) or not isinstance(d, datetime.date) for d in holidays):
            raise ValueError("holidays must be datetime.date values")
        extra_days = _normalize_extra_days(self.extra_days)
        object.__setattr__(self, "holidays", holidays)
        object.__setattr__(self, "extra_days", extra_days)
        # Not dataclass fields: the normalized rules and their hash, computed once.
        key = (self.time_zone, week, holidays, extra_days)
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_hash", hash(key))

    def __eq__(self, other):
        if not isinstance(other, CalendarSpec):
            return NotImplemented
        return self is other or (self._hash == other._hash and self._key == other._key)

    def __hash__(self):
        return self._hash

    def __getstate__(self):
        # The compiled form is a cache (and holds a ZoneInfo); rebuild it after unpickling.
        state = dict(self.__dict__)
        state.pop("_compiled", None)
        return state

    @property
    def has_working_time(self) -> bool:
        return any(self._key[1]) or any(ranges for _day, ranges in self.extra_days)


ALWAYS_SPEC = CalendarSpec("UTC", {d: [["00:00", "24:00"]] for d in DAYS})


# --- time zones: where each local day starts, which days have a DST change --------------------------

def _wall_us(ordinal: int, second: int) -> int:
    """Local wall-clock time as if it were UTC, in microseconds since the epoch."""
    return ((ordinal - _EPOCH_ORD) * 86_400 + second) * _US


class _Zone:
    """Per time zone: the UTC instant (µs) at which each local day starts, and the sorted days whose
    UTC offset changes within them ("irregular" days). Filled a year at a time on first use.

    Assumes at most one offset change per local day (true of every real zone in practice)."""

    def __init__(self, name: str):
        self.tz = zoneinfo.ZoneInfo(name)
        self.day_starts: dict[int, int] = {}
        self.irregular: frozenset[int] = frozenset()
        self.irregular_sorted: list[int] = []
        self._years: set[int] = set()
        self._lock = threading.Lock()

    def resolve(self, ordinal: int, second: int) -> int:
        """UTC µs of local `second` of day `ordinal`: gap -> first instant after it, fold -> first."""
        naive = datetime.datetime.fromordinal(ordinal) + datetime.timedelta(seconds=second)
        off0 = self.tz.utcoffset(naive)
        off1 = self.tz.utcoffset(naive.replace(fold=1))
        wall = _wall_us(ordinal, second)
        if off0 >= off1:  # exists (off0 == off1) or is repeated (off0 > off1: fold=0 is the first)
            return wall - off0 // _ONE_US
        # In the gap: the transition instant lies between the two readings; find it to the second.
        lo = (wall - off1 // _ONE_US) // _US  # still before the transition
        hi = (wall - off0 // _ONE_US) // _US  # already after it
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if datetime.datetime.fromtimestamp(mid, UTC).astimezone(self.tz).utcoffset() == off0:
                lo = mid
            else:
                hi = mid
        return hi * _US

    def ensure(self, first_ordinal: int, last_ordinal: int) -> None:
        """Make day starts and irregular days known for every day in [first, last] (and the day after)."""
        for year in range(datetime.date.fromordinal(first_ordinal).year,
                          datetime.date.fromordinal(min(last_ordinal + 1, datetime.date.max.toordinal())).year + 1):
            if year not in self._years:
                self._load_year(year)

    def _load_year(self, year: int) -> None:
        with self._lock:
            if year in self._years:
                return
            first = datetime.date(year, 1, 1).toordinal()
            last = datetime.date(year, 12, 31).toordinal()
            starts = {o: self.resolve(o, 0) for o in range(first, last + 2)}
            irregular = [o for o in range(first, last + 1) if starts[o + 1] - starts[o] != _DAY_US]
            # Publish the irregular days before the day starts: a reader that finds a day start may
            # rely on the irregular set already covering that day.
            self.irregular = self.irregular | frozenset(irregular)
            self.irregular_sorted = sorted(self.irregular)
            self.day_starts.update(starts)
            self._years.add(year)

    def local_ordinal(self, t: int) -> int:
        """The local date (ordinal) whose day contains the UTC instant t (µs)."""
        o = t // _DAY_US + _EPOCH_ORD
        starts = self.day_starts
        if o - 1 not in starts or o + 2 not in starts:
            self.ensure(o - 1, o + 1)
        while t < starts[o]:
            o -= 1
        while t >= starts[o + 1]:
            o += 1
        return o


@functools.cache
def _zone(name: str) -> _Zone:
    return _Zone(name)


# --- a compiled calendar ---------------------------------------------------------------------------

def _ranges_us(ranges) -> tuple[tuple[int, int], ...]:
    return tuple((_seconds_of_day(s, end=False), _seconds_of_day(e, end=True)) for s, e in ranges)


class _Compiled:
    def __init__(self, spec: CalendarSpec):
        _tz, week, holidays, extra_days = spec._key
        self.zone = _zone(spec.time_zone)
        # Weekday 0 = Monday, as date.weekday(); ranges in seconds of the local day.
        self.week = tuple(_ranges_us(ranges) for ranges in week)
        self.week_nominal = tuple(sum(e - s for s, e in day) * _US for day in self.week)
        self.week_us = sum(self.week_nominal)
        # partial[weekday][n]: nominal µs of the n days starting on that weekday (n < 7).
        self.partial = tuple(
            tuple(sum(self.week_nominal[(wd + i) % 7] for i in range(n)) for n in range(7)) for wd in range(7)
        )
        self.holidays = frozenset(d.toordinal() for d in holidays)
        self.extra = {d.toordinal(): _ranges_us(ranges) for d, ranges in extra_days}
        self.extra_sorted = sorted(o for o, ranges in self.extra.items() if ranges)
        self.has_working_time = bool(self.week_us or self.extra_sorted)
        # Days that differ from their weekday's pattern, with the nominal µs they add (an extra day)
        # or take away (a holiday); prefix sums let a jump over weeks correct for them with bisect.
        deltas: dict[int, int] = {}
        for o in self.holidays:
            deltas[o] = -self.week_nominal[(o + 6) % 7]
        for o, ranges in self.extra.items():
            deltas[o] = sum(e - s for s, e in ranges) * _US - self.week_nominal[(o + 6) % 7]
        self.special_sorted = sorted(o for o, delta in deltas.items() if delta)
        self.special_cum = [0]
        for o in self.special_sorted:
            self.special_cum.append(self.special_cum[-1] + deltas[o])
        self.days: dict[int, tuple[tuple[int, int], ...]] = {}

    def ranges_of(self, o: int) -> tuple[tuple[int, int], ...]:
        ranges = self.extra.get(o)
        if ranges is None:
            ranges = () if o in self.holidays else self.week[(o + 6) % 7]
        return ranges

    def day(self, o: int) -> tuple[tuple[int, int], ...]:
        """The working intervals of local day o as UTC µs pairs, in order, none empty."""
        intervals = self.days.get(o)
        if intervals is not None:
            return intervals
        ranges = self.ranges_of(o)
        if not ranges:
            intervals = ()
        else:
            zone = self.zone
            starts = zone.day_starts
            if o not in starts or o + 1 not in starts:
                zone.ensure(o, o)
            if o in zone.irregular:
                intervals = tuple((s, e) for s, e in ((zone.resolve(o, a), zone.resolve(o, b)) for a, b in ranges)
                                  if s < e)
            else:
                base = starts[o]
                intervals = tuple((base + a * _US, base + b * _US) for a, b in ranges)
        if len(self.days) >= _DAY_MEMO_LIMIT:
            self.days.clear()
        self.days[o] = intervals
        return intervals

    def span(self, a: int, b: int) -> int:
        """Working µs in the whole local days [a, b)."""
        if b <= a:
            return 0
        weeks, rest = divmod(b - a, 7)
        total = weeks * self.week_us + self.partial[(a + 6) % 7][rest]
        sp = self.special_sorted
        total += self.special_cum[bisect.bisect_left(sp, b)] - self.special_cum[bisect.bisect_left(sp, a)]
        zone = self.zone
        zone.ensure(a, b)
        irregular = zone.irregular_sorted
        for o in irregular[bisect.bisect_left(irregular, a):bisect.bisect_left(irregular, b)]:
            ranges = self.ranges_of(o)
            if ranges:
                total += sum(e - s for s, e in self.day(o)) - sum(e - s for s, e in ranges) * _US
        return total

    def next_working_day(self, o: int) -> int | None:
        """Where to look next after local day o had nothing left to give."""
        if self.week_us:
            return o + 1
        # Only extra days work: go straight to the next one.
        i = bisect.bisect_right(self.extra_sorted, o)
        return self.extra_sorted[i] if i < len(self.extra_sorted) else None


@functools.lru_cache(maxsize=256)
def _compile(spec: CalendarSpec) -> _Compiled:
    return _Compiled(spec)


def _compiled(spec: CalendarSpec) -> _Compiled:
    try:
        return spec._compiled
    except AttributeError:
        compiled = _compile(spec)
        object.__setattr__(spec, "_compiled", compiled)
        return compiled


def _to_us(moment: datetime.datetime, name: str) -> int:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got {moment!r}")
    return (moment - _EPOCH) // _ONE_US


def _from_us(t: int) -> datetime.datetime:
    return _EPOCH + datetime.timedelta(microseconds=t)


def _no_working_time(spec: CalendarSpec) -> ValueError:
    return ValueError(f"the calendar ({spec.time_zone}) has no working time")


# --- the interface ---------------------------------------------------------------------------------

def add_business_seconds(spec: CalendarSpec, start: datetime.datetime, seconds: float) -> datetime.datetime:
    """The aware (UTC) instant at which `seconds` of working time have passed since `start` (aware).

    Counting starts at `start` if it is working time, else at the next opening. A goal used up exactly
    at closing time is due at the closing instant. seconds <= 0 -> `start` itself (in UTC), unmoved.
    Raises ValueError if the calendar has no working time at all (or, with only extra days, none
    left after `start` to use the goal up)."""
    c = _compiled(spec)
    if not c.has_working_time:
        raise _no_working_time(spec)
    t = _to_us(start, "start")
    remaining = round(seconds * _US)
    if remaining <= 0:
        return _from_us(t)
    week_us = c.week_us
    day = c.day
    o = c.zone.local_ordinal(t)
    while True:
        for s, e in day(o):
            if e <= t:
                continue
            begin = s if s > t else t
            available = e - begin
            if remaining <= available:
                return _from_us(begin + remaining)
            remaining -= available
        nxt = c.next_working_day(o)
        if nxt is None:
            raise ValueError(f"the calendar ({spec.time_zone}) runs out of working time before the goal is used up")
        o = nxt
        if week_us and remaining >= 2 * week_us:
            # Jump whole weeks, keeping at least a week to walk so the goal never ends inside the
            # jump; extra days in the span can make it worth more than its nominal weeks, so shrink.
            weeks = remaining // week_us - 1
            gained = c.span(o, o + 7 * weeks)
            while weeks and gained >= remaining:
                weeks -= 1
                gained = c.span(o, o + 7 * weeks)
            o += 7 * weeks
            remaining -= gained


def business_seconds_between(spec: CalendarSpec, start: datetime.datetime, end: datetime.datetime) -> float:
    """Working seconds in [start, end) (0 if end <= start)."""
    c = _compiled(spec)
    t0, t1 = _to_us(start, "start"), _to_us(end, "end")
    if t1 <= t0:
        return 0.0
    zone = c.zone
    o0, o1 = zone.local_ordinal(t0), zone.local_ordinal(t1)
    total = 0
    for s, e in c.day(o0):
        s, e = max(s, t0), min(e, t1)
        if s < e:
            total += e - s
    if o1 > o0:
        total += c.span(o0 + 1, o1)
        for s, e in c.day(o1):
            e = min(e, t1)
            if s < e:
                total += e - s
    return total / _US


def is_working_time(spec: CalendarSpec, at: datetime.datetime) -> bool:
    c = _compiled(spec)
    t = _to_us(at, "at")
    return any(s <= t < e for s, e in c.day(c.zone.local_ordinal(t)))


def next_working_instant(spec: CalendarSpec, at: datetime.datetime) -> datetime.datetime:
    """`at` itself (in UTC) if it is working time, else the next start of working time.
    Raises ValueError if there is none."""
    c = _compiled(spec)
    if not c.has_working_time:
        raise _no_working_time(spec)
    t = _to_us(at, "at")
    o = c.zone.local_ordinal(t)
    while o is not None:
        for s, e in c.day(o):
            if e > t:
                return _from_us(max(s, t))
        o = c.next_working_day(o)
    raise ValueError(f"the calendar ({spec.time_zone}) has no working time after {at.isoformat()}")
