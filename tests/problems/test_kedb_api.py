"""The known error API: CRUD with roles, transitions, applying a workaround to an incident (responders
of its team, once per incident), where it was applied, and the matches of an incident."""

import pytest

from opsdesk.accounts.services import set_membership
from opsdesk.core.actors import Actor
from opsdesk.core.testing import APIRecordTests, WorkflowAPITests
from opsdesk.problems.models import KnownError, WorkaroundApplication
from tests.accounts.factories import UserFactory
from tests.cmdb.factories import CIFactory
from tests.problems.factories import make_incident, make_known_error, make_problem
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db
ENDPOINT = "/api/v1/problems/known-errors/"
RESPONDERS = {"viewer": 403, "responder": 201, "manager": 201, "admin": 201}


def known_error(**fields):
    return make_known_error(**fields)


class TestKnownErrorAPI(APIRecordTests, WorkflowAPITests):
    endpoint = ENDPOINT
    factory = staticmethod(known_error)
    create_status = RESPONDERS
    update_status = {"viewer": 403, "responder": 200, "manager": 200, "admin": 200}
    transition = ("mark_fixed", {"permanent_solution": "Pool of 400"})
    writer_role = "responder"
    list_queries = 6  # token, count, page, then one query per link (CIs, classes, services)

    def create_payload(self, team):
        return {"title": "Pool exhausted", "symptom": "502 on checkout", "workaround": "Restart pods",
                "error_pattern": r"remaining connection slots|too many clients"}

    def update_payload(self):
        return {"workaround": "Restart the pods one by one"}


# TestKnownErrorAPI's mixins find the model through the factory's `_meta`.
known_error._meta = KnownError._meta


def test_create_with_links_and_bad_pattern(api, users):
    ci = CIFactory(name="db-01")
    ServiceFactory(slug="shop")
    problem = make_problem()
    client = api(users["responder"])
    response = client.post(ENDPOINT, {"title": "Pool exhausted", "symptom": "502", "cis": [ci.number],
                                      "ci_classes": ["database"], "services": ["shop"], "problem": problem.number},
                           format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["cis"], body["ci_classes"], body["services"], body["problem"], body["status"]) == (
        [ci.number], ["database"], ["shop"], problem.number, "active")
    bad = client.post(ENDPOINT, {"title": "x", "symptom": "y", "error_pattern": "(\\w+)-\\1"}, format="json")
    assert bad.status_code == 400
    assert "Back-references" in str(bad.json()["error"]["fields"]["error_pattern"])
    assert client.post(ENDPOINT, {"title": "x", "symptom": "y", "cis": ["CI-999"]}, format="json").status_code == 400
    assert KnownError.objects.count() == 1


def test_retire_needs_a_reason(api, users):
    ke = make_known_error()
    client = api(users["responder"])
    missing = client.post(f"{ENDPOINT}{ke.pk}/retire/", {}, format="json")
    assert missing.status_code == 400 and "reason" in missing.json()["error"]["fields"]
    done = client.post(f"{ENDPOINT}{ke.pk}/retire/", {"reason": "Replaced"}, format="json")
    assert done.status_code == 200 and done.json()["status"] == "retired"
    assert client.patch(f"{ENDPOINT}{ke.pk}/", {"title": "New"}, format="json").status_code == 409


def test_apply_per_role_and_team(api, users, team, other_team):
    ke = make_known_error()
    incident = make_incident(assignment_group=team)
    foreign = make_incident(assignment_group=other_team)
    url = f"{ENDPOINT}{ke.pk}/apply/"
    assert api(users["viewer"]).post(url, {"incident": incident.pk}, format="json").status_code == 403
    assert api(users["admin"], scope="read").post(url, {"incident": incident.pk}, format="json").status_code == 403
    member = UserFactory(username="team_responder", role="viewer")
    set_membership(team, member, actor=Actor.system("test"), role="responder")
    client = api(member)
    assert client.post(url, {"incident": foreign.number}, format="json").status_code == 403
    response = client.post(url, {"incident": incident.number}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["incident"] == incident.number and response.json()["applied_by"] == "team_responder"
    again = client.post(url, {"incident": incident.pk}, format="json")
    assert again.status_code == 409 and "already applied" in again.json()["error"]["message"]
    assert api(users["responder"]).post(url, {}, format="json").status_code == 400
    assert api(users["responder"]).post(url, {"incident": 999999}, format="json").status_code == 404
    assert WorkaroundApplication.objects.count() == 1
    assert KnownError.objects.get(pk=ke.pk).times_applied == 1
    listed = api(users["viewer"]).get(f"{url.removesuffix('apply/')}applications/").json()["results"]
    assert [a["incident"] for a in listed] == [incident.number]


def test_matching_for_an_incident(api, users):
    ci = CIFactory(name="db-01")
    ke = make_known_error(cis=[ci], error_pattern="ORA-00600")
    make_known_error(title="Printer offline", symptom="Printing fails")
    incident = make_incident(title="Orders fail with ORA-00600", cis=[ci])
    client = api(users["viewer"])
    response = client.get(f"{ENDPOINT}matching/", {"incident": incident.number})
    assert response.status_code == 200
    body = response.json()
    assert body["incident"] == incident.number
    assert [m["known_error"]["number"] for m in body["results"]] == [ke.number]
    assert body["results"][0]["reasons"][:2] == ["same CI db-01", "pattern ORA-00600"]
    assert body["results"][0]["known_error"]["cis"] == [ci.number]
    assert client.get(f"{ENDPOINT}matching/").status_code == 400
    assert client.get(f"{ENDPOINT}matching/", {"incident": "INC-999999"}).status_code == 404
    assert api().get(f"{ENDPOINT}matching/", {"incident": incident.pk}).status_code == 401


def test_filters(api, users):
    ci = CIFactory(name="db-01")
    on_ci = make_known_error(title="Replication lag", symptom="Orders stall", cis=[ci])
    other = make_known_error(title="Cache cold", symptom="Slow pages")
    client = api(users["viewer"])

    def numbers(**params):
        return [r["number"] for r in client.get(ENDPOINT, params).json()["results"]]

    assert numbers(ci=ci.number) == [on_ci.number]
    assert numbers(text="cache cold") == [other.number]
    assert numbers(status="retired") == []
    assert numbers(q="replication") == [on_ci.number]
