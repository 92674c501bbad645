"""Business-time arithmetic of the SLA engine, as examples a service manager would check by hand.

Times in the tables are local wall-clock times of the calendar's time zone ("2026-06-12 15:00" in a
Berlin calendar is 15:00 in Berlin); results are compared in local time and, where DST matters, also in
UTC. Pure functions: no database, no Django.
"""

from __future__ import annotations

import datetime
import pickle
import random
import zoneinfo

import pytest

from opsdesk.sla.business_time import (
    ALWAYS_SPEC,
    DAYS,
    CalendarSpec,
    add_business_seconds,
    business_seconds_between,
    is_working_time,
    next_working_instant,
)

HOUR = 3600
D = datetime.date
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")


def hours(days, *ranges):
    return {day: [list(r) for r in ranges] for day in days}


def local(tz_name: str, text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=zoneinfo.ZoneInfo(tz_name))


def as_local(spec: CalendarSpec, moment: datetime.datetime) -> str:
    return moment.astimezone(zoneinfo.ZoneInfo(spec.time_zone)).strftime("%Y-%m-%d %H:%M")


def as_utc(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M")


# German public holidays 2026 that fall on weekdays in Berlin, plus 2027's New Year.
GERMAN_2026 = frozenset({
    D(2026, 1, 1), D(2026, 4, 3), D(2026, 4, 6), D(2026, 5, 1), D(2026, 5, 14), D(2026, 5, 25),
    D(2026, 10, 3), D(2026, 12, 25), D(2026, 12, 26), D(2027, 1, 1),
})
BERLIN_OFFICE = CalendarSpec("Europe/Berlin", hours(WEEKDAYS, ("09:00", "17:00")))
BERLIN_WITH_HOLIDAYS = CalendarSpec("Europe/Berlin", BERLIN_OFFICE.hours, holidays=GERMAN_2026)
# A company that also closes on Christmas Eve and New Year's Eve.
BERLIN_CHRISTMAS = CalendarSpec("Europe/Berlin", BERLIN_OFFICE.hours,
                                holidays=GERMAN_2026 | {D(2026, 12, 24), D(2026, 12, 31)})
# The year-end release: Saturday 19 December is worked in the morning, and Christmas Eve (a company
# holiday) is worked until noon after all.
BERLIN_RELEASE = CalendarSpec("Europe/Berlin", BERLIN_OFFICE.hours,
                              holidays=GERMAN_2026 | {D(2026, 12, 24)},
                              extra_days=((D(2026, 12, 19), (("09:00", "13:00"),)),
                                          (D(2026, 12, 24), (("09:00", "12:00"),))))
BERLIN_LUNCH = CalendarSpec("Europe/Berlin", hours(WEEKDAYS, ("09:00", "12:00"), ("13:00", "17:00")))
BERLIN_24X7 = CalendarSpec("Europe/Berlin", hours(DAYS, ("00:00", "24:00")))
NEW_YORK_24X7 = CalendarSpec("America/New_York", hours(DAYS, ("00:00", "24:00")))
KOLKATA_OFFICE = CalendarSpec("Asia/Kolkata", hours(WEEKDAYS, ("09:30", "18:00")))
RIYADH_OFFICE = CalendarSpec("Asia/Riyadh", hours(("sun", "mon", "tue", "wed", "thu"), ("08:00", "16:00")))
# Night maintenance shift on Sundays, across the 02:00 DST change in Berlin.
BERLIN_SUNDAY_NIGHT = CalendarSpec("Europe/Berlin", hours(["sun"], ("00:00", "06:00")))


# --- due dates --------------------------------------------------------------------------------------

@pytest.mark.parametrize("spec, start, goal_hours, due", [
    # Friday 2 h (15:00-17:00) + Monday 8 h = 10 h: due Monday 17:00. The issue says "Tuesday 09:00";
    # no working time lies between Monday 17:00 and Tuesday 09:00, so both are the same point of the
    # business clock. The rule here: a goal used up exactly at closing time is due at closing time.
    (BERLIN_OFFICE, "2026-06-12 15:00", 10, "2026-06-15 17:00"),
    (BERLIN_OFFICE, "2026-06-15 09:00", 8, "2026-06-15 17:00"),
    (BERLIN_OFFICE, "2026-06-15 16:00", 2, "2026-06-16 10:00"),
    (BERLIN_OFFICE, "2026-06-15 08:59", 1 / 60, "2026-06-15 09:01"),
    (BERLIN_OFFICE, "2026-06-12 15:00", 5 * 8, "2026-06-19 15:00"),  # a business week later
    # Outside working hours the clock starts at the next opening.
    (BERLIN_OFFICE, "2026-06-16 03:00", 1, "2026-06-16 10:00"),      # night
    (BERLIN_OFFICE, "2026-06-15 19:30", 1, "2026-06-16 10:00"),      # evening
    (BERLIN_OFFICE, "2026-06-13 11:00", 1, "2026-06-15 10:00"),      # Saturday
    (BERLIN_OFFICE, "2026-06-12 17:00", 0.5, "2026-06-15 09:30"),    # 17:00 itself is closed
    # Holidays: Good Friday and Easter Monday skip to Tuesday; Whit Monday pushes to Tuesday.
    (BERLIN_WITH_HOLIDAYS, "2026-04-02 16:00", 2, "2026-04-07 10:00"),
    (BERLIN_WITH_HOLIDAYS, "2026-05-22 17:00", 1, "2026-05-26 10:00"),
    (BERLIN_OFFICE, "2026-05-22 17:00", 1, "2026-05-25 10:00"),      # same without the holiday
    # Christmas week: Wednesday 1 h, Thursday to Friday closed, Monday 7 h.
    (BERLIN_CHRISTMAS, "2026-12-23 16:00", 8, "2026-12-28 16:00"),
    # ... and across New Year: Tuesday 29 and Wednesday 30 (16 h), Thursday 31 and Friday 1 closed.
    (BERLIN_CHRISTMAS, "2026-12-29 09:00", 17, "2027-01-04 10:00"),
    # Unity Day 2026 is a Saturday: no effect.
    (BERLIN_WITH_HOLIDAYS, "2026-10-02 16:00", 2, "2026-10-05 10:00"),
    (BERLIN_OFFICE, "2026-10-02 16:00", 2, "2026-10-05 10:00"),
    # Extra working days: Saturday morning, and Christmas Eve morning despite the company holiday.
    (BERLIN_RELEASE, "2026-12-18 16:00", 3, "2026-12-19 11:00"),
    (BERLIN_RELEASE, "2026-12-18 16:00", 5, "2026-12-19 13:00"),
    (BERLIN_RELEASE, "2026-12-18 16:00", 6, "2026-12-21 10:00"),
    (BERLIN_RELEASE, "2026-12-23 16:00", 3, "2026-12-24 11:00"),
    (BERLIN_RELEASE, "2026-12-23 16:00", 5, "2026-12-28 10:00"),
    # Lunch break: 11:00-12:00 then 13:00-14:00.
    (BERLIN_LUNCH, "2026-06-15 11:00", 2, "2026-06-15 14:00"),
    (BERLIN_LUNCH, "2026-06-15 11:30", 0.5, "2026-06-15 12:00"),     # used up at the start of lunch
    (BERLIN_LUNCH, "2026-06-15 12:15", 1, "2026-06-15 14:00"),       # started during lunch
    (BERLIN_LUNCH, "2026-06-15 16:00", 4.5, "2026-06-16 13:30"),  # 1 h + 3 h + 0.5 h
    # India (+05:30): Friday 17:00 + 2 h = Friday 1 h + Monday 1 h.
    (KOLKATA_OFFICE, "2026-06-12 17:00", 2, "2026-06-15 10:30"),
    # Sunday-to-Thursday week: Thursday 15:00 + 2 h ends Sunday 09:00; a Friday start counts from Sunday.
    (RIYADH_OFFICE, "2026-06-11 15:00", 2, "2026-06-14 09:00"),
    (RIYADH_OFFICE, "2026-06-12 10:00", 1, "2026-06-14 09:00"),
])
def test_due_date(spec, start, goal_hours, due):
    result = add_business_seconds(spec, local(spec.time_zone, start), goal_hours * HOUR)
    assert as_local(spec, result) == due
    assert result.tzinfo is datetime.UTC


def test_kolkata_due_date_in_utc():
    due = add_business_seconds(KOLKATA_OFFICE, local("Asia/Kolkata", "2026-06-12 17:00"), 2 * HOUR)
    assert due == datetime.datetime(2026, 6, 15, 5, 0, tzinfo=datetime.UTC)


@pytest.mark.parametrize("spec, start, goal_hours, due_local, due_utc", [
    # 24x7 counts real hours. Saturday 12:00 CET + 24 h is Sunday 11:00 UTC, which reads 13:00 CEST:
    # the wall clock skipped 02:00-03:00 that night, so it moved 25 hours while 24 passed.
    (BERLIN_24X7, "2026-03-28 12:00", 24, "2026-03-29 13:00", "2026-03-29 11:00"),
    # Fall back: the wall clock repeats 02:00-03:00, so 24 real hours read as 23.
    (BERLIN_24X7, "2026-10-24 12:00", 24, "2026-10-25 11:00", "2026-10-25 10:00"),
    # The spring-forward Sunday holds 23 hours, the fall-back Sunday 25.
    (BERLIN_24X7, "2026-03-29 00:00", 23, "2026-03-30 00:00", "2026-03-29 22:00"),
    (BERLIN_24X7, "2026-10-25 00:00", 25, "2026-10-26 00:00", "2026-10-25 23:00"),
    (NEW_YORK_24X7, "2026-03-07 12:00", 24, "2026-03-08 13:00", "2026-03-08 17:00"),
    (NEW_YORK_24X7, "2026-10-31 12:00", 24, "2026-11-01 11:00", "2026-11-01 16:00"),
    (NEW_YORK_24X7, "2026-03-08 00:00", 23, "2026-03-09 00:00", "2026-03-09 04:00"),
    (NEW_YORK_24X7, "2026-11-01 00:00", 25, "2026-11-02 00:00", "2026-11-02 05:00"),
    # A Sunday 00:00-06:00 shift lasts 5 real hours on the spring-forward day ...
    (BERLIN_SUNDAY_NIGHT, "2026-03-29 00:00", 5, "2026-03-29 06:00", "2026-03-29 04:00"),
    (BERLIN_SUNDAY_NIGHT, "2026-03-29 00:00", 5.5, "2026-04-05 00:30", "2026-04-04 22:30"),
    (BERLIN_SUNDAY_NIGHT, "2026-03-29 00:00", 2, "2026-03-29 03:00", "2026-03-29 01:00"),
    # ... and 7 on the fall-back day; the third hour is the repeated 02:00-03:00 (first time CEST).
    (BERLIN_SUNDAY_NIGHT, "2026-10-25 00:00", 7, "2026-10-25 06:00", "2026-10-25 05:00"),
    (BERLIN_SUNDAY_NIGHT, "2026-10-25 00:00", 3, "2026-10-25 02:00", "2026-10-25 01:00"),
])
def test_due_date_across_dst(spec, start, goal_hours, due_local, due_utc):
    result = add_business_seconds(spec, local(spec.time_zone, start), goal_hours * HOUR)
    assert (as_local(spec, result), as_utc(result)) == (due_local, due_utc)


@pytest.mark.parametrize("day_hours, date, expected_hours", [
    # Berlin springs forward 02:00 -> 03:00 on 2026-03-29 and falls back 03:00 -> 02:00 on 2026-10-25.
    (("01:00", "04:00"), "2026-03-29", 2),      # the vanished hour is not worked
    (("01:00", "04:00"), "2026-10-25", 4),      # the repeated hour is worked twice
    (("01:00", "04:00"), "2026-03-22", 3),      # an ordinary Sunday
    (("00:00", "24:00"), "2026-03-29", 23),
    (("00:00", "24:00"), "2026-10-25", 25),
    # A start inside the gap (02:30 does not exist) counts from the first real instant, 03:00 CEST.
    (("02:30", "05:00"), "2026-03-29", 2),
    # An ambiguous start (02:30 happens twice) counts from its first occurrence, 02:30 CEST.
    (("02:30", "05:00"), "2026-10-25", 3.5),
    # A range that lies wholly in the gap has no real length.
    (("02:00", "03:00"), "2026-03-29", 0),
    (("02:00", "03:00"), "2026-10-25", 2),
])
def test_working_range_across_dst_change(day_hours, date, expected_hours):
    spec = CalendarSpec("Europe/Berlin", hours(["sun"], day_hours))
    day = datetime.date.fromisoformat(date)
    start = local("Europe/Berlin", f"{date} 00:00")
    end = local("Europe/Berlin", (day + datetime.timedelta(days=1)).isoformat() + " 00:00")
    assert business_seconds_between(spec, start, end) == expected_hours * HOUR


def test_a_day_that_starts_in_a_gap():
    # Santiago de Chile springs forward at midnight: 2026-09-06 00:00 does not exist, the day starts
    # at 01:00. A 00:00-02:00 range that day is one real hour, from 01:00.
    spec = CalendarSpec("America/Santiago", hours(["sun"], ("00:00", "02:00")))
    start = local("America/Santiago", "2026-09-05 12:00")
    assert business_seconds_between(spec, start, start + datetime.timedelta(days=2)) == HOUR
    due = add_business_seconds(spec, start, 30 * 60)
    assert as_local(spec, due) == "2026-09-06 01:30"


# --- business time between two instants ----------------------------------------------------------------

@pytest.mark.parametrize("spec, start, end, expected_hours", [
    (BERLIN_OFFICE, "2026-06-12 15:00", "2026-06-15 17:00", 10),
    (BERLIN_OFFICE, "2026-06-12 15:00", "2026-06-16 09:00", 10),     # Monday 17:00 and Tuesday 09:00 alike
    (BERLIN_OFFICE, "2026-06-13 10:00", "2026-06-14 18:00", 0),      # a weekend
    (BERLIN_OFFICE, "2026-06-15 10:00", "2026-06-15 10:30", 0.5),
    (BERLIN_OFFICE, "2026-06-15 10:30", "2026-06-15 10:00", 0),      # end before start
    (BERLIN_OFFICE, "2026-06-01 00:00", "2026-07-01 00:00", 22 * 8),
    (BERLIN_WITH_HOLIDAYS, "2026-01-01 00:00", "2027-01-01 00:00", (261 - 7) * 8),  # 7 fall on weekdays
    (BERLIN_CHRISTMAS, "2026-12-21 00:00", "2027-01-04 00:00", 6 * 8),
    (BERLIN_RELEASE, "2026-12-14 00:00", "2026-12-28 00:00", 8 * 8 + 4 + 3),
    (BERLIN_LUNCH, "2026-06-15 08:00", "2026-06-15 18:00", 7),
    (BERLIN_24X7, "2026-03-28 12:00", "2026-03-29 13:00", 24),
    (BERLIN_24X7, "2026-01-01 00:00", "2027-01-01 00:00", 365 * 24),
    (KOLKATA_OFFICE, "2026-06-15 00:00", "2026-06-20 00:00", 5 * 8.5),
    (RIYADH_OFFICE, "2026-06-12 00:00", "2026-06-19 00:00", 5 * 8),
])
def test_business_seconds_between(spec, start, end, expected_hours):
    tz = spec.time_zone
    assert business_seconds_between(spec, local(tz, start), local(tz, end)) == expected_hours * HOUR


# --- working time and next opening ------------------------------------------------------------------

@pytest.mark.parametrize("spec, moment, working, next_opening", [
    (BERLIN_OFFICE, "2026-06-15 10:00", True, "2026-06-15 10:00"),
    (BERLIN_OFFICE, "2026-06-15 09:00", True, "2026-06-15 09:00"),    # opening is working time
    (BERLIN_OFFICE, "2026-06-15 17:00", False, "2026-06-16 09:00"),   # closing is not
    (BERLIN_OFFICE, "2026-06-13 10:00", False, "2026-06-15 09:00"),
    (BERLIN_WITH_HOLIDAYS, "2026-04-03 10:00", False, "2026-04-07 09:00"),
    (BERLIN_RELEASE, "2026-12-19 12:59", True, "2026-12-19 12:59"),
    (BERLIN_RELEASE, "2026-12-24 12:00", False, "2026-12-28 09:00"),
    (BERLIN_LUNCH, "2026-06-15 12:30", False, "2026-06-15 13:00"),
    (BERLIN_SUNDAY_NIGHT, "2026-03-28 23:00", False, "2026-03-29 00:00"),
    (RIYADH_OFFICE, "2026-06-12 10:00", False, "2026-06-14 08:00"),
    (BERLIN_24X7, "2026-03-29 03:00", True, "2026-03-29 03:00"),
])
def test_working_time_and_next_opening(spec, moment, working, next_opening):
    at = local(spec.time_zone, moment)
    assert is_working_time(spec, at) is working
    assert as_local(spec, next_working_instant(spec, at)) == next_opening


def test_always_spec_counts_every_second():
    start = datetime.datetime(2026, 3, 29, 0, 30, tzinfo=datetime.UTC)
    assert add_business_seconds(ALWAYS_SPEC, start, 90) == start + datetime.timedelta(seconds=90)
    assert business_seconds_between(ALWAYS_SPEC, start, start + datetime.timedelta(days=400)) == 400 * 86400
    assert is_working_time(ALWAYS_SPEC, start)


# --- edges and errors ----------------------------------------------------------------------------

def test_zero_goal_returns_start_unmoved():
    night = local("Europe/Berlin", "2026-06-15 22:00")
    assert add_business_seconds(BERLIN_OFFICE, night, 0) == night
    assert add_business_seconds(BERLIN_OFFICE, night, -60) == night   # already used up: due at once
    assert add_business_seconds(BERLIN_OFFICE, night, 0).tzinfo is datetime.UTC


def test_sub_second_goals_are_exact():
    start = local("Europe/Berlin", "2026-06-15 16:59:59.999999")
    due = add_business_seconds(BERLIN_OFFICE, start, 0.000002)
    assert due == local("Europe/Berlin", "2026-06-16 09:00:00.000001")
    assert business_seconds_between(BERLIN_OFFICE, start, due) == 0.000002


@pytest.mark.parametrize("spec", [
    CalendarSpec("Europe/Berlin", {}),
    CalendarSpec("Europe/Berlin", {}, holidays={D(2026, 1, 1)}),
    CalendarSpec("UTC", {"mon": []}),
])
def test_a_calendar_without_working_time_cannot_give_a_due_date(spec):
    start = local("Europe/Berlin", "2026-06-15 10:00")
    with pytest.raises(ValueError, match="no working time"):
        add_business_seconds(spec, start, HOUR)
    with pytest.raises(ValueError, match="no working time"):
        next_working_instant(spec, start)
    assert business_seconds_between(spec, start, start + datetime.timedelta(days=30)) == 0
    assert not is_working_time(spec, start)


def test_a_calendar_of_extra_days_only_runs_out():
    spec = CalendarSpec("Europe/Berlin", {}, extra_days=((D(2026, 12, 19), (("09:00", "13:00"),)),))
    start = local("Europe/Berlin", "2026-06-15 10:00")
    assert as_local(spec, add_business_seconds(spec, start, 4 * HOUR)) == "2026-12-19 13:00"
    with pytest.raises(ValueError, match="runs out of working time"):
        add_business_seconds(spec, start, 5 * HOUR)
    with pytest.raises(ValueError, match="no working time after"):
        next_working_instant(spec, local("Europe/Berlin", "2026-12-20 10:00"))


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="aware"):
        add_business_seconds(BERLIN_OFFICE, datetime.datetime(2026, 6, 15, 10), HOUR)
    with pytest.raises(ValueError, match="aware"):
        business_seconds_between(BERLIN_OFFICE, local("UTC", "2026-06-15 10:00"), datetime.datetime(2026, 6, 16))


