"""The rules' write path: routes (validation, order, delete), silences (matchers required, period, creator,
expire) and maintenance windows (services and CIs, period, cancel), each with its change-log row."""

import datetime

import pytest
import time_machine
from django.core.exceptions import ValidationError

from opsdesk.alerts import matching, services
from opsdesk.alerts.models import MaintenanceWindow, Route, Silence
from opsdesk.core.actors import Actor
from opsdesk.core.audit import history_for
from opsdesk.core.models import OutboxEvent
from opsdesk.core.workflow import TransitionNotAllowed
from tests.alerts.factories import make_integration
from tests.cmdb.factories import CIFactory
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db
T0 = datetime.datetime(2026, 11, 23, 9, 0, tzinfo=datetime.UTC)
DB = [{"label": "team", "op": "=", "value": "db"}]


@pytest.fixture
def actor(users):
    return Actor.for_user(users["responder"])


# --- routes ---------------------------------------------------------------------------------------------------

def test_route_is_created_with_normalised_matchers_and_a_change_log_row(actor, team):
    route = services.create_route(actor=actor, data={
        "name": "DB", "order": 5, "matchers": ['team=~"db|data"'], "severities": ["warning", "critical"],
        "source_pattern": "^prom-.*", "team": team, "priority": "P2"})
    assert route.matchers == [{"label": "team", "op": "=~", "value": "db|data"}]
    assert route.severities == ["critical", "warning"]  # in the order of SEVERITIES
    entry = history_for(route).get()
    assert entry.action == "create" and entry.changes["name"] == [None, "DB"]
    assert OutboxEvent.objects.filter(event_type="route.created", object_id=route.pk).exists()


@pytest.mark.parametrize("data, field", [
    ({"matchers": [{"label": "team", "op": "=~", "value": "("}]}, "matchers"),
    ({"matchers": [{"label": "1bad", "op": "=", "value": "x"}]}, "matchers"),
    ({"severities": ["fatal"]}, "severities"),
    ({"source_pattern": "(unclosed"}, "source_pattern"),
    ({"source_pattern": "(prom-.+)+"}, "source_pattern"),
    ({"matchers": [{"label": "team", "op": "=~", "value": "(db+)*"}]}, "matchers"),
    ({"priority": "P9"}, "priority"),
    ({"colour": "red"}, "colour"),
])
def test_a_bad_route_is_refused_naming_the_field_and_writes_nothing(actor, data, field):
    with pytest.raises(ValidationError) as caught:
        services.create_route(actor=actor, data={"name": "R", **data})
    assert field in caught.value.message_dict
    assert not Route.objects.exists()


def test_route_writes_tell_the_routing_cache(actor, team):
    integration, _key = make_integration()
    route = services.create_route(actor=actor, data={"name": "DB", "matchers": DB, "team": team})
    assert matching.route_for({"team": "db"}, "critical", "", integration) == route
    services.update_route(route, actor=actor, data={"enabled": False})
    assert matching.route_for({"team": "db"}, "critical", "", integration) is None
    services.update_route(route, actor=actor, data={"enabled": True})
    services.delete_route(route, actor=actor)
    assert not Route.objects.exists()
    assert matching.route_for({"team": "db"}, "critical", "", integration) is None


def test_deleting_a_route_keeps_what_it_was_in_the_change_log(actor):
    route = services.create_route(actor=actor, data={"name": "Gone", "matchers": DB})
    route_id = route.pk
    services.delete_route(route, actor=actor)
    from opsdesk.core.models import AuditEntry

    entry = AuditEntry.objects.filter(object_id=route_id, action="delete").get()
    assert entry.changes["name"] == ["Gone", None]


# --- silences -------------------------------------------------------------------------------------------------

@time_machine.travel(T0, tick=False)
def test_silence_starts_now_by_default_and_its_creator_is_the_actor(actor, users):
    silence = services.create_silence(actor=actor, data={
        "matchers": DB, "ends_at": T0 + datetime.timedelta(hours=2), "comment": "Failover test"})
    assert silence.starts_at == T0
    assert silence.created_by == users["responder"]
    assert services.silence_state(silence) == "active"
    assert history_for(silence).get().action == "create"


@time_machine.travel(T0, tick=False)
@pytest.mark.parametrize("data, field", [
    ({"matchers": []}, "matchers"),
    ({"matchers": None}, "matchers"),
    ({"matchers": [{"label": "team", "op": "~", "value": "db"}]}, "matchers"),
    ({"matchers": ['alertname=~".*"']}, "matchers"),  # matches every alert: refused, as Alertmanager does
    ({"matchers": [{"label": "team", "op": "!=", "value": "db"}]}, "matchers"),
    ({"matchers": [{"label": "instance", "op": "=~", "value": "(a+)+"}]}, "matchers"),
    ({"comment": "  "}, "comment"),
    ({"ends_at": T0 - datetime.timedelta(minutes=1), "starts_at": T0}, "ends_at"),
    ({"starts_at": T0 - datetime.timedelta(hours=3), "ends_at": T0 - datetime.timedelta(hours=1)}, "ends_at"),
])
def test_a_bad_silence_is_refused_and_writes_nothing(actor, data, field):
    good = {"matchers": DB, "ends_at": T0 + datetime.timedelta(hours=1), "comment": "why"}
    with pytest.raises(ValidationError) as caught:
        services.create_silence(actor=actor, data={**good, **data})
    assert field in caught.value.message_dict
    assert not Silence.objects.exists()


