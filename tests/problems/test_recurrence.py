"""The recurrence check with a frozen clock: a resolved problem is watched; a new matching incident inside
the watch makes it "not effective" and tells the owner at once; none makes it "effective"."""

from __future__ import annotations

import datetime

import pytest
import time_machine

from opsdesk.core.actors import Actor
from opsdesk.core.models import Notification, OutboxEvent
from opsdesk.problems import recurrence, services
from opsdesk.problems.models import RecurrenceCheck
from tests.accounts.factories import UserFactory
from tests.cmdb.factories import CIFactory
from tests.problems.factories import make_incident, make_known_error, make_problem

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")
T0 = datetime.datetime(2026, 9, 1, 8, 0, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)


def at(moment):
    return time_machine.travel(moment, tick=False)


@pytest.fixture
def owner(db):
    return UserFactory(username="olivia", role="responder", email="olivia@example.com")


@pytest.fixture
def watched(owner):
    """A problem on CI db-01 from two incidents, resolved at T0 + 10 days (watch: 30 days)."""
    ci = CIFactory(name="db-01")
    with at(T0):
        first = make_incident(title="Database connection pool exhausted", cis=[ci])
    with at(T0 + 3 * DAY):
        second = make_incident(title="Connection pool exhausted on checkout database", cis=[ci])
        problem = make_problem(title="Connection pool exhausted", owner=owner, cis=[ci], incidents=[first, second])
        problem = services.transition_problem(problem, "start_rca", actor=ACTOR)
    with at(T0 + 10 * DAY):
        problem = services.transition_problem(problem, "resolve", actor=ACTOR, data={
            "root_cause": "Pool size 20 for 200 workers", "fix_description": "Pool size 200 and a PgBouncer"})
    return problem, ci


def notified(user, event_type):
    return Notification.objects.filter(user=user, event__event_type=event_type).count()


def test_resolving_starts_the_watch(watched):
    problem, _ci = watched
    check = RecurrenceCheck.objects.get(problem=problem)
    assert check.status == "watching"
    assert check.started_at == T0 + 10 * DAY and check.ends_at == T0 + 40 * DAY
    assert recurrence.start_watch(problem, actor=ACTOR) == check  # one watch at a time


def test_a_matching_incident_inside_the_watch_is_not_effective_and_the_owner_is_told(
        watched, owner, django_capture_on_commit_callbacks):
    problem, ci = watched
    with at(T0 + 20 * DAY), django_capture_on_commit_callbacks(execute=True):
        again = make_incident(title="Checkout errors", cis=[ci])
    check = RecurrenceCheck.objects.get(problem=problem)
    assert list(check.recurrences.all()) == [again]
    assert check.verdict == "not_effective" and again.number in check.explanation
    assert notified(owner, "problem.recurred") == 1
    with at(T0 + 25 * DAY), django_capture_on_commit_callbacks(execute=True):
        make_incident(title="Checkout errors again", cis=[ci])
    assert notified(owner, "problem.recurred") == 2
    # At the end of the watch the evaluation stands: as many incidents after as before.
    with django_capture_on_commit_callbacks(execute=True):
        assert recurrence.evaluate_due_checks(now=T0 + 39 * DAY) == 0  # not due yet
        assert recurrence.evaluate_due_checks(now=T0 + 40 * DAY) == 1
    check.refresh_from_db()
    assert (check.status, check.verdict) == ("evaluated", "not_effective")
    assert (check.count_before, check.count_after) == (2, 2)
    assert check.mtbi_before_hours == 360.0 and check.mtbi_after_hours == 360.0
    assert "did not stop" in check.explanation
    assert notified(owner, "problem.recurrence_evaluated") == 1


def test_no_incident_in_the_watch_is_effective(watched, owner, django_capture_on_commit_callbacks):
    problem, _ci = watched
    with at(T0 + 20 * DAY):
        make_incident(title="Printer out of toner", cis=[CIFactory()])  # unrelated
    with django_capture_on_commit_callbacks(execute=True):
        assert recurrence.evaluate_due_checks(now=T0 + 41 * DAY) == 1
    check = RecurrenceCheck.objects.get(problem=problem)
    assert (check.status, check.verdict, check.count_before, check.count_after) == ("evaluated", "effective", 2, 0)
    assert check.mtbi_after_hours is None
    assert "the fix held" in check.explanation
    assert notified(owner, "problem.recurrence_evaluated") == 1
    assert notified(owner, "problem.recurred") == 0
    assert recurrence.evaluate_due_checks(now=T0 + 42 * DAY) == 0  # evaluated once


def test_similar_text_and_known_error_patterns_match_without_a_shared_ci(watched, django_capture_on_commit_callbacks):
    problem, _ci = watched
    make_known_error(title="Pool exhausted", problem=problem, error_pattern="remaining connection slots")
    with at(T0 + 12 * DAY), django_capture_on_commit_callbacks(execute=True):
        by_text = make_incident(title="Database connection pool exhausted again", cis=[CIFactory()])
        by_pattern = make_incident(title="Checkout 502", description="FATAL: remaining connection slots are reserved")
        make_incident(title="Laptop screen flickers")
    check = RecurrenceCheck.objects.get(problem=problem)
    assert set(check.recurrences.all()) == {by_text, by_pattern}


