"""The candidates and recurrence-check API: reads for viewers, accept/dismiss for responders, run detection
for managers; bad input is a 400 that writes nothing, a decided candidate a 409."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from opsdesk.core.actors import Actor
from opsdesk.problems import services, trends
from opsdesk.problems.models import Problem, ProblemCandidate, RecurrenceCheck
from tests.cmdb.factories import CIFactory
from tests.problems.factories import make_incident, make_problem

pytestmark = pytest.mark.django_db
ENDPOINT = "/api/v1/problems/candidates/"
CHECKS = "/api/v1/problems/recurrence-checks/"
ROLES = ("viewer", "responder", "manager", "admin")


def recurring(n=5, name=None):
    ci = CIFactory(**({"name": name} if name else {}))
    return ci, [make_incident(title=f"Incident {i} on {ci.name}", cis=[ci]) for i in range(n)]


def candidate_of(ci=None):
    if ci is None:
        ci, _incidents = recurring()
    return next(c for c in trends.detect() if c.ci_id == ci.pk)


def plain_candidate(n_incidents=3):
    """A candidate row for read tests (what detection writes, without the history behind it)."""
    ci = CIFactory()
    now = timezone.now()
    candidate = ProblemCandidate.objects.create(kind="ci", key=f"ci:{ci.pk}", title=f"Incidents on {ci.name}",
                                                reason="test", incident_count=n_incidents, ci=ci,
                                                window_start=now - datetime.timedelta(days=7), window_end=now)
    candidate.incidents.set([make_incident(title=f"Case {i}", cis=[ci]) for i in range(n_incidents)])
    return candidate


def test_anonymous_is_401(api):
    response = api().get(ENDPOINT)
    assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated"


def test_list_and_detail_for_every_role_with_the_incidents_behind_it(api, users):
    ci, incidents = recurring(name="db-07")
    candidate = candidate_of(ci)
    for role in ROLES:
        client = api(users[role])
        listed = client.get(ENDPOINT, {"status": "open"})
        assert listed.status_code == 200
        assert [row["id"] for row in listed.json()["results"]] == [candidate.pk]
        detail = client.get(f"{ENDPOINT}{candidate.pk}/").json()
        assert detail["ci"]["name"] == "db-07" and detail["incident_count"] == 5
        assert {row["number"] for row in detail["incidents"]} == {i.number for i in incidents}
    assert api(users["viewer"]).get(ENDPOINT, {"status": "dismissed"}).json()["results"] == []
    assert api(users["viewer"]).get(ENDPOINT, {"kind": "bogus"}).status_code == 400


def test_list_query_count_does_not_grow_with_rows(api, users):
    client = api(users["viewer"])
    plain_candidate()
    client.get(ENDPOINT)
    with CaptureQueriesContext(connection) as one:
        assert client.get(ENDPOINT).status_code == 200
    for _ in range(6):
        plain_candidate()
    with CaptureQueriesContext(connection) as many:
        response = client.get(ENDPOINT)
    assert response.json()["count"] == 7
    assert len(many) == len(one), [q["sql"] for q in many.captured_queries]


def test_accept_per_role_creates_the_problem(api, users, team):
    expected = {"viewer": 403, "responder": 201, "manager": 201, "admin": 201}
    for role, code in expected.items():
        candidate = plain_candidate()
        response = api(users[role]).post(f"{ENDPOINT}{candidate.pk}/accept/",
                                         {"title": f"Recurring on {role}", "owner_team": team.slug}, format="json")
        assert response.status_code == code, (role, response.content)
        candidate.refresh_from_db()
        if code == 201:
            body = response.json()
            assert body["title"] == f"Recurring on {role}" and body["source"] == "trend"
            assert sorted(body["incidents"]) == sorted(i.number for i in candidate.incidents.all())
            assert candidate.status == "accepted" and candidate.problem.number == body["number"]
        else:
            assert candidate.status == "open"
    assert Problem.objects.count() == 3


def test_accept_twice_is_409_and_bad_fields_are_400_writing_nothing(api, users):
    client = api(users["responder"])
    candidate = plain_candidate()
    bad = client.post(f"{ENDPOINT}{candidate.pk}/accept/", {"owner_team": "no-such-team", "impact": 9}, format="json")
    assert bad.status_code == 400 and "owner_team" in bad.json()["error"]["fields"]
    candidate.refresh_from_db()
    assert candidate.status == "open" and not Problem.objects.exists()
    assert client.post(f"{ENDPOINT}{candidate.pk}/accept/", {}, format="json").status_code == 201
    again = client.post(f"{ENDPOINT}{candidate.pk}/accept/", {}, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    assert Problem.objects.count() == 1


def test_dismiss_needs_a_reason(api, users):
    candidate = plain_candidate()
    assert api(users["viewer"]).post(f"{ENDPOINT}{candidate.pk}/dismiss/", {"reason": "x"},
                                     format="json").status_code == 403
    client = api(users["responder"])
    missing = client.post(f"{ENDPOINT}{candidate.pk}/dismiss/", {"reason": " "}, format="json")
    assert missing.status_code == 400 and "reason" in missing.json()["error"]["fields"]
    candidate.refresh_from_db()
    assert candidate.status == "open"
    done = client.post(f"{ENDPOINT}{candidate.pk}/dismiss/", {"reason": "Load test"}, format="json")
    assert done.status_code == 200 and done.json()["status"] == "dismissed"
    assert done.json()["decided_by"] == "responder"
    assert client.post(f"{ENDPOINT}{candidate.pk}/dismiss/", {"reason": "again"}, format="json").status_code == 409


def test_read_only_token_cannot_accept(api, users):
    candidate = plain_candidate()
    response = api(users["manager"], scope="read").post(f"{ENDPOINT}{candidate.pk}/accept/", {}, format="json")
    assert response.status_code == 403
    candidate.refresh_from_db()
    assert candidate.status == "open"


def test_run_detection_is_for_managers(api, users, queued_tasks):
    recurring(name="mq-01")
    for role in ("viewer", "responder"):
        assert api(users[role]).post(f"{ENDPOINT}detect/", format="json").status_code == 403
    assert not ProblemCandidate.objects.exists()
    # Detection is long on much data: the request queues it for the worker (202) and does not run it.
    response = api(users["manager"]).post(f"{ENDPOINT}detect/", format="json")
    assert response.status_code == 202
    assert response.json() == {"status": "queued", "task": "opsdesk.problems.tasks.detect_trends"}
    assert not ProblemCandidate.objects.exists()


def test_run_detection_queues_the_detection_task(api, users):
    """With the worker run in-process (the test settings' eager mode), the queued task is the real detection."""
    recurring(name="mq-01")
    response = api(users["admin"]).post(f"{ENDPOINT}detect/", format="json")
    assert response.status_code == 202
    assert [c.ci.name for c in ProblemCandidate.objects.select_related("ci")] == ["mq-01"]


def test_recurrence_checks_are_readable_and_not_writable(api, users, django_capture_on_commit_callbacks):
    actor = Actor.system("test")
    ci = CIFactory()
    incident = make_incident(title="Pool exhausted", cis=[ci])
    problem = make_problem(title="Pool exhausted", cis=[ci], incidents=[incident])
    problem = services.transition_problem(problem, "start_rca", actor=actor)
    services.transition_problem(problem, "resolve", actor=actor, data={"root_cause": "x", "fix_description": "y"})
    with django_capture_on_commit_callbacks(execute=True):  # the recurrence check runs after the commit
        again = make_incident(title="Pool exhausted", cis=[ci])
    check = RecurrenceCheck.objects.get(problem=problem)
    for role in ROLES:
        body = api(users[role]).get(CHECKS, {"problem": problem.number}).json()
        assert [row["id"] for row in body["results"]] == [check.pk]
        assert body["results"][0]["recurrences"] == [again.number]
        assert body["results"][0]["verdict"] == "not_effective"
    assert api(users["admin"]).post(CHECKS, {}, format="json").status_code == 405
    assert api(users["viewer"]).get(CHECKS, {"verdict": "effective"}).json()["results"] == []
