"""A responder's path through problem management in a real browser (Chromium): from an incident, "Create
problem" opens the form prefilled from it; the problem is created with the incident linked; resolving
without a root cause is refused with a message that says why, and resolving with the root cause and the
fix in the dialog succeeds. Then the ticked incidents of the list become one problem."""

import datetime
import re

import pytest

from opsdesk.accounts.services import set_membership
from opsdesk.core.actors import Actor
from opsdesk.problems.models import Problem
from tests.accounts.factories import TeamFactory, UserFactory
from tests.cmdb.factories import CIFactory
from tests.e2e.screenshots import shot
from tests.problems.factories import make_incident

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips, with the reason
    expect = None

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]



def test_create_a_problem_from_an_incident_and_resolve_it_only_with_a_root_cause(new_page, log_in, console):
    team = TeamFactory(name="Platform", slug="platform")
    rita = UserFactory(username="rita", role="viewer", first_name="Rita", last_name="Rossi")
    set_membership(team, rita, actor=Actor.system("test"), role="responder")
    db = CIFactory(name="db-orders-1", owner_team=team)
    incident = make_incident(title="Checkout answers 502 after deploys", cis=[db], assignment_group=team)

    page = log_in(new_page(), rita)
    page.goto(incident.get_absolute_url())
    page.get_by_role("link", name="Create problem").click()
    page.wait_for_url(re.compile(rf"/problems/new/\?incident={incident.pk}$"))
    expect(page.get_by_label("Title")).to_have_value("Checkout answers 502 after deploys")
    expect(page.get_by_label("Linked incidents")).to_have_value(incident.number)
    expect(page.get_by_label("CIs")).to_have_value(db.number)
    page.get_by_label("Owner team").select_option(label="Platform")
    shot(page, "problem-form")
    page.get_by_role("button", name="Create").click()
    page.wait_for_url(re.compile(r"/problems/\d+/$"))
    problem = Problem.objects.get()
    expect(page.locator("#record-status")).to_have_text("New")
    assert list(problem.incidents.all()) == [incident]

    page.get_by_role("tab", name="Incidents").click()
    expect(page.locator("#linked-incidents")).to_contain_text(incident.number)

    page.locator("#action-start_rca").click()
    expect(page.locator("#record-status")).to_have_text("Root cause analysis")
    page.locator("#action-resolve").click()
    dialog = page.locator("#transition-resolve")
    expect(dialog).to_be_visible()
    dialog.locator("#confirm-resolve").click()
    # The browser refuses the empty dialog (both fields are required); the service would refuse it too.
    assert dialog.locator("#resolve-root_cause").evaluate("el => el.validity.valueMissing")
    expect(dialog).to_be_visible()
    expect(page.locator("#record-status")).to_have_text("Root cause analysis")
    shot(page, "resolve-refused")

    dialog.get_by_label("Root cause").fill("The connection pool is sized for 10 pods; deploys double them.")
    dialog.get_by_label("Fix").fill("Size the pool from the pod count.")
    dialog.locator("#confirm-resolve").click()
    expect(page.locator("#record-status")).to_have_text("Resolved")
    expect(page.locator("#record-tab")).to_contain_text("The connection pool is sized for 10 pods")
    shot(page, "resolved")
    problem.refresh_from_db()
    assert problem.status == "resolved" and problem.resolved_at is not None
    console.assert_clean()


def test_create_one_problem_from_ticked_incidents(new_page, log_in, console):
    responder = UserFactory(username="rob", role="responder")
    incidents = [make_incident(title=f"Shop search times out ({n})") for n in range(3)]

    page = log_in(new_page(), responder)
    page.goto("/incidents/")
    for incident in incidents[:2]:
        page.get_by_label(f"Select {incident}").check()
    page.locator("#create-problem-button").click()
    page.wait_for_url(re.compile(r"/problems/new/\?"))
    linked = page.get_by_label("Linked incidents").input_value()
    assert sorted(linked.split(", ")) == sorted([incidents[0].number, incidents[1].number])
    page.get_by_role("button", name="Create").click()
    page.wait_for_url(re.compile(r"/problems/\d+/$"))
    problem = Problem.objects.get()
    assert set(problem.incidents.all()) == set(incidents[:2]) and problem.source == "incident"
    console.assert_clean()


def test_create_from_selected_with_nothing_ticked_says_so(new_page, log_in, console):
    responder = UserFactory(username="rob", role="responder")
    make_incident(title="Shop search times out")
    page = log_in(new_page(), responder)
    page.goto("/incidents/")
    page.locator("#create-problem-button").click()
    page.wait_for_url(re.compile(r"/incidents/$"))
    expect(page.locator("body")).to_contain_text("Tick the incidents the problem is about first.")
    console.assert_clean()


def test_candidate_filters_apply_on_change_without_csp_errors(new_page, log_in, console):
    from opsdesk.problems import trends

    ci = CIFactory(name="mq-07")
    for n in range(5):
        make_incident(title=f"Queue stuck {n}", cis=[ci])
    trends.detect()
    page = log_in(new_page(), UserFactory(username="vera", role="viewer"))
    page.goto("/problems/candidates/")
    expect(page.locator(".candidate")).to_have_count(1)
    page.locator("#f-status").select_option("dismissed")
    page.wait_for_url(re.compile(r"status=dismissed"))
    expect(page.locator("#no-candidates")).to_be_visible()
    page.locator("#f-kind").select_option("service")
    page.wait_for_url(re.compile(r"kind=service"))
    console.assert_clean()


def test_countermeasure_actions_fit_at_1366(new_page, log_in, console):
    from opsdesk.problems import services
    from tests.problems.factories import make_countermeasure, make_problem

    owner = UserFactory(username="bartholomew.longname", first_name="Bartholomew", last_name="Featherstonehaugh",
                        role="responder")
    problem = make_problem(title="Pool exhausted")
    for n in range(2):
        make_countermeasure(problem, title=f"Alert on connection pool usage above 80% on every node {n}",
                            description="Page the on-call when the pool stays above 80% for five minutes.",
                            owner=owner, due_date=datetime.date(2020, 1, 31), change_number="CHG-123456")
    services.transition_countermeasure(problem.countermeasures.first(), "start", actor=Actor.system("test"))
    page = log_in(new_page(), UserFactory(username="rob", role="responder"))
    page.goto(problem.get_absolute_url() + "?tab=countermeasures")
    shot(page, "countermeasures")
    width = page.evaluate("document.documentElement.clientWidth")
    buttons = page.locator("#countermeasures button", has_text="Cancel")
    expect(buttons).to_have_count(2)
    for index in range(2):
        box = buttons.nth(index).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, box
    wrapper = page.locator("#countermeasures").locator("xpath=..")
    assert wrapper.evaluate("el => el.scrollWidth <= el.clientWidth"), "the table scrolls sideways"
    console.assert_clean()
