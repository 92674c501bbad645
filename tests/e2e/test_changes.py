"""A change's path through two people in a real browser (Chromium): a requester fills a normal change with
its implementation and backout plan and submits it; after assessment it waits for approval; the team
lead finds it in "My approvals" and approves it from the change page; the change is scheduled and the
change calendar shows it on its day. The requester is never offered to approve their own change."""

import datetime
import re

import pytest
from django.utils import timezone

from opsdesk.accounts.services import set_membership
from opsdesk.changes.models import Approval, ChangeRequest
from opsdesk.core.actors import Actor
from tests.accounts.factories import TeamFactory, UserFactory
from tests.changes.factories import shipped
from tests.e2e.screenshots import shot

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips, with the reason
    expect = None

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]



def test_requester_submits_a_planned_change_the_lead_approves_it_and_the_calendar_shows_it(new_page, log_in,
                                                                                           console):
    shipped()  # settings, catalog, questionnaire and approval policies (a transactional test flushed them)
    team = TeamFactory(name="Platform", slug="platform")
    rita = UserFactory(username="rita", role="viewer", first_name="Rita", last_name="Rossi")
    lara = UserFactory(username="lara", role="viewer", first_name="Lara", last_name="Lead")
    set_membership(team, rita, actor=Actor.system("test"), role="responder")
    set_membership(team, lara, actor=Actor.system("test"), role="manager")
    start = (timezone.now() + datetime.timedelta(days=6)).replace(hour=20, minute=0, second=0, microsecond=0)
    end = start + datetime.timedelta(hours=2)

    page = log_in(new_page(), rita)
    page.goto("/changes/new/")
    page.get_by_label("Type").select_option("normal")
    page.get_by_label("Title").fill("Upgrade the ingress controller to 1.11")
    page.get_by_label("Reason for the change").fill("1.10 is out of support at the end of the month.")
    page.get_by_label("Owner team").select_option(label="Platform")
    page.get_by_label("Planned start").fill(start.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Planned end").fill(end.strftime("%Y-%m-%dT%H:%M"))
    page.locator("#add-implementation-step").click()
    page.locator("#steps-0-action").fill("helm upgrade ingress-nginx to chart 4.11")
    page.locator("#steps-0-verification").fill("All ingress pods ready; synthetic checks green")
    page.locator("#add-backout-step").click()
    page.locator("#steps-1-kind").select_option("backout")
    page.locator("#steps-1-action").fill("helm rollback ingress-nginx")
    shot(page, "change-form")
    page.get_by_role("button", name="Create").click()
    page.wait_for_url(re.compile(r"/changes/\d+/$"))
    change = ChangeRequest.objects.get()
    assert change.requester == rita and change.change_type == "normal"
    assert [(s.kind, s.action) for s in change.steps.order_by("kind", "order")] == [
        ("backout", "helm rollback ingress-nginx"), ("implementation", "helm upgrade ingress-nginx to chart 4.11")]
    expect(page.locator("#record-status")).to_have_text("Draft")

    page.locator("#action-submit").click()
    page.locator("#confirm-submit").click()
    expect(page.locator("#record-status")).to_have_text("Submitted")
    page.locator("#action-start_assessment").click()
    expect(page.locator("#record-status")).to_have_text("Assessment")
    page.locator("#action-request_approval").click()
    expect(page.locator("#record-status")).to_have_text("Approval")
    # The requester sees who is to approve, but has nothing to decide themselves.
    expect(page.locator("#approvals-panel")).to_contain_text("Lara Lead")
    expect(page.locator("#approval-decide")).to_have_count(0)
    shot(page, "change-awaiting-approval")

    lead = log_in(new_page(), lara)
    lead.goto("/changes/approvals/")
    expect(lead.locator("#approval-inbox")).to_contain_text(change.number)
    lead.locator("#approval-inbox").get_by_role("link", name=change.number).click()
    lead.wait_for_url(re.compile(rf"/changes/{change.pk}/$"))
    lead.locator("#approval-comment").fill("Fine in the evening window.")
    lead.locator("#approval-decide").get_by_role("button", name="Approve").click()
    expect(lead.locator("#record-status")).to_have_text("Scheduled")
    approval = Approval.objects.get(change=change)
    assert approval.status == "approved" and approval.decided_by == lara and approval.approver == lara
    change.refresh_from_db()
    assert change.status == "scheduled" and change.approved_at is not None

    lead.goto(f"/changes/calendar/?view=month&date={start.date().isoformat()}")
    entry = lead.locator(f'[data-change="{change.number}"]').first
    expect(entry).to_be_visible()
    expect(entry).to_contain_text("Upgrade the ingress controller")
    shot(lead, "change-calendar")
    entry.click()
    lead.wait_for_url(re.compile(rf"/changes/{change.pk}/$"))
    console.assert_clean()
