"""A manager's path through the configuration audits in a real browser (Chromium): the dashboard with
its trend charts, a run's findings, accepting one as an exception and running an audit on demand. The
pages must leave the console free of CSP violations and JavaScript errors."""

import datetime

import pytest
from django.utils import timezone

from opsdesk.cmdb import audit_defaults, auditing
from tests.accounts.factories import TeamFactory, UserFactory
from tests.cmdb.factories import FACTORY_ACTOR, CIFactory
from tests.e2e.screenshots import shot

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips, with the reason
    expect = None

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
DASHBOARD = "/cmdb/audits/"


def test_manager_reads_the_trend_accepts_a_finding_and_runs_an_audit(new_page, log_in, console):
    audit_defaults.install()  # an earlier transactional test may have emptied the tables, shipped rules included
    team = TeamFactory(name="Platform", slug="platform")
    manager = UserFactory(username="mira", role="manager")
    CIFactory(name="legacy01", status="in_production")
    for n in range(3):
        CIFactory(name=f"web0{n}", status="in_production", owner_team=team)
    now = timezone.now()
    for days in (3, 2, 1):
        auditing.run_audit(actor=FACTORY_ACTOR, now=now - datetime.timedelta(days=days))

    page = log_in(new_page(), manager)
    page.goto(DASHBOARD)
    expect(page.get_by_role("heading", level=1)).to_have_text("Configuration audits")
    expect(page.locator("#trend-overall")).to_have_attribute("data-drawn", "1")
    expect(page.locator("#trend-rules")).to_have_attribute("data-drawn", "1")
    expect(page.locator('tr.class-row[data-rule="production-server-without-owner"][data-class="server"]')) \
        .to_contain_text("75 %")
    shot(page, "audit-dashboard")

    page.locator("#compliance-table").get_by_role("link", name="1").first.click()
    finding = page.locator("#findings .finding").first
    expect(finding).to_contain_text("legacy01")
    finding.get_by_role("link", name="Accept as exception").click()
    page.get_by_label("Reason").fill("Switched off on Friday")
    page.get_by_label("Accepted until").fill((timezone.localdate() + datetime.timedelta(days=10)).isoformat())
    shot(page, "audit-accept")
    page.get_by_role("button", name="Accept").click()
    expect(page.get_by_role("alert")).to_contain_text("accepted as an exception")
    expect(page.locator("#findings")).to_contain_text("Accepted until")

    page.goto(DASHBOARD)
    page.get_by_role("button", name="Run audit now").click()
    expect(page.locator("#run-status")).to_have_text("Done")
    expect(page.locator('#results-table tr[data-rule="production-server-without-owner"]')).to_contain_text("100 %")
    shot(page, "audit-run")
    page.get_by_role("link", name="Configuration audits").first.click()
    expect(page.locator("#trend-overall")).to_have_attribute("data-drawn", "1")
    shot(page, "audit-dashboard-after")
    console.assert_clean()
