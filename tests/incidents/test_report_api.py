"""The incident report API contract: start, edit, complete, action items, the PDF, the close transition
answering 409 while the report is missing, errors in the core format, and the role per method."""

import datetime

import pytest
import time_machine

from opsdesk.accounts.services import set_membership
from opsdesk.incidents import reports, services
from opsdesk.incidents.models import IncidentReport
from tests.accounts.factories import UserFactory
from tests.incidents.factories import FACTORY_ACTOR, make_incident

pytestmark = pytest.mark.django_db
T0 = datetime.datetime(2026, 3, 12, 9, 0, tzinfo=datetime.UTC)
FILLED = {"summary": "Card payments failed for five hours.", "root_cause": "A connection leak on the retry path."}


def resolved_p1(**fields):
    with time_machine.travel(T0, tick=False):
        incident = make_incident(impact=1, urgency=1, **fields)
    with time_machine.travel(T0 + datetime.timedelta(hours=2), tick=False):
        return services.resolve_incident(incident, actor=FACTORY_ACTOR, code="fixed", notes="Pool raised")


def url(incident, tail=""):
    return f"/api/v1/incidents/incidents/{incident.pk}/report/{tail}"


def test_acceptance_5_the_p1_cannot_close_without_its_report_and_its_pdf_renders(api, users):
    incident = resolved_p1()
    client = api(users["responder"])
    close = f"/api/v1/incidents/incidents/{incident.pk}/close/"
    response = client.post(close, {}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    assert "incident report" in response.json()["error"]["message"]
    assert client.post(url(incident, "start/")).status_code == 201
    assert client.post(url(incident, "start/")).status_code == 200  # already there: the same report
    response = client.post(close, {}, format="json")
    assert response.status_code == 409 and "draft" in response.json()["error"]["message"]
    response = client.post(url(incident, "complete/"))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert {"summary", "root_cause"} <= set(error["fields"])
    assert "Summary, Root cause" in error["message"]
    assert client.patch(url(incident), {"sections": FILLED}, format="json").status_code == 200
    response = client.post(url(incident, "complete/"))
    assert response.status_code == 200 and response.json()["status"] == "final"
    assert client.post(close, {}, format="json").status_code == 200
    pdf = client.get(url(incident, "pdf/"))
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")


def test_the_report_payload(api, users):
    incident = resolved_p1()
    client = api(users["responder"])
    assert client.get(url(incident)).status_code == 404
    client.post(url(incident, "start/"))
    body = client.get(url(incident)).json()
    assert body["incident"] == {"id": incident.pk, "number": incident.number}
    assert body["status"] == "draft"
    assert [s["key"] for s in body["template"]][:3] == ["summary", "impact", "root_cause"]
    assert body["missing_sections"] == ["summary", "root_cause"]
    assert "Duration" in body["sections"]["impact"]
    assert body["timeline"][0]["text"].startswith("Opened by")
    assert body["action_items"] == []


def test_edit_errors_name_what_is_wrong_and_change_nothing(api, users):
    incident = resolved_p1()
    client = api(users["responder"])
    client.post(url(incident, "start/"))
    response = client.patch(url(incident), {"sections": {"gossip": "x"}}, format="json")
    assert response.status_code == 400 and "gossip" in response.json()["error"]["fields"]["sections"]
    response = client.put(url(incident), {"timeline": [{"at": "not a time", "text": "x"}]}, format="json")
    assert response.status_code == 400 and "timeline" in response.json()["error"]["fields"]
    response = client.patch(url(incident), {"sections": {"summary": "x" * 20_001}}, format="json")
    assert response.status_code == 400
    assert IncidentReport.objects.get(incident=incident).sections["summary"] == ""
    response = client.put(url(incident), {"timeline": [{"at": "2026-03-12T09:05:00Z", "text": "Probe alarmed"}]},
                          format="json")
    assert response.status_code == 200 and [r["text"] for r in response.json()["timeline"]] == ["Probe alarmed"]


def test_a_final_report_answers_409_to_edits_until_back_to_draft(api, users):
    incident = resolved_p1()
    client = api(users["responder"])
    client.post(url(incident, "start/"))
    client.patch(url(incident), {"sections": FILLED}, format="json")
    client.post(url(incident, "complete/"))
    response = client.patch(url(incident), {"sections": {"summary": "later"}}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "conflict"
    assert client.post(url(incident, "complete/")).status_code == 409
    assert client.post(url(incident, "reopen/")).json()["status"] == "draft"
    assert client.patch(url(incident), {"sections": {"summary": "later"}}, format="json").status_code == 200


def test_action_items(api, users):
    incident = resolved_p1()
    client = api(users["responder"])
    client.post(url(incident, "start/"))
    response = client.post(url(incident, "action-items/"), {"title": "Fix the retry path", "owner": "manager",
                                                            "due_date": "2026-03-20"}, format="json")
    assert response.status_code == 201, response.content
    item = response.json()
    assert (item["owner"], item["due_date"], item["status"]) == ("manager", "2026-03-20", "open")
    response = client.post(url(incident, "action-items/"), {"title": "x", "owner": "ghost"}, format="json")
    assert response.status_code == 400 and "owner" in response.json()["error"]["fields"]
    response = client.patch(url(incident, f"action-items/{item['id']}/"), {"status": "done", "owner": None},
                            format="json")
    assert response.status_code == 200 and (response.json()["status"], response.json()["owner"]) == ("done", None)
    response = client.patch(url(incident, f"action-items/{item['id']}/"), {"status": "later"}, format="json")
    assert response.status_code == 400 and "status" in response.json()["error"]["fields"]
    listed = client.get(url(incident, "action-items/")).json()
    assert [i["title"] for i in listed] == ["Fix the retry path"]
    assert client.get(url(incident)).json()["action_items"][0]["status"] == "done"


def test_roles_viewer_reads_responder_of_the_team_writes(api, users, team, other_team):
    incident = resolved_p1(assignment_group=team)
    other = resolved_p1(assignment_group=other_team)
    for record in (incident, other):
        report = reports.start_report(record, actor=FACTORY_ACTOR)
        reports.add_action_item(report, actor=FACTORY_ACTOR, data={"title": "Runbook"})
    team_responder = UserFactory(username="team_responder", role="viewer")
    set_membership(team, team_responder, actor=FACTORY_ACTOR, role="responder")
    viewer = api(users["viewer"])
    assert viewer.get(url(incident)).status_code == 200
    assert viewer.get(url(incident, "pdf/")).status_code == 200
    response = viewer.patch(url(incident), {"sections": {"summary": "x"}}, format="json")
    assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"
    assert viewer.post(url(incident, "complete/")).status_code == 403
    assert viewer.post(url(incident, "action-items/"), {"title": "x"}, format="json").status_code == 403
    item_id = IncidentReport.objects.get(incident=incident).action_items.get().pk
    assert viewer.patch(url(incident, f"action-items/{item_id}/"), {"status": "done"},
                        format="json").status_code == 403
    member = api(team_responder)
    assert member.patch(url(incident), {"sections": {"summary": "ok"}}, format="json").status_code == 200
    assert member.patch(url(other), {"sections": {"summary": "no"}}, format="json").status_code == 403
    read_only = api(users["admin"], scope="read")
    assert read_only.get(url(incident)).status_code == 200
    assert read_only.patch(url(incident), {"sections": {"summary": "no"}}, format="json").status_code == 403
    assert api().get(url(incident)).status_code == 401


def test_the_markdown_endpoint_and_unknown_incident(api, users):
    incident = resolved_p1()
    reports.start_report(incident, actor=FACTORY_ACTOR)
    client = api(users["viewer"])
    response = client.get(url(incident, "markdown/"))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/markdown")
    assert f"# {incident.number}" in response.content.decode()
    response = client.get("/api/v1/incidents/incidents/999999/report/")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
