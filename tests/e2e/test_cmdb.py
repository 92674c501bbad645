"""A person's path through the CMDB in a real browser: create a CI whose form follows the chosen
class, relate it to another CI, dispose of a retired one through the modal, and bulk-edit CIs ticked
in the list. Pages must leave the console free of CSP violations and JavaScript errors."""


import pytest

from opsdesk.cmdb.models import ConfigurationItem, Relationship
from tests.accounts.factories import TeamFactory, UserFactory
from tests.cmdb.factories import CIFactory, cls
from tests.e2e.screenshots import shot

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips, with the reason
    expect = None

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]



@pytest.fixture
def team():
    return TeamFactory(name="Platform", slug="platform")


@pytest.fixture
def manager():
    return UserFactory(username="mira", role="manager")


def test_create_a_ci_with_class_attributes_and_relate_it(new_page, log_in, console, team, manager):
    host = CIFactory(name="hv-01", owner_team=team, status="in_production")
    page = log_in(new_page(), manager)
    page.goto("/cmdb/new/")
    page.get_by_label("Class").select_option(label="Database")
    page.wait_for_url("**ci_class=*")
    expect(page.get_by_label("Engine")).to_be_visible()
    expect(page.get_by_label("CPUs")).to_have_count(0)
    page.locator("#id_name").fill("orders-db")
    page.get_by_label("Owner team").select_option(label="Platform")
    page.get_by_label("Engine").select_option("postgresql")
    page.get_by_label("Version").fill("16.4")
    page.get_by_label("IP addresses").fill("10.20.0.5")
    shot(page, "cmdb-form")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("orders-db")
    expect(page.locator(".attributes-table")).to_contain_text("16.4")
    shot(page, "cmdb-detail")
    ci = ConfigurationItem.objects.get(name="orders-db")
    assert ci.attributes == {"engine": "postgresql", "version": "16.4"} and ci.ip_addresses == ["10.20.0.5"]

    page.get_by_role("tab", name="Relationships").click()
    page.get_by_label("orders-db …").select_option(label="runs on")
    page.get_by_label("Target").fill(host.number)
    page.get_by_role("button", name="Add").click()
    expect(page.get_by_role("alert")).to_contain_text("Relationship added")
    expect(page.locator(".relationships-table")).to_contain_text("hv-01")
    shot(page, "cmdb-relationships")
    assert Relationship.objects.filter(source=ci, target=host, type__slug="runs-on").exists()
    console.assert_clean()


def test_dispose_through_the_modal_and_bulk_edit(new_page, log_in, console, team, manager):
    old = CIFactory(name="old-box", owner_team=team, status="retired", ci_class=cls("server"))
    a = CIFactory(name="edge-01", owner_team=team)
    b = CIFactory(name="edge-02", owner_team=team)
    page = log_in(new_page(), manager)
    page.goto(old.get_absolute_url())
    page.get_by_role("button", name="Dispose").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Disposal method").fill("recycled")
    dialog.get_by_label("Disposal reference").fill("WEEE-2026-114")
    dialog.get_by_label("Approved by").fill("mira")
    shot(page, "cmdb-dispose")
    dialog.get_by_role("button", name="Dispose").click()
    expect(page.locator("#record-status")).to_have_text("Disposed")
    expect(page.get_by_role("link", name="Edit")).to_have_count(0)
    old.refresh_from_db()
    assert (old.disposal_reference, old.disposal_approved_by) == ("WEEE-2026-114", manager)

    page.goto("/cmdb/?q=edge")
    page.get_by_label(f"Select {a}").check()
    page.get_by_label(f"Select {b}").check()
    shot(page, "cmdb-list")
    page.get_by_role("button", name="Edit selected").click()
    page.get_by_label("Location").fill("Edge POP 3")
    page.get_by_role("button", name="Apply to all").click()
    expect(page.get_by_role("alert")).to_contain_text("2 records were changed")
    assert set(ConfigurationItem.objects.filter(name__startswith="edge").values_list("location", flat=True)) == {
        "Edge POP 3"}
    console.assert_clean()
