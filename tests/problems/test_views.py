"""The problem pages: list with filters, detail with its tabs, the create form (by hand, prefilled from
one incident or from several ticked in the incident list), resolve with root cause and fix, publishing,
linking incidents and countermeasures, each with its permissions."""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from opsdesk.core.actors import Actor
from opsdesk.core.comments import comments_for
from opsdesk.core.testing import PageRecordTests
from opsdesk.incidents import services as incident_services
from opsdesk.problems import services
from opsdesk.problems.models import Countermeasure, Problem
from tests.cmdb.factories import CIFactory
from tests.problems.factories import make_countermeasure, make_incident, make_problem
from tests.problems.test_api import ProblemFactory

pytestmark = pytest.mark.django_db
LIST = "/problems/"
ACTOR = Actor.system("test")


class TestProblemPages(PageRecordTests):
    list_url = LIST
    factory = ProblemFactory
    team_field = "owner_team"
    list_queries = 7  # session, user, count, page (incident counts in it), memberships, notifications, saved filters

    def form_data(self, team):
        return {"title": f"Checkout 502 after deploys {uuid.uuid4().hex[:6]}", "impact": 2, "urgency": 2,
                "owner_team": team.pk, "change_numbers": "CHG-12"}


def test_every_tab_renders(client, users):
    problem = make_problem()
    make_countermeasure(problem)
    services.link_incidents(problem, [make_incident(title="Linked one")], actor=ACTOR)
    client.force_login(users["viewer"])
    page = client.get(problem.get_absolute_url())
    content = page.content.decode()
    tabs = [key for key in ("incidents", "rca", "countermeasures", "recurrence") if f'data-tab="{key}"' in content]
    assert {"incidents", "countermeasures"} <= set(tabs)
    for tab in tabs:
        assert client.get(problem.get_absolute_url(), {"tab": tab}).status_code == 200, tab
    incidents_tab = client.get(problem.get_absolute_url(), {"tab": "incidents"}).content.decode()
    assert "Linked one" in incidents_tab
    assert "Publish workaround" not in content  # a viewer cannot publish


def test_list_filters_and_query_count(client, users, team):
    client.force_login(users["viewer"])
    mine = make_problem(owner_team=team, title="Team problem")
    make_problem(title="Other problem")
    body = client.get(LIST, {"team": team.slug}).content.decode()
    assert "Team problem" in body and "Other problem" not in body
    for _ in range(5):
        services.link_incidents(make_problem(), [make_incident()], actor=ACTOR)
    client.get(LIST)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(LIST).status_code == 200
    assert len(queries) == TestProblemPages.list_queries, [q["sql"] for q in queries.captured_queries]
    assert mine.number in client.get(LIST, {"open": "true"}).content.decode()


def test_create_form_is_prefilled_from_one_incident_and_links_it(client, users):
    ci = CIFactory()
    incident = make_incident(title="Checkout 502 after deploy", cis=[ci])
    client.force_login(users["responder"])
    form = client.get(f"{LIST}new/", {"incident": incident.pk}).content.decode()
    assert "Checkout 502 after deploy" in form and incident.number in form and ci.number in form
    response = client.post(f"{LIST}new/", {"title": "Checkout 502 after deploys", "impact": 3, "urgency": 3,
                                           "incidents": incident.number, "cis": ci.number})
    assert response.status_code == 302
    problem = Problem.objects.get()
    assert problem.source == "incident" and list(problem.incidents.all()) == [incident]


def test_create_from_several_ticked_incidents(client, users):
    incidents = [make_incident(title=f"Shop down {n}") for n in range(3)]
    client.force_login(users["responder"])
    form = client.get(f"{LIST}new/", {"pk": [i.pk for i in incidents]}).content.decode()
    assert all(i.number in form for i in incidents)
    incidents_page = client.get("/incidents/").content.decode()
    assert "Create problem from selected" in incidents_page