@pytest.mark.parametrize("time_zone, week, message", [
    ("Mars/Olympus", {}, "unknown time zone"),
    ("UTC", {"monday": [["09:00", "17:00"]]}, "unknown day"),
    ("UTC", {"mon": [["17:00", "09:00"]]}, "must end after"),
    ("UTC", {"mon": [["9 am", "17:00"]]}, "not a time of day"),
    ("UTC", {"mon": [["24:00", "24:00"]]}, "not a time of day"),
    ("UTC", {"mon": [["09:00", "24:30"]]}, "not a time of day"),
])
def test_invalid_calendars_are_refused(time_zone, week, message):
    with pytest.raises(ValueError, match=message):
        CalendarSpec(time_zone, week)


def test_equal_rules_make_equal_specs_whatever_their_spelling():
    a = CalendarSpec("Europe/Berlin", {"mon": [["13:00", "17:00"], ["09:00", "12:00"]]}, holidays=[D(2026, 1, 1)])
    b = CalendarSpec("Europe/Berlin", {"mon": (("09:00", "12:00"), ("13:00", "17:00")), "tue": []},
                     holidays=frozenset({D(2026, 1, 1)}))
    c = CalendarSpec("Europe/Berlin", {"mon": [["09:00", "12:00"], ["13:00", "17:00"]]})
    assert a == b and hash(a) == hash(b)
    assert a != c
    assert {a: 1}[b] == 1
    assert pickle.loads(pickle.dumps(a)) == a


