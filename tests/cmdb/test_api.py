import datetime
import uuid

import pytest
from django.utils import timezone

from opsdesk.cmdb.models import AttributeDefinition, CIClass, ConfigurationItem, Relationship
from opsdesk.core.audit import history_for
from opsdesk.core.testing import APIRecordTests, TeamScopedAPITests, WorkflowAPITests
from tests.cmdb.factories import CIClassFactory, CIFactory, cls, relate
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db


class TestCIAPI(APIRecordTests, TeamScopedAPITests, WorkflowAPITests):
    endpoint = "/api/v1/cmdb/cis/"
    factory = CIFactory
    team_field = "owner_team"
    transition = ("deploy", {})
    list_queries = 6  # auth token, token user memberships, count, page, services, tags

    def create_payload(self, team):
        return {"name": f"web-{uuid.uuid4().hex[:6]}", "ci_class": "server", "owner_team": team.slug,
                "environment": "production", "ip_addresses": ["10.1.0.5"], "hostnames": ["web.example.net"],
                "attributes": {"cpu_count": 8, "os": "Debian"}, "tags": ["web"]}

    def update_payload(self):
        return {"location": "DC2 rack 4", "vendor": "Dell"}


class TestCIClassAPI(APIRecordTests):
    endpoint = "/api/v1/cmdb/classes/"
    create_status = {"viewer": 403, "responder": 403, "manager": 403, "admin": 201}
    update_status = {"viewer": 403, "responder": 403, "manager": 403, "admin": 200}
    writer_role = "admin"
    list_queries = 4  # auth token, count, page, attributes
    factory = CIClassFactory

    def create_payload(self, team):
        key = uuid.uuid4().hex[:6]
        return {"slug": f"ups-{key}", "name": f"UPS {key}", "attributes": [
            {"key": "capacity_va", "label": "Capacity (VA)", "type": "integer", "required": True}]}

    def update_payload(self):
        return {"description": "Uninterruptible power supplies"}


def test_acceptance_typed_class_and_wrong_type_is_400_naming_the_field(api, users, team):
    """Acceptance 1: define a class with typed attributes; a CI with a wrong attribute type gets 400
    naming the field, and nothing is stored."""
    admin = api(users["admin"])
    created = admin.post("/api/v1/cmdb/classes/", {
        "slug": "ups", "name": "UPS", "is_asset": True, "attributes": [
            {"key": "capacity_va", "label": "Capacity (VA)", "type": "integer", "required": True},
            {"key": "battery_changed", "label": "Battery changed", "type": "date"},
            {"key": "phase", "label": "Phase", "type": "choice", "choices": ["single", "three"]},
            {"key": "management_ip", "label": "Management IP", "type": "ip"},
            {"key": "hot_swap", "label": "Hot swap", "type": "boolean"},
            {"key": "runtime_min", "label": "Runtime", "type": "decimal"},
            {"key": "feeds", "label": "Feeds", "type": "reference"},
            {"key": "room", "label": "Room", "type": "string"}]}, format="json")
    assert created.status_code == 201, created.json()
    assert [a["key"] for a in created.json()["attributes"]][:2] == ["battery_changed", "capacity_va"] or \
        len(created.json()["attributes"]) == 8
    cis_before = ConfigurationItem.objects.count()
    log_before = len(list(history_for(CIClass.objects.get(slug="ups"))))
    manager = api(users["manager"])
    bad = manager.post("/api/v1/cmdb/cis/", {"name": "ups-01", "ci_class": "ups", "owner_team": team.slug,
                                             "attributes": {"capacity_va": "lots", "phase": "two"}}, format="json")
    assert bad.status_code == 400
    fields = bad.json()["error"]["fields"]
    assert "attributes.capacity_va" in fields and "whole number" in fields["attributes.capacity_va"]
    assert "attributes.phase" in fields
    assert ConfigurationItem.objects.count() == cis_before
    assert len(list(history_for(CIClass.objects.get(slug="ups")))) == log_before
    missing = manager.post("/api/v1/cmdb/cis/", {"name": "ups-01", "ci_class": "ups", "owner_team": team.slug},
                           format="json")
    assert missing.status_code == 400 and "attributes.capacity_va" in missing.json()["error"]["fields"]
    unknown = manager.post("/api/v1/cmdb/cis/", {"name": "ups-01", "ci_class": "ups", "owner_team": team.slug,
                                                 "attributes": {"capacity_va": 3000, "colour": "red"}}, format="json")
    assert unknown.status_code == 400 and "attributes.colour" in unknown.json()["error"]["fields"]
    good = manager.post("/api/v1/cmdb/cis/", {
        "name": "ups-01", "ci_class": "ups", "owner_team": team.slug,
        "attributes": {"capacity_va": "3000", "phase": "three", "battery_changed": "2026-01-15",
                       "management_ip": "10.9.0.1", "hot_swap": "yes", "runtime_min": "12.5"}}, format="json")
    assert good.status_code == 201, good.json()
    assert good.json()["attributes"] == {"battery_changed": "2026-01-15", "capacity_va": 3000, "hot_swap": True,
                                         "management_ip": "10.9.0.1", "phase": "three", "runtime_min": 12.5}


