"""The problems API contract: CRUD, permissions per role and team, transitions (resolve needs a root cause
and a fix: 400 naming them, nothing written; 409 for an illegal one), link-incidents, publish-workaround,
publish-fix, from-incidents, and countermeasures; list query counts pinned."""

import uuid

import factory
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from opsdesk.core.actors import Actor
from opsdesk.core.comments import comments_for
from opsdesk.core.testing import ROLES, APIRecordTests, TeamScopedAPITests, WorkflowAPITests
from opsdesk.incidents import services as incident_services
from opsdesk.problems import services
from opsdesk.problems.models import Countermeasure, Problem
from tests.cmdb.factories import CIFactory
from tests.problems.factories import make_countermeasure, make_incident, make_problem

pytestmark = pytest.mark.django_db
ENDPOINT = "/api/v1/problems/problems/"
CM_ENDPOINT = "/api/v1/problems/countermeasures/"
ACTOR = Actor.system("test")


class ProblemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Problem

    title = factory.Sequence(lambda n: f"Problem {n}")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return make_problem(**kwargs)


class CountermeasureFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Countermeasure

    title = factory.Sequence(lambda n: f"Countermeasure {n}")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        team = kwargs.pop("team", None)
        return make_countermeasure(make_problem(owner_team=team), **kwargs)


def to_rca(problem):
    for name in ("assess", "start_rca"):
        problem = services.transition_problem(problem, name, actor=ACTOR)
    return problem


class TestProblemAPI(APIRecordTests, TeamScopedAPITests, WorkflowAPITests):
    endpoint = ENDPOINT
    factory = ProblemFactory
    team_field = "owner_team"
    transition = ("assess", {})
    create_status = {"viewer": 403, "responder": 201, "manager": 201, "admin": 201}
    update_status = {"viewer": 403, "responder": 200, "manager": 200, "admin": 200}
    writer_role = "responder"
    list_queries = 7  # token, token user, count, page, CIs, incidents, linked changes

    def create_payload(self, team):
        return {"title": f"Checkout 502 after deploys {uuid.uuid4().hex[:6]}", "impact": 2, "urgency": 2,
                "owner_team": team.slug, "change_numbers": ["CHG-12"]}

    def update_payload(self):
        return {"description": "Every deploy since the pool change"}


class TestCountermeasureAPI(APIRecordTests, TeamScopedAPITests, WorkflowAPITests):
    endpoint = CM_ENDPOINT
    factory = CountermeasureFactory
    team_field = "team"
    transition = ("start", {})
    create_status = {"viewer": 403, "responder": 201, "manager": 201, "admin": 201}
    update_status = {"viewer": 403, "responder": 200, "manager": 200, "admin": 200}
    writer_role = "responder"
    list_queries = 5  # token, token user, count, page (problem and owner joined), linked changes

    def create_payload(self, team):
        problem = make_problem(owner_team=team)
        return {"problem": problem.number, "title": "Alert on pool usage", "kind": "monitoring",
                "due_date": "2026-12-01", "change_number": "CHG-7"}

    def update_payload(self):
        return {"title": "Alert on pool usage above 80%"}


def test_priority_comes_from_the_matrix(api, users):
    body = api(users["responder"]).post(ENDPOINT, {"title": "Payments down", "impact": 1, "urgency": 1},
                                        format="json").json()
    assert body["priority"] == incident_services.priority_for(1, 1)
    assert body["number"].startswith("PRB-") and body["status"] == "new" and body["source"] == "manual"


def test_bad_change_number_is_400_and_nothing_written(api, users):
    response = api(users["responder"]).post(ENDPOINT, {"title": "X", "change_numbers": ["12"]}, format="json")
    assert response.status_code == 400
    assert "change_numbers" in response.json()["error"]["fields"]
    assert Problem.objects.count() == 0


def test_resolve_without_root_cause_is_400_naming_the_fields_then_with_them_200(api, users):
    problem = to_rca(make_problem())
    client = api(users["responder"])
    refused = client.post(f"{ENDPOINT}{problem.pk}/resolve/", {}, format="json")
    assert refused.status_code == 400
    assert set(refused.json()["error"]["fields"]) == {"root_cause", "fix_description"}
    problem.refresh_from_db()
    assert problem.status == "rca"
    done = client.post(f"{ENDPOINT}{problem.pk}/resolve/", {"root_cause": "Pool sized for 10 pods",
                                                            "fix_description": "Size it from the pod count"},
                       format="json")
    assert done.status_code == 200, done.content
    assert done.json()["status"] == "resolved" and done.json()["resolved_at"]
    again = client.post(f"{ENDPOINT}{problem.pk}/resolve/", {}, format="json")
    assert again.status_code == 409
    assert "Resolved" in again.json()["error"]["message"]


def test_transitions_need_a_responder(api, users):
    problem = make_problem()
    assert api(users["viewer"]).post(f"{ENDPOINT}{problem.pk}/start-rca/", {}, format="json").status_code == 403
    assert api(users["responder"]).post(f"{ENDPOINT}{problem.pk}/start-rca/", {}, format="json").status_code == 200