def test_overlapping_ranges_are_merged():
    spec = CalendarSpec("UTC", {"mon": [["09:00", "12:00"], ["11:00", "13:00"]]})
    start = local("UTC", "2026-06-15 00:00")
    assert business_seconds_between(spec, start, start + datetime.timedelta(days=1)) == 4 * HOUR


def test_a_whole_year_ahead_lands_on_closing_time_not_the_next_opening():
    # 10 weeks of 40 h from Monday 09:00 are used up on the 10th Friday at 17:00; the week jump must
    # not run past it to the following Monday.
    start = local("Europe/Berlin", "2026-06-15 09:00")
    assert as_local(BERLIN_OFFICE, add_business_seconds(BERLIN_OFFICE, start, 400 * HOUR)) == "2026-08-21 17:00"
    assert as_local(BERLIN_OFFICE, add_business_seconds(BERLIN_OFFICE, start, 52 * 40 * HOUR)) == "2027-06-11 17:00"


# --- properties against a slow reference -------------------------------------------------------------

ZONES = ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "Asia/Riyadh", "Australia/Sydney",
         "America/Santiago", "America/Havana", "UTC"]


def reference_instant(tz, day: datetime.date, hhmm: str) -> datetime.datetime:
    """The rule said plainly: the first occurrence of a local time, or the first real instant after
    a gap (found by stepping a minute at a time, which is fine for a reference)."""
    hh, mm = (int(x) for x in hhmm.split(":"))
    naive = datetime.datetime.combine(day, datetime.time()) + datetime.timedelta(hours=hh, minutes=mm)
    while True:
        aware = naive.replace(tzinfo=tz, fold=0)
        utc = aware.astimezone(datetime.UTC)
        if utc.astimezone(tz).replace(tzinfo=None) == naive:
            return utc
        naive += datetime.timedelta(minutes=1)


