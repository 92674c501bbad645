"""The schedules API: CRUD per role (team-scoped), layers, overrides, swaps and their actions, who is on
call (one schedule at an instant, every schedule now), shifts and gaps, my shifts; errors; query counts."""

import datetime as dt
import uuid

import pytest
import time_machine

from opsdesk.core.testing import ROLES, APIRecordTests, TeamScopedAPITests
from opsdesk.oncall.models import Layer, Override, Schedule, ShiftSwap
from tests.accounts.factories import UserFactory
from tests.oncall.factories import LayerFactory, OverrideFactory, ScheduleFactory

UTC = dt.UTC
NOW = dt.datetime(2026, 2, 2, 8, 0, tzinfo=UTC)  # Monday
MONDAY = dt.datetime(2026, 2, 2, 9, 0, tzinfo=UTC)
BASE = "/api/v1/oncall/"


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


class TestScheduleAPI(APIRecordTests, TeamScopedAPITests):
    endpoint = f"{BASE}schedules/"
    factory = ScheduleFactory
    team_field = "team"
    list_queries = 6  # token, memberships (team-scoped type), count, page, layers, people

    def create_payload(self, team):
        key = uuid.uuid4().hex[:6]
        return {"name": f"Schedule {key}", "slug": f"s-{key}", "team": team.slug, "time_zone": "Europe/Berlin"}

    def update_payload(self):
        return {"description": "Nights and weekends"}

    def make(self, team=None, **kwargs):
        schedule = super().make(team, **kwargs)
        LayerFactory(schedule=schedule)
        return schedule


def test_schedule_shows_layers_with_usernames_and_the_ical_address(api, users):
    schedule = ScheduleFactory(slug="nights")
    LayerFactory(schedule=schedule, users=[users["responder"], users["manager"]], name="Weekly")
    body = api(users["viewer"]).get(f"{BASE}schedules/{schedule.pk}/").json()
    assert body["layers"][0]["users"] == ["responder", "manager"]
    assert body["ical_url"].endswith(f"/oncall/schedules/nights/ical/{schedule.ical_token}.ics")


def test_bad_time_zone_is_400_and_writes_nothing(api, users):
    response = api(users["manager"]).post(f"{BASE}schedules/", {"name": "X", "time_zone": "Nowhere/City"},
                                          format="json")
    assert response.status_code == 400
    assert "time_zone" in response.json()["error"]["fields"]
    assert not Schedule.objects.exists()


def test_delete_schedule_per_role(api, users):
    for role, expected in (("viewer", 403), ("responder", 403), ("manager", 204)):
        schedule = ScheduleFactory()
        assert api(users[role]).delete(f"{BASE}schedules/{schedule.pk}/").status_code == expected, role


# --- layers --------------------------------------------------------------------------------------------------

def test_layer_create_per_role_and_validation(api, users, team):
    schedule = ScheduleFactory(team=team)
    payload = {"schedule": schedule.pk, "name": "Primary", "users": ["responder", "manager"],
               "rotation_start": "2026-02-02T09:00:00+01:00", "turn_unit": "days", "turn_count": 1,
               "restrictions": {"kind": "daily", "ranges": [{"start": "22:00", "end": "06:00"}]}}
    expected = {"viewer": 403, "responder": 403, "manager": 201, "admin": 201, "team_manager": 201}
    for role, status in expected.items():
        response = api(users[role]).post(f"{BASE}layers/", payload, format="json")
        assert response.status_code == status, (role, response.content)
    assert response.json()["users"] == ["responder", "manager"]
    bad = api(users["manager"]).post(f"{BASE}layers/", {**payload, "users": ["nobody-here"], "turn_count": 0},
                                     format="json")
    assert bad.status_code == 400
    assert set(bad.json()["error"]["fields"]) >= {"users"}
    bad_range = api(users["manager"]).post(f"{BASE}layers/", {
        **payload, "restrictions": {"kind": "daily", "ranges": [{"start": "25:00", "end": "06:00"}]}}, format="json")
    assert bad_range.status_code == 400 and "restrictions" in bad_range.json()["error"]["fields"]
    assert Layer.objects.count() == 3


