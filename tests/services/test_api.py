import pytest

from opsdesk.core.audit import history_for
from opsdesk.core.testing import APIRecordTests, TeamScopedAPITests, WorkflowAPITests
from opsdesk.services.models import Service
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db


class TestServiceAPI(APIRecordTests, TeamScopedAPITests, WorkflowAPITests):
    endpoint = "/api/v1/services/"
    factory = ServiceFactory
    team_field = "owner_team"
    transition = ("activate", {})
    list_queries = 6  # auth token, token user memberships, count, page, depends_on, tags

    def create_payload(self, team):
        import uuid

        key = uuid.uuid4().hex[:8]
        return {"name": f"Checkout {key}", "slug": f"checkout-{key}", "owner_team": team.slug, "tier": 1,
                "criticality": "critical", "support_hours": {"mon": [["09:00", "17:00"]]},
                "support_time_zone": "Europe/Berlin", "tags": ["payments"]}

    def update_payload(self):
        return {"tier": 2, "description": "Now with 3-D Secure"}


def test_retire_needs_a_reason_and_records_it(api, users, team):
    service = ServiceFactory(owner_team=team, status="active")
    client = api(users["manager"])
    missing = client.post(f"/api/v1/services/{service.pk}/retire/", {}, format="json")
    assert missing.status_code == 400
    assert "reason" in missing.json()["error"]["fields"]
    service.refresh_from_db()
    assert service.status == "active"
    done = client.post(f"/api/v1/services/{service.pk}/retire/", {"reason": "Replaced by v2"}, format="json")
    assert done.status_code == 200
    assert done.json()["status"] == "retired"
    entry = history_for(service).first()
    assert entry.action == "retire"
    assert entry.changes["status"] == ["active", "retired"]
    assert entry.changes["status_reason"] == ["", "Replaced by v2"]


def test_retire_refused_while_active_services_depend_on_it(api, users, team):
    base = ServiceFactory(owner_team=team, status="active", name="Database")
    ServiceFactory(owner_team=team, status="active", name="Shop", depends_on=[base])
    response = api(users["manager"]).post(f"/api/v1/services/{base.pk}/retire/", {"reason": "old"}, format="json")
    assert response.status_code == 409
    assert "Shop" in response.json()["error"]["message"]
    base.refresh_from_db()
    assert base.status == "active"


def test_reinstate_is_for_admins_only(api, users, team):
    service = ServiceFactory(owner_team=team, status="retired")
    url = f"/api/v1/services/{service.pk}/reinstate/"
    assert api(users["manager"]).post(url, {"reason": "back"}, format="json").status_code == 403
    assert api(users["admin"]).post(url, {"reason": "back"}, format="json").status_code == 200


def test_retired_service_is_read_only(api, users, team):
    service = ServiceFactory(owner_team=team, status="retired")
    response = api(users["admin"]).patch(f"/api/v1/services/{service.pk}/", {"tier": 1}, format="json")
    assert response.status_code == 409
    service.refresh_from_db()
    assert service.tier == 3


def test_filters_search_and_ordering(api, users, team, other_team):
    ServiceFactory(owner_team=team, name="Alpha Payments", tier=1, status="active")
    ServiceFactory(owner_team=other_team, name="Beta Mail", tier=3)
    client = api(users["viewer"])
    by_tier = client.get("/api/v1/services/", {"tier": 1}).json()
    assert [s["name"] for s in by_tier["results"]] == ["Alpha Payments"]
    by_q = client.get("/api/v1/services/", {"q": "mail"}).json()
    assert [s["name"] for s in by_q["results"]] == ["Beta Mail"]
    by_team = client.get("/api/v1/services/", {"owner_team": other_team.slug}).json()
    assert by_team["count"] == 1
    ordered = client.get("/api/v1/services/", {"ordering": "-name"}).json()
    assert [s["name"] for s in ordered["results"]] == ["Beta Mail", "Alpha Payments"]
    bad = client.get("/api/v1/services/", {"status": "bogus"})
    assert bad.status_code == 400


def test_invalid_support_hours_and_time_zone_are_refused(api, users, team):
    client = api(users["manager"])
    payload = {"name": "X", "slug": "x", "owner_team": team.slug, "support_hours": {"funday": [["09:00", "17:00"]]}}
    response = client.post("/api/v1/services/", payload, format="json")
    assert response.status_code == 400
    assert "support_hours" in response.json()["error"]["fields"]
    payload = {"name": "X", "slug": "x", "owner_team": team.slug, "support_time_zone": "Mars/Olympus"}
    response = client.post("/api/v1/services/", payload, format="json")
    assert response.status_code == 400
    assert "support_time_zone" in response.json()["error"]["fields"]
    assert not Service.objects.filter(slug="x").exists()


def test_duplicate_name_is_400_and_numbers_are_never_reused(api, users, team):
    client = api(users["manager"])
    first = client.post("/api/v1/services/", {"name": "Shop", "slug": "shop", "owner_team": team.slug},
                        format="json")
    assert first.status_code == 201
    dup = client.post("/api/v1/services/", {"name": "Shop", "slug": "shop2", "owner_team": team.slug},
                      format="json")
    assert dup.status_code == 400
    assert "name" in dup.json()["error"]["fields"]
    second = client.post("/api/v1/services/", {"name": "Shop 2", "slug": "shop-2", "owner_team": team.slug},
                         format="json")
    first_n = int(first.json()["number"].split("-")[1])
    second_n = int(second.json()["number"].split("-")[1])
    assert second_n > first_n


def test_delete_is_not_offered(api, users, team):
    service = ServiceFactory(owner_team=team)
    assert api(users["admin"]).delete(f"/api/v1/services/{service.pk}/").status_code == 405


def test_comments_on_a_service(api, users, team):
    service = ServiceFactory(owner_team=team)
    url = f"/api/v1/services/{service.pk}/comments/"
    assert api(users["viewer"]).post(url, {"body": "hi"}, format="json").status_code == 403
    created = api(users["responder"]).post(url, {"body": "Failover **tested** <script>x</script>"}, format="json")
    assert created.status_code == 201
    assert "<strong>tested</strong>" in created.json()["body_html"]
    assert "<script>" not in created.json()["body_html"]
    assert api(users["viewer"]).get(url).json()["count"] == 1