def reference_intervals(spec: CalendarSpec, day: datetime.date):
    tz = zoneinfo.ZoneInfo(spec.time_zone)
    extra = dict(spec.extra_days)
    if day in extra:
        ranges = extra[day]
    elif day in spec.holidays:
        ranges = ()
    else:
        ranges = spec.hours.get(DAYS[day.weekday()], ())
    out = []
    for start, end in ranges:
        s, e = reference_instant(tz, day, start), reference_instant(tz, day, end)
        if s < e:
            out.append((s, e))
    return out


def reference_add(spec, start, seconds):
    tz = zoneinfo.ZoneInfo(spec.time_zone)
    remaining = datetime.timedelta(seconds=seconds)
    day = start.astimezone(tz).date() - datetime.timedelta(days=1)
    while True:
        for s, e in reference_intervals(spec, day):
            if e <= start:
                continue
            begin = max(s, start)
            if remaining <= e - begin:
                return begin + remaining
            remaining -= e - begin
        day += datetime.timedelta(days=1)


def reference_between(spec, start, end):
    tz = zoneinfo.ZoneInfo(spec.time_zone)
    total = datetime.timedelta()
    day = start.astimezone(tz).date() - datetime.timedelta(days=1)
    while day <= end.astimezone(tz).date() + datetime.timedelta(days=1):
        for s, e in reference_intervals(spec, day):
            s, e = max(s, start), min(e, end)
            if s < e:
                total += e - s
        day += datetime.timedelta(days=1)
    return total.total_seconds()


