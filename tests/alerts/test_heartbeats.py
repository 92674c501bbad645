"""Heartbeats with a frozen clock: a missed one opens one incident, the next heartbeat resolves it."""

import datetime
import json

import pytest
import time_machine

from opsdesk.alerts import heartbeats
from opsdesk.alerts.integrations import accept_body, update_integration
from opsdesk.alerts.models import Integration
from opsdesk.core.actors import Actor
from opsdesk.incidents.models import Incident
from tests.accounts.factories import UserFactory
from tests.alerts.factories import make_integration
from tests.alerts.test_intake import alertmanager_body
from tests.oncall.paging_factories import make_policy
from tests.services.factories import ServiceFactory

T0 = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)
MINUTE = datetime.timedelta(minutes=1)


@pytest.fixture
def clock(db):
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def test_missing_heartbeat_opens_one_incident_and_a_heartbeat_resolves_it(clock, team):
    service = ServiceFactory()
    integration, _key = make_integration("alertmanager", name="Prometheus EU", heartbeat_interval_minutes=5,
                                         severity_map={"critical": "P1"}, team=team, service=service)
    assert integration.heartbeat_due_at == T0 + 5 * MINUTE

    clock.shift(4 * MINUTE)
    assert heartbeats.check_heartbeats() == 0
    clock.shift(2 * MINUTE)
    assert heartbeats.check_heartbeats() == 1
    assert heartbeats.check_heartbeats() == 0  # a second sweep opens no second incident
    clock.shift(30 * MINUTE)
    assert heartbeats.check_heartbeats() == 0

    [incident] = Incident.objects.all()
    assert incident.title.startswith("Monitoring is down: Prometheus EU sent no heartbeat since")
    assert (incident.source, incident.priority) == ("alert", "P1")
    assert (incident.assignment_group, incident.service) == (team, service)
    assert incident.status == "new"
    integration.refresh_from_db()
    assert integration.heartbeat_incident == incident

    heartbeats.record_heartbeat(integration, heartbeats.timezone.now())
    incident.refresh_from_db()
    integration.refresh_from_db()
    assert incident.status == "resolved" and incident.resolution_code == "restarted"
    assert "heartbeat of Prometheus EU came back" in incident.resolution_notes
    assert integration.heartbeat_incident is None
    assert integration.last_heartbeat_at == T0 + 36 * MINUTE
    assert integration.heartbeat_due_at == T0 + 41 * MINUTE

    # Missing again later: a new incident.
    clock.shift(6 * MINUTE)
    assert heartbeats.check_heartbeats() == 1
    assert Incident.objects.count() == 2


def test_an_accepted_payload_counts_as_a_heartbeat_and_resolves(clock):
    integration, _key = make_integration("alertmanager", heartbeat_interval_minutes=10)
    clock.shift(11 * MINUTE)
    assert heartbeats.check_heartbeats() == 1
    [incident] = Incident.objects.all()
    assert incident.priority == "P2"  # no "critical" in the severity map
    integration.refresh_from_db()  # as the ingest view would see it after the cache was dropped
    clock.shift(MINUTE)
    accept_body(integration, json.dumps(alertmanager_body()).encode(), "application/json")
    incident.refresh_from_db()
    integration.refresh_from_db()
    assert incident.status == "resolved"
    assert integration.last_alert_at == integration.last_heartbeat_at == T0 + 12 * MINUTE
    assert integration.heartbeat_due_at == T0 + 22 * MINUTE


def test_a_heartbeat_before_the_due_time_moves_it_on(clock):
    integration, _key = make_integration("events", heartbeat_interval_minutes=5)
    for _ in range(4):
        clock.shift(4 * MINUTE)
        heartbeats.note_activity(Integration.objects.get(pk=integration.pk), heartbeats.timezone.now(), alert=False)
        assert heartbeats.check_heartbeats() == 0
    assert not Incident.objects.exists()


def test_activity_marks_the_row_at_most_every_30_seconds(clock):
    integration, _key = make_integration("events", heartbeat_interval_minutes=5)
    heartbeats.note_activity(integration, heartbeats.timezone.now(), alert=True)
    clock.shift(datetime.timedelta(seconds=20))
    heartbeats.note_activity(integration, heartbeats.timezone.now(), alert=True)
    integration.refresh_from_db()
    assert integration.last_alert_at == T0
    clock.shift(datetime.timedelta(seconds=11))
    heartbeats.note_activity(integration, heartbeats.timezone.now(), alert=True)
    integration.refresh_from_db()
    assert integration.last_alert_at == T0 + datetime.timedelta(seconds=31)


def test_disabled_or_without_interval_is_never_checked(clock):
    quiet, _ = make_integration("alertmanager")
    paused, _ = make_integration("alertmanager", heartbeat_interval_minutes=1)
    update_integration(paused, actor=Actor.system("test"), data={"enabled": False})
    clock.shift(60 * MINUTE)
    assert heartbeats.check_heartbeats() == 0
    assert quiet.heartbeat_due_at is None


def test_setting_an_interval_later_gives_one_interval_of_grace(clock):
    integration, _key = make_integration("alertmanager")
    clock.shift(60 * MINUTE)
    integration = update_integration(integration, actor=Actor.system("test"), data={"heartbeat_interval_minutes": 3})
    assert integration.heartbeat_due_at == T0 + 63 * MINUTE
    assert heartbeats.check_heartbeats() == 0
    integration = update_integration(integration, actor=Actor.system("test"), data={"heartbeat_interval_minutes": None})
    assert integration.heartbeat_due_at is None


def test_an_incident_resolved_by_hand_is_left_as_it_is(clock):
    from opsdesk.incidents.services import transition_incident

    integration, _key = make_integration("alertmanager", heartbeat_interval_minutes=5)
    clock.shift(6 * MINUTE)
    heartbeats.check_heartbeats()
    [incident] = Incident.objects.all()
    transition_incident(incident, "resolve", actor=Actor.system("test"),
                        data={"resolution_code": "fixed", "resolution_notes": "Restarted Prometheus by hand."})
    clock.shift(MINUTE)
    heartbeats.record_heartbeat(integration)
    incident.refresh_from_db()
    integration.refresh_from_db()
    assert incident.resolution_code == "fixed" and integration.heartbeat_incident is None
    assert integration.heartbeat_due_at == T0 + 12 * MINUTE


def test_the_monitoring_down_incident_pages_through_the_service_policy(clock, django_capture_on_commit_callbacks):
    from opsdesk.oncall.models import EscalationRun

    service = ServiceFactory()
    policy = make_policy("Platform on call", steps=[{"kind": "notify_users", "users": [UserFactory(role="responder")]}],
                         services=[service])
    integration, _key = make_integration("alertmanager", heartbeat_interval_minutes=5, service=service)
    unpaged, _key = make_integration("alertmanager", heartbeat_interval_minutes=5)  # no service: no policy
    clock.shift(6 * MINUTE)
    with django_capture_on_commit_callbacks():
        assert heartbeats.check_heartbeats() == 2
    integration.refresh_from_db()
    unpaged.refresh_from_db()
    [run] = EscalationRun.objects.all()
    assert (run.incident, run.policy, run.status) == (integration.heartbeat_incident, policy, "active")
    assert unpaged.heartbeat_incident.escalation_runs.count() == 0

    # The heartbeat comes back: the incident resolves and its escalation stops.
    heartbeats.record_heartbeat(integration)
    run.refresh_from_db()
    assert run.status == "resolved"