def test_class_with_a_bad_attribute_definition_stores_nothing(api, users):
    response = api(users["admin"]).post("/api/v1/cmdb/classes/", {
        "slug": "pdu", "name": "PDU", "attributes": [
            {"key": "outlets", "label": "Outlets", "type": "integer"},
            {"key": "kind", "label": "Kind", "type": "choice", "choices": []}]}, format="json")
    assert response.status_code == 400
    assert any(key.startswith("attributes.kind") for key in response.json()["error"]["fields"])
    assert not CIClass.objects.filter(slug="pdu").exists()
    assert not AttributeDefinition.objects.filter(key="outlets").exists()


def test_attribute_updates_merge_and_null_removes(api, users, team):
    ci = CIFactory(owner_team=team, attributes={"os": "Debian", "cpu_count": 4})
    client = api(users["manager"])
    response = client.patch(f"/api/v1/cmdb/cis/{ci.pk}/", {"attributes": {"cpu_count": 8, "os": None}},
                            format="json")
    assert response.status_code == 200
    assert response.json()["attributes"] == {"cpu_count": 8}


def test_filters_on_fields_and_class_attributes(api, users, team):
    a = CIFactory(name="db-a", owner_team=team, attributes={"cpu_count": 4, "memory_gb": 16, "os": "Debian 12"},
                  ip_addresses=["10.0.0.1"], location="DC1")
    b = CIFactory(name="db-b", attributes={"cpu_count": 16, "memory_gb": 128.5, "os": "RHEL 9"},
                  ip_addresses=["10.0.0.10"], location="DC2")
    CIFactory(name="lb", ci_class=cls("load-balancer"), attributes={"algorithm": "ip-hash"})
    client = api(users["viewer"])

    def names(query):
        response = client.get("/api/v1/cmdb/cis/", query)
        assert response.status_code == 200, response.json()
        return sorted(r["name"] for r in response.json()["results"])

    assert names({"attr.cpu_count": "4"}) == ["db-a"]
    assert names({"attr.memory_gb__gte": "100"}) == ["db-b"]
    assert names({"attr.os__icontains": "debian"}) == ["db-a"]
    assert names({"attr.cpu_count__in": "4,16"}) == ["db-a", "db-b"]
    assert names({"attr.algorithm": "ip-hash"}) == ["lb"]
    assert names({"ip": "10.0.0.1"}) == ["db-a"]  # not 10.0.0.10
    assert names({"ci_class": "server", "location": "dc2"}) == ["db-b"]
    assert names({"no_owner": "true", "ci_class": "server"}) == ["db-b"]
    assert names({"owner_team": team.slug}) == ["db-a"]
    bad_type = client.get("/api/v1/cmdb/cis/", {"attr.cpu_count": "many"})
    assert bad_type.status_code == 400 and "attr.cpu_count" in bad_type.json()["error"]["fields"]
    unknown = client.get("/api/v1/cmdb/cis/", {"attr.nope": "1"})
    assert unknown.status_code == 400
    bad_op = client.get("/api/v1/cmdb/cis/", {"attr.cpu_count__regex": ".*"})
    assert bad_op.status_code == 400
    assert a.pk and b.pk


