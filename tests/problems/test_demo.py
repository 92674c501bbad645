"""The problems demo: loaded once for this module on top of the other modules' demo data; trend detection
finds its recurring incidents, the RCA problem has its analyses, and the resolved one is watched."""

import pytest

from opsdesk.core.demo import load_demo
from opsdesk.problems import demo, trends
from opsdesk.problems.models import KnownError, Problem, ProblemCandidate, RecurrenceCheck
from tests.demo_data import demo_for_module

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def demo_data(django_db_setup, django_db_blocker):
    # what this module's demo builds on, and the problems demo
    with demo_for_module(django_db_blocker, ("accounts", "services", "cmdb", "incidents", "problems")) as created:
        yield created


def test_recurring_incidents_make_candidates_of_every_kind(demo_data):
    candidates = ProblemCandidate.objects.filter(status="open")
    kinds = set(candidates.values_list("kind", flat=True))
    assert {"ci", "service", "text"} <= kinds, kinds
    replica = candidates.get(kind="ci", ci__name="pg-main-db-replica-ams1")
    assert replica.incident_count >= len(demo.REPLICA_TITLES)
    kafka = candidates.get(kind="service", service__slug="kafka")
    assert kafka.incident_count >= len(demo.KAFKA_TITLES)
    certificates = candidates.get(kind="text", key__contains="certificate")
    assert certificates.incident_count == len(demo.CERT_TITLES)


def test_the_rca_problem_has_its_analyses_countermeasures_and_known_error(demo_data):
    problem = Problem.objects.get(title=demo.RCA_TITLE)
    assert problem.status == "rca" and problem.owner is not None
    assert sorted(problem.analyses.values_list("method", flat=True)) == ["fishbone", "five_whys"]
    assert problem.countermeasures.count() == 3 and len(problem.contributing_factors) == 2
    assert problem.incidents.exists()
    assert KnownError.objects.get(problem=problem).error_pattern == "upstream connect error"


def test_the_resolved_problem_is_watched_with_one_recurrence(demo_data):
    problem = Problem.objects.get(title=demo.WATCHED_TITLE)
    check = RecurrenceCheck.objects.get(problem=problem)
    assert (problem.status, check.status, check.verdict) == ("resolved", "watching", "not_effective")
    assert [i.title for i in check.recurrences.all()] == ["Staging volume of the data warehouse full again"]


def test_loading_again_creates_nothing(demo_data):
    problems = Problem.objects.count()
    assert load_demo(only=("problems",)) == 0
    assert Problem.objects.count() == problems
    assert trends.detect() == []