def test_the_incident_page_offers_create_problem(client, users):
    incident = make_incident()
    client.force_login(users["responder"])
    page = client.get(incident.get_absolute_url()).content.decode()
    assert f"/problems/new/?incident={incident.pk}" in page
    assert 'id="problems-panel"' not in page  # no problem yet: no panel
    problem = make_problem(title="Checkout keeps failing")
    services.link_incidents(problem, [incident], actor=ACTOR)
    page = client.get(incident.get_absolute_url()).content.decode()
    panel = page[page.index('id="problems-panel"'):]
    assert problem.number in panel and "Checkout keeps failing" in panel


def test_viewers_are_not_offered_create_problem_they_may_not_use(client, users):
    incident = make_incident()
    client.force_login(users["viewer"])
    page = client.get(incident.get_absolute_url()).content.decode()
    assert "/problems/new/?incident=" not in page and "Create problem" not in page
    assert client.get(f"/problems/new/?incident={incident.pk}").status_code == 403


def test_a_team_responder_is_offered_create_problem(client, team):
    """A global viewer who is a responder in a team may create problems for that team: the link shows."""
    from opsdesk.accounts.services import set_membership
    from tests.accounts.factories import UserFactory

    rita = UserFactory(username="rita", role="viewer")
    set_membership(team, rita, actor=ACTOR, role="responder")
    incident = make_incident(assignment_group=team)
    client.force_login(rita)
    assert f"/problems/new/?incident={incident.pk}" in client.get(incident.get_absolute_url()).content.decode()
    assert client.get(f"/problems/new/?incident={incident.pk}").status_code == 200


def test_resolve_dialog_refuses_without_root_cause_then_resolves(client, users):
    problem = make_problem()
    for name in ("assess", "start_rca"):
        problem = services.transition_problem(problem, name, actor=ACTOR)
    client.force_login(users["responder"])
    url = f"{LIST}{problem.pk}/transition/resolve/"
    refused = client.post(url, {"root_cause": "", "fix_description": ""}, follow=True)
    assert "root cause" in refused.content.decode()
    problem.refresh_from_db()
    assert problem.status == "rca"
    client.post(url, {"root_cause": "Pool too small", "fix_description": "Size from pods"})
    problem.refresh_from_db()
    assert problem.status == "resolved" and problem.root_cause == "Pool too small"
    client.force_login(users["viewer"])
    assert client.post(f"{LIST}{problem.pk}/transition/close/").status_code == 403


def test_publish_link_and_countermeasure_pages(client, users):
    incident = make_incident()
    incident = incident_services.transition_incident(incident, "acknowledge", actor=ACTOR)
    incident = incident_services.transition_incident(incident, "hold", actor=ACTOR,
                                                     data={"hold_reason": "awaiting_problem"})
    problem = make_problem()
    client.force_login(users["viewer"])
    assert client.post(f"{LIST}{problem.pk}/incidents/link/", {"incidents": incident.number}).status_code == 403
    assert client.post(f"{LIST}{problem.pk}/publish/workaround/", {"text": "x"}).status_code == 403
    assert client.post(f"{LIST}{problem.pk}/countermeasures/", {"title": "x", "kind": "process"}).status_code == 403
    client.force_login(users["responder"])
    client.post(f"{LIST}{problem.pk}/incidents/link/", {"incidents": incident.number})
    assert list(problem.incidents.all()) == [incident]
    client.post(f"{LIST}{problem.pk}/publish/workaround/", {"text": "Restart the pods"})
    assert "Restart the pods" in comments_for(incident).get().body
    client.post(f"{LIST}{problem.pk}/countermeasures/", {"title": "Alert on pool usage", "kind": "monitoring",
                                                         "due_date": "2026-12-01", "change_number": "bad"})
    assert Countermeasure.objects.count() == 0
    client.post(f"{LIST}{problem.pk}/countermeasures/", {"title": "Alert on pool usage", "kind": "monitoring",
                                                         "due_date": "2026-12-01", "change_number": "chg-3"})
    cm = Countermeasure.objects.get()
    assert cm.change_number == "CHG-3"
    client.post(f"{LIST}countermeasures/{cm.pk}/transition/complete/")
    cm.refresh_from_db()
    assert cm.status == "done"
    client.post(f"{LIST}{problem.pk}/incidents/{incident.pk}/unlink/")
    assert problem.incidents.count() == 0