def random_ranges(rng: random.Random):
    points = sorted(rng.sample(range(0, 97), rng.choice([2, 2, 2, 4, 6])))
    if rng.random() < 0.15:
        points = [0, 96]
    return [(f"{p // 4:02d}:{p % 4 * 15:02d}", f"{q // 4:02d}:{q % 4 * 15:02d}")
            for p, q in zip(points[::2], points[1::2], strict=True)]


def random_spec(rng: random.Random) -> CalendarSpec:
    week = {day: random_ranges(rng) for day in DAYS if rng.random() < 0.7}
    if not any(week.values()):
        week["wed"] = [("09:00", "17:00")]
    first = D(2026, 1, 1).toordinal()
    holidays = {D.fromordinal(first + rng.randrange(3 * 365)) for _ in range(rng.randrange(40))}
    extra = tuple((D.fromordinal(first + rng.randrange(3 * 365)), random_ranges(rng))
                  for _ in range(rng.randrange(8)))
    return CalendarSpec(rng.choice(ZONES), week, holidays=holidays, extra_days=extra)


def random_start(rng: random.Random, spec: CalendarSpec) -> datetime.datetime:
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    if rng.random() < 0.3:
        # on a local whole hour, often a range boundary or a DST change
        tz = zoneinfo.ZoneInfo(spec.time_zone)
        day = D(2026, 1, 1) + datetime.timedelta(days=rng.randrange(730))
        return reference_instant(tz, day, f"{rng.randrange(24):02d}:00")
    return start + datetime.timedelta(seconds=rng.randrange(730 * 86400), microseconds=rng.randrange(10**6))