def test_from_incidents_prefills_and_links(api, users):
    ci = CIFactory()
    incidents = [make_incident(title="Checkout 502", cis=[ci]), make_incident(title="Checkout 503", cis=[ci])]
    numbers = [i.number for i in incidents]
    client = api(users["responder"])
    created = client.post(f"{ENDPOINT}from-incidents/", {"incidents": numbers}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["title"] == "Checkout 502" and body["source"] == "incident"
    assert sorted(body["incidents"]) == sorted(numbers) and body["cis"] == [ci.number]
    named = client.post(f"{ENDPOINT}from-incidents/", {"incidents": numbers[:1], "title": "Checkout fails"},
                        format="json")
    assert named.json()["title"] == "Checkout fails"
    count = Problem.objects.count()
    missing = client.post(f"{ENDPOINT}from-incidents/", {"incidents": ["INC-999999"]}, format="json")
    assert missing.status_code == 400 and "incidents" in missing.json()["error"]["fields"]
    assert api(users["viewer"]).post(f"{ENDPOINT}from-incidents/", {"incidents": numbers},
                                     format="json").status_code == 403
    assert Problem.objects.count() == count


def test_link_and_unlink_incidents(api, users):
    problem = make_problem()
    incident = make_incident()
    client = api(users["responder"])
    linked = client.post(f"{ENDPOINT}{problem.pk}/link-incidents/", {"incidents": [incident.number]}, format="json")
    assert linked.status_code == 200 and linked.json()["incidents"] == [incident.number]
    assert client.post(f"{ENDPOINT}{problem.pk}/link-incidents/", {"incidents": "nope"},
                       format="json").status_code == 400
    unlinked = client.post(f"{ENDPOINT}{problem.pk}/unlink-incident/", {"incident": incident.number}, format="json")
    assert unlinked.status_code == 200 and unlinked.json()["incidents"] == []
    assert api(users["viewer"]).post(f"{ENDPOINT}{problem.pk}/link-incidents/", {"incidents": [incident.number]},
                                     format="json").status_code == 403


def test_publish_workaround_and_fix(api, users):
    incident = make_incident()
    incident = incident_services.transition_incident(incident, "acknowledge", actor=ACTOR)
    incident = incident_services.transition_incident(incident, "hold", actor=ACTOR,
                                                     data={"hold_reason": "awaiting_problem"})
    problem = make_problem()
    services.link_incidents(problem, [incident], actor=ACTOR)
    client = api(users["responder"])
    empty = client.post(f"{ENDPOINT}{problem.pk}/publish-workaround/", {}, format="json")
    assert empty.status_code == 400 and "text" in empty.json()["error"]["fields"]
    published = client.post(f"{ENDPOINT}{problem.pk}/publish-workaround/", {"text": "Restart the pods"},
                            format="json")
    assert published.status_code == 200 and published.json()["workaround_published_at"]
    assert "Restart the pods" in comments_for(incident).get().body
    no_fix = client.post(f"{ENDPOINT}{problem.pk}/publish-fix/", {}, format="json")
    assert no_fix.status_code == 400
    fixed = client.post(f"{ENDPOINT}{problem.pk}/publish-fix/", {"text": "Pool sized from pods"}, format="json")
    assert fixed.status_code == 200 and fixed.json()["fix_description"] == "Pool sized from pods"
    assert api(users["viewer"]).post(f"{ENDPOINT}{problem.pk}/publish-fix/", {"text": "x"},
                                     format="json").status_code == 403


def test_filters(api, users, team):
    mine = make_problem(owner_team=team, impact=1, urgency=1)
    other = make_problem()
    services.transition_problem(other, "cancel", actor=ACTOR, data={"reason": "Duplicate"})
    client = api(users["viewer"])

    def numbers(query):
        return [row["number"] for row in client.get(ENDPOINT, query).json()["results"]]

    assert numbers({"team": team.slug}) == [mine.number]
    assert numbers({"open": "true"}) == [mine.number]
    assert numbers({"status": "cancelled"}) == [other.number]
    assert numbers({"priority": mine.priority}) == [mine.number]
    assert client.get(ENDPOINT, {"status": "nonsense"}).status_code == 400


def test_countermeasure_of_another_teams_problem_is_refused_to_a_team_role(api, users, other_team):
    problem = make_problem(owner_team=other_team)
    response = api(users["team_manager"]).post(CM_ENDPOINT, {"problem": problem.number, "title": "X",
                                                             "kind": "process"}, format="json")
    assert response.status_code == 403
    assert Countermeasure.objects.count() == 0


def test_countermeasure_transitions_per_role_and_409(api, users):
    cm = make_countermeasure(make_problem())
    assert api(users["viewer"]).post(f"{CM_ENDPOINT}{cm.pk}/complete/", {}, format="json").status_code == 403
    client = api(users["responder"])
    assert client.post(f"{CM_ENDPOINT}{cm.pk}/complete/", {}, format="json").status_code == 200
    assert client.post(f"{CM_ENDPOINT}{cm.pk}/complete/", {}, format="json").status_code == 409
    reopened = client.post(f"{CM_ENDPOINT}{cm.pk}/reopen/", {}, format="json")
    assert reopened.status_code == 400 and "reason" in reopened.json()["error"]["fields"]


def test_a_countermeasure_stays_with_its_problem(api, users):
    cm = make_countermeasure(make_problem())
    other = make_problem()
    response = api(users["responder"]).patch(f"{CM_ENDPOINT}{cm.pk}/", {"problem": other.number}, format="json")
    assert response.status_code == 400


def test_problem_list_queries_are_pinned_with_links(api, users):
    client = api(users["viewer"])
    for _ in range(3):
        problem = make_problem(cis=[CIFactory()])
        services.link_incidents(problem, [make_incident()], actor=ACTOR)
    client.get(ENDPOINT)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(ENDPOINT).status_code == 200
    assert len(queries) == TestProblemAPI.list_queries


@pytest.mark.parametrize("role", ROLES)
def test_every_role_reads(api, users, role):
    make_problem()
    assert api(users[role]).get(ENDPOINT).status_code == 200
    assert api(users[role]).get(CM_ENDPOINT).status_code == 200
