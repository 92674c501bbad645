"""The SLA clocks as the incidents app drives them: a real Incident row, a frozen clock passed as `at`."""

import datetime

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext

from opsdesk.core.actors import Actor
from opsdesk.core.audit import history_for
from opsdesk.core.models import OutboxEvent
from opsdesk.incidents.models import Incident
from opsdesk.sla import selectors, services
from opsdesk.sla.models import BusinessCalendar, SLATimer
from tests.sla.factories import CalendarFactory, PolicyFactory, incident

UTC = datetime.UTC
ACTOR = Actor.system("test")
MON_10 = datetime.datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday
HOUR = datetime.timedelta(hours=1)
pytestmark = pytest.mark.django_db


def at(day: int, hour: int, minute: int = 0) -> datetime.datetime:
    """2 March 2026 is a Monday: at(2, 10) is Monday 10:00 UTC, at(4, 10) Wednesday."""
    return datetime.datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def start(record, context=None, when=MON_10):
    context = {"priority": record.priority, "service_tier": None, "category": [], "ci_class": []} | (context or {})
    return services.start(record, record_type="incident", context=context, actor=ACTOR, at=when)


def timer(record, metric="resolve") -> SLATimer:
    return SLATimer.objects.select_related("calendar", "policy").get(
        content_type=ContentType.objects.get_for_model(Incident), object_id=record.pk, metric=metric)


@pytest.fixture
def office():
    return BusinessCalendar.objects.get(slug="office-hours-utc")


@pytest.fixture
def always():
    return BusinessCalendar.objects.get(slug="24x7")


# --- matching ------------------------------------------------------------------------------------------------

def test_start_picks_the_first_matching_policy_by_order(office):
    PolicyFactory(name="Tier 1 P1", order=1, calendar=office, conditions={"priority": ["P1"], "service_tier": [1]})
    network = PolicyFactory(name="Network P1", order=2, calendar=office,
                            conditions={"priority": ["P1"], "category": ["network"]})
    PolicyFactory(name="Any P1", order=3, calendar=office, conditions={"priority": ["P1"]})
    record = incident("P1")
    timers = start(record, {"service_tier": 2, "category": ["network", "network-dns"]})
    assert {t.policy for t in timers} == {network}
    assert sorted(t.metric for t in timers) == ["acknowledge", "resolve"]


def test_no_matching_policy_starts_no_timers():
    record = incident("P9")
    assert start(record) == []
    assert not SLATimer.objects.exists()
    record.refresh_from_db()
    assert record.sla_due_at is None


def test_start_twice_leaves_existing_timers_alone(always):
    PolicyFactory(calendar=always)
    record = incident("P1")
    first = start(record)
    assert len(first) == 2
    assert start(record, when=MON_10 + HOUR) == []
    assert SLATimer.objects.count() == 2
    assert timer(record).started_at == MON_10


def test_shipped_p1_policy_counts_calendar_time_and_sets_the_records_due_date():
    record = incident("P1")
    start(record, when=at(7, 22))  # a Saturday night: a P1 clock runs anyway
    ack, resolve = timer(record, "acknowledge"), timer(record, "resolve")
    assert ack.policy.slug == "p1-incidents"
    assert ack.due_at == at(7, 22, 15)
    assert resolve.due_at == at(8, 2)
    record.refresh_from_db()
    assert record.sla_due_at == at(7, 22, 15)


def test_shipped_p3_policy_counts_office_hours():
    record = incident("P3")
    start(record, when=at(6, 15))  # Friday 15:00: 4 business hours to acknowledge -> Monday 11:00
    assert timer(record, "acknowledge").due_at == at(9, 11)


# --- pause and resume ----------------------------------------------------------------------------------------

def test_on_hold_pauses_and_resume_keeps_the_elapsed_business_time(office):
    PolicyFactory(calendar=office, targets=[{"metric": "resolve", "goal_minutes": 480, "business_time": True}])
    record = incident("P1")
    start(record, when=at(2, 10))
    assert timer(record).due_at == at(3, 10)  # 8 business hours: Tuesday 10:00
    services.on_state(record, "on_hold", actor=ACTOR, at=at(2, 12))
    paused = timer(record)
    assert paused.state == "paused"
    assert paused.elapsed_seconds == 2 * 3600
    assert paused.due_at is None
    record.refresh_from_db()
    assert record.sla_due_at is None
    assert services.timer_state(paused, now=at(3, 16))["elapsed_seconds"] == 7200  # a paused clock stands still
    services.on_state(record, "in_progress", actor=ACTOR, at=at(4, 10))
    resumed = timer(record)
    assert resumed.state == "running"
    assert resumed.pause_count == 1
    assert services.timer_state(resumed, now=at(4, 10))["elapsed_seconds"] == 7200
    # 6 business hours left from Wednesday 10:00: due Wednesday 16:00, moved by the paused time.
    assert resumed.due_at == at(4, 16)
    record.refresh_from_db()
    assert record.sla_due_at == at(4, 16)