SPEC_POOL = [random_spec(random.Random(seed)) for seed in range(40)] + [
    BERLIN_OFFICE, BERLIN_CHRISTMAS, BERLIN_RELEASE, BERLIN_LUNCH, BERLIN_24X7, NEW_YORK_24X7,
    KOLKATA_OFFICE, RIYADH_OFFICE, BERLIN_SUNDAY_NIGHT,
]


def test_between_inverts_add_and_both_are_monotonic():
    rng = random.Random(20260329)
    for _ in range(3000):
        spec = rng.choice(SPEC_POOL)
        start = random_start(rng, spec)
        goal = rng.choice([1, 60, 15 * 60, HOUR, 8 * HOUR, 40 * HOUR, rng.randrange(1, 30 * 86400)])
        due = add_business_seconds(spec, start, goal)
        assert business_seconds_between(spec, start, due) == goal, (spec, start, goal, due)
        assert due > start
        # one second more never comes earlier, and the business time up to a later end never shrinks
        assert add_business_seconds(spec, start, goal + 1) > due
        later = due + datetime.timedelta(seconds=rng.randrange(1, 10 * 86400))
        assert business_seconds_between(spec, start, later) >= goal
        # additive over a split point
        middle = start + (later - start) * rng.random()
        assert (business_seconds_between(spec, start, middle) + business_seconds_between(spec, middle, later)
                == pytest.approx(business_seconds_between(spec, start, later), abs=1e-6))


