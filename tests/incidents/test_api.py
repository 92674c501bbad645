"""The incidents API contract: CRUD with the generic mixins, transitions with their required fields,
the priority override, the SLA state in the payload, escalate and the major-incident actions."""

import uuid

import pytest

from opsdesk.core.testing import APIRecordTests, TeamScopedAPITests, WorkflowAPITests
from opsdesk.incidents.models import Incident
from tests.incidents.factories import IncidentFactory, make_incident

pytestmark = pytest.mark.django_db
ENDPOINT = "/api/v1/incidents/incidents/"


class TestIncidentAPI(APIRecordTests, TeamScopedAPITests, WorkflowAPITests):
    endpoint = ENDPOINT
    factory = IncidentFactory
    team_field = "assignment_group"
    transition = ("acknowledge", {})
    create_status = {"viewer": 403, "responder": 201, "manager": 201, "admin": 201}
    update_status = {"viewer": 403, "responder": 200, "manager": 200, "admin": 200}
    writer_role = "responder"

    def create_payload(self, team):
        return {"title": f"Checkout 502 {uuid.uuid4().hex[:6]}", "impact": 2, "urgency": 2,
                "assignment_group": team.slug, "category": "software"}

    def update_payload(self):
        return {"symptoms": "HTTP 502 on /checkout"}

    def test_team_role_applies_only_to_that_teams_records(self, api, users, team, other_team):
        # Responders of a team create and edit its incidents; the team manager of `team` is a viewer elsewhere.
        super().test_team_role_applies_only_to_that_teams_records(api, users, team, other_team)


