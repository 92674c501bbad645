"""The releases API contract: CRUD and transitions, recording deployments (201; 409 gate_denied with the
reasons and nothing written; idempotent external ids), the gate check for CI/CD, rollback, the deployment
history and environments; permissions per role, team and token scope; bad input 400; query counts."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from opsdesk.accounts.services import set_membership
from opsdesk.core.actors import Actor
from opsdesk.core.models import AuditEntry, OutboxEvent
from opsdesk.releases.models import DeployedVersion, Deployment, Environment, Release
from tests.accounts.factories import UserFactory
from tests.releases.factories import approved_change, deploy, make_release, manual_settings
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db
ENDPOINT = "/api/v1/releases/releases/"
ACTOR = Actor.system("test")


@pytest.fixture(autouse=True)
def _setup():
    manual_settings(auto_create_change=False)
    Environment.objects.filter(slug__in=["development", "staging"]).update(active=False)


@pytest.fixture
def team_responder(team):
    user = UserFactory(username="team_responder", role="viewer")
    set_membership(team, user, actor=ACTOR, role="responder")
    return user


def _snapshot():
    return Deployment.objects.count(), DeployedVersion.objects.count(), AuditEntry.objects.count(), \
        OutboxEvent.objects.count()


# --- acceptance 4 ---------------------------------------------------------------------------------------

def test_production_deployment_denied_then_allowed(api, team, team_responder):
    service = ServiceFactory()
    release = make_release(owner_team=team, version="2.4.0", services=[service])
    client = api(team_responder)
    url = f"{ENDPOINT}{release.pk}/deployments/"

    before = _snapshot()
    response = client.post(url, {"environment": "production", "pipeline_url": "https://ci.example.com/r/1"},
                           format="json")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "gate_denied"
    assert f"{release.number} 2.4.0 has not succeeded in Test yet." in error["reasons"]
    assert len(error["reasons"]) == 2  # and no change is linked
    assert _snapshot() == before

    gate = client.get(f"{ENDPOINT}{release.pk}/gate/", {"environment": "production"}).json()
    assert gate["allowed"] is False and gate["reasons"] == error["reasons"]

    response = client.post(url, {"environment": "test", "external_id": "t-1"}, format="json")
    assert response.status_code == 201, response.json()
    approved_change(release)
    assert client.get(f"{ENDPOINT}{release.pk}/gate/", {"environment": "production"}).json() == {
        "allowed": True, "environment": "production", "reasons": []}

    response = client.post(url, {"environment": "production", "external_id": "p-1", "result": "succeeded",
                                 "pipeline_url": "https://ci.example.com/r/2"}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["environment"] == "production" and body["version"] == "2.4.0" and body["result"] == "succeeded"
    assert body["change"] == release.production_change.number
    assert DeployedVersion.objects.get(environment__slug="production", service=service).version == "2.4.0"
    release.refresh_from_db()
    assert release.status == "deployed"

    again = client.post(url, {"environment": "production", "external_id": "p-1", "result": "succeeded"},
                        format="json")
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    assert Deployment.objects.filter(release=release, environment__slug="production").count() == 1


def test_rollback_api(api, team, team_responder):
    service = ServiceFactory()
    old = make_release(owner_team=team, version="1.0", services=[service])
    release = make_release(owner_team=team, version="1.1", services=[service])
    deploy(old, "test")
    deploy(release, "test")
    client = api(team_responder)
    url = f"{ENDPOINT}{release.pk}/rollback/"
    assert client.post(url, {"environment": "test"}, format="json").status_code == 400
    response = client.post(url, {"environment": "test", "reason": "broken"}, format="json")
    assert response.status_code == 201
    assert response.json()["version"] == "1.0" and response.json()["is_rollback"] is True
    assert DeployedVersion.objects.get(environment__slug="test", service=service).version == "1.0"
    assert client.post(url, {"environment": "test", "reason": "again"}, format="json").status_code == 409


# --- bad input ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("payload,field", [
    ({"environment": "moon"}, "environment"),
    ({"environment": "test", "pipeline_url": "not a url"}, "pipeline_url"),
    ({"environment": "test", "result": "maybe"}, "result"),
    ({}, "environment"),
])
def test_bad_deployment_input_400(api, team, team_responder, payload, field):
    release = make_release(owner_team=team)
    client = api(team_responder)
    before = _snapshot()
    response = client.post(f"{ENDPOINT}{release.pk}/deployments/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert _snapshot() == before


def test_gate_needs_a_known_environment(api, users):
    release = make_release()
    client = api(users["viewer"])
    assert client.get(f"{ENDPOINT}{release.pk}/gate/", {"environment": "moon"}).status_code == 400
    assert client.get(f"{ENDPOINT}{release.pk}/gate/").status_code == 400


@pytest.mark.parametrize("payload,field", [
    ({"work_items": [{"title": "no key"}]}, "work_items"),
    ({"work_items": [{"key": "A-1", "url": "ftp://x"}]}, "work_items"),
    ({"work_items": "OPS-1"}, "work_items"),
    ({"planned_dates": {"moon": "2026-12-01"}}, "planned_dates"),
    ({"planned_dates": {"test": "soon"}}, "planned_dates"),
    ({"rollback_steps": [{"who": "SRE"}]}, "rollback_steps"),
])
def test_bad_release_input_400(api, team, users, payload, field):
    body = {"title": "Checkout", "version": "1.0", "owner_team": team.slug, **payload}
    response = api(users["responder"]).post(ENDPOINT, body, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["fields"]
    assert not Release.objects.exists()


def test_create_edit_and_transition(api, team, users):
    service = ServiceFactory()
    client = api(users["responder"])
    response = client.post(ENDPOINT, {
        "title": "Checkout", "version": "2.0", "owner_team": team.slug, "services": [service.slug],
        "work_items": [{"key": "OPS-1", "title": "Basket", "url": "https://git.example.com/1"}],
        "planned_dates": {"test": "2026-12-01"},
        "rollback_steps": [{"who": "SRE", "action": "Redeploy 1.9", "minutes": 5}]}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["number"].startswith("REL-") and body["status"] == "planned"
    assert body["planned_dates"] == {"test": "2026-12-01"} and body["services"] == [service.slug]
    url = f"{ENDPOINT}{body['id']}/"
    assert client.patch(url, {"notes": "# Notes"}, format="json").status_code == 200
    assert client.patch(url, {"status": "deployed"}, format="json").status_code == 400
    assert client.post(f"{url}start-build/").json()["status"] == "building"
    assert client.post(f"{url}close/").status_code == 409
    assert client.post(f"{url}mark-deployed/").status_code == 404  # internal transitions are not offered


def test_approve_for_production_answers_gate_denied(api, team, users):
    release = make_release(owner_team=team)
    deploy(release, "test")
    response = api(users["manager"]).post(f"{ENDPOINT}{release.pk}/approve-for-production/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "gate_denied"
    assert any("No change is linked" in r for r in response.json()["error"]["reasons"])


def test_production_change_action(api, team, team_responder):
    release = make_release(owner_team=team)
    response = api(team_responder).post(f"{ENDPOINT}{release.pk}/production-change/")
    assert response.status_code == 200
    assert response.json()["production_change"].startswith("CHG-")


# --- permissions ----------------------------------------------------------------------------------------

def test_permissions_to_record_deployments(api, team, users, team_responder):
    release = make_release(owner_team=team)
    url = f"{ENDPOINT}{release.pk}/deployments/"
    payload = {"environment": "test"}
    other_team_responder = UserFactory(username="other", role="viewer")
    set_membership(make_release().owner_team, other_team_responder, actor=ACTOR, role="responder")
    assert api().post(url, payload, format="json").status_code == 401
    assert api(users["viewer"]).post(url, payload, format="json").status_code == 403
    assert api(other_team_responder).post(url, payload, format="json").status_code == 403
    assert api(team_responder, scope="read").post(url, payload, format="json").status_code == 403
    assert api(users["viewer"]).post(f"{ENDPOINT}{release.pk}/rollback/", {"environment": "test", "reason": "x"},
                                     format="json").status_code == 403
    assert not Deployment.objects.exists()
    # A read token (CI/CD asking) may read the gate.
    assert api(team_responder, scope="read").get(f"{ENDPOINT}{release.pk}/gate/",
                                                 {"environment": "test"}).status_code == 200
    assert api(team_responder).post(url, payload, format="json").status_code == 201
    assert api(users["responder"]).post(url, {"environment": "test", "external_id": "x"},
                                        format="json").status_code == 201


def test_viewer_cannot_create_or_transition(api, team, users):
    release = make_release(owner_team=team)
    client = api(users["viewer"])
    assert client.post(ENDPOINT, {"title": "x", "version": "1", "owner_team": team.slug},
                       format="json").status_code == 403
    assert client.post(f"{ENDPOINT}{release.pk}/start-build/").status_code == 403
    assert client.get(f"{ENDPOINT}{release.pk}/").status_code == 200


# --- lists and their query counts ----------------------------------------------------------------------

def _count(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries), response.json()


def test_list_endpoints_make_the_same_queries_for_one_or_many(api, users):
    client = api(users["viewer"])
    service = ServiceFactory()
    first = make_release(services=[service])
    deploy(first, "test")
    client.get(ENDPOINT)  # the token's first use is recorded once
    counts_one = [_count(client, url)[0] for url in (ENDPOINT, "/api/v1/releases/deployments/",
                                                    "/api/v1/releases/environments/")]
    for n in range(5):
        release = make_release(services=[ServiceFactory()], version=f"3.{n}")
        deploy(release, "test", external_id=f"run-{n}", pipeline_url="https://ci.example.com/x")
        approved_change(release)
    counts_many = [_count(client, url)[0] for url in (ENDPOINT, "/api/v1/releases/deployments/",
                                                     "/api/v1/releases/environments/")]
    assert counts_many == counts_one


def test_deployment_filters_and_environment_versions(api, users):
    client = api(users["viewer"])
    service = ServiceFactory()
    release = make_release(services=[service], version="9.9")
    deploy(release, "test")
    other = make_release()
    deploy(other, "test", result="failed")
    _n, body = _count(client, f"/api/v1/releases/deployments/?release={release.number}")
    assert [d["release"] for d in body["results"]] == [release.number]
    _n, body = _count(client, "/api/v1/releases/deployments/?result=failed&environment=test")
    assert [d["release"] for d in body["results"]] == [other.number]
    _n, body = _count(client, f"/api/v1/releases/deployments/?service={service.slug}")
    assert len(body["results"]) == 1
    _n, body = _count(client, "/api/v1/releases/environments/")
    test_env = next(e for e in body["results"] if e["slug"] == "test")
    assert test_env["versions"] == [{"service": service.slug, "ci": None, "version": "9.9", "release": release.number,
                                     "deployment": release.deployments.get().pk,
                                     "deployed_at": test_env["versions"][0]["deployed_at"]}]
    assert api(users["viewer"]).post("/api/v1/releases/environments/", {}).status_code in (403, 405)
