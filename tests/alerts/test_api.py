"""The alerts API contract: each endpoint per role, bad input answers 400 and changes nothing, secrets
never come back, the key is answered once, and list query counts are pinned."""

import datetime
import itertools

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from opsdesk.alerts import integrations
from opsdesk.alerts.models import Alert, Integration, MaintenanceWindow, RawPayload, Route, Silence
from opsdesk.core.audit import history_for
from opsdesk.core.testing import ROLES, APIRecordTests
from tests.alerts.factories import IntegrationFactory, make_integration
from tests.alerts.rule_factories import MaintenanceWindowFactory, RouteFactory, SilenceFactory, make_alert, posted_alert
from tests.cmdb.factories import CIFactory
from tests.incidents.factories import IncidentFactory
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db
BASE = "/api/v1/alerts/"
NUMBERS = itertools.count(1)


def later(**delta) -> str:
    from django.utils import timezone

    return (timezone.now() + datetime.timedelta(**delta)).isoformat()


# --- integrations -------------------------------------------------------------------------------------------

class TestIntegrationAPI(APIRecordTests):
    endpoint = f"{BASE}integrations/"
    factory = IntegrationFactory
    list_queries = 3  # token, count, page (team and service joined)

    def create_payload(self, team):
        return {"name": f"Prometheus {next(NUMBERS)}", "kind": "alertmanager", "team": team.slug,
                "severity_map": {"critical": "P1"}, "hmac_secret": "s3cret-s3cret"}

    def update_payload(self):
        return {"description": "The production Alertmanager"}


