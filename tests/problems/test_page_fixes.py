"""Defects found in the walk-through of the problem pages: filters without inline scripts (CSP), the
Resolve dialog, creating a problem from ticked incidents, the owner team prefilled, accepted candidates
named as problem statements, a readable change log, the HTML report in the browser, and the CSV export."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from django.utils import timezone

from opsdesk.core.actors import Actor
from opsdesk.problems import rca, services, trends
from opsdesk.problems.models import Problem, ProblemCandidate
from tests.cmdb.factories import CIFactory
from tests.problems.factories import make_countermeasure, make_incident, make_known_error, make_problem

pytestmark = pytest.mark.django_db
LIST = "/problems/"
NEW = "/problems/new/"
ACTOR = Actor.system("test")
TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "opsdesk" / "problems" / "templates"


# --- 1. no inline handlers or scripts (the CSP blocks them) ---------------------------------------------

def test_problem_templates_carry_no_inline_handlers_or_scripts():
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text()
        assert not re.search(r"\son[a-z]+\s*=", text), template.name
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), template.name


def test_candidate_filters_submit_through_the_static_script_and_an_apply_button(client, users):
    ci = CIFactory(name="mq-07")
    for i in range(5):
        make_incident(title=f"Queue stuck {i}", cis=[ci])
    found = next(c for c in trends.detect() if c.ci_id == ci.pk)
    trends.dismiss_candidate(found, actor=ACTOR, reason="Known maintenance")
    client.force_login(users["viewer"])
    page = client.get("/problems/candidates/").content.decode()
    assert 'id="f-status" data-autosubmit' in page and 'id="f-kind" data-autosubmit' in page
    assert "/static/opsdesk/problems.js" in page and 'id="candidate-filter-apply"' in page
    assert "Known maintenance" not in page  # open ones by default
    assert "Known maintenance" in client.get("/problems/candidates/", {"status": "dismissed", "kind": "ci"}).content \
        .decode()
    script = (TEMPLATES.parents[1] / "static" / "opsdesk" / "problems.js").read_text()
    assert "data-autosubmit" in script


# --- 2. the Resolve dialog ------------------------------------------------------------------------------

def _in_rca(**fields):
    problem = make_problem(**fields)
    return services.transition_problem(problem, "start_rca", actor=ACTOR)


def _resolve_dialog(page: str) -> str:
    start = page.index('id="transition-resolve"')
    return page[start:page.index("</form>", start)]


def test_resolve_dialog_requires_both_fields_and_warns_about_open_countermeasures(client, users):
    problem = _in_rca()
    make_countermeasure(problem, title="Alert on pool usage")
    done = make_countermeasure(problem, title="Raise the pool size", kind="permanent_fix")
    services.transition_countermeasure(done, "complete", actor=ACTOR)
    client.force_login(users["responder"])
    dialog = _resolve_dialog(client.get(problem.get_absolute_url()).content.decode())
    assert re.search(r'<textarea[^>]*name="root_cause"[^>]*required', dialog)
    assert re.search(r'<textarea[^>]*name="fix_description"[^>]*required', dialog)
    warning = dialog[dialog.index('id="resolve-open-countermeasures"'):]
    assert "1 countermeasure is still planned or in progress" in warning
    assert "Alert on pool usage" in warning and "Raise the pool size" not in warning
    # Resolving stays allowed.
    client.post(f"{LIST}{problem.pk}/transition/resolve/", {"root_cause": "Pool too small", "fix_description": "Size"})
    problem.refresh_from_db()
    assert problem.status == "resolved"


def test_resolve_dialog_without_open_countermeasures_has_no_warning(client, users):
    problem = _in_rca()
    client.force_login(users["responder"])
    dialog = _resolve_dialog(client.get(problem.get_absolute_url()).content.decode())
    assert "resolve-open-countermeasures" not in dialog


# --- 3 and 5. creating a problem from ticked incidents --------------------------------------------------

def _field(page: str, name: str) -> str:
    match = re.search(rf'<(input|textarea|select)[^>]*name="{name}"[^>]*>(.*?</(textarea|select)>)?', page, re.S)
    assert match, name
    return match.group(0)


def test_from_selection_prefills_from_the_whole_selection(client, users):
    from tests.services.factories import ServiceFactory

    shop, billing = ServiceFactory(name="Online shop"), ServiceFactory(name="Billing")
    cis = [CIFactory() for _ in range(3)]
    a = make_incident(title="Checkout 502", service=shop, cis=[cis[0]])
    b = make_incident(title="Payment timeout", service=billing, cis=[cis[1]])
    c = make_incident(title="Checkout 502", service=shop, cis=[cis[2]])
    client.force_login(users["responder"])
    page = client.get(NEW, {"from": "selection", "pk": [b.pk, a.pk, c.pk]}).content.decode()
    assert 'value="Checkout 502"' in _field(page, "title")  # the most frequent title, not the first or last
    assert "online-shop" in _field(page, "service") or "Online shop" in _field(page, "service")
    assert all(ci.number in _field(page, "cis") for ci in cis)
    # All titles differ: the first one ticked.
    page = client.get(NEW, {"from": "selection", "pk": [c.pk, b.pk]}).content.decode()
    assert 'value="Checkout 502"' in _field(page, "title")
    page = client.get(NEW, {"from": "selection", "pk": [b.pk, c.pk]}).content.decode()
    assert 'value="Payment timeout"' in _field(page, "title")


def test_from_selection_warns_about_incidents_already_in_an_open_problem(client, users):
    linked, free = make_incident(title="Shop down"), make_incident(title="Shop down again")
    open_problem = make_problem(title="Shop keeps going down", incidents=[linked])
    closed = make_problem(title="An old cancelled one", incidents=[free])
    services.transition_problem(closed, "cancel", actor=ACTOR, data={"reason": "Duplicate"})
    client.force_login(users["responder"])
    page = client.get(NEW, {"from": "selection", "pk": [linked.pk, free.pk]}).content.decode()
    assert f"{linked.number} already belongs to the open problem {open_problem.number} Shop keeps going down" in page
    assert f"{free.number} already belongs" not in page


def test_from_selection_with_nothing_ticked_goes_back_with_a_message(client, users):
    client.force_login(users["responder"])
    response = client.get(NEW, {"from": "selection"})
    assert response.status_code == 302 and response["Location"] == "/incidents/"
    assert "Tick the incidents" in client.get("/incidents/").content.decode()
    assert client.get(NEW).status_code == 200  # the plain create page still opens empty
    page = client.get("/incidents/").content.decode()
    button = page[page.index('id="create-problem-button"') - 300:page.index('id="create-problem-button"')]
    assert 'name="from" value="selection"' in button


def test_owner_team_is_prefilled_from_the_assignment_group(client, users, team, other_team):
    one = make_incident(title="Shop down", assignment_group=team)
    two = make_incident(title="Shop down", assignment_group=team)
    elsewhere = make_incident(title="Shop down", assignment_group=other_team)
    client.force_login(users["responder"])
    selected = f'<option value="{team.pk}" selected>'
    assert selected in _field(client.get(NEW, {"incident": one.pk}).content.decode(), "owner_team")
    assert selected in _field(client.get(NEW, {"pk": [one.pk, two.pk]}).content.decode(), "owner_team")
    mixed = _field(client.get(NEW, {"pk": [one.pk, elsewhere.pk]}).content.decode(), "owner_team")
    assert " selected>" not in mixed.replace('<option value="" selected>', "")


# --- 4. an accepted candidate's problem statement ------------------------------------------------------

def test_accepted_candidate_is_named_as_a_problem_statement(client, users):
    ci = CIFactory(name="db-07")
    titles = ["Connection refused", "Connection refused", "Slow queries", "Connection refused", "Disk full"]
    incidents = [make_incident(title=t, cis=[ci]) for t in titles]
    candidate = next(c for c in trends.detect() if c.ci_id == ci.pk)
    client.force_login(users["responder"])
    form = client.get(candidate.get_absolute_url()).content.decode()
    assert 'value="Recurring: Connection refused on db-07"' in form
    problem = trends.accept_candidate(candidate, actor=ACTOR)
    assert problem.title == "Recurring: Connection refused on db-07"
    assert problem.description.startswith(candidate.title)
    assert candidate.reason in problem.description and all(i.number in problem.description for i in incidents)


def test_accept_keeps_a_title_given_by_the_person(db):
    ci = CIFactory(name="mq-01")
    for i in range(5):
        make_incident(title=f"Queue stuck {i}", cis=[ci])
    candidate = next(c for c in trends.detect() if c.ci_id == ci.pk)
    problem = trends.accept_candidate(candidate, actor=ACTOR, data={"title": "MQ consumer leak"})
    assert problem.title == "MQ consumer leak"
    assert ProblemCandidate.objects.get(pk=candidate.pk).status == "accepted"


# --- 6. a readable change log ---------------------------------------------------------------------------

def test_history_and_timeline_read_rca_writes_as_text(client, users):
    problem = _in_rca()
    rca.add_analysis(problem, actor=ACTOR, method="fishbone", data={
        "effect": "Checkout 502", "causes": [{"category": "technology", "text": "Pool too small"}]})
    make_countermeasure(problem, title="Alert on pool usage")
    client.force_login(users["viewer"])
    for tab in ("history", "timeline"):
        page = client.get(problem.get_absolute_url(), {"tab": tab}).content.decode()
        page = page[page.index('id="record-tab"'):]
        assert "analysis added" in page and "countermeasure added" in page, tab
        assert ">rca_add<" not in page and ">add_countermeasure<" not in page, tab
        assert "&#x27;category&#x27;" not in page and "[{" not in page, tab
        assert "Technology: Pool too small" in page, tab


# --- 7. the HTML report ---------------------------------------------------------------------------------

def test_html_report_opens_in_the_browser_with_the_known_errors_workaround(client, users):
    problem = make_problem(title="Pool exhausted")
    make_known_error(problem=problem, title="Pool exhausted on checkout", workaround="Restart the pods one by one.")
    client.force_login(users["viewer"])
    response = client.get(f"{LIST}{problem.pk}/report.html")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("inline;")
    assert "script-src" not in response["Content-Security-Policy"] and "default-src 'none'" in \
        response["Content-Security-Policy"]
    body = response.content.decode()
    section = body[body.index("Workaround"):]
    assert "Restart the pods one by one." in section and "KE-" in section
    assert client.get(f"{LIST}{problem.pk}/report.md")["Content-Disposition"].startswith("attachment;")


def test_report_workaround_is_the_problems_own_when_it_has_one(client, users):
    problem = make_problem(title="Pool exhausted", workaround="Scale the pool by hand.")
    make_known_error(problem=problem, workaround="Restart the pods one by one.")
    client.force_login(users["viewer"])
    body = client.get(f"{LIST}{problem.pk}/report.md").content.decode()
    workaround = body[body.index("Workaround"):body.index("Fix")]
    assert "Scale the pool by hand." in workaround and "From the linked known errors" not in workaround


# --- 9. the CSV export ----------------------------------------------------------------------------------

def test_csv_has_status_labels_and_times_to_the_second(client, users):
    problem = make_problem(title="Pool exhausted")
    services.transition_problem(problem, "start_rca", actor=ACTOR)
    client.force_login(users["viewer"])
    response = client.get(LIST, {"export": "csv"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    row = next(r for r in rows if r["Number"] == problem.number)
    assert row["Status"] == "Root cause analysis"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", row["Updated"]), row["Updated"]
    updated = Problem.objects.get(pk=problem.pk).updated_at
    assert row["Updated"].startswith(timezone.localtime(updated).strftime("%Y-%m-%dT%H:%M:%S"))


def test_the_tabs_are_a_fixed_list(client, users):
    from opsdesk.problems.views import ProblemUI

    assert [key for key, _label in ProblemUI.extra_tabs] == ["incidents", "rca", "countermeasures", "recurrence"]
    problem = make_problem()
    client.force_login(users["viewer"])
    for key in ("incidents", "rca", "countermeasures", "recurrence"):
        assert client.get(problem.get_absolute_url(), {"tab": key}).status_code == 200, key