def test_layer_update_and_delete_by_team_manager_only(api, users, team):
    layer = LayerFactory(schedule=ScheduleFactory(team=team))
    assert api(users["responder"]).patch(f"{BASE}layers/{layer.pk}/", {"turn_count": 2},
                                         format="json").status_code == 403
    response = api(users["team_manager"]).patch(f"{BASE}layers/{layer.pk}/", {"turn_count": 2}, format="json")
    assert response.status_code == 200 and response.json()["turn_count"] == 2
    assert api(users["viewer"]).delete(f"{BASE}layers/{layer.pk}/").status_code == 403
    assert api(users["team_manager"]).delete(f"{BASE}layers/{layer.pk}/").status_code == 204
    assert not Layer.objects.exists()


def test_layer_list_query_count_is_pinned(api, users, django_assert_max_num_queries):
    client = api(users["viewer"])
    for _ in range(6):
        LayerFactory(schedule=ScheduleFactory(), users=[UserFactory(), UserFactory()])
    client.get(f"{BASE}layers/")
    with django_assert_max_num_queries(4):  # token, count, page (with schedule), people
        response = client.get(f"{BASE}layers/")
    assert response.status_code == 200 and response.json()["count"] == 6


# --- who is on call and shifts ----------------------------------------------------------------------------

@pytest.fixture
def rota(users):
    schedule = ScheduleFactory(slug="rota", time_zone="Europe/Berlin")
    LayerFactory(schedule=schedule, users=[users["responder"], users["manager"]], rotation_start=MONDAY,
                 turn_unit="days", restrictions={"kind": "daily", "ranges": [{"start": "08:00", "end": "20:00"}]})
    return schedule


def test_on_call_at_an_instant(api, users, rota):
    client = api(users["viewer"])
    response = client.get(f"{BASE}schedules/{rota.pk}/on-call/", {"at": "2026-02-03T12:00:00+01:00"})
    assert response.status_code == 200
    body = response.json()
    assert [u["username"] for u in body["users"]] == ["manager"]
    assert body["shift"]["source"] == "layer " + rota.layers.get().name
    assert (body["shift"]["start"], body["shift"]["end"]) == ("2026-02-03T09:00:00Z", "2026-02-03T19:00:00Z")
    assert body["at"] == "2026-02-03T11:00:00Z"
    night = client.get(f"{BASE}schedules/{rota.pk}/on-call/", {"at": "2026-02-03T23:00:00+01:00"}).json()
    assert night["users"] == [] and night["shift"] is None
    assert client.get(f"{BASE}schedules/{rota.pk}/on-call/", {"at": "tuesday"}).status_code == 400
    naive = client.get(f"{BASE}schedules/{rota.pk}/on-call/", {"at": "2026-02-03T12:00:00"})
    assert naive.status_code == 400 and "at" in naive.json()["error"]["fields"]