def test_a_state_the_policy_does_not_pause_in_changes_nothing(office):
    PolicyFactory(calendar=office)
    record = incident("P1")
    start(record)
    services.on_state(record, "in_progress", actor=ACTOR, at=MON_10 + HOUR)
    assert timer(record).state == "running"
    assert timer(record).elapsed_seconds == 0


# --- recalculation -----------------------------------------------------------------------------------------

def test_recalculate_after_a_priority_change_keeps_elapsed_and_changes_the_due_date(office, always):
    PolicyFactory(name="P3 custom", order=1, calendar=office, conditions={"priority": ["P3"]},
                  targets=[{"metric": "acknowledge", "goal_minutes": 240, "business_time": True},
                           {"metric": "resolve", "goal_minutes": 1440, "business_time": True}])
    p1 = PolicyFactory(name="P1 custom", order=1, calendar=always, conditions={"priority": ["P1"]},
                       targets=[{"metric": "resolve", "goal_minutes": 240, "business_time": False},
                                {"metric": "communicate", "goal_minutes": 30, "business_time": False}])
    record = incident("P3")
    start(record, when=at(2, 10))
    assert timer(record).due_at == at(5, 10)  # 24 business hours: Thursday 10:00
    Incident.objects.filter(pk=record.pk).update(priority="P1")
    services.recalculate(record, record_type="incident", context={"priority": "P1"}, actor=ACTOR, at=at(2, 11))
    resolve = timer(record)
    assert resolve.policy == p1
    assert resolve.elapsed_seconds == 3600  # the hour counted under the old policy stays
    assert resolve.goal_seconds == 240 * 60
    assert resolve.due_at == at(2, 14)  # 3 hours left, every minute counts now
    assert resolve.recalculated_at == at(2, 11)
    assert timer(record, "acknowledge").state == "cancelled"  # the new policy has no such target
    communicate = timer(record, "communicate")
    assert (communicate.state, communicate.elapsed_seconds, communicate.due_at) == ("running", 0, at(2, 11, 30))
    record.refresh_from_db()
    assert record.sla_due_at == at(2, 11, 30)
    entry = history_for(record).first()
    assert entry.action == "sla_recalculated"
    assert entry.changes["resolve goal (minutes)"] == [1440, 240]


def test_recalculate_keeps_a_recorded_breach_and_does_not_announce_again(always):
    PolicyFactory(name="short", order=1, calendar=always, conditions={"priority": ["P2"]},
                  targets=[{"metric": "resolve", "goal_minutes": 60, "business_time": False}])
    PolicyFactory(name="long", order=1, calendar=always, conditions={"priority": ["P3"]},
                  targets=[{"metric": "resolve", "goal_minutes": 600, "business_time": False}])
    record = incident("P2")
    start(record)
    assert services.sweep(now=MON_10 + 2 * HOUR) == 3  # 50, 75 and the breach
    services.recalculate(record, record_type="incident", context={"priority": "P3"}, actor=ACTOR,
                         at=MON_10 + 2 * HOUR)
    recalculated = timer(record)
    assert recalculated.breached_at == MON_10 + HOUR
    assert recalculated.due_at == MON_10 + 10 * HOUR
    assert services.sweep(now=MON_10 + 11 * HOUR) == 0


# --- stop, reopen, cancel ----------------------------------------------------------------------------------

def test_stop_before_the_goal_is_met_and_reopen_runs_on_with_the_elapsed_time(office):
    PolicyFactory(calendar=office, targets=[{"metric": "resolve", "goal_minutes": 480, "business_time": True}])
    record = incident("P1")
    start(record, when=at(2, 10))
    stopped = services.stop(record, "resolve", actor=ACTOR, at=at(2, 12))
    assert (stopped.state, stopped.elapsed_seconds, stopped.breached_at) == ("stopped", 7200, None)
    record.refresh_from_db()
    assert record.sla_due_at is None
    assert services.stop(record, "resolve", actor=ACTOR, at=at(2, 13)) is None  # nothing running
    reopened = services.reopen(record, "resolve", actor=ACTOR, at=at(3, 9))
    assert reopened.state == "running"
    assert reopened.due_at == at(3, 15)  # 6 business hours left from Tuesday 09:00
    record.refresh_from_db()
    assert record.sla_due_at == at(3, 15)


