"""The incident pages as an operator uses them: the queue (filters, saved views, SLA countdowns sorted by
time to breach, bulk assign, quick actions by htmx, news of new incidents), the detail page (SLA boxes,
actions only when allowed, affected services, the CMDB's proposed impact, similar incidents) and the
form (dependent choices, priority preview and override)."""

import datetime
import json
import re

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from opsdesk.accounts.services import set_membership
from opsdesk.core.actors import Actor
from opsdesk.core.audit import history_for
from opsdesk.core.testing import PageRecordTests
from opsdesk.incidents import selectors, services
from opsdesk.incidents.models import Incident
from tests.accounts.factories import UserFactory
from tests.cmdb.factories import CIFactory, cls
from tests.incidents.factories import FACTORY_ACTOR, IncidentFactory, category, make_incident
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db
T0 = datetime.datetime(2026, 11, 23, 9, 0, tzinfo=datetime.UTC)  # a Monday
HTMX = {"HTTP_HX_REQUEST": "true"}


def queue_order(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<tr id="incident-(\d+)"', html)]


def row_of(html: str, incident) -> str:
    match = re.search(rf'<tr id="incident-{incident.pk}".*?</tr>', html, re.S)
    assert match, f"no row for {incident.number}"
    return match.group(0)


def member(team, user, role="responder"):
    set_membership(team, user, actor=Actor.system("test"), role=role)
    user._opsdesk_team_roles = None  # the role cache of this user object
    return user


class TestIncidentPages(PageRecordTests):
    list_url = "/incidents/"
    factory = IncidentFactory
    team_field = "assignment_group"

    def form_data(self, team):
        return {"title": "Checkout answers 502", "description": "Since 09:12", "impact": 2, "urgency": 2,
                "assignment_group": team.pk}


# --- the queue ------------------------------------------------------------------------------------------

def test_queue_makes_as_many_queries_for_30_incidents_as_for_1(client, users, team, other_team):
    service = ServiceFactory(owner_team=team)
    ci = CIFactory(owner_team=team)
    member(team, users["responder"])
    client.force_login(users["responder"])
    make_incident(impact=1, urgency=1, assignment_group=team, service=service, cis=[ci])
    client.get("/incidents/")
    with CaptureQueriesContext(connection) as one:
        assert client.get("/incidents/").status_code == 200
    for n in range(29):
        incident = make_incident(title=f"Disk full on node {n}", impact=1 + n % 3, urgency=1 + n % 3,
                                 assignment_group=(team, other_team)[n % 2], service=service, cis=[ci],
                                 category=category("hardware"), subcategory=category("hardware-server"))
        if n % 3 == 0:
            services.transition_incident(incident, "acknowledge", actor=FACTORY_ACTOR)
        if n % 4 == 0:  # a team-0 incident
            services.assign_incident(incident, actor=FACTORY_ACTOR, assignee=users["responder"])
    with CaptureQueriesContext(connection) as thirty:
        response = client.get("/incidents/")
    assert response.status_code == 200
    assert len(queue_order(response.content.decode())) == 30
    assert len(thirty) == len(one), [q["sql"] for q in thirty.captured_queries]
    with CaptureQueriesContext(connection) as table:
        assert client.get("/incidents/?open=true", headers={"HX-Request": "true", "HX-Target": "record-table"}
                          ).status_code == 200
    assert len(table) <= len(one)


def test_queue_sorts_by_time_to_breach_and_puts_incidents_without_a_clock_last(client, users):
    with time_machine.travel(T0, tick=False):
        p4 = make_incident(impact=2, urgency=3)  # acknowledge within 8 business hours
        p1 = make_incident(impact=1, urgency=1)  # acknowledge within 15 minutes
        done = make_incident(impact=1, urgency=1)
        services.transition_incident(done, "resolve", actor=FACTORY_ACTOR,
                                     data={"resolution_code": "fixed", "resolution_notes": "Restarted"})
        p2 = make_incident(impact=1, urgency=2)  # 30 minutes
        client.force_login(users["viewer"])
        html = client.get("/incidents/").content.decode()
        assert queue_order(html) == [p1.pk, p2.pk, p4.pk, done.pk]
        html = client.get("/incidents/?sort=-sla_due_at").content.decode()
        # Most time left first: an incident with no running clock never breaches, so it leads.
        assert queue_order(html) == [done.pk, p4.pk, p2.pk, p1.pk]
        html = client.get("/incidents/?sort=priority").content.decode()
        assert queue_order(html)[:2] == [done.pk, p1.pk] or queue_order(html)[:2] == [p1.pk, done.pk]


def test_sla_countdown_turns_amber_then_red_as_the_clock_runs(client, users):
    with time_machine.travel(T0, tick=False) as clock:
        incident = make_incident(impact=1, urgency=1)  # P1: acknowledge in 15 min, resolve in 4 h (24x7)
        client.force_login(users["viewer"])
        row = row_of(client.get("/incidents/").content.decode(), incident)
        assert re.search(r'sla-green[^>]*title="Time to acknowledge">15m left<', row)
        assert "data-sla-due=\"2026-11-23T09:15:00+00:00\"" in row, "the page ticks from the due instant"
        clock.shift(datetime.timedelta(minutes=9))  # 60 %: past the 50 % warning
        row = row_of(client.get("/incidents/").content.decode(), incident)
        assert re.search(r'sla-amber[^>]*title="Time to acknowledge">6m left<', row)
        clock.shift(datetime.timedelta(minutes=41))
        row = row_of(client.get("/incidents/").content.decode(), incident)
        assert re.search(r'sla-red[^>]*title="Time to acknowledge">breached 35m ago<', row)
        assert re.search(r'sla-green[^>]*title="Time to resolve">3h 10m left<', row)


def test_filters_narrow_the_queue(client, users, team, other_team):
    me = member(team, users["responder"])
    shop = ServiceFactory(owner_team=team, slug="shop")
    db = CIFactory(owner_team=team, name="db-orders-1")
    with time_machine.travel(T0, tick=False) as clock:
        mine = make_incident(title="Mine", impact=1, urgency=1, assignment_group=team, assignee=me,
                             category=category("database"), subcategory=category("database-replication"))
        theirs = make_incident(title="Theirs", impact=3, urgency=3, assignment_group=other_team, service=shop,
                               cis=[db], category=category("network"))
        clock.shift(datetime.timedelta(hours=1))
        nobody = make_incident(title="Nobody's", impact=2, urgency=2, source="alert")
        closed = make_incident(title="Done")
        services.transition_incident(closed, "cancel", actor=FACTORY_ACTOR, data={"reason": "duplicate"})
        Incident.objects.filter(pk=theirs.pk).update(major_status="major")
        client.force_login(me)

        def found(query):
            return set(queue_order(client.get(f"/incidents/?{query}").content.decode()))

        assert found("open=true") == {mine.pk, theirs.pk, nobody.pk}
        assert found("open=false") == {closed.pk}
        assert found("status=cancelled&status=new") == {mine.pk, theirs.pk, nobody.pk, closed.pk}
        assert found("priority=P1&priority=P5") == {mine.pk, theirs.pk, closed.pk}
        assert found("category=database") == {mine.pk}, "a category matches its subcategories' incidents"
        assert found("category=database-replication") == {mine.pk}
        assert found("service=shop") == {theirs.pk}
        assert found(f"ci={db.number}") == {theirs.pk}
        assert found(f"ci={db.pk}") == {theirs.pk}
        assert found(f"assignment_group={other_team.slug}") == {theirs.pk}
        assert found("assignment_group=mine") == {mine.pk}
        assert found("assignee=me") == {mine.pk}
        assert found(f"assignee={me.username}") == {mine.pk}
        assert found("unassigned=true&open=true") == {theirs.pk, nobody.pk}
        assert found("major=true") == {theirs.pk}
        assert found("source=alert") == {nobody.pk}
        # P1 acknowledge due 09:15 (breached at 10:00); P4 due in 8 business hours, P5 later
        assert found("breached=true") == {mine.pk}
        assert found("breaching_within=60") == {mine.pk}
        assert found("breached=false&open=true") == {theirs.pk, nobody.pk}
        assert found("created_after=2026-11-23T09:30:00Z") == {nobody.pk, closed.pk}
        assert found("created_before=2026-11-23T09:30:00Z") == {mine.pk, theirs.pk}
        assert found("q=theirs") == {theirs.pk}


def test_saved_views_are_tabs_with_counts_and_the_current_one_marked(client, users, team):
    me = member(team, users["responder"])
    make_incident(impact=1, urgency=1, assignment_group=team, assignee=me)
    make_incident(assignment_group=team)
    make_incident()
    client.force_login(me)
    page = client.get("/incidents/?assignee=me&open=true").content.decode()
    assert re.search(r'class="nav-link text-nowrap active" href="/incidents/\?assignee=me&amp;open=true"', page)
    tabs = client.get("/incidents/views/?assignee=me&open=true", **HTMX).content.decode()
    counts = dict(re.findall(r'data-view="(\w+)".*?view-count">(\d+)<', tabs))
    assert counts == {"mine": "1", "team": "2", "unassigned": "2", "breaching": "1", "major": "0", "open": "3"}
    assert 'aria-current="page"' in tabs
    # The page loads the counts once, shortly after it is drawn; the counted tabs then refresh once a
    # minute (loading again at once made a request every 100 ms for as long as the queue was open).
    assert 'hx-trigger="load delay:100ms"' in page
    assert 'hx-trigger="every 60s"' in tabs and "load delay" not in tabs


def test_news_banner_counts_incidents_opened_since_the_table_was_drawn(client, users):
    client.force_login(users["viewer"])
    with time_machine.travel(T0, tick=False) as clock:
        make_incident()
        html = client.get("/incidents/?open=true").content.decode()
        since = re.search(r'since=([^"&]+)"', html).group(1)
        assert "new incident" not in client.get(f"/incidents/news/?open=true&since={since}", **HTMX).content.decode()
        clock.shift(datetime.timedelta(minutes=1))
        make_incident(title="Another one")
        make_incident(title="And a third")
        news = client.get(f"/incidents/news/?open=true&since={since}", **HTMX).content.decode()
        assert "2 new incidents" in news and 'id="queue-news-show"' in news
        assert 'hx-trigger="every 30s"' in news


# --- quick actions ----------------------------------------------------------------------------------------

def test_responder_acknowledges_from_the_row_and_gets_the_row_back(client, users):
    with time_machine.travel(T0, tick=False) as clock:
        incident = make_incident(impact=1, urgency=1)
        client.force_login(users["responder"])
        clock.shift(datetime.timedelta(minutes=4))
        response = client.post(f"/incidents/{incident.pk}/row/acknowledge/", **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith(f'<tr id="incident-{incident.pk}"') and "<html" not in html
    assert ">Acknowledged<" in html
    assert re.search(r'sla-grey[^>]*title="Time to acknowledge">met<', html), "the acknowledge clock stopped in time"
    assert 'data-quick="acknowledge"' not in html
    assert json.loads(response["HX-Trigger"])["opsdesk:notice"]["text"] == f"{incident.number}: Acknowledge done."
    incident.refresh_from_db()
    assert incident.status == "acknowledged"
    assert history_for(incident).first().actor_label.startswith("responder")


def test_take_assigns_the_incident_to_me(client, users, team):
    me = member(team, users["responder"])
    incident = make_incident(assignment_group=team)
    client.force_login(me)
    html = client.get("/incidents/").content.decode()
    assert 'data-quick="take"' in row_of(html, incident)
    response = client.post(f"/incidents/{incident.pk}/row/take/", **HTMX)
    assert response.status_code == 200
    assert '<span class="fw-semibold">me</span>' in response.content.decode()
    assert 'data-quick="take"' not in response.content.decode()
    incident.refresh_from_db()
    assert incident.assignee == me


def test_take_is_not_offered_outside_my_team_and_is_refused_inline(client, users, team):
    incident = make_incident(assignment_group=team)
    client.force_login(users["responder"])  # a responder, but not in that team
    assert 'data-quick="take"' not in row_of(client.get("/incidents/").content.decode(), incident)
    response = client.post(f"/incidents/{incident.pk}/row/take/", **HTMX)
    assert response.status_code == 422
    assert "is not a member of" in response.content.decode()
    incident.refresh_from_db()
    assert incident.assignee is None


def test_quick_resolve_asks_for_code_and_notes_then_resolves(client, users):
    incident = make_incident(impact=1, urgency=2)
    client.force_login(users["responder"])
    form = client.get(f"/incidents/{incident.pk}/row/resolve/", **HTMX).content.decode()
    assert 'class="row g-2 align-items-start quick-resolve"' in form and 'name="resolution_code"' in form
    missing = client.post(f"/incidents/{incident.pk}/row/resolve/", {"resolution_notes": "Restarted"}, **HTMX)
    assert missing.status_code == 422
    assert "is-invalid" in missing.content.decode() and "This field is required" in missing.content.decode()
    incident.refresh_from_db()
    assert incident.status == "new"
    cancel = client.get(f"/incidents/{incident.pk}/row/", **HTMX)
    assert 'data-quick="resolve"' in cancel.content.decode()
    done = client.post(f"/incidents/{incident.pk}/row/resolve/",
                       {"resolution_code": "restarted", "resolution_notes": "Restarted the pool"}, **HTMX)
    assert done.status_code == 200
    html = done.content.decode()
    assert ">Resolved<" in html and 'data-quick=' not in html
    assert re.search(r'sla-grey[^>]*title="Time to resolve">met<', html)
    incident.refresh_from_db()
    assert (incident.status, incident.resolution_code) == ("resolved", "restarted")


def test_quick_actions_without_htmx_redirect_back_with_a_message(client, users):
    incident = make_incident()
    client.force_login(users["responder"])
    response = client.post(f"/incidents/{incident.pk}/row/acknowledge/", {"next": "/incidents/?open=true"})
    assert response.status_code == 302 and response["Location"] == "/incidents/?open=true"
    again = client.post(f"/incidents/{incident.pk}/row/acknowledge/", {"next": "//evil.example/"}, follow=True)
    assert "Cannot acknowledge" in again.content.decode()
    assert again.redirect_chain[0][0] == incident.get_absolute_url()


def test_viewer_sees_the_queue_and_detail_without_buttons_and_gets_403_on_every_write(client, users, team):
    incident = make_incident(impact=1, urgency=1, assignment_group=team)
    client.force_login(users["viewer"])
    queue = client.get("/incidents/").content.decode()
    assert incident.number in queue
    assert "data-quick=" not in queue and 'name="pk"' not in queue and 'data-shortcut="n"' not in queue
    detail = client.get(incident.get_absolute_url()).content.decode()
    assert "/transition/" not in detail and "/row/take/" not in detail and "/edit/" not in detail
    assert "apply-impact" not in detail and 'id="comment-body"' not in detail
    for url, data in [(f"/incidents/{incident.pk}/row/acknowledge/", {}), (f"/incidents/{incident.pk}/row/take/", {}),
                      (f"/incidents/{incident.pk}/row/resolve/", {"resolution_code": "fixed",
                                                                  "resolution_notes": "x"}),
                      (f"/incidents/{incident.pk}/transition/acknowledge/", {}),
                      (f"/incidents/{incident.pk}/apply-impact/", {}),
                      (f"/incidents/{incident.pk}/edit/", {"title": "x"}),
                      ("/incidents/bulk-edit/", {"pk": [incident.pk], "assignee": users["viewer"].pk})]:
        assert client.post(url, data, **HTMX).status_code == 403, url
    assert client.get(f"/incidents/{incident.pk}/row/resolve/", **HTMX).status_code == 403
    incident.refresh_from_db()
    assert (incident.status, incident.assignee) == ("new", None)


def test_team_role_counts_for_that_teams_incidents_only(client, users, team, other_team):
    own, foreign = make_incident(assignment_group=team), make_incident(assignment_group=other_team)
    client.force_login(users["team_manager"])  # a viewer who manages `team`
    assert client.post(f"/incidents/{own.pk}/row/acknowledge/", **HTMX).status_code == 200
    assert client.post(f"/incidents/{foreign.pk}/row/acknowledge/", **HTMX).status_code == 403


# --- bulk assign ----------------------------------------------------------------------------------------

def test_bulk_assign_from_the_queue_changes_all_or_nothing(client, users, team, other_team):
    alice = member(team, UserFactory(username="alice", role="responder"))
    first, second = make_incident(assignment_group=other_team), make_incident()
    client.force_login(users["responder"])
    page = client.get("/incidents/bulk-edit/", {"pk": [first.pk, second.pk]}).content.decode()
    assert 'name="assignment_group"' in page and 'name="assignee"' in page
    # alice is not in other_team: the first incident cannot take her, so neither changes
    refused = client.post("/incidents/bulk-edit/", {"pk": [first.pk, second.pk], "assignee": alice.pk})
    assert refused.status_code == 422
    assert Incident.objects.filter(assignee=alice).count() == 0
    response = client.post("/incidents/bulk-edit/", {"pk": [first.pk, second.pk], "assignment_group": team.pk,
                                                     "assignee": alice.pk})
    assert response.status_code == 302
    assert set(Incident.objects.values_list("assignment_group", "assignee")) == {(team.pk, alice.pk)}
    first.refresh_from_db()
    assert first.reassignment_count == 1


# --- the detail page ------------------------------------------------------------------------------------

def test_detail_header_shows_priority_sla_boxes_and_the_allowed_actions(client, users):
    with time_machine.travel(T0, tick=False) as clock:
        incident = make_incident(impact=1, urgency=1)
        client.force_login(users["responder"])
        clock.shift(datetime.timedelta(minutes=12))
        html = client.get(incident.get_absolute_url()).content.decode()
    assert re.search(r'id="record-priority"><span class="badge priority-badge text-bg-danger"[^>]*>P1<', html)
    assert re.search(r'sla-box sla-box-red" data-metric="acknowledge"', html), "80 % used: past the last warning"
    assert re.search(r'id="sla-acknowledge">3m left<', html)
    assert 'style="width: 80%"' in html
    assert re.search(r'id="sla-resolve">3h 48m left<', html)
    for action in ("acknowledge", "start", "resolve", "cancel"):
        assert f"/transition/{action}/" in html, action
    assert "/transition/hold/" not in html, "a new incident is acknowledged or started before it waits"
    assert "/transition/resume/" not in html and "/transition/close/" not in html
    assert 'name="resolution_code"' in html and "Workaround applied" in html


def test_hold_and_resolve_from_the_detail_page_modals(client, users):
    incident = make_incident(impact=2, urgency=2)
    client.force_login(users["responder"])
    client.post(f"/incidents/{incident.pk}/transition/start/")
    html = client.get(incident.get_absolute_url()).content.decode()
    assert 'name="hold_reason" required><option value="">—</option><option value="awaiting_customer">' in html
    client.post(f"/incidents/{incident.pk}/transition/hold/", {"hold_reason": "awaiting_vendor"})
    incident.refresh_from_db()
    assert (incident.status, incident.hold_reason) == ("on_hold", "awaiting_vendor")
    html = client.get(incident.get_absolute_url()).content.decode()
    assert "Awaiting vendor" in html and "paused" in html and "/transition/resume/" in html
    client.post(f"/incidents/{incident.pk}/transition/resolve/", {"resolution_code": "vendor_fix",
                                                                   "resolution_notes": "Patched by the vendor"})
    incident.refresh_from_db()
    assert incident.status == "resolved"
    html = client.get(incident.get_absolute_url()).content.decode()
    assert "/transition/close/" in html and "/transition/reopen/" in html and "/row/take/" not in html


def test_overridden_priority_says_why_in_its_badge(client, users):
    incident = services.create_incident(actor=FACTORY_ACTOR, data={
        "title": "VIP laptop", "impact": 3, "urgency": 3, "priority": "P2", "priority_reason": "CEO's laptop"})
    client.force_login(users["viewer"])
    html = client.get(incident.get_absolute_url()).content.decode()
    assert 'title="Set by hand: CEO&#x27;s laptop"' in html


def test_detail_lists_affected_services_and_applies_the_proposed_impact(client, users, team):
    shop = ServiceFactory(tier=1, owner_team=team, name="Web shop", status="active")
    db = CIFactory(ci_class=cls("database"), owner_team=team, name="db-orders-1", services=[shop])
    incident = make_incident(impact=3, urgency=2, cis=[db])
    assert incident.proposed_impact == 1
    client.force_login(users["responder"])
    html = client.get(incident.get_absolute_url()).content.decode()
    side = html[html.index('id="side-impact"'):html.index('id="side-similar"')]
    assert "Web shop" in side and ">T1<" in side
    assert f'href="/cmdb/{db.pk}/map/"' in side
    assert "The CMDB proposes a higher impact" in html and 'id="apply-impact"' in html
    response = client.post(f"/incidents/{incident.pk}/apply-impact/")
    assert response.status_code == 302
    incident.refresh_from_db()
    assert (incident.impact, incident.priority) == (1, "P2")
    assert 'id="apply-impact"' not in client.get(incident.get_absolute_url()).content.decode()


def test_similar_incidents_show_their_resolutions_with_bounded_queries(client, users, team):
    ci = CIFactory(owner_team=team, name="lb-01")
    with time_machine.travel(T0, tick=False):
        same_ci = make_incident(title="Load balancer drops connections", cis=[ci])
        same_words = make_incident(title="Intermittent connections dropped by balancer")
        unrelated = make_incident(title="Printer jam", category=category("hardware"))
        open_one = make_incident(title="Load balancer drops connections again", cis=[ci])
        for resolved, code in ((same_ci, "config_change"), (same_words, "workaround"), (unrelated, "fixed")):
            services.transition_incident(resolved, "resolve", actor=FACTORY_ACTOR, data={
                "resolution_code": code, "resolution_notes": f"Notes for {resolved.title}"})
        current = make_incident(title="Balancer drops connections on checkout", cis=[ci])
        current = Incident.objects.get(pk=current.pk)
        with CaptureQueriesContext(connection) as queries:
            found = selectors.similar_incidents(current)
        assert len(queries) <= 4
        assert [i.pk for i in found] == [same_ci.pk, same_words.pk]
        assert open_one.pk not in [i.pk for i in found], "only resolved incidents"
        client.force_login(users["viewer"])
        html = client.get(current.get_absolute_url()).content.decode()
    side = html[html.index('id="side-similar"'):]
    assert "Configuration changed" in side and "Notes for Load balancer drops connections" in side
    assert "same CI" in side and "similar title" in side and "Printer jam" not in side


def test_major_and_report_tabs_render_in_the_page_and_by_htmx(client, users):
    incident = make_incident(impact=1, urgency=1)
    for role in ("viewer", "responder"):
        client.force_login(users[role])
        for tab, label in (("major", "Major incident"), ("report", "Incident report")):
            page = client.get(f"{incident.get_absolute_url()}?tab={tab}")
            assert page.status_code == 200, (role, tab)
            assert re.search(rf'class="nav-link active"[^>]*data-tab="{tab}">{label}<', page.content.decode())
            pane = client.get(f"{incident.get_absolute_url()}?tab={tab}",
                              headers={"HX-Request": "true", "HX-Target": "record-tab"})
            assert pane.status_code == 200 and "<html" not in pane.content.decode(), (role, tab)


# --- the form -----------------------------------------------------------------------------------------------

def test_form_offers_dependent_choices_and_a_priority_preview(client, users, team, other_team):
    alice = member(team, UserFactory(username="alice", role="responder"))
    member(other_team, UserFactory(username="bob", role="responder"))
    client.force_login(users["responder"])
    form = client.get("/incidents/new/").content.decode()
    assert 'hx-get="/incidents/form/subcategories/"' in form and 'hx-get="/incidents/form/assignees/"' in form
    assert 'id="priority-preview"' in form and "The matrix gives P5." in form
    database = category("database")
    options = client.get("/incidents/form/subcategories/", {"category": database.pk}, **HTMX).content.decode()
    assert "Replication" in options and "Dns" not in options
    people = client.get("/incidents/form/assignees/", {"assignment_group": team.pk}, **HTMX).content.decode()
    assert f'value="{alice.pk}"' in people and "bob" not in people
    preview = client.get("/incidents/form/priority/", {"impact": 1, "urgency": 2}, **HTMX).content.decode()
    assert "The matrix gives P2." in preview
    preview = client.get("/incidents/form/priority/", {"impact": 3, "urgency": 3, "priority": "P1"},
                         **HTMX).content.decode()
    assert "needs a reason" in preview


def test_form_creates_an_incident_with_cis_and_an_override_that_needs_a_reason(client, users, team):
    alice = member(team, UserFactory(username="alice", role="responder"))
    ServiceFactory(owner_team=team, slug="checkout")
    ci = CIFactory(owner_team=team, name="web-01")
    client.force_login(users["responder"])
    data = {"title": "Checkout slow", "category": category("software").pk,
            "subcategory": category("software-performance").pk, "service": "checkout", "cis": f"web-01, {ci.number}",
            "impact": 3, "urgency": 3, "priority": "P2", "assignment_group": team.pk, "assignee": alice.pk}
    refused = client.post("/incidents/new/", data)
    assert refused.status_code == 422
    assert "Give a reason to set the priority by hand" in refused.content.decode()
    assert not Incident.objects.exists()
    response = client.post("/incidents/new/", {**data, "priority_reason": "Black Friday"})
    assert response.status_code == 302, response.content.decode()[:2000]
    incident = Incident.objects.get()
    assert (incident.priority, incident.priority_overridden, incident.priority_reason) == ("P2", True, "Black Friday")
    assert list(incident.cis.all()) == [ci] and incident.service.slug == "checkout"
    assert incident.assignee == alice and incident.subcategory.slug == "software-performance"
    edit = client.get(f"/incidents/{incident.pk}/edit/").content.decode()
    assert f'value="{ci.number}"' in edit and 'value="checkout"' in edit
    assert '<option value="P2" selected>' in edit


def test_form_rejects_unknown_cis_and_a_subcategory_of_another_category(client, users, team):
    client.force_login(users["responder"])
    data = {"title": "x", "impact": 3, "urgency": 3, "cis": "CI-99999", "category": category("network").pk,
            "subcategory": category("database-replication").pk}
    response = client.post("/incidents/new/", data)
    assert response.status_code == 422
    html = response.content.decode()
    assert "No CI with the number or name CI-99999" in html
    assert "Select a valid choice" in html
    assert not Incident.objects.exists()


# --- the dashboard --------------------------------------------------------------------------------------------

def test_dashboard_cards_show_open_by_priority_breaching_and_mtta_with_bounded_queries(client, users):
    client.force_login(users["viewer"])
    with time_machine.travel(T0, tick=False) as clock:
        first = make_incident(impact=1, urgency=1, title="Payments down")
        client.get("/")
        with CaptureQueriesContext(connection) as one:
            html = client.get("/").content.decode()
        breaching = html[html.index('id="card-breaching"'):html.index('id="card-mtta"')]
        assert "Payments down" in breaching, "its acknowledge clock is due in 15 minutes"
        for _ in range(5):
            make_incident(impact=2, urgency=3)
        clock.shift(datetime.timedelta(minutes=20))
        services.transition_incident(first, "acknowledge", actor=FACTORY_ACTOR)
        with CaptureQueriesContext(connection) as many:
            html = client.get("/").content.decode()
    assert len(many) == len(one), [q["sql"] for q in many.captured_queries]
    assert re.search(r'data-priority="P1">\s*<span[^>]*>P1</span>\s*<span class="stat-value text-danger">1<', html)
    assert re.search(r'data-priority="P4">\s*<span[^>]*>P4</span>\s*<span class="stat-value">5<', html)
    assert re.search(r'id="kpi-mtta">.*?<span class="stat-value">20m<', html, re.S)
    assert 'id="incident-trend-data"' in html and 'id="incident-trend"' in html
    breaching = html[html.index('id="card-breaching"'):html.index('id="card-mtta"')]
    assert "Nothing is about to breach." in breaching, "acknowledged: the next clock is due in 4 hours"


def test_the_affected_service_may_be_typed_as_its_name_or_number_and_is_suggested(client, users, team):
    shop = ServiceFactory(owner_team=team, slug="online-shop", name="Online Shop")
    client.force_login(users["responder"])
    form = client.get("/incidents/new/").content.decode()
    assert re.search(r'<datalist id="[^"]+-options"><option value="online-shop">Online Shop \(SVC-\d+\)', form)
    for typed in ("Online Shop", shop.number, "online-shop"):
        response = client.post("/incidents/new/", {"title": f"Shop down ({typed})", "impact": 2, "urgency": 2,
                                                   "service": typed})
        assert response.status_code == 302, (typed, response.content.decode()[:500])
    assert set(Incident.objects.values_list("service__slug", flat=True)) == {"online-shop"}
    refused = client.post("/incidents/new/", {"title": "x", "impact": 2, "urgency": 2, "service": "Nowhere"})
    assert refused.status_code == 422 and "No service with the key, number or name" in refused.content.decode()


def test_a_paused_business_time_clock_shows_working_hours_not_days():
    """P5 resolves in 5 business days (40 working hours on office hours): on hold at once, 40h are left,
    written as working hours rather than "1d 16h", which read as if most of the time had gone."""
    from opsdesk.incidents import views
    from opsdesk.sla import services as sla

    with time_machine.travel(T0 + datetime.timedelta(hours=1), tick=False):
        incident = make_incident(impact=3, urgency=3)
        services.transition_incident(incident, "start", actor=FACTORY_ACTOR)
        services.transition_incident(incident, "hold", actor=FACTORY_ACTOR, data={"hold_reason": "awaiting_vendor"})
        [resolve] = [t for t in sla.timers_for([incident])[incident.pk] if t.metric == "resolve"]
        shown = views.countdown(resolve, T0 + datetime.timedelta(hours=1))
    assert shown["text"] == "paused, 40h 0m of working time left"
    assert shown["detail"] == "<1m of 40h 0m working time"


def test_the_timeline_reads_like_the_page_not_like_the_database(client, users):
    incident = make_incident(impact=2, urgency=2)
    services.transition_incident(incident, "acknowledge", actor=FACTORY_ACTOR)
    services.transition_incident(incident, "hold", actor=FACTORY_ACTOR, data={"hold_reason": "awaiting_vendor"})
    client.force_login(users["viewer"])
    html = client.get(f"/incidents/{incident.pk}/?tab=timeline", **{"HTTP_HX_REQUEST": "true",
                                                                    "HTTP_HX_TARGET": "record-tab"}).content.decode()
    assert "On hold because" in html and "Awaiting vendor" in html
    assert "awaiting_vendor" not in html and "hold_reason" not in html
    assert "Priority set by hand" not in html  # a creation's "no" says nothing
    assert re.search(r"Acknowledged</th><td[^>]*>—</td><td>\d{4}-\d\d-\d\d \d\d:\d\d</td>", html)