def test_shifts_and_gaps_of_a_period(api, users, rota):
    client = api(users["viewer"])
    response = client.get(f"{BASE}schedules/{rota.pk}/shifts/", {"start": "2026-02-03T00:00:00+01:00",
                                                                 "end": "2026-02-04T00:00:00+01:00"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert [(s["start"], s["end"], s["users"][0]["username"]) for s in body["shifts"]] == [
        ("2026-02-03T07:00:00Z", "2026-02-03T09:00:00Z", "responder"),  # Monday's turn runs to 10:00 Berlin
        ("2026-02-03T09:00:00Z", "2026-02-03T19:00:00Z", "manager")]
    assert body["gaps"] == [{"start": "2026-02-02T23:00:00Z", "end": "2026-02-03T07:00:00Z"},
                            {"start": "2026-02-03T19:00:00Z", "end": "2026-02-03T23:00:00Z"}]
    backwards = client.get(f"{BASE}schedules/{rota.pk}/shifts/", {"start": "2026-02-04T00:00:00Z",
                                                                  "end": "2026-02-03T00:00:00Z"})
    assert backwards.status_code == 400
    too_long = client.get(f"{BASE}schedules/{rota.pk}/shifts/", {"start": "2026-01-01T00:00:00Z",
                                                                 "end": "2026-12-01T00:00:00Z"})
    assert too_long.status_code == 400


def test_on_call_everywhere_in_bounded_queries(api, users, django_assert_max_num_queries, clock):
    client = api(users["viewer"])
    for index in range(5):
        schedule = ScheduleFactory(name=f"S{index}")
        LayerFactory(schedule=schedule, users=[users["responder"]], rotation_start=MONDAY - dt.timedelta(days=1))
    empty = ScheduleFactory(name="Z empty")
    client.get(f"{BASE}on-call/")
    with django_assert_max_num_queries(5):  # token, schedules, layers, overrides, people
        response = client.get(f"{BASE}on-call/")
    results = response.json()["results"]
    assert len(results) == 6
    assert all(r["users"][0]["username"] == "responder" for r in results[:5])
    assert results[5]["schedule"]["slug"] == empty.slug and results[5]["users"] == []


def test_my_shifts(api, users, rota, clock):
    response = api(users["responder"]).get(f"{BASE}my-shifts/", {"end": "2026-02-05T00:00:00Z"})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [(r["schedule"]["slug"], r["start"]) for r in results] == [
        ("rota", "2026-02-02T09:00:00Z"), ("rota", "2026-02-03T07:00:00Z"), ("rota", "2026-02-04T09:00:00Z")]
    assert api(users["viewer"]).get(f"{BASE}my-shifts/").json()["results"] == []


# --- overrides and swaps ----------------------------------------------------------------------------------

def test_overrides_per_role(api, users, rota):
    payload = {"schedule": rota.pk, "starts_at": "2026-02-10T09:00:00Z", "ends_at": "2026-02-10T17:00:00Z"}
    for role in ROLES:
        own = api(users[role]).post(f"{BASE}overrides/", {**payload, "user": role}, format="json")
        assert own.status_code == (403 if role == "viewer" else 201), (role, own.content)
    other = api(users["responder"]).post(f"{BASE}overrides/", {**payload, "user": "admin"}, format="json")
    assert other.status_code == 403
    assert api(users["manager"]).post(f"{BASE}overrides/", {**payload, "user": "viewer"},
                                      format="json").status_code == 201
    backwards = api(users["manager"]).post(f"{BASE}overrides/", {**payload, "user": "viewer",
                                                                 "ends_at": "2026-02-10T08:00:00Z"}, format="json")
    assert backwards.status_code == 400 and "ends_at" in backwards.json()["error"]["fields"]
    assert Override.objects.count() == 4
    listing = api(users["viewer"]).get(f"{BASE}overrides/", {"user__username": "viewer"}).json()
    assert listing["count"] == 1


def test_override_list_query_count(api, users, rota, django_assert_max_num_queries):
    for day in range(8):
        OverrideFactory(schedule=rota, user=users["responder"], starts_at=MONDAY + dt.timedelta(days=day),
                        ends_at=MONDAY + dt.timedelta(days=day, hours=1))
    client = api(users["viewer"])
    client.get(f"{BASE}overrides/")
    with django_assert_max_num_queries(3):
        assert client.get(f"{BASE}overrides/").json()["count"] == 8


def test_swap_flow_through_the_api(api, users, rota, clock):
    alice = users["responder"]  # on call on Monday 2 Feb from 10:00 Berlin time (the handoff) to 20:00
    payload = {"schedule": rota.pk, "starts_at": "2026-02-02T09:00:00Z", "ends_at": "2026-02-02T19:00:00Z",
               "proposed_to": "manager", "note": "school run"}
    assert api(users["viewer"]).post(f"{BASE}swaps/", payload, format="json").status_code == 403
    not_mine = api(users["manager"]).post(f"{BASE}swaps/", {**payload, "proposed_to": "admin"}, format="json")
    assert not_mine.status_code == 400 and "starts_at" in not_mine.json()["error"]["fields"]
    created = api(alice).post(f"{BASE}swaps/", payload, format="json")
    assert created.status_code == 201, created.content
    swap_id = created.json()["id"]
    assert created.json()["status"] == "requested" and created.json()["requester"] == "responder"
    assert api(users["admin"]).post(f"{BASE}swaps/{swap_id}/accept/").status_code == 403
    accepted = api(users["manager"]).post(f"{BASE}swaps/{swap_id}/accept/")
    assert accepted.status_code == 200 and accepted.json()["taken_by"] == "manager"
    again = api(users["manager"]).post(f"{BASE}swaps/{swap_id}/accept/")
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    at = api(users["viewer"]).get(f"{BASE}schedules/{rota.pk}/on-call/", {"at": "2026-02-02T12:00:00Z"}).json()
    assert [u["username"] for u in at["users"]] == ["manager"] and at["shift"]["source"] == "override"


def test_swap_assign_and_cancel_through_the_api(api, users, rota, clock):
    payload = {"schedule": rota.pk, "starts_at": "2026-02-02T09:00:00Z", "ends_at": "2026-02-02T12:00:00Z"}
    swap_id = api(users["responder"]).post(f"{BASE}swaps/", payload, format="json").json()["id"]
    assert api(users["responder"]).post(f"{BASE}swaps/{swap_id}/assign/", {"user": "admin"},
                                        format="json").status_code == 403
    missing = api(users["manager"]).post(f"{BASE}swaps/{swap_id}/assign/", {}, format="json")
    assert missing.status_code == 400 and "user" in missing.json()["error"]["fields"]
    assigned = api(users["manager"]).post(f"{BASE}swaps/{swap_id}/assign/", {"user": "admin"}, format="json")
    assert assigned.status_code == 200 and assigned.json()["taken_by"] == "admin"
    other = api(users["responder"]).post(f"{BASE}swaps/", {**payload, "starts_at": "2026-02-02T12:00:00Z",
                                                           "ends_at": "2026-02-02T13:00:00Z"}, format="json").json()
    assert api(users["manager"]).post(f"{BASE}swaps/{other['id']}/decline/").status_code == 400  # nobody asked
    assert api(users["responder"]).post(f"{BASE}swaps/{other['id']}/cancel/").json()["status"] == "cancelled"
    assert ShiftSwap.objects.filter(status="accepted").count() == 1


def test_swap_list_query_count(api, users, rota, django_assert_max_num_queries):
    for day in range(6):
        ShiftSwap.objects.create(schedule=rota, requester=users["responder"], proposed_to=users["manager"],
                                 starts_at=MONDAY + dt.timedelta(days=day), ends_at=MONDAY + dt.timedelta(days=day,
                                                                                                          hours=2))
    client = api(users["viewer"])
    client.get(f"{BASE}swaps/")
    with django_assert_max_num_queries(3):
        assert client.get(f"{BASE}swaps/").json()["count"] == 6


def test_read_only_token_cannot_write_anywhere(api, users, rota):
    client = api(users["admin"], scope="read")
    assert client.get(f"{BASE}on-call/").status_code == 200
    assert client.post(f"{BASE}overrides/", {"schedule": rota.pk, "user": "admin", "starts_at": "2026-02-10T09:00Z",
                                             "ends_at": "2026-02-10T10:00Z"}, format="json").status_code == 403
    assert client.delete(f"{BASE}schedules/{rota.pk}/").status_code == 403


def test_reads_need_credentials(api, db):
    for path in ("on-call/", "my-shifts/", "layers/", "overrides/", "swaps/"):
        response = api().get(f"{BASE}{path}")
        assert response.status_code == 401, path
        assert response.json()["error"]["code"] == "not_authenticated"
