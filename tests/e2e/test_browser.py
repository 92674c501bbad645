"""A person's path through the service catalog in a real browser (Chromium), against a live server:
log in, create a service through the form, find it with the htmx search, activate it, read its
history, comment on it; and what a form error and a read-only role look like. Every page visited
must leave the console free of CSP violations and JavaScript errors."""

import re

import pytest

from opsdesk.services.models import Service
from tests.accounts.factories import TeamFactory, UserFactory
from tests.services.factories import ServiceFactory

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips, with the reason
    expect = None

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Chromium logs "Failed to load resource ... 422" when a form comes back with errors: that one is expected.
FORM_REJECTED = r"status of 422"


@pytest.fixture
def team():
    return TeamFactory(name="Checkout Team", slug="checkout-team")


@pytest.fixture
def manager():
    return UserFactory(username="mira", first_name="Mira", last_name="Manager", role="manager")


def mark_document(page):
    """A flag on `window` that survives htmx swaps but not a page load."""
    page.evaluate("window.__e2eNoReload = true")


def assert_not_reloaded(page):
    assert page.evaluate("window.__e2eNoReload === true"), "the page was reloaded; htmx should have swapped a part"


def test_manager_creates_finds_activates_a_service_and_reads_its_history(new_page, log_in, console, team, manager):
    ServiceFactory(name="Search Cluster", slug="search-cluster", owner_team=team)
    page = log_in(new_page(), manager)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Services").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Services")
    page.get_by_role("link", name="New service").click()

    page.get_by_label("Name").fill("Checkout API")
    page.get_by_label("Key").fill("checkout-api")
    page.get_by_label("Owner team").select_option(label=team.name)
    page.get_by_label("Tier").select_option("1")
    page.get_by_label("Support hours").fill("mon-fri 09:00-17:00")
    page.get_by_label("Support time zone").fill("Europe/Berlin")
    page.get_by_role("button", name="Create").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("Checkout API")
    expect(page.locator("#record-status")).to_have_text("Planned")
    expect(page.get_by_role("alert")).to_contain_text("was created")
    expect(page.locator(".detail-fields")).to_contain_text("mon-fri 09:00-17:00")
    expect(page.locator(".detail-fields")).to_contain_text("Europe/Berlin")
    service = Service.objects.get(slug="checkout-api")
    assert service.owner_team == team and service.tier == 1 and service.status == "planned"

    # The list shows it; the search box filters the table in place (htmx) and keeps the URL shareable.
    page.get_by_role("link", name="Services").first.click()
    table = page.locator("#record-table")
    expect(table.get_by_role("link", name="Checkout API")).to_be_visible()
    expect(table.get_by_role("link", name="Search Cluster")).to_be_visible()
    mark_document(page)
    page.locator("#filter-panel").get_by_label("Search").fill("checkout")
    expect(table.get_by_role("link", name="Search Cluster")).to_have_count(0)
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(page.locator("#result-count")).to_have_text("1–1 of 1")
    expect(page).to_have_url(re.compile(r"[?&]q=checkout"))
    assert_not_reloaded(page)

    table.get_by_role("link", name="Checkout API").click()
    page.get_by_role("button", name="Activate").click()
    expect(page.locator("#record-status")).to_have_text("Active")
    expect(page.get_by_role("alert")).to_contain_text("Activate: done.")
    service.refresh_from_db()
    assert service.status == "active"

    mark_document(page)
    page.get_by_role("tab", name="History").click()
    expect(page.get_by_role("tab", name="History")).to_have_attribute("aria-selected", "true")
    rows = page.locator("#record-tab .history-table > tbody > tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("activate")
    expect(rows.nth(0)).to_contain_text(manager.username)
    expect(rows.nth(0)).to_contain_text("Planned")  # the status change in the words of the page: Planned -> Active
    expect(rows.nth(1)).to_contain_text("create")
    expect(rows.nth(1)).to_contain_text(manager.username)
    expect(rows.nth(1)).to_contain_text("Checkout API")
    expect(page).to_have_url(re.compile(r"[?&]tab=history"))
    assert_not_reloaded(page)

    console.assert_clean()


def test_form_error_is_shown_next_to_the_field_and_a_viewer_cannot_create(new_page, log_in, console, team,
                                                                          manager):
    page = log_in(new_page(), manager)
    page.goto("/services/new/")
    page.get_by_label("Key").fill("nameless")
    page.get_by_label("Owner team").select_option(label=team.name)
    page.get_by_role("button", name="Create").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("New service")
    expect(page.locator("#form-errors")).to_contain_text("Nothing was saved")
    name_field = page.locator(".field-name")
    expect(name_field.get_by_label("Name")).to_have_class(re.compile(r"\bis-invalid\b"))
    expect(name_field.locator(".invalid-feedback")).to_have_text(re.compile("This field is required"))
    expect(page.locator(".field-slug .invalid-feedback")).to_have_count(0)
    expect(page.get_by_label("Key")).to_have_value("nameless")  # what was typed is kept
    assert not Service.objects.exists()

    viewer = UserFactory(username="vic", role="viewer")
    ServiceFactory(name="Payroll", slug="payroll", owner_team=team)
    page = log_in(new_page(), viewer)
    page.goto("/services/")
    expect(page.locator("#record-table").get_by_role("link", name="Payroll")).to_be_visible()
    expect(page.get_by_role("link", name="New service")).to_have_count(0)
    page.locator("#record-table").get_by_role("link", name="Payroll").click()
    expect(page.get_by_role("button", name="Activate")).to_have_count(0)
    expect(page.get_by_role("link", name="Edit")).to_have_count(0)

    console.assert_clean(allow=(FORM_REJECTED,))


def test_comment_on_the_timeline_is_rendered_as_markdown_without_a_reload(new_page, log_in, console, team,
                                                                         manager):
    service = ServiceFactory(name="Ledger", slug="ledger", owner_team=team)
    page = log_in(new_page(), manager)
    page.goto(service.get_absolute_url())
    mark_document(page)
    page.get_by_role("tab", name="Timeline").click()

    page.get_by_label("Add a comment").fill("Failover **checked**; see `runbook#ledger`.\n\n- replica in sync")
    page.get_by_role("button", name="Comment").click()

    comment = page.locator(".timeline-comment").first
    expect(comment.locator(".markdown strong")).to_have_text("checked")
    expect(comment.locator(".markdown code")).to_have_text("runbook#ledger")
    expect(comment.locator(".markdown li")).to_have_text("replica in sync")
    expect(comment).to_contain_text(manager.username)
    expect(page.get_by_label("Add a comment")).to_have_value("")
    assert_not_reloaded(page)

    # An empty comment is refused in place, next to the box.
    page.get_by_role("button", name="Comment").click()
    expect(page.locator("#timeline-pane .invalid-feedback")).to_be_visible()
    expect(page.locator(".timeline-comment")).to_have_count(1)
    assert_not_reloaded(page)

    console.assert_clean(allow=(FORM_REJECTED,))
