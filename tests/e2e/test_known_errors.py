"""From an incident, open the matching known error and apply its workaround, in a real browser
(Chromium): the incident's Known errors panel shows the known error of its CI with the workaround, the
link opens the known error, "Apply workaround" records it on the incident's timeline and counts it."""

import re

import pytest

from opsdesk.accounts.services import set_membership
from opsdesk.core.actors import Actor
from opsdesk.problems.models import KnownError
from tests.accounts.factories import TeamFactory, UserFactory
from tests.cmdb.factories import CIFactory, cls
from tests.e2e.screenshots import shot
from tests.problems.factories import make_incident, make_known_error

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips, with the reason
    expect = None

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]



def test_open_the_matching_known_error_and_apply_its_workaround(new_page, log_in, console):
    team = TeamFactory(name="Platform", slug="platform")
    rita = UserFactory(username="rita", role="viewer", first_name="Rita", last_name="Rossi")
    set_membership(team, rita, actor=Actor.system("test"), role="responder")
    db = CIFactory(name="db-orders-1", ci_class=cls("database"), owner_team=team)
    ke = make_known_error(title="Orders database runs out of connections", cis=[db],
                          symptom="Checkout answers 502; the log says 'remaining connection slots are reserved'.",
                          workaround="Restart the checkout pods one by one (kubectl rollout restart).",
                          error_pattern="remaining connection slots")
    incident = make_incident(title="Checkout answers 502", cis=[db], assignment_group=team,
                             description="Log: FATAL remaining connection slots are reserved")

    page = log_in(new_page(), rita)
    page.goto(incident.get_absolute_url())
    panel = page.locator("#known-errors-panel")
    expect(panel).to_contain_text(ke.number)
    expect(panel).to_contain_text("same CI db-orders-1")
    expect(panel.locator(".workaround-text")).to_contain_text("kubectl rollout restart")
    shot(page, "known-errors-panel")

    panel.get_by_role("link", name=ke.number).click()
    page.wait_for_url(re.compile(rf"/problems/known-errors/{ke.pk}/$"))
    expect(page.locator("#workaround")).to_contain_text("Restart the checkout pods one by one")
    expect(page.locator("#times-applied")).to_have_text("0")
    shot(page, "known-error-detail")

    page.go_back()
    page.locator("#known-errors-panel").get_by_role("button", name="Apply workaround").click()
    page.wait_for_url(re.compile(rf"/incidents/{incident.pk}/$"))
    expect(page.locator(".alert-success, .toast, [role=alert]").first).to_contain_text("applied")
    expect(page.locator("#known-errors-panel")).to_contain_text("Applied to this incident")
    expect(page.locator("#known-errors-panel").get_by_role("button", name="Apply workaround")).to_have_count(0)

    page.get_by_role("tab", name="Timeline").click()
    expect(page.locator("#record-tab")).to_contain_text(f"Workaround of {ke.number} applied")
    shot(page, "incident-timeline")
    assert KnownError.objects.get(pk=ke.pk).times_applied == 1
    page.goto(ke.get_absolute_url())
    expect(page.locator("#times-applied")).to_have_text("1")
    expect(page.locator(".applications")).to_contain_text(incident.number)
    console.assert_clean()
