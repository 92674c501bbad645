"""The SLA API: calendars and policies (admins write, everyone reads), the due-date calculator, timers."""

import datetime
import uuid

import pytest

from opsdesk.core.actors import Actor
from opsdesk.core.testing import ROLES, APIRecordTests
from opsdesk.sla import services
from opsdesk.sla.models import BusinessCalendar, SLAPolicy, SLATimer
from tests.sla.factories import CalendarFactory, PolicyFactory, incident

ADMIN_ONLY_CREATE = {"viewer": 403, "responder": 403, "manager": 403, "admin": 201}
ADMIN_ONLY_UPDATE = {"viewer": 403, "responder": 403, "manager": 403, "admin": 200}
MON_10 = datetime.datetime(2026, 3, 2, 10, 0, tzinfo=datetime.UTC)


class TestCalendarAPI(APIRecordTests):
    endpoint = "/api/v1/sla/calendars/"
    factory = CalendarFactory
    create_status = ADMIN_ONLY_CREATE
    update_status = ADMIN_ONLY_UPDATE
    writer_role = "admin"
    list_queries = 3  # auth token, count, page

    def create_payload(self, team):
        key = uuid.uuid4().hex[:6]
        return {"slug": f"cal-{key}", "name": f"Calendar {key}", "time_zone": "Europe/Berlin",
                "hours": "mon-fri 09:00-17:00", "holiday_country": "DE", "holiday_subdivision": "BY",
                "custom_holidays": [{"date": "2026-12-24", "name": "Christmas Eve"}]}

    def update_payload(self):
        return {"description": "Munich service desk"}


class TestPolicyAPI(APIRecordTests):
    endpoint = "/api/v1/sla/policies/"
    factory = PolicyFactory
    create_status = ADMIN_ONLY_CREATE
    update_status = ADMIN_ONLY_UPDATE
    writer_role = "admin"
    list_queries = 4  # auth token, count, page, targets

    def create_payload(self, team):
        key = uuid.uuid4().hex[:6]
        return {"slug": f"pol-{key}", "name": f"Policy {key}", "record_type": "incident", "order": 50,
                "conditions": {"priority": ["P2"]}, "calendar": "24x7",
                "targets": [{"metric": "resolve", "goal_minutes": 480, "business_time": False}]}

    def update_payload(self):
        return {"order": 7}


