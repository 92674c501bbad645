"""The risk part's API: risk (computed, answered), collisions, the collision check and freeze windows;
per-role access, bad input 400 with nothing written, 409 past assessment, pinned query counts."""

import datetime

import pytest
from django.utils import timezone

from opsdesk.changes import freezes
from opsdesk.changes.models import ChangeRequest, FreezeWindow
from tests.accounts.factories import UserFactory
from tests.changes.factories import FACTORY_ACTOR, make_change
from tests.cmdb.factories import CIFactory, relate
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db

BASE = "/api/v1/changes"


def risk_url(change):
    return f"{BASE}/changes/{change.pk}/risk/"


@pytest.fixture
def tier1_change(team):
    payments = ServiceFactory(name="Payments", tier=1)
    db = CIFactory(name="db-01")
    app = CIFactory(name="app-01", services=[payments])
    relate(app, "runs-on", db)
    return make_change(owner_team=team, cis=[db])


# --- risk ------------------------------------------------------------------------------------------------

def test_get_risk_computes_the_assessment_without_saving(api, users, tier1_change):
    response = api(users["viewer"]).get(risk_url(tier1_change))
    assert response.status_code == 200
    body = response.json()
    assert body["level"] == "high" and body["saved"] is False and body["change"] == tier1_change.number
    impact = next(f for f in body["factors"] if f["key"] == "cmdb_impact")
    assert "Payments" in impact["explanation"] and "Payments (tier 1)" in impact["paths"][0]
    tier1_change.refresh_from_db()
    assert tier1_change.risk_assessed_at is None