def test_a_future_silence_is_pending_then_active_then_expired(actor):
    with time_machine.travel(T0, tick=False):
        silence = services.create_silence(actor=actor, data={
            "matchers": DB, "starts_at": T0 + datetime.timedelta(days=1),
            "ends_at": T0 + datetime.timedelta(days=1, hours=2), "comment": "Planned upgrade"})
        assert services.silence_state(silence) == "pending"
    assert services.silence_state(silence, T0 + datetime.timedelta(days=1, minutes=1)) == "active"
    assert services.silence_state(silence, T0 + datetime.timedelta(days=1, hours=2)) == "expired"


@time_machine.travel(T0, tick=False)
def test_expiring_a_silence_ends_it_now_once(actor):
    silence = services.create_silence(actor=actor, data={
        "matchers": DB, "ends_at": T0 + datetime.timedelta(hours=4), "comment": "Noise"})
    services.expire_silence(silence, actor=actor)
    silence.refresh_from_db()
    assert silence.expired_early_at == T0
    assert services.silence_state(silence) == "expired"
    assert history_for(silence).first().action == "expire"
    with pytest.raises(TransitionNotAllowed):
        services.expire_silence(silence, actor=actor)
    with pytest.raises(TransitionNotAllowed):
        services.update_silence(silence, actor=actor, data={"comment": "again"})


@time_machine.travel(T0, tick=False)
def test_updating_a_silence_checks_the_period_against_what_it_keeps(actor):
    silence = services.create_silence(actor=actor, data={
        "matchers": DB, "ends_at": T0 + datetime.timedelta(hours=4), "comment": "Noise"})
    with pytest.raises(ValidationError):
        services.update_silence(silence, actor=actor, data={"ends_at": T0 - datetime.timedelta(hours=1)})
    services.update_silence(silence, actor=actor, data={"ends_at": T0 + datetime.timedelta(hours=8)})
    silence.refresh_from_db()
    assert silence.ends_at == T0 + datetime.timedelta(hours=8)
    assert history_for(silence).first().changes["ends_at"][1].startswith("2026-11-23T17:00")


# --- maintenance windows ------------------------------------------------------------------------------------

@time_machine.travel(T0, tick=False)
def test_a_future_window_of_services_and_cis_is_upcoming_and_can_be_cancelled(actor):
    service, ci = ServiceFactory(), CIFactory()
    window = services.create_maintenance_window(actor=actor, data={
        "title": "Storage upgrade", "starts_at": T0 + datetime.timedelta(days=2),
        "ends_at": T0 + datetime.timedelta(days=2, hours=3), "services": [service], "cis": [ci]})
    assert list(window.services.all()) == [service] and list(window.cis.all()) == [ci]
    assert services.window_state(window) == "upcoming"
    assert services.window_state(window, T0 + datetime.timedelta(days=2, hours=1)) == "now"
    assert services.window_state(window, T0 + datetime.timedelta(days=3)) == "past"
    services.cancel_maintenance_window(window, actor=actor)
    window.refresh_from_db()
    assert services.window_state(window) == "cancelled"
    assert history_for(window).first().action == "cancel"
    with pytest.raises(TransitionNotAllowed):
        services.cancel_maintenance_window(window, actor=actor)


@time_machine.travel(T0, tick=False)
@pytest.mark.parametrize("data, field", [
    ({"title": ""}, "title"),
    ({"services": []}, "services"),
    ({"ends_at": T0}, "ends_at"),
])
def test_a_bad_window_is_refused_and_writes_nothing(actor, data, field):
    good = {"title": "Upgrade", "starts_at": T0 + datetime.timedelta(hours=1),
            "ends_at": T0 + datetime.timedelta(hours=2), "services": [ServiceFactory()]}
    with pytest.raises(ValidationError) as caught:
        services.create_maintenance_window(actor=actor, data={**good, **data})
    assert field in caught.value.message_dict
    assert not MaintenanceWindow.objects.exists()


@time_machine.travel(T0, tick=False)
def test_a_past_window_cannot_be_edited(actor):
    window = services.create_maintenance_window(actor=actor, data={
        "title": "Old", "starts_at": T0 - datetime.timedelta(hours=3), "ends_at": T0 - datetime.timedelta(hours=1),
        "services": [ServiceFactory()]})
    assert services.window_state(window) == "past"
    with pytest.raises(TransitionNotAllowed):
        services.update_maintenance_window(window, actor=actor, data={"title": "New"})


@time_machine.travel(T0, tick=False)
def test_a_silence_update_that_would_match_everything_is_refused_and_changes_nothing(actor):
    silence = services.create_silence(actor=actor, data={
        "matchers": DB, "ends_at": T0 + datetime.timedelta(hours=1), "comment": "why"})
    with pytest.raises(ValidationError) as caught:
        services.update_silence(silence, actor=actor, data={"matchers": ['team=~".*"']})
    assert "match nearly every alert" in caught.value.message_dict["matchers"][0]
    silence.refresh_from_db()
    assert silence.matchers == DB
