"""MTTA, MTTR, open incidents by priority and "breaching soon", computed in the database (the same
figures on SQLite and PostgreSQL)."""

import datetime

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from opsdesk.incidents import kpis, services
from tests.incidents.factories import FACTORY_ACTOR, make_incident

pytestmark = pytest.mark.django_db
T0 = datetime.datetime(2026, 11, 23, 9, 0, tzinfo=datetime.UTC)  # a Monday
MINUTE = datetime.timedelta(minutes=1)


def resolve(incident):
    return services.transition_incident(incident, "resolve", actor=FACTORY_ACTOR,
                                        data={"resolution_code": "fixed", "resolution_notes": "Fixed"})


@pytest.fixture
def history():
    """Monday: A acknowledged after 10 min, resolved after 60; B acknowledged after 30, resolved on
    Tuesday after 26 h; C never acknowledged. Tuesday: D acknowledged after 2 min. One from October."""
    with time_machine.travel(T0 - datetime.timedelta(days=40), tick=False) as clock:
        old = make_incident(title="October")
        clock.shift(5 * MINUTE)
        services.transition_incident(old, "acknowledge", actor=FACTORY_ACTOR)
        clock.move_to(T0)
        a, b = make_incident(title="A"), make_incident(title="B")
        make_incident(title="C")
        clock.shift(10 * MINUTE)
        services.transition_incident(a, "acknowledge", actor=FACTORY_ACTOR)
        clock.shift(20 * MINUTE)
        services.transition_incident(b, "start", actor=FACTORY_ACTOR)
        clock.shift(30 * MINUTE)
        resolve(a)
        clock.move_to(T0 + datetime.timedelta(days=1))
        d = make_incident(title="D")
        clock.shift(2 * MINUTE)
        services.transition_incident(d, "acknowledge", actor=FACTORY_ACTOR)
        clock.move_to(T0 + datetime.timedelta(hours=26))
        resolve(b)
    return {"a": a, "b": b, "d": d}


def test_mtta_and_mttr_of_a_period_in_one_query(history):
    since, until = T0, T0 + datetime.timedelta(days=7)
    with CaptureQueriesContext(connection) as queries:
        figures = kpis.mtta_mttr(since, until)
    assert len(queries) == 1
    assert figures == {"mtta_seconds": (10 + 30 + 2) / 3 * 60, "mttr_seconds": (60 + 26 * 60) / 2 * 60,
                       "count_acknowledged": 3, "count_resolved": 2}
    monday = kpis.mtta_mttr(T0, T0 + datetime.timedelta(days=1))
    assert (monday["mtta_seconds"], monday["count_acknowledged"]) == (20 * 60, 2)
    assert (monday["mttr_seconds"], monday["count_resolved"]) == (3600, 1)
    empty = kpis.mtta_mttr(T0 + datetime.timedelta(days=10), T0 + datetime.timedelta(days=11))
    assert empty == {"mtta_seconds": None, "mttr_seconds": None, "count_acknowledged": 0, "count_resolved": 0}


def test_mtta_and_mttr_by_day_include_days_without_data(history):
    midnight = T0.replace(hour=0)
    days = kpis.mtta_mttr_by_day(midnight, midnight + datetime.timedelta(days=3))
    assert [d["day"] for d in days] == [datetime.date(2026, 11, 23), datetime.date(2026, 11, 24),
                                        datetime.date(2026, 11, 25)]
    assert [(d["mtta_seconds"], d["count_acknowledged"]) for d in days] == [(1200, 2), (120, 1), (None, 0)]
    assert [(d["mttr_seconds"], d["count_resolved"]) for d in days] == [(3600, 1), (26 * 3600, 1), (None, 0)]


def test_open_by_priority_and_breaching_soon():
    with time_machine.travel(T0, tick=False) as clock:
        p1 = make_incident(impact=1, urgency=1)  # acknowledge due in 15 min
        p2 = make_incident(impact=1, urgency=2)  # 30 min
        make_incident(impact=3, urgency=3)  # P5: 8 business hours
        resolve(make_incident(impact=1, urgency=1))
        assert kpis.open_by_priority() == {"P1": 1, "P2": 1, "P3": 0, "P4": 0, "P5": 1}
        assert list(kpis.breaching_soon(minutes=20)) == [p1]
        clock.shift(20 * MINUTE)
        assert list(kpis.breaching_soon(minutes=60)) == [p1, p2], "the breached one first"