def test_policy_round_trip_with_targets_and_conditions(api, users):
    admin = api(users["admin"])
    created = admin.post("/api/v1/sla/policies/", {
        "slug": "db-p1", "name": "Database P1", "order": 1, "calendar": "office-hours-utc",
        "conditions": {"priority": "P1", "ci_class": ["database"], "service_tier": [1]},
        "pause_states": ["on_hold"], "warn_percentages": [75, 50],
        "targets": [{"metric": "acknowledge", "goal_minutes": 10, "business_time": False},
                    {"metric": "resolve", "goal_minutes": 120}]}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["conditions"] == {"priority": ["P1"], "service_tier": [1], "ci_class": ["database"]}
    assert body["warn_percentages"] == [50, 75]
    assert body["targets"] == [{"metric": "acknowledge", "goal_minutes": 10, "business_time": False},
                               {"metric": "resolve", "goal_minutes": 120, "business_time": True}]
    changed = admin.patch(f"/api/v1/sla/policies/{body['id']}/", {"targets": [
        {"metric": "resolve", "goal_minutes": 90, "business_time": True}]}, format="json")
    assert changed.status_code == 200, changed.content
    assert changed.json()["targets"] == [{"metric": "resolve", "goal_minutes": 90, "business_time": True}]
    history = admin.get(f"/api/v1/sla/policies/{body['id']}/history/").json()["results"]
    assert history[0]["changes"]["targets"] == [
        ["acknowledge 10 min calendar time", "resolve 120 min business time"], ["resolve 90 min business time"]]


@pytest.mark.parametrize("payload, field", [
    ({"calendar": "nowhere"}, "calendar"),
    ({"conditions": {"colour": ["red"]}}, "conditions"),
    ({"targets": [{"metric": "resolve", "goal_minutes": 0}]}, "targets"),
    ({"targets": []}, "targets"),
    ({"warn_percentages": [150]}, "warn_percentages"),
    ({"record_type": "spaceship"}, "record_type"),
])
def test_bad_policy_input_is_400_naming_the_field_and_writes_nothing(api, users, payload, field):
    before = SLAPolicy.objects.count()
    base = {"slug": "bad", "name": "Bad", "calendar": "24x7",
            "targets": [{"metric": "resolve", "goal_minutes": 60}]}
    response = api(users["admin"]).post("/api/v1/sla/policies/", {**base, **payload}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"], response.json()
    assert SLAPolicy.objects.count() == before


@pytest.mark.parametrize("payload, field", [
    ({"hours": "weekdays 9 to 5"}, "hours"),
    ({"hours": ""}, "hours"),
    ({"time_zone": "Mars/Olympus"}, "time_zone"),
    ({"holiday_country": "XX"}, "holiday_country"),
    ({"holiday_country": "DE", "holiday_subdivision": "ZZ"}, "holiday_subdivision"),
    ({"custom_holidays": [{"date": "24.12.2026"}]}, "custom_holidays"),
    ({"extra_days": [{"date": "2026-12-19", "hours": "13:00-09:00"}]}, "extra_days"),
    ({"name": "24x7"}, "name"),
])
def test_bad_calendar_input_is_400_naming_the_field_and_writes_nothing(api, users, payload, field):
    before = BusinessCalendar.objects.count()
    base = {"slug": "bad", "name": "Bad", "hours": "mon-fri 09:00-17:00"}
    response = api(users["admin"]).post("/api/v1/sla/calendars/", {**base, **payload}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"], response.json()
    assert BusinessCalendar.objects.count() == before


def test_due_calculator_for_every_role(api, users):
    calendar = CalendarFactory(time_zone="Europe/Berlin")
    for role in ROLES:
        response = api(users[role]).post(f"/api/v1/sla/calendars/{calendar.pk}/due/",
                                         {"start": "2026-03-06T15:00:00+01:00", "minutes": 660}, format="json")
        assert response.status_code == 200, (role, response.content)
        # 11 business hours from Friday 15:00 Berlin: 2 on Friday, 8 on Monday, 1 on Tuesday -> 10:00 (09:00 UTC).
        assert response.json()["due_at"] == "2026-03-10T09:00:00Z"
    bad = api(users["viewer"]).post(f"/api/v1/sla/calendars/{calendar.pk}/due/", {"start": "soon", "minutes": 0},
                                    format="json")
    assert bad.status_code == 400
    assert set(bad.json()["error"]["fields"]) == {"start", "minutes"}


def test_delete_is_refused_while_in_use_and_allowed_for_admins_otherwise(api, users):
    used = BusinessCalendar.objects.get(slug="24x7")
    assert api(users["admin"]).delete(f"/api/v1/sla/calendars/{used.pk}/").status_code == 409
    spare = CalendarFactory()
    assert api(users["manager"]).delete(f"/api/v1/sla/calendars/{spare.pk}/").status_code == 403
    assert api(users["admin"]).delete(f"/api/v1/sla/calendars/{spare.pk}/").status_code == 204
    assert not BusinessCalendar.objects.filter(pk=spare.pk).exists()
    policy = PolicyFactory(calendar=used)
    services.start(incident("P1"), record_type="incident", context={"priority": "P1"}, actor=Actor.system("t"))
    response = api(users["admin"]).delete(f"/api/v1/sla/policies/{policy.pk}/")
    assert response.status_code == 409
    assert "deactivate" in response.json()["error"]["message"]


def test_timers_are_listed_per_record_with_their_state(api, users):
    always = BusinessCalendar.objects.get(slug="24x7")
    PolicyFactory(calendar=always, targets=[{"metric": "resolve", "goal_minutes": 60, "business_time": False},
                                            {"metric": "acknowledge", "goal_minutes": 5, "business_time": False}])
    first, second = incident("P1"), incident("P1")
    for record in (first, second):
        services.start(record, record_type="incident", context={"priority": "P1"}, actor=Actor.system("t"),
                       at=MON_10)
    services.sweep(now=MON_10 + datetime.timedelta(minutes=10))
    client = api(users["viewer"])
    response = client.get("/api/v1/sla/timers/", {"record_type": "incident", "object_id": first.pk})
    assert response.status_code == 200
    rows = response.json()["results"]
    assert sorted(r["metric"] for r in rows) == ["acknowledge", "resolve"]
    ack = next(r for r in rows if r["metric"] == "acknowledge")
    assert ack["breached"] is True and ack["colour"] == "red" and ack["record_type"] == "incident"
    breached = client.get("/api/v1/sla/timers/", {"breached": "true"}).json()["results"]
    assert {(r["object_id"], r["metric"]) for r in breached} == {(first.pk, "acknowledge"), (second.pk, "acknowledge")}
    assert client.get("/api/v1/sla/timers/", {"metric": "resolve"}).json()["count"] == 2
    assert client.post("/api/v1/sla/timers/", {}, format="json").status_code in (403, 405)
    assert SLATimer.objects.count() == 4