def test_post_risk_saves_answers_and_assessment(api, users, tier1_change):
    response = api(users["responder"]).post(risk_url(tier1_change), {"answers": {"tested": "no"}}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["saved"] is True and body["answers"] == {"tested": "no"} and body["assessed_at"]
    tier1_change.refresh_from_db()
    assert tier1_change.risk_answers == {"tested": "no"} and tier1_change.risk_level == "high"


def test_a_team_manager_answers_for_their_team(api, users, tier1_change):
    response = api(users["team_manager"]).post(risk_url(tier1_change), {"answers": {"tested": "yes"}},
                                               format="json")
    assert response.status_code == 200


def test_viewers_read_only_tokens_and_anonymous_cannot_answer(api, users, tier1_change):
    assert api(users["viewer"]).post(risk_url(tier1_change), {"answers": {"tested": "no"}},
                                     format="json").status_code == 403
    assert api(users["manager"], scope="read").post(risk_url(tier1_change), {"answers": {"tested": "no"}},
                                                    format="json").status_code == 403
    assert api().post(risk_url(tier1_change), {"answers": {"tested": "no"}}, format="json").status_code == 401
    assert api().get(risk_url(tier1_change)).status_code == 401
    tier1_change.refresh_from_db()
    assert tier1_change.risk_answers == {}


@pytest.mark.parametrize("payload, field", [
    ({"answers": {"nope": "yes"}}, "nope"),
    ({"answers": {"tested": "perhaps"}}, "tested"),
    ({"answers": "tested"}, "answers"),
    ({}, "answers"),
])
def test_bad_answers_answer_400_with_the_field_and_write_nothing(api, users, tier1_change, payload, field):
    response = api(users["responder"]).post(risk_url(tier1_change), payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    tier1_change.refresh_from_db()
    assert tier1_change.risk_answers == {} and tier1_change.risk_assessed_at is None


def test_answers_past_assessment_answer_409(api, users, tier1_change):
    ChangeRequest.objects.filter(pk=tier1_change.pk).update(status="scheduled")
    response = api(users["responder"]).post(risk_url(tier1_change), {"answers": {"tested": "no"}}, format="json")
    assert response.status_code == 409
    assert tier1_change.number in response.json()["error"]["message"]


def test_unknown_change_is_404(api, users):
    assert api(users["viewer"]).get(f"{BASE}/changes/999999/risk/").status_code == 404


# --- collisions ------------------------------------------------------------------------------------------

def test_collisions_of_a_change_vm_and_host(api, users, team):
    host, vm = CIFactory(name="esx-1"), CIFactory(name="vm-1")
    relate(vm, "hosted-on", host)
    other = make_change(owner_team=team, cis=[host])
    change = make_change(owner_team=team, cis=[vm])
    ChangeRequest.objects.filter(pk__in=[other.pk, change.pk]).update(status="submitted")
    response = api(users["viewer"]).get(f"{BASE}/changes/{change.pk}/collisions/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1 and body["collisions"][0]["kind"] == "related_ci"
    assert body["collisions"][0]["change_number"] == other.number
    assert api().get(f"{BASE}/changes/{change.pk}/collisions/").status_code == 401


def test_collision_check_for_a_proposed_window(api, users, team, django_assert_max_num_queries):
    db = CIFactory(name="db-7")
    alice = UserFactory(role="responder")
    existing = make_change(owner_team=team, cis=[db], implementer=alice)
    ChangeRequest.objects.filter(pk=existing.pk).update(status="scheduled")
    payload = {"cis": [db.pk], "implementer": alice.pk, "start": existing.planned_start.isoformat(),
               "end": (existing.planned_start + datetime.timedelta(minutes=30)).isoformat()}
    client = api(users["viewer"], scope="read")  # a read: read-only tokens (CI/CD) may ask
    with django_assert_max_num_queries(16):
        response = client.post(f"{BASE}/collision-check/", payload, format="json")
    assert response.status_code == 200, response.json()
    assert sorted(c["kind"] for c in response.json()["collisions"]) == ["ci", "implementer"]
    response = client.post(f"{BASE}/collision-check/", {**payload, "exclude": existing.pk}, format="json")
    assert response.json() == {"count": 0, "collisions": []}
    assert api().post(f"{BASE}/collision-check/", payload, format="json").status_code == 401


@pytest.mark.parametrize("change, field", [
    ({"end": "2030-01-01T00:00:00Z"}, "end"),
    ({"start": "not a date"}, "start"),
    ({"cis": [999999]}, "cis"),
])
def test_collision_check_bad_input_400(api, users, change, field):
    payload = {"start": "2030-01-02T00:00:00Z", "end": "2030-01-02T02:00:00Z", **change}
    response = api(users["viewer"]).post(f"{BASE}/collision-check/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


# --- freeze windows --------------------------------------------------------------------------------------

def make_freeze(name="Year-end", services=()):
    start = timezone.now().replace(microsecond=0) + datetime.timedelta(days=3)
    return freezes.create_freeze_window(actor=FACTORY_ACTOR, data={
        "name": name, "starts_at": start, "ends_at": start + datetime.timedelta(days=2), "services": list(services)})


def test_freeze_list_and_detail_in_bounded_queries(api, users, django_assert_max_num_queries):
    make_freeze(services=[ServiceFactory()])
    client = api(users["viewer"])
    with django_assert_max_num_queries(10) as one:
        response = client.get(f"{BASE}/freeze-windows/")
    assert response.status_code == 200 and response.json()["count"] == 1
    for i in range(8):
        make_freeze(f"F{i}", services=[ServiceFactory(), ServiceFactory()])
    with django_assert_max_num_queries(len(one.captured_queries)):
        response = client.get(f"{BASE}/freeze-windows/")
    assert response.json()["count"] == 9
    first = response.json()["results"][0]
    assert client.get(f"{BASE}/freeze-windows/{first['id']}/").json()["name"] == first["name"]


def test_a_manager_creates_updates_and_cancels_a_freeze(api, users):
    erp = ServiceFactory()
    client = api(users["manager"])
    response = client.post(f"{BASE}/freeze-windows/", {
        "name": "Quarter close", "starts_at": "2030-03-28T18:00:00Z", "ends_at": "2030-04-02T08:00:00Z",
        "services": [erp.pk]}, format="json")
    assert response.status_code == 201, response.json()
    pk = response.json()["id"]
    response = client.patch(f"{BASE}/freeze-windows/{pk}/", {"reason": "Books close."}, format="json")
    assert response.status_code == 200 and response.json()["reason"] == "Books close."
    response = client.post(f"{BASE}/freeze-windows/{pk}/cancel/")
    assert response.status_code == 200 and response.json()["active"] is False
    assert client.post(f"{BASE}/freeze-windows/{pk}/cancel/").status_code == 409
    assert client.patch(f"{BASE}/freeze-windows/{pk}/", {"reason": "x"}, format="json").status_code == 409


@pytest.mark.parametrize("role", ["viewer", "responder", "team_manager"])
def test_only_managers_write_freezes(api, users, role):
    window = make_freeze()
    client = api(users[role])
    assert client.get(f"{BASE}/freeze-windows/").status_code == 200
    payload = {"name": "X", "starts_at": "2030-01-01T00:00:00Z", "ends_at": "2030-01-02T00:00:00Z"}
    assert client.post(f"{BASE}/freeze-windows/", payload, format="json").status_code == 403
    assert client.patch(f"{BASE}/freeze-windows/{window.pk}/", {"name": "Y"}, format="json").status_code == 403
    assert client.post(f"{BASE}/freeze-windows/{window.pk}/cancel/").status_code == 403
    window.refresh_from_db()
    assert window.name == "Year-end" and window.active and FreezeWindow.objects.count() == 1


def test_anonymous_cannot_list_freezes(api):
    assert api().get(f"{BASE}/freeze-windows/").status_code == 401


def test_a_backwards_freeze_is_400_and_nothing_is_written(api, users):
    response = api(users["manager"]).post(f"{BASE}/freeze-windows/", {
        "name": "Backwards", "starts_at": "2030-01-02T00:00:00Z", "ends_at": "2030-01-01T00:00:00Z"}, format="json")
    assert response.status_code == 400
    assert "ends_at" in response.json()["error"]["fields"]
    assert not FreezeWindow.objects.exists()
