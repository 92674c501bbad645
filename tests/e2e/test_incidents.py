"""A responder's day in the incident queue, in a real browser (Chromium): open the queue, acknowledge an
incident and resolve another from their rows without a page reload while the SLA badges change, then
the same with the keyboard only (j/k, a, t, r, Enter, /, ?), and the detail page. Pages must leave the
console free of CSP violations and JavaScript errors."""

import re

import pytest

from opsdesk.accounts.services import set_membership
from opsdesk.core.actors import Actor
from opsdesk.incidents import services
from opsdesk.incidents.models import Incident
from tests.accounts.factories import TeamFactory, UserFactory
from tests.cmdb.factories import CIFactory, cls
from tests.e2e.screenshots import shot
from tests.incidents.factories import FACTORY_ACTOR, category, make_incident
from tests.services.factories import ServiceFactory

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips, with the reason
    expect = None

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]



@pytest.fixture
def team():
    return TeamFactory(name="Platform", slug="platform")


@pytest.fixture
def rita(team):
    user = UserFactory(username="rita", role="responder", first_name="Rita", last_name="Rossi")
    set_membership(team, user, actor=Actor.system("test"), role="responder")
    return user


@pytest.fixture
def queue(team, rita):
    """A morning's queue: a P1 on the payments database (a tier-1 service), a P2, some P3-P5, one
    already resolved last week on the same database."""
    payments = ServiceFactory(name="Payments", slug="payments", tier=1, owner_team=team, status="active")
    shop = ServiceFactory(name="Web shop", slug="web-shop", tier=2, owner_team=team, status="active")
    db = CIFactory(name="db-payments-1", ci_class=cls("database"), owner_team=team, status="in_production",
                   services=[payments, shop])
    lb = CIFactory(name="lb-edge-1", owner_team=team, status="in_production", services=[shop])
    old = make_incident(title="Payments database refuses connections", impact=1, urgency=1, cis=[db],
                        service=payments, category=category("database"), subcategory=category("database-availability"))
    services.transition_incident(old, "resolve", actor=FACTORY_ACTOR, data={
        "resolution_code": "config_change", "resolution_notes": "Raised max_connections from 200 to 400."})
    p1 = make_incident(title="Payments database refuses new connections", impact=1, urgency=1, cis=[db],
                       service=payments, assignment_group=team, category=category("database"),
                       subcategory=category("database-availability"),
                       description="Checkout fails with *connection refused* since 09:12.")
    p2 = make_incident(title="Web shop answers 502 for 5% of requests", impact=1, urgency=2, cis=[lb], service=shop,
                       assignment_group=team, category=category("network"))
    p3 = make_incident(title="Slow search on the web shop", impact=2, urgency=2, service=shop, assignment_group=team,
                       category=category("software"), subcategory=category("software-performance"))
    p4 = make_incident(title="VPN drops every hour for the Lyon office", impact=2, urgency=3,
                       category=category("network"), subcategory=category("network-connectivity"))
    p5 = make_incident(title="Typo on the status page footer", impact=3, urgency=3, assignment_group=team,
                       assignee=rita)
    return {"p1": p1, "p2": p2, "p3": p3, "p4": p4, "p5": p5, "old": old, "db": db}


def row(page, incident):
    return page.locator(f"#incident-{incident.pk}")


def sla(page, incident, label):
    return row(page, incident).locator(f'.sla-countdown[title="{label}"]')


def test_a_responder_acknowledges_and_resolves_from_the_queue_and_the_sla_badges_change(
        new_page, log_in, console, queue, rita):
    page = log_in(new_page(viewport={"width": 1600, "height": 1000}), rita)
    page.goto("/incidents/?open=true")
    p1, p2 = queue["p1"], queue["p2"]
    # Sorted by time to breach: the P1 (15 minutes to acknowledge) first.
    expect(page.locator("tr.incident-row").first).to_have_id(f"incident-{p1.pk}")
    expect(page.locator("#queue-views .view-count").first).to_be_visible()  # the tab counts loaded
    expect(sla(page, p1, "Time to acknowledge")).to_have_text(re.compile(r"^1[45]m left$"))
    expect(sla(page, p1, "Time to acknowledge")).to_have_class(re.compile("sla-green"))
    shot(page, "inc_queue")
    page.evaluate("window.stillTheSamePage = true")

    row(page, p1).get_by_role("button", name=f"Acknowledge {p1.number}").click()
    expect(row(page, p1).locator(".col-status")).to_have_text("Acknowledged")
    expect(sla(page, p1, "Time to acknowledge")).to_have_text("met")
    expect(sla(page, p1, "Time to acknowledge")).to_have_class(re.compile("sla-grey"))
    expect(sla(page, p1, "Time to resolve")).to_have_text(re.compile(r"left$"))
    expect(page.get_by_role("alert")).to_contain_text(f"{p1.number}: Acknowledge done.")

    row(page, p2).get_by_role("button", name=f"Resolve {p2.number}").click()
    form = row(page, p2).locator("form.quick-resolve")
    form.get_by_label("Resolution code").select_option(label="Workaround applied")
    form.get_by_label("Resolution notes").fill("Took lb-edge-1 out of the pool.")
    shot(page, "inc_queue_resolve")
    form.get_by_role("button", name="Resolve").click()
    expect(row(page, p2).locator(".col-status")).to_have_text("Resolved")
    expect(sla(page, p2, "Time to resolve")).to_have_text("met")
    expect(sla(page, p2, "Time to acknowledge")).to_have_text("met")
    assert page.evaluate("window.stillTheSamePage") is True, "no page reload"
    p2.refresh_from_db()
    assert (p2.status, p2.resolution_code, p2.resolution_notes) == (
        "resolved", "workaround", "Took lb-edge-1 out of the pool.")
    assert Incident.objects.get(pk=p1.pk).status == "acknowledged"

    # The dashboard's cards count what just happened: one P1 open, an acknowledgement for the MTTA chart.
    page.goto("/")
    expect(page.locator('[data-priority="P1"] .stat-value')).to_have_text("1")
    expect(page.locator("#kpi-mtta .stat-value")).not_to_have_text("—")
    expect(page.locator("canvas#incident-trend")).to_be_visible()
    shot(page, "inc_dashboard")
    console.assert_clean()


