"""The known error pages and the Known errors panel on the incident page: an incident on a CI with an
active known error shows its workaround (acceptance 3), responders of the incident's team apply it, the
page's queries stay bounded however many known errors match."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from opsdesk.accounts.services import set_membership
from opsdesk.core.actors import Actor
from opsdesk.core.testing import PageRecordTests
from opsdesk.incidents import services as incidents
from opsdesk.problems import kedb
from opsdesk.problems.models import KnownError, WorkaroundApplication
from tests.accounts.factories import UserFactory
from tests.cmdb.factories import CIFactory
from tests.problems.factories import make_incident, make_known_error, make_problem
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")


def known_error(**fields):
    return make_known_error(**fields)


class TestKnownErrorPages(PageRecordTests):
    list_url = "/problems/known-errors/"
    factory = staticmethod(known_error)

    def form_data(self, team):
        return {"title": "Pool exhausted", "symptom": "502 on checkout", "workaround": "Restart pods",
                "error_pattern": "remaining connection slots"}


def team_responder(team):
    user = UserFactory(username="team_responder", role="viewer")
    set_membership(team, user, actor=ACTOR, role="responder")
    return user


def test_incident_on_a_ci_with_an_active_known_error_shows_its_workaround(client, users):
    ci = CIFactory(name="db-01")
    ke = make_known_error(cis=[ci], workaround="Fail over to db-02 with `pg_ctl promote`.")
    other = make_known_error(title="Printer offline", symptom="Printing fails", workaround="Power cycle it.")
    incident = make_incident(title="Orders slow", cis=[ci])
    client.force_login(users["viewer"])
    html = client.get(incident.get_absolute_url()).content.decode()
    assert 'id="known-errors-panel"' in html
    assert ke.number in html and ke.get_absolute_url() in html
    assert "Fail over to db-02 with `pg_ctl promote`." in html
    assert "same CI db-01" in html
    assert other.number not in html
    assert "apply-workaround" not in html, "a viewer cannot apply it"


def test_panel_says_when_nothing_matches(client, users):
    client.force_login(users["viewer"])
    html = client.get(make_incident(title="zzz").get_absolute_url()).content.decode()
    assert "No active known error matches" in html


def test_incident_page_queries_do_not_grow_with_matching_known_errors(client, users):
    ci, service = CIFactory(name="db-01"), ServiceFactory()
    make_known_error(cis=[ci], services=[service], error_pattern="ERR-0")
    incident = make_incident(title="Orders database stalls ERR-0 ERR-1 ERR-2", cis=[ci], service=service)
    client.force_login(users["responder"])
    client.get(incident.get_absolute_url())
    with CaptureQueriesContext(connection) as one:
        assert client.get(incident.get_absolute_url()).status_code == 200
    for index in range(1, 15):
        ke = make_known_error(title=f"Orders database stalls {index}", cis=[ci], services=[service],
                              error_pattern=f"ERR-{index}")
        if index < 4:
            kedb.apply_workaround(ke, incident, actor=ACTOR)
    with CaptureQueriesContext(connection) as many:
        html = client.get(incident.get_absolute_url()).content.decode()
    assert html.count('class="list-group-item known-error-match"') == 5
    assert len(many) == len(one), [q["sql"] for q in many.captured_queries]


def test_apply_from_the_panel_by_a_team_responder(client, users, team, other_team):
    ke = make_known_error()
    incident = make_incident(title="Checkout 502", assignment_group=team, symptoms="connection pool exhausted")
    foreign = make_incident(title="Checkout 502 again", assignment_group=other_team)
    url = f"/problems/known-errors/{ke.pk}/apply/{incident.pk}/"
    client.force_login(users["viewer"])
    assert client.post(url).status_code == 403
    responder = team_responder(team)
    client.force_login(responder)
    page = client.get(incident.get_absolute_url()).content.decode()
    assert url in page and "apply-workaround" in page
    response = client.post(url, {"next": incident.get_absolute_url()})
    assert response.status_code == 302 and response["Location"] == incident.get_absolute_url()
    assert WorkaroundApplication.objects.filter(known_error=ke, incident=incident).exists()
    again = client.post(url, follow=True).content.decode()
    assert "already applied" in again
    assert KnownError.objects.get(pk=ke.pk).times_applied == 1
    page = client.get(incident.get_absolute_url()).content.decode()
    assert "Applied to this incident" in page
    assert client.post(f"/problems/known-errors/{ke.pk}/apply/{foreign.pk}/").status_code == 403
    assert client.get(url).status_code == 405


def test_apply_redirect_stays_on_the_site(client, users):
    ke, incident = make_known_error(), make_incident()
    client.force_login(users["responder"])
    response = client.post(f"/problems/known-errors/{ke.pk}/apply/{incident.pk}/", {"next": "https://evil.test/"})
    assert response["Location"] == incident.get_absolute_url()


def test_no_apply_button_on_cancelled_incidents(client, users):
    ci = CIFactory(name="db-01")
    make_known_error(cis=[ci])
    incident = incidents.transition_incident(make_incident(cis=[ci]), "cancel", actor=ACTOR, data={"reason": "dup"})
    client.force_login(users["admin"])
    html = client.get(incident.get_absolute_url()).content.decode()
    assert "known-error-match" in html
    assert "apply-workaround" not in html


def test_detail_shows_workaround_problem_and_where_applied(client, users):
    problem = make_problem(title="Checkout pool too small")
    ke = make_known_error(problem=problem, error_pattern="remaining connection slots")
    incident = make_incident(title="Checkout 502")
    kedb.apply_workaround(ke, incident, actor=ACTOR)
    client.force_login(users["viewer"])
    html = client.get(ke.get_absolute_url()).content.decode()
    assert "Restart the checkout pods one by one." in html
    assert problem.number in html and problem.get_absolute_url() in html
    assert incident.number in html and 'id="times-applied">1<' in html
    assert "<code>remaining connection slots</code>" in html


def test_list_filters(client, users):
    ci = CIFactory(name="db-01")
    service = ServiceFactory(slug="shop")
    on_ci = make_known_error(title="Replication lag", symptom="Orders stall", cis=[ci])
    on_service = make_known_error(title="Cache cold", symptom="Slow pages", services=[service])
    retired = kedb.transition_known_error(make_known_error(title="Old disk issue", symptom="Disk"), "retire",
                                          actor=ACTOR, data={"reason": "gone"})
    client.force_login(users["viewer"])

    def listed(**params):
        html = client.get("/problems/known-errors/", params).content.decode()
        return {ke.number for ke in (on_ci, on_service, retired) if f">{ke.number}<" in html}

    assert listed(status="retired") == {retired.number}
    assert listed(ci=ci.number) == {on_ci.number}
    assert listed(service="shop") == {on_service.number}
    assert listed(text="replication lag") == {on_ci.number}
    assert listed(q="cache") == {on_service.number}


def test_form_prefills_from_the_problem_and_the_problem_page_links_to_it(client, users):
    ci = CIFactory(name="db-01")
    problem = make_problem(title="Checkout pool too small", description="502 at peak", cis=[ci])
    client.force_login(users["responder"])
    problem_page = client.get(problem.get_absolute_url()).content.decode()
    assert f"/problems/known-errors/new/?problem={problem.pk}" in problem_page
    form = client.get(f"/problems/known-errors/new/?problem={problem.pk}").content.decode()
    assert 'value="Checkout pool too small"' in form and ci.number in form and problem.number in form
    response = client.post("/problems/known-errors/new/", {
        "title": "Checkout pool too small", "symptom": "502 at peak", "workaround": "Restart",
        "cis": ci.number, "problem": problem.number})
    assert response.status_code == 302
    ke = KnownError.objects.get()
    assert ke.problem == problem and list(ke.cis.all()) == [ci]


def test_form_shows_a_bad_pattern_next_to_the_field_and_saves_nothing(client, users):
    client.force_login(users["responder"])
    response = client.post("/problems/known-errors/new/", {"title": "x", "symptom": "y", "error_pattern": "(\\w+)-\\1"})
    assert response.status_code == 422
    html = response.content.decode()
    assert "id_error_pattern_error" in html and "Back-references" in html
    assert not KnownError.objects.exists()


def test_transitions_from_the_page(client, users):
    ke = make_known_error()
    client.force_login(users["viewer"])
    assert client.post(f"/problems/known-errors/{ke.pk}/transition/mark_fixed/").status_code == 403
    client.force_login(users["responder"])
    client.post(f"/problems/known-errors/{ke.pk}/transition/retire/", {"reason": "Replaced"})
    assert KnownError.objects.get(pk=ke.pk).status == "retired"
    html = client.get(ke.get_absolute_url()).content.decode()
    assert "Reactivate" in html and "/edit/" not in html
