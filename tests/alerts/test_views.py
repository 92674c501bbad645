"""The alerts pages as an operator uses them: the alert list (filters, bounded queries), an alert's page
(labels, annotations, raw payload escaped, suppression, "silence alerts like this"), groups,
integrations (URL shown once, rotate key, send a test alert), routes, silences and maintenance windows
with their buttons, each per role."""

import datetime
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from opsdesk.alerts import integrations, services
from opsdesk.alerts.models import Alert, Integration, MaintenanceWindow, Route, Silence
from opsdesk.core.actors import Actor
from opsdesk.core.testing import PageRecordTests
from tests.alerts.factories import make_integration
from tests.alerts.rule_factories import MaintenanceWindowFactory, RouteFactory, SilenceFactory, make_alert, posted_alert
from tests.incidents.factories import IncidentFactory
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db


def local(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


# --- alerts ---------------------------------------------------------------------------------------------------

def test_anonymous_is_sent_to_login(client):
    for url in ("/alerts/", "/alerts/groups/", "/alerts/integrations/", "/alerts/silences/"):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_alert_list_shows_and_filters_alerts(client, users):
    incident = IncidentFactory()
    db = make_alert(labels={"alertname": "ReplicaLag", "team": "db"}, summary="Replica lags", incident=incident)
    web = make_alert(labels={"alertname": "HighCPU", "team": "web"}, summary="CPU high", severity="warning")
    client.force_login(users["viewer"])
    page = client.get("/alerts/").content.decode()
    assert "Replica lags" in page and "CPU high" in page
    assert incident.number in page and "team=db" in page
    filtered = client.get("/alerts/", {"label": "team=db"}).content.decode()
    assert "Replica lags" in filtered and "CPU high" not in filtered
    assert "CPU high" in client.get("/alerts/", {"severity": "warning"}).content.decode()
    assert "Replica lags" not in client.get("/alerts/", {"q": "CPU"}).content.decode()
    bad = client.get("/alerts/", {"label": "=x"})
    assert bad.status_code == 200 and "name=value" in bad.content.decode()
    assert db.pk != web.pk


def test_alert_list_makes_as_many_queries_for_30_alerts_as_for_1(client, users):
    integration, _key = make_integration()
    incident = IncidentFactory()
    make_alert(integration, incident=incident)
    client.force_login(users["viewer"])
    client.get("/alerts/")
    with CaptureQueriesContext(connection) as one:
        assert client.get("/alerts/").status_code == 200
    for _ in range(29):
        make_alert(integration, incident=incident)
    with CaptureQueriesContext(connection) as many:
        assert client.get("/alerts/").status_code == 200
    assert len(many) == len(one), [q["sql"] for q in many.captured_queries]
    # session, user, memberships, count, page, saved filters, the integrations of the filter panel
    assert len(many) <= 8, [q["sql"] for q in many.captured_queries]


def test_alert_page_shows_labels_annotations_and_the_escaped_raw_payload(client, users):
    integration, _key = make_integration(payload_retention_days=7)
    alert = posted_alert(integration, {"alertname": "DiskFull", "instance": "db-1:9100", "team": "db"},
                         {"summary": "Disk <script>alert(1)</script> full",
                          "runbook_url": "https://runbooks.example.net/disk"})
    client.force_login(users["responder"])
    page = client.get(alert.get_absolute_url()).content.decode()
    labels = re.search(r'id="alert-labels".*?</table>', page, re.S).group(0)
    assert "instance" in labels and "db-1:9100" in labels
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    payload = re.search(r'<pre class="raw-payload[^>]*>(.*?)</pre>', page, re.S).group(0)
    assert "&quot;DiskFull&quot;" in payload and "\n  " in payload  # pretty-printed JSON, escaped
    assert "kept for 7 days" in page
    assert 'href="https://runbooks.example.net/disk"' in page
    assert f"/alerts/silences/new/?alert={alert.pk}" in page
    assert alert.group.incident.number in re.search(r'id="alert-incident".*?</dd>', page, re.S).group(0)


def test_only_a_web_generator_url_is_offered_as_a_link(client, users):
    """Intake now refuses other schemes; a javascript: URL stored before that is shown as no link."""
    alert = make_alert()
    Alert.objects.filter(pk=alert.pk).update(generator_url="javascript:alert(document.domain)")
    client.force_login(users["viewer"])
    assert "javascript:" not in client.get(alert.get_absolute_url()).content.decode()
    Alert.objects.filter(pk=alert.pk).update(generator_url="https://prometheus.example.net/graph?g0.expr=up")
    page = client.get(alert.get_absolute_url()).content.decode()
    assert 'href="https://prometheus.example.net/graph?g0.expr=up"' in page


def test_viewers_get_no_silence_button(client, users):
    alert = make_alert()
    client.force_login(users["viewer"])
    assert "silence-like-this" not in client.get(alert.get_absolute_url()).content.decode()


def test_an_alert_whose_payload_was_pruned_says_so(client, users):
    alert = make_alert()
    client.force_login(users["viewer"])
    assert "no longer kept" in client.get(alert.get_absolute_url()).content.decode()


def test_silence_alerts_like_this_prefills_the_matchers(client, users):
    alert = make_alert(labels={"alertname": "DiskFull", "instance": "db-1:9100"})
    client.force_login(users["responder"])
    page = client.get("/alerts/silences/new/", {"alert": alert.pk}).content.decode()
    assert 'name="matchers-label" value="alertname"' in page
    assert 'name="matchers-value" value="DiskFull"' in page
    assert 'name="matchers-value" value="db-1:9100"' in page
    assert f'<option value="{alert.integration_id}" selected>' in page


# --- groups ---------------------------------------------------------------------------------------------------

def test_group_list_shows_open_groups_with_incident_and_counts(client, users):
    incident = IncidentFactory()
    open_alert = make_alert(labels={"alertname": "OpenOne"}, incident=incident)
    closed = make_alert(labels={"alertname": "ClosedOne"})
    closed.group.is_open = False
    closed.group.save()
    client.force_login(users["viewer"])
    page = client.get("/alerts/groups/").content.decode()
    assert "OpenOne" in page and "ClosedOne" not in page and incident.number in page
    assert "ClosedOne" in client.get("/alerts/groups/", {"open": "false"}).content.decode()
    detail = client.get(f"/alerts/groups/{open_alert.group_id}/").content.decode()
    assert str(open_alert) in detail and incident.number in detail


# --- integrations -----------------------------------------------------------------------------------------------

def test_creating_an_integration_shows_its_url_once(client, users, team):
    client.force_login(users["viewer"])
    assert client.get("/alerts/integrations/new/").status_code == 403
    client.force_login(users["manager"])
    assert client.get("/alerts/integrations/new/").status_code == 200
    invalid = client.post("/alerts/integrations/new/", {"name": "", "kind": "alertmanager",
                                                        "grouping_template": "{{ alertname }} }}"})
    assert invalid.status_code == 422 and "is-invalid" in invalid.content.decode()
    assert "grouping key may only hold placeholders" in invalid.content.decode()
    assert not Integration.objects.exists()
    response = client.post("/alerts/integrations/new/", {
        "name": "Prometheus prod", "kind": "alertmanager", "enabled": "on", "team": team.pk,
        "priority_critical": "P1", "priority_warning": "P3", "ci_labels": "instance, host", "auto_resolve": "on",
        "reopen_window_minutes": 60, "flapping_changes": 5, "flapping_window_minutes": 30,
        "payload_retention_days": 14, "imap_folder": "INBOX", "bearer_token": "t" * 20})
    assert response.status_code == 302, response.content.decode()[:2000]
    integration = Integration.objects.get(name="Prometheus prod")
    assert response["Location"] == f"/alerts/integrations/{integration.pk}/new-key/"
    page = client.get(response["Location"]).content.decode()
    url = re.search(r'id="ingest-url" value="([^"]+)"', page).group(1)
    key = url.rstrip("/").rsplit("/", 1)[1]
    assert integrations.integration_for_key(key).pk == integration.pk
    assert "webhook_configs" in page and "send_resolved: true" in page
    assert integration.severity_map == {"critical": "P1", "warning": "P3"}
    assert integration.ci_labels == ["instance", "host"]
    assert integration.bearer_token_hash == integrations.hash_secret("t" * 20)
    again = client.get(integration.get_absolute_url()).content.decode()
    assert key not in again and f"{integration.key_prefix}…" in again
    # Reloading the key page shows the key no more (and creates nothing): it leads back to the integration.
    reloaded = client.get(response["Location"], follow=True)
    assert key not in reloaded.content.decode() and "shown only once" in reloaded.content.decode()
    assert Integration.objects.filter(name="Prometheus prod").count() == 1


def test_editing_keeps_secrets_unless_given(client, users):
    integration, _key = make_integration(hmac_secret="keep-me-please")
    client.force_login(users["manager"])
    form = client.get(f"/alerts/integrations/{integration.pk}/edit/").content.decode()
    assert "keep-me-please" not in form
    response = client.post(f"/alerts/integrations/{integration.pk}/edit/", {
        "name": integration.name, "enabled": "on", "description": "Edited", "reopen_window_minutes": 30,
        "flapping_changes": 5, "flapping_window_minutes": 30, "payload_retention_days": 30, "imap_folder": "INBOX"})
    assert response.status_code == 302, response.content.decode()[:2000]
    integration.refresh_from_db()
    assert integration.description == "Edited" and integration.hmac_secret == "keep-me-please"
    assert integration.reopen_window_minutes == 30


def test_rotate_key_and_send_test_alert_are_for_managers(client, users, django_capture_on_commit_callbacks):
    integration, old = make_integration()
    client.force_login(users["responder"])
    page = client.get(integration.get_absolute_url()).content.decode()
    assert "Send test alert" not in page and "Rotate key" not in page
    assert client.post(f"/alerts/integrations/{integration.pk}/rotate-key/").status_code == 403
    assert client.post(f"/alerts/integrations/{integration.pk}/test/").status_code == 403
    client.force_login(users["manager"])
    rotated = client.post(f"/alerts/integrations/{integration.pk}/rotate-key/", follow=True)
    assert rotated.redirect_chain == [(f"/alerts/integrations/{integration.pk}/new-key/", 302)]
    new = re.search(r'id="ingest-url" value="[^"]+/([^/"]+)/"', rotated.content.decode()).group(1)
    assert new != old and integrations.integration_for_key(old) is None
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/alerts/integrations/{integration.pk}/test/")
    assert response.status_code == 302 and f"integration={integration.pk}" in response["Location"]
    alert = Alert.objects.get(integration=integration)
    assert alert.labels["opsdesk_test"] == "true"
    assert "OpsdeskTestAlert" in client.get(response["Location"]).content.decode()


def test_integration_list_shows_heartbeat_state(client, users):
    make_integration(name="Quiet one")
    integration, _key = make_integration(name="Beating", heartbeat_interval_minutes=5)
    Integration.objects.filter(pk=integration.pk).update(heartbeat_due_at=timezone.now() - datetime.timedelta(
        minutes=1), last_heartbeat_at=timezone.now() - datetime.timedelta(minutes=6))
    client.force_login(users["viewer"])
    page = client.get("/alerts/integrations/").content.decode()
    assert "not expected" in page and "missing since" in page


# --- routes ---------------------------------------------------------------------------------------------------

class TestRoutePages(PageRecordTests):
    list_url = "/alerts/routes/"
    factory = RouteFactory
    list_queries = 8  # session, user, count, page, memberships, notifications, saved filters, integrations filter

    def form_data(self, team):
        return {"name": "Database alerts", "order": 10, "enabled": "on", "matchers-label": ["team", ""],
                "matchers-op": ["=~", "="], "matchers-value": ["db|data", ""], "severities": ["critical"],
                "team": team.pk, "priority": "P2"}


def test_route_form_saves_matcher_rows_and_shows_a_bad_regex_inline(client, users, team):
    client.force_login(users["responder"])
    assert client.get("/alerts/routes/new/").status_code == 403
    client.force_login(users["manager"])
    bad = client.post("/alerts/routes/new/", {"name": "Bad", "order": 1, "matchers-label": ["team"],
                                              "matchers-op": ["=~"], "matchers-value": ["(db"]})
    assert bad.status_code == 422 and "is-invalid" in bad.content.decode()
    assert not Route.objects.exists()
    response = client.post("/alerts/routes/new/", TestRoutePages().form_data(team))
    assert response.status_code == 302
    route = Route.objects.get()
    assert route.matchers == [{"label": "team", "op": "=~", "value": "db|data"}]
    assert route.severities == ["critical"] and route.priority == "P2"
    detail = client.get(route.get_absolute_url()).content.decode()
    assert "db|data" in detail
    assert client.post(f"/alerts/routes/{route.pk}/delete/").status_code == 302
    assert not Route.objects.exists()


# --- silences -------------------------------------------------------------------------------------------------

def test_silence_pages_per_role_list_states_and_expire(client, users):
    client.force_login(users["viewer"])
    assert client.get("/alerts/silences/new/").status_code == 403
    client.force_login(users["responder"])
    now = timezone.now()
    response = client.post("/alerts/silences/new/", {
        "matchers-label": ["alertname"], "matchers-op": ["="], "matchers-value": ["DiskFull"],
        "starts_at": local(now), "ends_at": local(now + datetime.timedelta(hours=2)), "comment": "Disk swap"})
    assert response.status_code == 302, response.content.decode()[:3000]
    silence = Silence.objects.get()
    assert silence.created_by == users["responder"]
    pending = SilenceFactory(starts_at=now + datetime.timedelta(days=1), ends_at=now + datetime.timedelta(days=2),
                             comment="Planned work")
    client.get("/alerts/silences/")  # shows (and so clears) the "was created" message
    listing = client.get("/alerts/silences/", {"state": "pending"}).content.decode()
    assert "Planned work" in listing and "Disk swap" not in listing
    page = client.get(silence.get_absolute_url()).content.decode()
    assert "Expire now" in page
    assert client.post(f"/alerts/silences/{silence.pk}/expire/").status_code == 302
    silence.refresh_from_db()
    assert services.silence_state(silence) == "expired"
    assert "Expire now" not in client.get(silence.get_absolute_url()).content.decode()
    assert pending.pk != silence.pk


def test_a_silence_without_matchers_is_refused_inline(client, users):
    client.force_login(users["responder"])
    response = client.post("/alerts/silences/new/", {"matchers-label": [""], "matchers-op": ["="],
                                                     "matchers-value": [""], "comment": "x"})
    assert response.status_code == 422 and "Give at least one label matcher." in response.content.decode()
    assert not Silence.objects.exists()


def test_silence_list_query_count_is_bounded(client, users):
    SilenceFactory()
    client.force_login(users["viewer"])
    client.get("/alerts/silences/")
    with CaptureQueriesContext(connection) as one:
        client.get("/alerts/silences/")
    for _ in range(10):
        SilenceFactory()
    with CaptureQueriesContext(connection) as many:
        assert client.get("/alerts/silences/").status_code == 200
    assert len(many) == len(one) == 8, [q["sql"] for q in many.captured_queries]


# --- maintenance windows --------------------------------------------------------------------------------------

class TestMaintenancePages(PageRecordTests):
    list_url = "/alerts/maintenance/"
    factory = MaintenanceWindowFactory
    list_queries = 9  # session, user, count, page, services, CIs, memberships, notifications, saved filters

    def form_data(self, team):
        start = timezone.now() + datetime.timedelta(days=1)
        return {"title": "Storage upgrade", "starts_at": local(start),
                "ends_at": local(start + datetime.timedelta(hours=2)), "services": ServiceFactory().slug, "cis": ""}


def test_maintenance_window_cancel_button(client, users):
    window = MaintenanceWindowFactory()
    client.force_login(users["viewer"])
    assert "Cancel" not in client.get(window.get_absolute_url()).content.decode().split("record-actions")[1][:800]
    assert client.post(f"/alerts/maintenance/{window.pk}/cancel/").status_code == 403
    client.force_login(users["responder"])
    assert client.post(f"/alerts/maintenance/{window.pk}/cancel/").status_code == 302
    window.refresh_from_db()
    assert window.cancelled_at is not None
    listing = client.get("/alerts/maintenance/", {"state": "cancelled"}).content.decode()
    assert window.title in listing


def test_route_form_marks_the_given_matcher_rows_not_the_spare_ones(client, users):
    client.force_login(users["admin"])
    response = client.post("/alerts/routes/new/", {
        "name": "Bad regex", "order": "5", "enabled": "on", "matchers-label": ["team", "instance", "", ""],
        "matchers-op": ["=", "=~", "=", "="], "matchers-value": ["db", "db-(01", "", ""]})
    assert response.status_code == 422
    editor = response.content.decode().split('class="matchers-editor"')[1].split("data-add-matcher")[0]
    assert editor.count("matcher-row") == 5 and editor.count("is-invalid") == 4  # 2 rows given, 3 spare
    assert not Route.objects.filter(name="Bad regex").exists()
    empty = client.post("/alerts/silences/new/", {"comment": "x", "matchers-label": [""], "matchers-value": [""]})
    editor = empty.content.decode().split('class="matchers-editor"')[1].split("data-add-matcher")[0]
    assert empty.status_code == 422 and editor.count("is-invalid") == 2 * editor.count("matcher-row")


def test_maintenance_form_takes_services_by_key_number_or_name(client, users):
    by_key, by_number, by_name = ServiceFactory(), ServiceFactory(), ServiceFactory()
    start = timezone.now() + datetime.timedelta(days=2)
    data = {"title": "Patching", "starts_at": local(start), "ends_at": local(start + datetime.timedelta(hours=1)),
            "services": f"{by_key.slug}, {by_number.number.lower()}, {by_name.name.upper()}", "cis": ""}
    client.force_login(users["manager"])
    bad = client.post("/alerts/maintenance/new/", {**data, "services": "SVC-99999, " + by_key.slug})
    assert bad.status_code == 422 and "SVC-99999" in bad.content.decode()
    assert not MaintenanceWindow.objects.exists()
    assert client.post("/alerts/maintenance/new/", data).status_code == 302
    assert set(MaintenanceWindow.objects.get().services.all()) == {by_key, by_number, by_name}


def test_maintenance_list_states(client, users):
    now = timezone.now()
    running = services.create_maintenance_window(actor=Actor.system("test"), data={
        "title": "Running now", "starts_at": now - datetime.timedelta(hours=1), "ends_at": now + datetime.timedelta(
            hours=1), "services": [ServiceFactory()]})
    MaintenanceWindowFactory(title="Next week")
    client.force_login(users["viewer"])
    page = client.get("/alerts/maintenance/", {"state": "now"}).content.decode()
    assert running.title in page and "Next week" not in page
    assert MaintenanceWindow.objects.count() == 2


def test_incidents_cis_and_services_link_to_their_alerts(client, users):
    from tests.cmdb.factories import CIFactory

    incident, ci, service = IncidentFactory(), CIFactory(), ServiceFactory()
    client.force_login(users["viewer"])
    assert f'href="/alerts/?incident={incident.number}"' in client.get(incident.get_absolute_url()).content.decode()
    assert f'href="/alerts/?ci={ci.number}"' in client.get(ci.get_absolute_url()).content.decode()
    assert f'href="/alerts/?service={service.slug}"' in client.get(service.get_absolute_url()).content.decode()
    alert = make_alert(incident=IncidentFactory(service=service), ci=ci)
    assert str(alert) in client.get("/alerts/", {"service": service.slug}).content.decode()
    assert str(alert) in client.get("/alerts/", {"ci": ci.number}).content.decode()


def test_deleting_a_route_needs_a_manager(client, users):
    route = RouteFactory()
    client.force_login(users["responder"])
    assert client.post(f"/alerts/routes/{route.pk}/delete/").status_code == 403
    assert Route.objects.filter(pk=route.pk).exists()
