"""Who is on call, read from the database: layers, overrides, inactive people, bounded queries."""

import datetime as dt

import pytest

from opsdesk.oncall import selectors
from tests.accounts.factories import UserFactory
from tests.oncall.factories import LayerFactory, OverrideFactory, ScheduleFactory

UTC = dt.UTC
MONDAY = dt.datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

pytestmark = pytest.mark.django_db


@pytest.fixture
def people():
    return [UserFactory(username=name, role="responder") for name in ("alice", "bob", "carol")]


def test_on_call_at_follows_the_weekly_rotation(people):
    alice, bob, carol = people
    schedule = ScheduleFactory()
    LayerFactory(schedule=schedule, users=[alice, bob], rotation_start=MONDAY, turn_unit="weeks")
    assert selectors.on_call_at(schedule, MONDAY) == [alice]
    assert selectors.on_call_at(schedule, MONDAY + dt.timedelta(days=6, hours=23)) == [alice]
    assert selectors.on_call_at(schedule, MONDAY + dt.timedelta(days=7)) == [bob]
    assert selectors.on_call_at(schedule, MONDAY + dt.timedelta(days=14)) == [alice]
    assert selectors.on_call_at(schedule, MONDAY - dt.timedelta(seconds=1)) == []


def test_override_and_upper_layer_win(people):
    alice, bob, carol = people
    schedule = ScheduleFactory()
    LayerFactory(schedule=schedule, users=[alice], rotation_start=MONDAY, order=1)
    LayerFactory(schedule=schedule, users=[bob], rotation_start=MONDAY, order=2,
                 restrictions={"kind": "daily", "ranges": [{"start": "12:00", "end": "13:00"}]})
    OverrideFactory(schedule=schedule, user=carol, starts_at=MONDAY + dt.timedelta(days=1),
                    ends_at=MONDAY + dt.timedelta(days=1, hours=8))
    assert selectors.on_call_at(schedule, MONDAY + dt.timedelta(hours=1)) == [alice]
    assert selectors.on_call_at(schedule, MONDAY + dt.timedelta(hours=3, minutes=30)) == [bob]
    assert selectors.on_call_at(schedule, MONDAY + dt.timedelta(days=1, hours=3, minutes=30)) == [carol]


def test_inactive_person_leaves_a_gap_without_moving_the_others(people):
    alice, bob, carol = people
    schedule = ScheduleFactory()
    LayerFactory(schedule=schedule, users=[alice, bob, carol], rotation_start=MONDAY, turn_unit="days")
    bob.is_active = False
    bob.save()
    assert selectors.on_call_at(schedule, MONDAY + dt.timedelta(days=1)) == []
    assert selectors.on_call_at(schedule, MONDAY + dt.timedelta(days=2)) == [carol]
    assert selectors.gaps(schedule, MONDAY, MONDAY + dt.timedelta(days=3)) == [
        (MONDAY + dt.timedelta(days=1), MONDAY + dt.timedelta(days=2))]


def test_user_shifts_across_schedules_in_bounded_queries(people, django_assert_max_num_queries):
    alice, bob, carol = people
    for _index in range(4):
        schedule = ScheduleFactory()
        LayerFactory(schedule=schedule, users=[alice, bob], rotation_start=MONDAY, turn_unit="days")
        OverrideFactory(schedule=schedule, user=alice, starts_at=MONDAY + dt.timedelta(days=5),
                        ends_at=MONDAY + dt.timedelta(days=5, hours=1))
    ScheduleFactory()  # alice is not in this one
    with django_assert_max_num_queries(5):
        found = selectors.user_shifts(alice, MONDAY, MONDAY + dt.timedelta(days=6))
    # per schedule: days 0, 2 and 4, which runs on into the override hour on day 5 (one stretch)
    assert len(found) == 12
    last = found[-1][1]
    assert last.end == MONDAY + dt.timedelta(days=5, hours=1)
    assert last.source.endswith(" + override")
    assert all(alice in shift.users for _schedule, shift in found)
    assert [shift.start for _s, shift in found] == sorted(shift.start for _s, shift in found)