def test_dispose_needs_the_disposal_record_and_then_is_read_only(api, users, team):
    ci = CIFactory(owner_team=team, status="retired")
    client = api(users["manager"])
    missing = client.post(f"/api/v1/cmdb/cis/{ci.pk}/dispose/", {"disposal_method": "recycled"}, format="json")
    assert missing.status_code == 400
    assert {"disposal_reference", "approved_by"} <= set(missing.json()["error"]["fields"])
    not_manager = client.post(f"/api/v1/cmdb/cis/{ci.pk}/dispose/", {
        "disposal_method": "recycled", "disposal_reference": "WEEE-77", "approved_by": "viewer"}, format="json")
    assert not_manager.status_code == 400 and "approved_by" in not_manager.json()["error"]["fields"]
    done = client.post(f"/api/v1/cmdb/cis/{ci.pk}/dispose/", {
        "disposal_method": "recycled", "disposal_reference": "WEEE-77", "approved_by": "admin",
        "disposed_on": "2026-11-20"}, format="json")
    assert done.status_code == 200, done.json()
    body = done.json()
    assert (body["status"], body["disposal_method"], body["disposal_reference"], body["disposal_approved_by"],
            body["disposed_on"]) == ("disposed", "recycled", "WEEE-77", "admin", "2026-11-20")
    edit = client.patch(f"/api/v1/cmdb/cis/{ci.pk}/", {"location": "skip"}, format="json")
    assert edit.status_code == 409 and "read-only" in edit.json()["error"]["message"]
    history = client.get(f"/api/v1/cmdb/cis/{ci.pk}/history/").json()["results"]
    assert [h["action"] for h in history][:3] == ["dispose", "retire", "deploy"]


def test_relationships_api_per_role_and_end(api, users, team, other_team):
    app = CIFactory(owner_team=team, ci_class=cls("application"))
    host = CIFactory(owner_team=other_team)
    payload = {"source": app.pk, "type": "runs-on", "target": host.pk}
    assert api(users["viewer"]).post("/api/v1/cmdb/relationships/", payload, format="json").status_code == 403
    assert api(users["responder"]).post("/api/v1/cmdb/relationships/", payload, format="json").status_code == 403
    created = api(users["team_manager"]).post("/api/v1/cmdb/relationships/", payload, format="json")
    assert created.status_code == 201, created.json()
    duplicate = api(users["manager"]).post("/api/v1/cmdb/relationships/", payload, format="json")
    assert duplicate.status_code == 400
    reverse = {"source": host.pk, "type": "depends-on", "target": app.pk}
    assert api(users["team_manager"]).post("/api/v1/cmdb/relationships/", reverse, format="json").status_code == 403
    assert api(users["manager"], scope="read").post("/api/v1/cmdb/relationships/", reverse,
                                                    format="json").status_code == 403
    rel_id = created.json()["id"]
    listed = api(users["viewer"]).get("/api/v1/cmdb/relationships/", {"ci": host.pk}).json()["results"]
    assert [r["id"] for r in listed] == [rel_id]
    ended = api(users["team_manager"]).post(f"/api/v1/cmdb/relationships/{rel_id}/end/")
    assert ended.status_code == 200 and ended.json()["ended_at"]
    again = api(users["team_manager"]).post(f"/api/v1/cmdb/relationships/{rel_id}/end/")
    assert again.status_code == 409
    assert Relationship.objects.get(pk=rel_id).ended_at is not None
    to_service = api(users["manager"]).post("/api/v1/cmdb/relationships/", {
        "source": app.pk, "type": "depends-on", "target_service": ServiceFactory(status="active").slug},
        format="json")
    assert to_service.status_code == 201
    neither = api(users["manager"]).post("/api/v1/cmdb/relationships/", {"source": app.pk, "type": "runs-on"},
                                         format="json")
    assert neither.status_code == 400


def test_as_of_returns_past_attributes_and_relationships(api, users, team):
    ci = CIFactory(owner_team=team, attributes={"os": "Debian 11"}, location="DC1")
    db = CIFactory(ci_class=cls("database"), name="db", attributes={"engine": "postgresql"})
    past = timezone.now()
    rel = relate(ci, "depends-on", db)
    client = api(users["manager"])
    client.patch(f"/api/v1/cmdb/cis/{ci.pk}/", {"location": "DC2", "attributes": {"os": "Debian 12"}},
                 format="json")
    then = client.get(f"/api/v1/cmdb/cis/{ci.pk}/as-of/", {"at": past.isoformat()})
    assert then.status_code == 200
    body = then.json()
    assert body["fields"]["location"] == "DC1" and body["fields"]["attributes"] == {"os": "Debian 11"}
    assert body["relationships"] == []
    now = client.get(f"/api/v1/cmdb/cis/{ci.pk}/as-of/", {"at": timezone.now().isoformat()}).json()
    assert now["fields"]["location"] == "DC2" and [r["other"] for r in now["relationships"]] == [str(db)]
    assert rel.pk
    before_creation = client.get(f"/api/v1/cmdb/cis/{ci.pk}/as-of/",
                                 {"at": (past - datetime.timedelta(days=3)).date().isoformat()})
    assert before_creation.status_code == 404
    assert client.get(f"/api/v1/cmdb/cis/{ci.pk}/as-of/", {"at": "yesterday"}).status_code == 400
