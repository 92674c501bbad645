"""Rotation arithmetic (pure, no database): handoffs across DST changes, hour turns, restrictions,
layers on top, overrides on top of all, gaps, nobody before the rotation starts."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from opsdesk.oncall.rotation import LayerSpec, OverrideSpec, final_schedule, restriction_windows

UTC = dt.UTC
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def local(tz, *args):
    return dt.datetime(*args, tzinfo=tz)


def layer(users, start, unit="days", count=1, **kwargs):
    return LayerSpec(name=kwargs.pop("name", "L"), users=users, rotation_start=start, turn_unit=unit,
                     turn_count=count, **kwargs)


def spans(timeline, tz=UTC):
    """[(local start, local end, users), ...] for readable assertions."""
    return [(s.start.astimezone(tz).replace(tzinfo=None), s.end.astimezone(tz).replace(tzinfo=None), s.users)
            for s in timeline.shifts]


# --- DST ------------------------------------------------------------------------------------------------

def test_daily_turns_keep_the_wall_time_across_berlin_spring_forward():
    start = local(BERLIN, 2026, 3, 27, 9, 0)  # Friday; summer time begins Sunday 29 March at 02:00
    result = final_schedule([layer(["a", "b"], start)], [], "Europe/Berlin", start, start + dt.timedelta(days=4))
    shifts = result.shifts
    assert [s.start.astimezone(BERLIN).hour for s in shifts] == [9, 9, 9, 9]
    assert [s.users for s in shifts] == [("a",), ("b",), ("a",), ("b",)]
    # Saturday 09:00 to Sunday 09:00 loses the hour of the change.
    assert shifts[1].duration == dt.timedelta(hours=23)
    assert shifts[0].duration == shifts[2].duration == dt.timedelta(hours=24)
    assert result.gaps == []


def test_daily_turns_across_berlin_autumn_back_last_25_hours():
    start = local(BERLIN, 2026, 10, 24, 9, 0)  # Saturday; winter time from Sunday 25 October 03:00 -> 02:00
    result = final_schedule([layer(["a", "b"], start)], [], BERLIN, start, start + dt.timedelta(days=2, hours=1))
    assert [s.duration for s in result.shifts[:2]] == [dt.timedelta(hours=25), dt.timedelta(hours=24)]
    assert result.shifts[1].start == local(BERLIN, 2026, 10, 25, 9, 0)


def test_weekly_turns_across_new_york_spring_and_autumn():
    start = local(NEW_YORK, 2026, 3, 2, 9, 0)  # Monday; DST begins Sunday 8 March
    result = final_schedule([layer(["a", "b", "c"], start, "weeks")], [], "America/New_York", start,
                            start + dt.timedelta(weeks=3))
    assert [(s.start.astimezone(NEW_YORK).hour, s.users) for s in result.shifts] == [
        (9, ("a",)), (9, ("b",)), (9, ("c",))]
    assert result.shifts[0].duration == dt.timedelta(days=7, hours=-1)
    assert result.shifts[1].start == local(NEW_YORK, 2026, 3, 9, 9, 0)
    autumn = local(NEW_YORK, 2026, 10, 26, 9, 0)  # DST ends Sunday 1 November
    found = final_schedule([layer(["a", "b", "c"], start, "weeks")], [], NEW_YORK, autumn,
                           autumn + dt.timedelta(weeks=1, hours=2)).shifts
    assert found[0].start == autumn and found[0].end == local(NEW_YORK, 2026, 11, 2, 9, 0)
    assert found[0].duration == dt.timedelta(days=7, hours=1)
    # 34 weeks after the start: 34 mod 3 = 1 -> b
    assert found[0].users == ("b",)


@pytest.mark.parametrize(("tz", "first", "unit", "lengths"), [
    # Berlin: summer time from 29 March, winter time from 25 October 2026
    (BERLIN, (2026, 3, 23, 8, 0), "weeks", [dt.timedelta(days=7, hours=-1), dt.timedelta(days=7)]),
    (BERLIN, (2026, 10, 19, 8, 0), "weeks", [dt.timedelta(days=7, hours=1), dt.timedelta(days=7)]),
    # New York: daylight time from 8 March, standard time from 1 November 2026
    (NEW_YORK, (2026, 3, 7, 18, 0), "days", [dt.timedelta(hours=23), dt.timedelta(hours=24)]),
    (NEW_YORK, (2026, 10, 31, 18, 0), "days", [dt.timedelta(hours=25), dt.timedelta(hours=24)]),
])
def test_turn_lengths_across_dst(tz, first, unit, lengths):
    start = local(tz, *first)
    shifts = final_schedule([layer(["a", "b"], start, unit)], [], tz, start,
                            start + dt.timedelta(days=15 if unit == "weeks" else 3)).shifts
    assert [s.duration for s in shifts[:2]] == lengths
    assert {s.start.astimezone(tz).time() for s in shifts} == {start.time()}


def test_handoff_inside_the_spring_gap_moves_an_hour_later_that_day_only():
    start = local(BERLIN, 2026, 3, 27, 2, 30)  # 02:30 does not exist on 29 March
    shifts = final_schedule([layer(["a", "b"], start)], [], BERLIN, start, start + dt.timedelta(days=4)).shifts
    starts = [s.start.astimezone(BERLIN).replace(tzinfo=None) for s in shifts]
    assert starts == [dt.datetime(2026, 3, 27, 2, 30), dt.datetime(2026, 3, 28, 2, 30),
                      dt.datetime(2026, 3, 29, 3, 30), dt.datetime(2026, 3, 30, 2, 30)]


def test_hour_turns_are_exact_hours_whatever_the_wall_clock():
    start = local(BERLIN, 2026, 3, 28, 22, 0)
    end = start.astimezone(UTC) + dt.timedelta(hours=8)  # 8 real hours (aware + timedelta is wall-clock arithmetic)
    shifts = final_schedule([layer(["a", "b", "c"], start, "hours", 2)], [], BERLIN, start, end).shifts
    assert all(s.duration == dt.timedelta(hours=2) for s in shifts)
    assert [s.users[0] for s in shifts] == ["a", "b", "c", "a"]
    assert shifts[2].start.astimezone(BERLIN).hour == 3  # 02:00 UTC+1 then the clock jumps: 03:00 summer time


# --- restrictions ----------------------------------------------------------------------------------------

def test_daily_restriction_crossing_midnight():
    start = local(UTC, 2026, 1, 5, 0, 0)
    night = {"kind": "daily", "ranges": [{"start": "22:00", "end": "06:00"}]}
    result = final_schedule([layer(["n"], start, "weeks", restrictions=night)], [], UTC, start,
                            start + dt.timedelta(days=2))
    assert spans(result) == [
        (dt.datetime(2026, 1, 5, 0, 0), dt.datetime(2026, 1, 5, 6, 0), ("n",)),
        (dt.datetime(2026, 1, 5, 22, 0), dt.datetime(2026, 1, 6, 6, 0), ("n",)),
        (dt.datetime(2026, 1, 6, 22, 0), dt.datetime(2026, 1, 7, 0, 0), ("n",)),
    ]
    assert result.gaps == [(local(UTC, 2026, 1, 5, 6), local(UTC, 2026, 1, 5, 22)),
                           (local(UTC, 2026, 1, 6, 6), local(UTC, 2026, 1, 6, 22))]


def test_daily_restriction_keeps_local_hours_across_dst():
    start = local(BERLIN, 2026, 3, 28, 0, 0)
    office = {"kind": "daily", "ranges": [{"start": "09:00", "end": "17:00"}]}
    shifts = final_schedule([layer(["o"], start, "weeks", restrictions=office)], [], BERLIN, start,
                            start + dt.timedelta(days=3)).shifts
    assert [(s.start.astimezone(BERLIN).hour, s.end.astimezone(BERLIN).hour) for s in shifts] == [(9, 17)] * 3
    assert shifts[0].start.utcoffset() is not None
    assert shifts[0].start.astimezone(UTC).hour == 8 and shifts[2].start.astimezone(UTC).hour == 7


def test_weekly_restriction_weekdays_only_and_wrapping_weekend():
    start = local(UTC, 2026, 1, 5, 0, 0)  # Monday
    weekdays = {"kind": "weekly", "ranges": [{"start_day": 0, "start": "09:00", "end_day": 4, "end": "17:00"}]}
    weekend = {"kind": "weekly", "ranges": [{"start_day": 4, "start": "17:00", "end_day": 0, "end": "09:00"}]}
    result = final_schedule([layer(["w"], start, "weeks", restrictions=weekdays, name="week"),
                             layer(["e"], start, "weeks", restrictions=weekend, name="weekend", order=2)],
                            [], UTC, start, start + dt.timedelta(weeks=1, hours=12))
    assert spans(result) == [
        (dt.datetime(2026, 1, 5, 0, 0), dt.datetime(2026, 1, 5, 9, 0), ("e",)),
        (dt.datetime(2026, 1, 5, 9, 0), dt.datetime(2026, 1, 9, 17, 0), ("w",)),
        (dt.datetime(2026, 1, 9, 17, 0), dt.datetime(2026, 1, 12, 9, 0), ("e",)),
        (dt.datetime(2026, 1, 12, 9, 0), dt.datetime(2026, 1, 12, 12, 0), ("w",)),
    ]
    assert result.gaps == []


def test_restriction_windows_merge_overlapping_ranges():
    start = local(UTC, 2026, 1, 5)
    windows = restriction_windows({"kind": "daily", "ranges": [{"start": "08:00", "end": "12:00"},
                                                              {"start": "11:00", "end": "13:00"}]},
                                  UTC, start, start + dt.timedelta(days=1))
    assert windows == [(local(UTC, 2026, 1, 5, 8), local(UTC, 2026, 1, 5, 13))]


# --- layers, overrides, gaps -----------------------------------------------------------------------------

def test_upper_layer_covers_lower_only_where_it_has_someone():
    start = local(UTC, 2026, 1, 5, 0, 0)
    base = layer(["base"], start, "weeks", name="base", order=1)
    lunch = layer(["lunch"], start, "weeks", name="lunch", order=2,
                  restrictions={"kind": "daily", "ranges": [{"start": "12:00", "end": "13:00"}]})
    result = final_schedule([lunch, base], [], UTC, start, start + dt.timedelta(days=1))
    assert [(s.users, s.source) for s in result.shifts] == [
        (("base",), "layer base"), (("lunch",), "layer lunch"), (("base",), "layer base")]


def test_equal_order_later_layer_is_on_top():
    start = local(UTC, 2026, 1, 5)
    result = final_schedule([layer(["x"], start, name="first"), layer(["y"], start, name="second")], [], UTC, start,
                            start + dt.timedelta(hours=1))
    assert result.shifts[0].users == ("y",)


def test_overrides_lie_on_top_and_overlapping_ones_share():
    start = local(UTC, 2026, 1, 5)
    result = final_schedule(
        [layer(["a"], start, "weeks")],
        [OverrideSpec("o1", local(UTC, 2026, 1, 5, 10), local(UTC, 2026, 1, 5, 14)),
         OverrideSpec("o2", local(UTC, 2026, 1, 5, 12), local(UTC, 2026, 1, 5, 16))],
        UTC, start, start + dt.timedelta(days=1))
    assert spans(result) == [
        (dt.datetime(2026, 1, 5, 0), dt.datetime(2026, 1, 5, 10), ("a",)),
        (dt.datetime(2026, 1, 5, 10), dt.datetime(2026, 1, 5, 12), ("o1",)),
        (dt.datetime(2026, 1, 5, 12), dt.datetime(2026, 1, 5, 14), ("o1", "o2")),
        (dt.datetime(2026, 1, 5, 14), dt.datetime(2026, 1, 5, 16), ("o2",)),
        (dt.datetime(2026, 1, 5, 16), dt.datetime(2026, 1, 6, 0), ("a",)),
    ]
    assert {s.source for s in result.shifts[1:4]} == {"override"}


def test_override_fills_a_gap_and_the_rest_stays_a_gap():
    start = local(UTC, 2026, 1, 5)
    office = {"kind": "daily", "ranges": [{"start": "09:00", "end": "17:00"}]}
    result = final_schedule([layer(["a"], start, "weeks", restrictions=office)],
                            [OverrideSpec("z", local(UTC, 2026, 1, 5, 17), local(UTC, 2026, 1, 5, 20))],
                            UTC, start, start + dt.timedelta(days=1))
    assert result.gaps == [(local(UTC, 2026, 1, 5, 0), local(UTC, 2026, 1, 5, 9)),
                           (local(UTC, 2026, 1, 5, 20), local(UTC, 2026, 1, 6, 0))]


def test_nobody_before_the_rotation_starts_and_outside_active_dates():
    start = local(UTC, 2026, 1, 5, 9)
    bounded = layer(["a", "b"], start, starts_at=local(UTC, 2026, 1, 6, 0), ends_at=local(UTC, 2026, 1, 7, 0))
    result = final_schedule([bounded], [], UTC, local(UTC, 2026, 1, 4), local(UTC, 2026, 1, 8))
    assert spans(result) == [
        (dt.datetime(2026, 1, 6, 0), dt.datetime(2026, 1, 6, 9), ("a",)),
        (dt.datetime(2026, 1, 6, 9), dt.datetime(2026, 1, 7, 0), ("b",)),
    ]
    assert result.gaps == [(local(UTC, 2026, 1, 4), local(UTC, 2026, 1, 6)), (local(UTC, 2026, 1, 7),
                                                                           local(UTC, 2026, 1, 8))]
    before = final_schedule([layer(["a"], start)], [], UTC, local(UTC, 2026, 1, 1), local(UTC, 2026, 1, 5, 9))
    assert before.shifts == [] and before.gaps == [(local(UTC, 2026, 1, 1), local(UTC, 2026, 1, 5, 9))]


def test_adjacent_turns_of_the_same_person_merge_and_none_leaves_a_gap():
    start = local(UTC, 2026, 1, 5)
    result = final_schedule([layer(["a", "a", None, "b"], start)], [], UTC, start, start + dt.timedelta(days=4))
    assert spans(result) == [(dt.datetime(2026, 1, 5), dt.datetime(2026, 1, 7), ("a",)),
                             (dt.datetime(2026, 1, 8), dt.datetime(2026, 1, 9), ("b",))]
    assert result.gaps == [(local(UTC, 2026, 1, 7), local(UTC, 2026, 1, 8))]


def test_a_period_far_after_the_start_finds_the_right_turn():
    start = local(BERLIN, 2020, 1, 6, 9)
    at = local(BERLIN, 2026, 7, 1, 12)
    found = final_schedule([layer(["a", "b", "c"], start)], [], BERLIN, at, at + dt.timedelta(minutes=1)).shifts
    days = (at.date() - start.date()).days
    assert found[0].users == ("abc"[days % 3],)


def test_a_month_of_five_layers_covers_the_period_exactly():
    """Interval work: every instant of the month is in exactly one shift or gap (no overlap, no hole)."""
    start = local(BERLIN, 2026, 3, 1)
    layers = [layer([f"u{i}{j}" for j in range(5)], start, unit, 1, name=f"l{i}", order=i,
                    restrictions={"kind": "daily", "ranges": [{"start": f"{8 + i:02d}:00", "end": f"{16 + i:02d}:00"}]}
                    if i % 2 else {})
              for i, unit in enumerate(["weeks", "days", "hours", "days", "hours"])]
    overrides = [OverrideSpec("x", start + dt.timedelta(days=d, hours=3), start + dt.timedelta(days=d, hours=5))
                 for d in range(0, 30, 3)]
    end = start + dt.timedelta(days=31)
    result = final_schedule(layers, overrides, BERLIN, start, end)
    pieces = sorted([(s.start, s.end) for s in result.shifts] + result.gaps)
    assert pieces[0][0] == start and pieces[-1][1] == end
    assert all(a[1] == b[0] for a, b in zip(pieces, pieces[1:], strict=False))
    # the hourly layer 4 (no restriction) lies on top all month, under the ten overrides
    assert {s.source for s in result.shifts} == {"layer l4", "override"}
    assert sum(1 for s in result.shifts if s.source == "override") == 10


def test_rejects_bad_input():
    start = local(UTC, 2026, 1, 5)
    with pytest.raises(ValueError):
        final_schedule([layer(["a"], start, count=0)], [], UTC, start, start + dt.timedelta(days=1))
    with pytest.raises(ValueError):
        final_schedule([layer(["a"], start, "months")], [], UTC, start, start + dt.timedelta(days=1))
    with pytest.raises(ValueError):
        final_schedule([], [], UTC, dt.datetime(2026, 1, 5), dt.datetime(2026, 1, 6))
    assert final_schedule([], [], UTC, start, start).shifts == []