def test_long_goals_agree_with_a_day_by_day_walk():
    rng = random.Random(400)
    for _ in range(120):
        spec = rng.choice(SPEC_POOL)
        start = random_start(rng, spec)
        nominal_week = business_seconds_between(spec, start, start + datetime.timedelta(days=7)) or 8 * HOUR
        # up to ~80 weeks: 400 business days of an office calendar
        goal = rng.choice([400 * 8 * HOUR, int(nominal_week * rng.uniform(0.5, 80)), rng.randrange(1, 90 * 86400)])
        expected = reference_add(spec, start, goal)
        assert add_business_seconds(spec, start, goal) == expected, (spec, start, goal)
        assert business_seconds_between(spec, start, expected) == reference_between(spec, start, expected)


def test_short_goals_agree_with_a_day_by_day_walk():
    rng = random.Random(8)
    for _ in range(600):
        spec = rng.choice(SPEC_POOL)
        start = random_start(rng, spec)
        goal = rng.randrange(1, 6 * 86400)
        assert add_business_seconds(spec, start, goal) == reference_add(spec, start, goal), (spec, start, goal)
        end = start + datetime.timedelta(seconds=rng.randrange(1, 20 * 86400))
        assert business_seconds_between(spec, start, end) == reference_between(spec, start, end), (spec, start, end)