def test_acceptance_1_impact_1_urgency_1_is_p1_and_override_without_reason_is_400(api, users, team):
    client = api(users["responder"])
    created = client.post(ENDPOINT, {"title": "Payments down", "impact": 1, "urgency": 1}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["priority"] == "P1" and body["priority_overridden"] is False
    assert body["source"] == "api"
    before = Incident.objects.count()
    refused = client.post(ENDPOINT, {"title": "Printer", "impact": 3, "urgency": 3, "priority": "P1"}, format="json")
    assert refused.status_code == 400
    assert "priority_reason" in refused.json()["error"]["fields"]
    assert Incident.objects.count() == before
    overridden = client.post(ENDPOINT, {"title": "Printer", "impact": 3, "urgency": 3, "priority": "P2",
                                        "priority_reason": "Board meeting in 10 minutes"}, format="json")
    assert overridden.status_code == 201
    assert overridden.json()["priority"] == "P2" and overridden.json()["priority_overridden"] is True


def test_sla_state_is_in_the_payload(api, users):
    incident = make_incident(impact=1, urgency=1)
    body = api(users["viewer"]).get(f"{ENDPOINT}{incident.pk}/").json()
    metrics = {clock["metric"]: clock for clock in body["sla"]}
    assert set(metrics) == {"acknowledge", "resolve"}
    assert metrics["acknowledge"]["state"] == "running"
    assert metrics["acknowledge"]["colour"] in ("green", "amber", "red")
    assert body["sla_due_at"]
    listed = api(users["viewer"]).get(ENDPOINT).json()["results"][0]
    assert {clock["metric"] for clock in listed["sla"]} == {"acknowledge", "resolve"}


def test_acceptance_4_resolve_without_code_is_400_naming_the_field_and_changes_nothing(api, users):
    incident = make_incident()
    client = api(users["responder"])
    response = client.post(f"{ENDPOINT}{incident.pk}/resolve/", {"resolution_notes": "Restarted"}, format="json")
    assert response.status_code == 400
    assert "resolution_code" in response.json()["error"]["fields"]
    incident.refresh_from_db()
    assert incident.status == "new" and incident.resolution_notes == ""
    done = client.post(f"{ENDPOINT}{incident.pk}/resolve/", {"resolution_code": "fixed",
                                                             "resolution_notes": "Restarted"}, format="json")
    assert done.status_code == 200
    assert done.json()["status"] == "resolved"
    assert {clock["state"] for clock in done.json()["sla"]} == {"stopped"}


def test_full_flow_through_the_api(api, users):
    incident = make_incident(impact=2, urgency=2)  # P3: closes without an incident report
    client = api(users["responder"])
    steps = [("acknowledge", {}), ("start", {}), ("hold", {"hold_reason": "awaiting_vendor"}), ("resume", {}),
             ("resolve", {"resolution_code": "vendor_fix", "resolution_notes": "Vendor patched"}), ("close", {})]
    for name, data in steps:
        response = client.post(f"{ENDPOINT}{incident.pk}/{name}/", data, format="json")
        assert response.status_code == 200, (name, response.content)
    assert client.post(f"{ENDPOINT}{incident.pk}/reopen/", {"reason": "x"}, format="json").status_code == 409


def test_viewer_cannot_take_transitions(api, users):
    incident = make_incident()
    response = api(users["viewer"]).post(f"{ENDPOINT}{incident.pk}/acknowledge/", {}, format="json")
    assert response.status_code == 403
    incident.refresh_from_db()
    assert incident.status == "new"


def test_filters_by_priority_and_open(api, users):
    p1 = make_incident(impact=1, urgency=1)
    p5 = make_incident(impact=3, urgency=3)
    client = api(users["viewer"])
    numbers = [row["number"] for row in client.get(f"{ENDPOINT}?priority=P1").json()["results"]]
    assert p1.number in numbers and p5.number not in numbers


def test_unknown_category_is_400(api, users):
    response = api(users["responder"]).post(ENDPOINT, {"title": "x", "category": "nope"}, format="json")
    assert response.status_code == 400
    assert "category" in response.json()["error"]["fields"]


def test_categories_are_read_by_all_and_changed_by_admins(api, users):
    assert api(users["viewer"]).get("/api/v1/incidents/categories/").status_code == 200
    payload = {"slug": "printing", "name": "Printing"}
    assert api(users["manager"]).post("/api/v1/incidents/categories/", payload, format="json").status_code == 403
    created = api(users["admin"]).post("/api/v1/incidents/categories/", payload, format="json")
    assert created.status_code == 201
    child = api(users["admin"]).post("/api/v1/incidents/categories/", {
        "slug": "printing-toner", "name": "Toner", "parent": "printing"}, format="json")
    assert child.status_code == 201
    grandchild = api(users["admin"]).post("/api/v1/incidents/categories/", {
        "slug": "printing-toner-black", "name": "Black", "parent": "printing-toner"}, format="json")
    assert grandchild.status_code == 400


def test_major_roles_and_unlinking_children_through_the_api(api, users):
    major_incident = make_incident(impact=1, urgency=1)
    child = make_incident(impact=2, urgency=2)
    manager, responder = api(users["manager"]), api(users["responder"])
    assert manager.post(f"{ENDPOINT}{major_incident.pk}/promote-major/", {"commander": "manager"},
                        format="json").status_code == 200
    assert responder.post(f"{ENDPOINT}{major_incident.pk}/major-roles/", {"scribe": "responder"},
                          format="json").status_code == 403
    changed = manager.post(f"{ENDPOINT}{major_incident.pk}/major-roles/", {
        "scribe": "responder", "update_cadence_minutes": 15}, format="json")
    assert changed.status_code == 200, changed.content
    assert (changed.json()["commander"], changed.json()["scribe"]) == ("manager", "responder")
    assert changed.json()["update_cadence_minutes"] == 15
    assert manager.post(f"{ENDPOINT}{major_incident.pk}/major-roles/", {"scribe": "nobody"},
                        format="json").status_code == 400
    assert responder.post(f"{ENDPOINT}{major_incident.pk}/children/", {"child": child.number},
                          format="json").status_code == 200
    child.refresh_from_db()
    assert child.parent_id == major_incident.pk
    assert responder.post(f"{ENDPOINT}{major_incident.pk}/unlink-child/", {"child": child.number},
                          format="json").status_code == 200
    child.refresh_from_db()
    assert child.parent_id is None