def test_stop_after_the_goal_records_the_breach(always):
    PolicyFactory(calendar=always, targets=[{"metric": "resolve", "goal_minutes": 60, "business_time": False}])
    record = incident("P1")
    start(record)
    stopped = services.stop(record, "resolve", actor=ACTOR, at=MON_10 + 2 * HOUR)
    assert stopped.breached_at == MON_10 + HOUR
    assert services.timer_state(stopped, now=MON_10 + 3 * HOUR)["breached"] is True


def test_stop_all_stops_running_and_paused_timers(always):
    PolicyFactory(calendar=always)
    record = incident("P1")
    start(record)
    services.on_state(record, "on_hold", actor=ACTOR, at=MON_10 + HOUR)
    services.stop_all(record, actor=ACTOR, at=MON_10 + 2 * HOUR)
    assert set(SLATimer.objects.values_list("state", flat=True)) == {"stopped"}


def test_cancel_counts_no_breach(always):
    PolicyFactory(calendar=always, targets=[{"metric": "resolve", "goal_minutes": 60, "business_time": False}])
    record = incident("P1")
    start(record)
    services.sweep(now=MON_10 + 2 * HOUR)
    day = (MON_10 - HOUR, MON_10 + 24 * HOUR)
    assert selectors.breach_counts("incident", *day) == {"resolve": 1}
    services.cancel_all(record, actor=ACTOR, at=MON_10 + 3 * HOUR)
    assert timer(record).state == "cancelled"
    assert selectors.breach_counts("incident", *day) == {}
    assert selectors.breach_counts_by_policy("incident", *day) == {}
    assert services.sweep(now=MON_10 + 30 * HOUR) == 0


# --- the sweeper ------------------------------------------------------------------------------------------

@pytest.fixture
def hour_goal(always):
    return PolicyFactory(calendar=always, targets=[{"metric": "resolve", "goal_minutes": 60, "business_time": False}])


def test_sweep_announces_50_75_and_the_breach_once_each(hour_goal):
    record = incident("P1")
    start(record)
    assert services.sweep(now=MON_10 + datetime.timedelta(minutes=20)) == 0
    assert services.sweep(now=MON_10 + datetime.timedelta(minutes=31)) == 1
    assert services.sweep(now=MON_10 + datetime.timedelta(minutes=31)) == 0
    assert services.sweep(now=MON_10 + datetime.timedelta(minutes=50)) == 1
    assert timer(record).breached_at is None
    assert services.sweep(now=MON_10 + 2 * HOUR) == 1
    assert services.sweep(now=MON_10 + 3 * HOUR) == 0
    breached = timer(record)
    assert breached.breached_at == MON_10 + HOUR
    assert breached.next_check_at is None
    assert breached.thresholds_done == [50, 75, 100]
    events = list(OutboxEvent.objects.filter(event_type__startswith="incident.sla_").order_by("id"))
    assert [(e.event_type, e.payload["percent"]) for e in events] == [
        ("incident.sla_warning", 50), ("incident.sla_warning", 75), ("incident.sla_breached", 100)]
    assert events[-1].payload["metric"] == "resolve"
    assert events[-1].payload["policy"] == hour_goal.slug
    entries = [e for e in history_for(record) if e.action.startswith("sla_")]
    assert [(e.action, e.changes["percent"][1], e.actor_label) for e in reversed(entries)] == [
        ("sla_warning", 50, "system:sla"), ("sla_warning", 75, "system:sla"), ("sla_breached", 100, "system:sla")]


def test_a_late_sweep_announces_every_crossed_threshold_at_once(hour_goal):
    record = incident("P1")
    start(record)
    assert services.sweep(now=MON_10 + 5 * HOUR) == 3
    assert services.sweep(now=MON_10 + 5 * HOUR) == 0
    assert timer(record).breached_at == MON_10 + HOUR


def test_a_paused_clock_is_not_swept(hour_goal):
    record = incident("P1")
    start(record)
    services.on_state(record, "on_hold", actor=ACTOR, at=MON_10 + datetime.timedelta(minutes=10))
    assert services.sweep(now=MON_10 + 5 * HOUR) == 0


def test_threshold_listener_is_called_once_per_crossing_with_provider_percentages(hour_goal):
    calls = []

    def listener(record, timer, percent, *, actor):
        calls.append((record.pk, timer.metric, percent, actor.label))

    def provider(record, metric):
        return [90] if metric == "resolve" else []

    services.register_threshold_listener(Incident, listener)
    services.register_threshold_provider(Incident, provider)
    try:
        record = incident("P1")
        start(record)
        assert timer(record).thresholds == [50, 75, 90, 100]
        services.sweep(now=MON_10 + datetime.timedelta(minutes=55))
        services.sweep(now=MON_10 + datetime.timedelta(minutes=55))
        services.sweep(now=MON_10 + 2 * HOUR)
    finally:
        services._LISTENERS[Incident].remove(listener)
        services._PROVIDERS[Incident].remove(provider)
    assert calls == [(record.pk, "resolve", p, "system:sla") for p in (50, 75, 90, 100)]