def test_create_answers_the_key_once_and_never_the_secrets(api, users, team):
    client = api(users["manager"])
    response = client.post(f"{BASE}integrations/", {
        "name": "Prod", "kind": "alertmanager", "hmac_secret": "hmac-secret-value", "bearer_token": "b" * 20},
        format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    key = body["key"]
    assert body["ingest_url"].endswith(f"/api/v1/integrations/alertmanager/{key}/")
    integration = Integration.objects.get(pk=body["id"])
    assert integration.key_hash == integrations.hash_secret(key)
    assert integration.bearer_token_hash == integrations.hash_secret("b" * 20)
    read = client.get(f"{BASE}integrations/{integration.pk}/").json()
    text = str(read)
    assert key not in text and "hmac-secret-value" not in text
    assert read["key_prefix"] == key[:8] and read["hmac_enabled"] is True and read["bearer_enabled"] is True
    assert "hmac_secret" not in read and "imap_password" not in read and "bearer_token" not in read


def test_rotate_key_answers_a_new_key_and_the_old_stops_working(api, users):
    integration, old = make_integration()
    for role in ROLES:
        response = api(users[role]).post(f"{BASE}integrations/{integration.pk}/rotate-key/")
        assert response.status_code == (200 if role in ("manager", "admin") else 403), role
    new = response.json()["key"]
    assert new != old
    assert integrations.integration_for_key(old) is None
    assert integrations.integration_for_key(new).pk == integration.pk


def test_test_action_stores_a_payload_for_managers_only(api, users):
    integration, _key = make_integration("events")
    assert api(users["responder"]).post(f"{BASE}integrations/{integration.pk}/test/").status_code == 403
    assert not RawPayload.objects.exists()
    response = api(users["manager"]).post(f"{BASE}integrations/{integration.pk}/test/")
    assert response.status_code == 202
    assert RawPayload.objects.get().pk == response.json()["payload"]


def test_a_bad_integration_is_400_with_fields_and_writes_nothing(api, users):
    client = api(users["manager"])
    response = client.post(f"{BASE}integrations/", {"name": "X", "kind": "alertmanager",
                                                    "severity_map": {"critical": "P9"}}, format="json")
    assert response.status_code == 400
    assert "severity_map.critical" in response.json()["error"]["fields"]
    response = client.post(f"{BASE}integrations/", {"name": "X", "kind": "pager"}, format="json")
    assert response.status_code == 400 and "kind" in response.json()["error"]["fields"]
    response = client.post(f"{BASE}integrations/", {"name": "X", "kind": "alertmanager",
                                                    "grouping_template": "{{ alertname }}/{% now %}"}, format="json")
    assert response.status_code == 400 and "grouping_template" in response.json()["error"]["fields"]
    assert not Integration.objects.exists()


def test_the_kind_of_an_integration_cannot_change(api, users):
    integration, _key = make_integration("alertmanager")
    response = api(users["manager"]).patch(f"{BASE}integrations/{integration.pk}/", {"kind": "events"}, format="json")
    assert response.status_code == 400
    integration.refresh_from_db()
    assert integration.kind == "alertmanager"


# --- routes ---------------------------------------------------------------------------------------------------

class TestRouteAPI(APIRecordTests):
    endpoint = f"{BASE}routes/"
    factory = RouteFactory
    list_queries = 3

    def create_payload(self, team):
        return {"name": f"DB {next(NUMBERS)}", "order": 10, "matchers": [{"label": "team", "op": "=", "value": "db"}],
                "severities": ["critical"], "team": team.slug, "priority": "P2"}

    def update_payload(self):
        return {"order": 7}


def test_route_with_a_bad_regex_is_400_and_writes_nothing(api, users):
    response = api(users["manager"]).post(f"{BASE}routes/", {
        "name": "Bad", "matchers": [{"label": "team", "op": "=~", "value": "(db"}]}, format="json")
    assert response.status_code == 400
    assert "matchers" in response.json()["error"]["fields"]
    response = api(users["manager"]).post(f"{BASE}routes/", {"name": "Bad", "source_pattern": "[x"}, format="json")
    assert response.status_code == 400 and "source_pattern" in response.json()["error"]["fields"]
    assert not Route.objects.exists()


def test_route_delete_per_role(api, users):
    route = RouteFactory()
    for role in ("viewer", "responder"):
        assert api(users[role]).delete(f"{BASE}routes/{route.pk}/").status_code == 403
    assert api(users["manager"]).delete(f"{BASE}routes/{route.pk}/").status_code == 204
    assert not Route.objects.exists()


# --- silences -------------------------------------------------------------------------------------------------

class TestSilenceAPI(APIRecordTests):
    endpoint = f"{BASE}silences/"
    factory = SilenceFactory
    create_status = {"viewer": 403, "responder": 201, "manager": 201, "admin": 201}
    update_status = {"viewer": 403, "responder": 200, "manager": 200, "admin": 200}
    writer_role = "responder"
    list_queries = 3  # token, count, page (integration and creator joined)

    def create_payload(self, team):
        return {"matchers": [{"label": "team", "op": "=", "value": team.slug}], "ends_at": later(hours=2),
                "comment": "Failover drill"}

    def update_payload(self):
        return {"comment": "Failover drill, extended"}


def test_silence_made_through_the_api_names_its_creator_and_state(api, users):
    now = api(users["responder"]).post(f"{BASE}silences/", {
        "matchers": ['alertname="Now"'], "ends_at": later(hours=1), "comment": "From now"}, format="json")
    assert now.status_code == 201 and now.json()["state"] == "active"
    response = api(users["responder"]).post(f"{BASE}silences/", {
        "matchers": ['alertname="DiskFull"'], "starts_at": later(days=1), "ends_at": later(days=1, hours=1),
        "comment": "Planned"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["created_by"] == "responder"
    assert response.json()["state"] == "pending"
    assert response.json()["matchers"] == [{"label": "alertname", "op": "=", "value": "DiskFull"}]


@pytest.mark.parametrize("payload, field", [
    ({"matchers": [], "ends_at": "+2h", "comment": "x"}, "matchers"),
    ({"matchers": [{"label": "a", "op": "=", "value": "b"}], "ends_at": "-1h", "comment": "x"}, "ends_at"),
    ({"matchers": [{"label": "a", "op": "=", "value": "b"}], "ends_at": "+2h", "comment": ""}, "comment"),
])
def test_a_bad_silence_is_400_and_writes_nothing(api, users, payload, field):
    payload = dict(payload)
    payload["ends_at"] = later(hours=int(payload["ends_at"][:-1]))
    response = api(users["responder"]).post(f"{BASE}silences/", payload, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    assert not Silence.objects.exists()


def test_expire_per_role_and_twice_is_409(api, users):
    silence = SilenceFactory()
    assert api(users["viewer"]).post(f"{BASE}silences/{silence.pk}/expire/").status_code == 403
    response = api(users["responder"]).post(f"{BASE}silences/{silence.pk}/expire/")
    assert response.status_code == 200 and response.json()["state"] == "expired"
    again = api(users["responder"]).post(f"{BASE}silences/{silence.pk}/expire/")
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"


def test_silences_filter_by_state(api, users):
    active = SilenceFactory()
    from django.utils import timezone

    now = timezone.now()
    pending = SilenceFactory(starts_at=now + datetime.timedelta(days=1), ends_at=now + datetime.timedelta(days=2))
    client = api(users["viewer"])
    assert [s["id"] for s in client.get(f"{BASE}silences/?state=pending").json()["results"]] == [pending.pk]
    assert [s["id"] for s in client.get(f"{BASE}silences/?state=active").json()["results"]] == [active.pk]
    assert client.get(f"{BASE}silences/?state=expired").json()["count"] == 0


# --- maintenance windows ------------------------------------------------------------------------------------

class TestMaintenanceWindowAPI(APIRecordTests):
    endpoint = f"{BASE}maintenance-windows/"
    factory = MaintenanceWindowFactory
    create_status = {"viewer": 403, "responder": 201, "manager": 201, "admin": 201}
    update_status = {"viewer": 403, "responder": 200, "manager": 200, "admin": 200}
    writer_role = "responder"
    list_queries = 5  # token, count, page, services, CIs

    def create_payload(self, team):
        return {"title": "Storage upgrade", "starts_at": later(days=1), "ends_at": later(days=1, hours=2),
                "services": [ServiceFactory().slug]}

    def update_payload(self):
        return {"title": "Storage upgrade (new disks)"}


def test_window_of_cis_and_cancel(api, users):
    ci = CIFactory()
    client = api(users["responder"])
    response = client.post(f"{BASE}maintenance-windows/", {
        "title": "Reboot", "starts_at": later(minutes=-5), "ends_at": later(hours=1), "cis": [ci.number]},
        format="json")
    assert response.status_code == 201, response.content
    assert response.json()["state"] == "now" and response.json()["cis"] == [ci.number]
    window_id = response.json()["id"]
    assert api(users["viewer"]).post(f"{BASE}maintenance-windows/{window_id}/cancel/").status_code == 403
    cancelled = client.post(f"{BASE}maintenance-windows/{window_id}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert client.post(f"{BASE}maintenance-windows/{window_id}/cancel/").status_code == 409


def test_a_window_without_services_or_cis_is_400(api, users):
    response = api(users["responder"]).post(f"{BASE}maintenance-windows/", {
        "title": "Nothing", "starts_at": later(hours=1), "ends_at": later(hours=2)}, format="json")
    assert response.status_code == 400 and "services" in response.json()["error"]["fields"]
    assert not MaintenanceWindow.objects.exists()


# --- alerts and groups (read-only) --------------------------------------------------------------------------

def test_alerts_are_read_only_for_everyone(api, users):
    alert = make_alert()
    for role in ROLES:
        client = api(users[role])
        assert client.get(f"{BASE}alerts/").status_code == 200
        assert client.get(f"{BASE}alerts/{alert.pk}/").status_code == 200
        assert client.post(f"{BASE}alerts/", {}, format="json").status_code in (403, 405)
        assert client.patch(f"{BASE}alerts/{alert.pk}/", {"status": "resolved"}, format="json").status_code in (403,
                                                                                                                 405)
    alert.refresh_from_db()
    assert alert.status == "firing"
    assert api().get(f"{BASE}alerts/").status_code == 401


def test_alert_list_filters(api, users):
    integration, _key = make_integration()
    incident = IncidentFactory()
    db = make_alert(integration, labels={"alertname": "Lag", "team": "db"}, incident=incident)
    web = make_alert(integration, labels={"alertname": "CPU", "team": "web"}, severity="warning", flapping=True)
    silenced = make_alert(labels={"alertname": "Noise"}, suppressed="silence", status="resolved")
    client = api(users["viewer"])

    def ids(query):
        response = client.get(f"{BASE}alerts/?{query}")
        assert response.status_code == 200, response.content
        return {a["id"] for a in response.json()["results"]}

    assert ids("label=team=db") == {db.pk}
    assert ids("label=team") == {db.pk, web.pk}
    assert ids("severity=warning") == {web.pk}
    assert ids("flapping=true") == {web.pk}
    assert ids("suppressed=silence") == {silenced.pk}
    assert ids("suppressed=none") == {db.pk, web.pk}
    assert ids("status=resolved") == {silenced.pk}
    assert ids(f"integration={integration.pk}") == {db.pk, web.pk}
    assert ids(f"incident={incident.number}") == {db.pk}
    assert ids(f"q={db.summary[:10]}") >= {db.pk}
    bad = client.get(f"{BASE}alerts/?label==x")
    assert bad.status_code == 400 and bad.json()["error"]["message"]


def test_alert_detail_carries_the_raw_payload(api, users):
    integration, _key = make_integration()
    alert = posted_alert(integration, {"alertname": "DiskFull", "instance": "db-1:9100"},
                         {"summary": "Disk <b>full</b>"})
    body = api(users["viewer"]).get(f"{BASE}alerts/{alert.pk}/").json()
    assert body["labels"] == {"alertname": "DiskFull", "instance": "db-1:9100"}
    assert '"DiskFull"' in body["raw_payload"]["body"]
    assert body["raw_payload"]["kept_until"]
    listed = api(users["viewer"]).get(f"{BASE}alerts/").json()["results"][0]
    assert "raw_payload" not in listed


def test_alert_and_group_lists_make_the_same_queries_for_1_or_20_rows(api, users):
    client = api(users["viewer"])
    incident = IncidentFactory()
    make_alert(incident=incident)
    client.get(f"{BASE}alerts/")
    for url in (f"{BASE}alerts/", f"{BASE}groups/"):
        with CaptureQueriesContext(connection) as one:
            assert client.get(url).status_code == 200
        counts = len(one)
        assert counts == 3, [q["sql"] for q in one.captured_queries]  # token, count, page
    for _ in range(19):
        make_alert(incident=incident)
    for url in (f"{BASE}alerts/", f"{BASE}groups/"):
        with CaptureQueriesContext(connection) as many:
            response = client.get(url)
        assert response.status_code == 200 and response.json()["count"] == 20
        assert len(many) == 3, [q["sql"] for q in many.captured_queries]


def test_groups_filter_open_and_by_incident(api, users):
    incident = IncidentFactory()
    alert = make_alert(incident=incident)
    closed = make_alert()
    closed.group.is_open = False
    closed.group.save()
    client = api(users["viewer"])
    assert [g["id"] for g in client.get(f"{BASE}groups/?open=true").json()["results"]] == [alert.group_id]
    found = client.get(f"{BASE}groups/?incident={incident.number}").json()["results"]
    assert [g["incident"] for g in found] == [incident.number]


def test_history_of_a_silence_through_the_api(api, users):
    silence = SilenceFactory()
    history = api(users["viewer"]).get(f"{BASE}silences/{silence.pk}/history/").json()["results"]
    assert [h["action"] for h in history] == ["create"]
    assert history_for(silence).count() == 1
    assert Alert.objects.count() == 0