def test_reporting_an_incident_through_the_form(new_page, log_in, console, queue, rita, team):
    UserFactory(username="oscar", role="responder")  # in no team: not offered once Platform is chosen
    page = log_in(new_page(viewport={"width": 1400, "height": 1000}), rita)
    page.goto("/incidents/")
    page.keyboard.press("n")
    expect(page).to_have_url(re.compile(r"/incidents/new/$"))
    page.get_by_label("Title").fill("Card payments time out")
    page.get_by_label("Category", exact=True).select_option(label="Database")
    subcategory = page.get_by_label("Subcategory")
    expect(subcategory.locator("option")).to_have_count(4)  # the blank one and Database's three
    subcategory.select_option(label="Replication")
    page.get_by_label("Affected service").fill("payments")
    page.get_by_label("Affected CIs").fill("db-payments-1")
    page.get_by_label("Impact").select_option("1")
    page.get_by_label("Urgency").select_option("2")
    expect(page.locator("#priority-preview")).to_have_text("The matrix gives P2.")
    expect(page.get_by_label("Assignee").locator("option", has_text="oscar")).to_have_count(1)
    page.get_by_label("Assignment group").select_option(label="Platform")
    expect(page.get_by_label("Assignee").locator("option", has_text="oscar")).to_have_count(0)
    expect(page.get_by_label("Assignee").locator("option", has_text="rita")).to_have_count(1)
    page.get_by_label("Assignee").select_option(label="rita")
    shot(page, "inc_form")
    page.get_by_role("button", name="Create").click()
    expect(page.locator("#incident-title")).to_have_text("Card payments time out")
    expect(page.locator("#record-priority")).to_have_text("P2")
    created = Incident.objects.get(title="Card payments time out")
    assert (created.subcategory.slug, created.assignee, created.service.slug) == (
        "database-replication", rita, "payments")
    assert [ci.name for ci in created.cis.all()] == ["db-payments-1"]
    console.assert_clean()


def test_the_keyboard_path_through_the_queue_and_the_detail_page(new_page, log_in, console, queue, rita):
    page = log_in(new_page(viewport={"width": 1600, "height": 1000}), rita)
    page.goto("/incidents/?open=true")
    p1, p2 = queue["p1"], queue["p2"]
    page.evaluate("""() => { const help = document.getElementById('shortcut-help');
        help.addEventListener('shown.bs.modal', () => { help.dataset.shown = '1'; }); }""")
    page.keyboard.press("?")
    expect(page.get_by_role("dialog")).to_contain_text("Keyboard shortcuts")
    # Bootstrap ignores Escape while the modal is still fading in.
    expect(page.locator("#shortcut-help")).to_have_attribute("data-shown", "1")
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)

    page.keyboard.press("j")
    expect(row(page, p1)).to_have_class(re.compile("row-selected"))
    page.keyboard.press("a")
    expect(sla(page, p1, "Time to acknowledge")).to_have_text("met")
    page.keyboard.press("j")
    expect(row(page, p2)).to_have_class(re.compile("row-selected"))
    page.keyboard.press("t")
    expect(row(page, p2).locator(".col-assignee")).to_have_text("me")
    page.keyboard.press("r")
    code = row(page, p2).get_by_label("Resolution code")
    expect(code).to_be_focused()
    code.select_option("restarted")
    row(page, p2).get_by_label("Resolution notes").fill("Restarted the edge proxy.")
    page.keyboard.press("Control+Enter")
    expect(row(page, p2).locator(".col-status")).to_have_text("Resolved")
    expect(row(page, p2)).to_have_class(re.compile("row-selected"))
    p2.refresh_from_db()
    assert (p2.status, p2.assignee) == ("resolved", rita)
    page.keyboard.press("a")  # a resolved incident cannot be acknowledged: the key says so instead of nothing
    expect(page.locator("#messages")).to_contain_text("not available for this incident")

    page.keyboard.press("/")
    expect(page.locator("#list-q")).to_be_focused()
    page.keyboard.type("payments database")
    expect(page.locator("tr.incident-row")).to_have_count(1)
    page.locator("#list-q").blur()
    page.keyboard.press("k")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/incidents/{p1.pk}/$"))

    expect(page.locator("#record-status")).to_have_text("Acknowledged")
    expect(page.locator("#sla-acknowledge")).to_have_text("met")
    expect(page.locator("#side-impact").locator("xpath=..")).to_contain_text("Payments")
    similar = page.locator(".similar-incidents")
    expect(similar).to_contain_text(queue["old"].number)
    expect(similar).to_contain_text("Configuration changed")
    shot(page, "inc_detail")
    page.get_by_role("button", name="Put on hold").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("On hold because").select_option(label="Awaiting vendor")
    dialog.get_by_role("button", name="Put on hold").click()
    expect(page.locator("#record-status")).to_have_text("On hold")
    expect(page.locator("#sla-resolve")).to_have_text(re.compile(r"^paused, .* left$"))
    console.assert_clean()