def test_a_failing_listener_does_not_stop_the_announcement(hour_goal):
    def broken(record, timer, percent, *, actor):
        raise RuntimeError("escalation target gone")

    services.register_threshold_listener(Incident, broken)
    try:
        record = incident("P1")
        start(record)
        assert services.sweep(now=MON_10 + 2 * HOUR) == 3
    finally:
        services._LISTENERS[Incident].remove(broken)
    assert timer(record).thresholds_done == [50, 75, 100]


def test_sweep_respects_its_limit_and_the_next_sweep_goes_on(hour_goal):
    records = [incident("P1") for _ in range(5)]
    for record in records:
        start(record)
    assert services.sweep(now=MON_10 + 2 * HOUR, limit=2) == 6
    assert services.sweep(now=MON_10 + 2 * HOUR) == 9
    assert SLATimer.objects.filter(breached_at__isnull=False).count() == 5


# --- reads -------------------------------------------------------------------------------------------------

def test_timers_for_makes_one_query_for_any_number_of_records(always):
    PolicyFactory(calendar=always)
    one = [incident("P1")]
    many = [incident("P1") for _ in range(12)]
    for record in one + many:
        start(record)
    services.timers_for(one)  # content type cache
    with CaptureQueriesContext(connection) as few:
        services.timers_for(one)
    with CaptureQueriesContext(connection) as lots:
        result = services.timers_for(many)
    assert len(few) == len(lots) == 1
    assert [t.metric for t in result[many[0].pk]] == ["acknowledge", "resolve"]
    with CaptureQueriesContext(connection) as states:
        for timers in result.values():
            for t in timers:
                services.timer_state(t, now=MON_10)
    assert len(states) == 0


def test_timer_state_colours_follow_the_warnings(office):
    PolicyFactory(calendar=office, targets=[{"metric": "resolve", "goal_minutes": 480, "business_time": True}])
    record = incident("P1")
    start(record, when=at(2, 9))
    t = timer(record)

    def state(hour):
        return services.timer_state(t, now=at(2, hour))

    assert state(10)["colour"] == "green"
    assert state(13)["colour"] == "amber"  # 4 of 8 hours: 50 %
    assert state(15)["colour"] == "red"  # 6 of 8 hours: 75 %
    assert state(16)["remaining_seconds"] == 3600
    late = services.timer_state(t, now=at(3, 11))
    assert (late["colour"], late["breached"], late["remaining_seconds"]) == ("red", True, -7200)
    assert late["due_at"] == at(2, 17)
    assert (late["label"], late["policy"], late["business_time"]) == ("Time to resolve", t.policy.slug, True)
    services.on_state(record, "on_hold", actor=ACTOR, at=at(2, 10))
    assert services.timer_state(timer(record), now=at(2, 11))["colour"] == "grey"


def test_a_calendar_with_public_holidays_skips_them():
    calendar = CalendarFactory(holiday_country="DE", holiday_subdivision="BY")
    PolicyFactory(calendar=calendar, targets=[{"metric": "resolve", "goal_minutes": 120, "business_time": True}])
    record = incident("P1")
    # Thursday 1 January 2026 is New Year's Day; Tuesday 6 January Epiphany in Bavaria.
    start(record, when=datetime.datetime(2025, 12, 31, 16, 0, tzinfo=UTC))
    assert timer(record).due_at == datetime.datetime(2026, 1, 2, 10, 0, tzinfo=UTC)


def test_listeners_share_one_memo_per_sweep_and_none_outside(hour_goal):
    memos = []

    def listener(record, timer, percent, *, actor):
        memo = services.sweep_memo()
        memo["seen"] = memo.get("seen", 0) + 1
        memos.append(memo)

    services.register_threshold_listener(Incident, listener)
    try:
        for _ in range(2):
            start(incident("P1"))
        services.sweep(now=MON_10 + 2 * HOUR)  # two records, three crossings each
        services.sweep(now=MON_10 + 3 * HOUR)
    finally:
        services._LISTENERS[Incident].remove(listener)
    assert len(memos) == 6 and all(memo is memos[0] for memo in memos) and memos[0]["seen"] == 6
    assert services.sweep_memo() is None