def test_weeks_of_extra_days_are_not_overshot():
    # One hour a week, but six weeks of full extra days: a week jump counted nominally would land far
    # too late, so the jump shrinks and the walk finds the exact instant.
    first = D(2026, 6, 15)
    extra = tuple((first + datetime.timedelta(days=i), (("09:00", "17:00"),)) for i in range(42))
    spec = CalendarSpec("Europe/Berlin", {"sat": [["10:00", "11:00"]]}, extra_days=extra)
    start = local("Europe/Berlin", "2026-06-15 00:00")
    for goal_hours in (3, 50, 200, 335, 336, 337, 340):
        goal = goal_hours * HOUR
        assert add_business_seconds(spec, start, goal) == reference_add(spec, start, goal), goal_hours


def dst_change_days(tz_name: str, year: int) -> list[datetime.date]:
    tz = zoneinfo.ZoneInfo(tz_name)
    days, day = [], D(year, 1, 1)
    while day.year == year:
        noon = datetime.datetime.combine(day, datetime.time(12), tz)
        if noon.utcoffset() != (noon + datetime.timedelta(days=1)).utcoffset():
            days.append(day)
        day += datetime.timedelta(days=1)
    return days


DST_SHAPES = [
    [("00:00", "24:00")], [("01:00", "04:00")], [("00:00", "01:00"), ("23:00", "24:00")],
    [("02:30", "05:00")], [("00:00", "02:00")], [("00:15", "00:45"), ("01:30", "03:15")],
]


@pytest.mark.parametrize("tz_name", [z for z in ZONES if z not in {"UTC", "Asia/Kolkata", "Asia/Riyadh"}])
def test_every_dst_change_of_2026_agrees_with_the_reference(tz_name):
    # Every change of the year (and the days around it), every shape of day, starts every half hour
    # from the evening before to the morning after: the cases where DST arithmetic goes wrong.
    changes = dst_change_days(tz_name, 2026)
    assert len(changes) >= 2
    for shape in DST_SHAPES:
        spec = CalendarSpec(tz_name, {day: shape for day in DAYS})
        for change in changes:
            start = reference_instant(zoneinfo.ZoneInfo(tz_name), change - datetime.timedelta(days=1), "20:00")
            for step in range(0, 40 * 2):
                at = start + datetime.timedelta(minutes=30 * step)
                for goal in (1, 1800, HOUR, 3 * HOUR, 30 * HOUR):
                    due = add_business_seconds(spec, at, goal)
                    assert due == reference_add(spec, at, goal), (shape, at, goal)
                    assert business_seconds_between(spec, at, due) == goal
                end = at + datetime.timedelta(hours=26)
                assert business_seconds_between(spec, at, end) == reference_between(spec, at, end), (shape, at)
                assert next_working_instant(spec, at) == reference_add(spec, at, 1e-6) - datetime.timedelta(
                    microseconds=1)
