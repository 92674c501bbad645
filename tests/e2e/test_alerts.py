"""A manager connects monitoring in a real browser (Chromium): creates an Alertmanager integration, copies
its URL (shown once), sends a test alert, finds it in the alert list with its raw payload, and silences
alerts like it from the alert's page. The pages must leave the console free of CSP violations and errors."""

import re

import pytest

from opsdesk.alerts.models import Alert, Integration, Silence
from tests.accounts.factories import UserFactory
from tests.e2e.screenshots import shot as _shot

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips, with the reason
    expect = None

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]



def test_manager_connects_alertmanager_sends_a_test_alert_and_silences_it(new_page, log_in, console):
    manager = UserFactory(username="mara", role="manager")
    page = log_in(new_page(), manager)

    # The Alerts menu leads to the integrations.
    page.locator("#nav a.dropdown-toggle", has_text="Alerts").click()
    page.get_by_role("link", name="Integrations", exact=True).click()
    page.get_by_role("link", name="New integration").click()
    page.fill("#id_name", "Prometheus production")
    page.select_option("#id_kind", "alertmanager")
    page.select_option("#id_priority_critical", "P1")
    page.fill("#id_ci_labels", "instance, host")
    page.get_by_role("button", name="Create").click()

    url_box = page.locator("#ingest-url")
    expect(url_box).to_have_value(re.compile(r"/api/v1/integrations/alertmanager/[-\w]{20,}/$"))
    expect(page.locator("#alertmanager-snippet")).to_contain_text("send_resolved: true")
    shot(page, "integration-created")
    key = url_box.input_value().rstrip("/").rsplit("/", 1)[1]
    integration = Integration.objects.get(name="Prometheus production")
    assert key.startswith(integration.key_prefix)

    # Reloading the page shows only the key's first characters.
    page.goto(integration.get_absolute_url())
    expect(page.locator("#masked-url")).to_contain_text(f"{integration.key_prefix}…")
    assert key not in page.content()

    page.locator("#send-test-alert").click()
    page.wait_for_url(re.compile(r"/alerts/\?integration="))
    row = page.locator("table.record-table tbody tr", has_text="Test alert sent from Opsdesk")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("opsdesk_test=true")
    shot(page, "list")
    row.get_by_role("link", name="Test alert sent from Opsdesk").click()

    expect(page.locator("#alert-labels")).to_contain_text("OpsdeskTestAlert")
    expect(page.locator("#raw-payload")).to_contain_text('"alertname": "OpsdeskTestAlert"')
    expect(page.get_by_text("Raw payloads are kept for 30 days")).to_be_visible()
    shot(page, "detail")

    page.locator("#silence-like-this").click()
    expect(page.locator('input[name="matchers-label"]').first).to_have_value("alertname")
    page.get_by_role("button", name="Add a row").click()
    labels = page.locator('input[name="matchers-label"]')
    count = labels.count()
    labels.nth(count - 1).fill("")
    shot(page, "silence-form")
    page.get_by_role("button", name="Create").click()
    expect(page.locator("#silence-state")).to_have_text("active")
    silence = Silence.objects.get()
    assert silence.created_by == manager
    assert {"label": "alertname", "op": "=", "value": "OpsdeskTestAlert"} in silence.matchers
    shot(page, "silence")

    for path, name in (("/alerts/groups/", "groups"), ("/alerts/silences/", "silences"),
                       ("/alerts/integrations/", "integrations"), ("/alerts/routes/new/", "route-form"),
                       ("/alerts/maintenance/new/", "maintenance-form")):
        page.goto(path)
        expect(page.locator("h1")).to_be_visible()
        shot(page, name)
    assert Alert.objects.filter(integration=integration).count() == 1
    console.assert_clean()


def shot(page, name, full_page=True):
    _shot(page, f"alerts-{name}", full_page=full_page)