@pytest.fixture
def batch_problem(owner):
    """Four "batch job stuck" incidents on one CI in the day before the problem was resolved."""
    ci = CIFactory()
    with at(T0):
        incidents = [make_incident(title=f"Batch job {n} stuck", cis=[ci]) for n in range(4)]
        problem = make_problem(title="Batch scheduler hangs", owner=owner, cis=[ci], incidents=incidents)
        problem = services.transition_problem(problem, "start_rca", actor=ACTOR)
    with at(T0 + DAY):
        services.transition_problem(problem, "resolve", actor=ACTOR,
                                    data={"root_cause": "Lock leak", "fix_description": "Patched"})
    return problem, ci


def test_partially_effective_when_only_other_incidents_on_the_ci_came_and_fewer(batch_problem):
    problem, ci = batch_problem
    with at(T0 + 5 * DAY):
        make_incident(title="Disk latency above 200 ms", cis=[ci])  # same CI, not like the problem
    check = recurrence.evaluate(RecurrenceCheck.objects.get(problem=problem), now=T0 + 31 * DAY)
    assert (check.count_before, check.count_after, check.verdict) == (4, 1, "partially_effective")
    assert "none like the problem" in check.explanation


def test_an_incident_like_the_problem_is_not_effective_even_when_fewer_than_before(
        batch_problem, owner, django_capture_on_commit_callbacks):
    """Acceptance 4: a new matching incident inside the watch → "not effective", the owner is told."""
    problem, ci = batch_problem
    with at(T0 + 5 * DAY), django_capture_on_commit_callbacks(execute=True):
        make_incident(title="Batch job 7 stuck", cis=[ci])
    check = RecurrenceCheck.objects.get(problem=problem)
    assert check.verdict == "not_effective"
    assert notified(owner, "problem.recurred") == 1
    with django_capture_on_commit_callbacks(execute=True):
        check = recurrence.evaluate(check, now=T0 + 31 * DAY)
    assert (check.count_before, check.count_after, check.verdict) == (4, 1, "not_effective")
    assert notified(owner, "problem.recurrence_evaluated") == 1


def test_reopening_the_problem_cancels_the_watch_and_the_team_managers_hear_without_an_owner(
        team, django_capture_on_commit_callbacks):
    from opsdesk.accounts.services import set_membership

    lead = UserFactory(role="viewer")
    set_membership(team, lead, actor=ACTOR, role="manager")
    ci = CIFactory()
    with at(T0):
        incident = make_incident(title="Cache stampede", cis=[ci])
        problem = make_problem(title="Cache stampede", owner_team=team, cis=[ci], incidents=[incident])
        problem = services.transition_problem(problem, "start_rca", actor=ACTOR)
        problem = services.transition_problem(problem, "resolve", actor=ACTOR,
                                              data={"root_cause": "TTLs", "fix_description": "Jitter"})
    with at(T0 + DAY), django_capture_on_commit_callbacks(execute=True):
        make_incident(title="Cache stampede", cis=[ci])
    event = OutboxEvent.objects.get(event_type="problem.recurred")
    assert event.payload["recipients"] == [lead.pk]
    services.transition_problem(problem, "reopen", actor=ACTOR, data={"reason": "It came back"})
    assert RecurrenceCheck.objects.get(problem=problem).status == "cancelled"
    assert recurrence.evaluate_due_checks(now=T0 + 60 * DAY) == 0


def test_a_recurrence_reopens_an_evaluation_made_within_its_period(watched, django_capture_on_commit_callbacks):
    problem, ci = watched
    check = recurrence.evaluate(RecurrenceCheck.objects.get(problem=problem), now=T0 + 15 * DAY)
    assert (check.status, check.verdict) == ("evaluated", "effective")
    with at(T0 + 16 * DAY), django_capture_on_commit_callbacks(execute=True):
        make_incident(title="Checkout errors", cis=[ci])
    check.refresh_from_db()
    assert (check.status, check.verdict) == ("watching", "not_effective")
    assert recurrence.evaluate_due_checks(now=T0 + 40 * DAY) == 1
    check.refresh_from_db()
    assert (check.status, check.count_after) == ("evaluated", 1)


def test_verdict_rules():
    assert recurrence.judge(5, 0, 0.5) == "effective"
    assert recurrence.judge(0, 0, 0.5) == "effective"
    assert recurrence.judge(4, 2, 0.5) == "partially_effective"
    assert recurrence.judge(4, 2, 0.5, like_problem_after=1) == "not_effective"
    assert recurrence.judge(4, 3, 0.5) == "not_effective"
    assert recurrence.judge(0, 1, 0.5) == "not_effective"


def test_while_nothing_is_watched_new_incidents_cost_no_recurrence_query(owner, django_capture_on_commit_callbacks):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    make_incident(title="Warm-up")  # the first asks the database whether anything is watched
    with CaptureQueriesContext(connection) as captured:
        make_incident(title="Printer jam")
    assert not any("problems_recurrencecheck" in q["sql"] for q in captured.captured_queries)
    ci = CIFactory()
    problem = make_problem(title="Printer jams", owner=owner, cis=[ci], incidents=[make_incident(cis=[ci])])
    problem = services.transition_problem(problem, "start_rca", actor=ACTOR)
    services.transition_problem(problem, "resolve", actor=ACTOR, data={"root_cause": "x", "fix_description": "y"})
    with django_capture_on_commit_callbacks(execute=True):
        again = make_incident(title="Printer jam", cis=[ci])  # a watch opened: the listener looks again
    assert list(RecurrenceCheck.objects.get(problem=problem).recurrences.all()) == [again]
