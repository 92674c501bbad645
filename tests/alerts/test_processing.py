"""Processing stored payloads: alerts, groups, incidents, silences, maintenance, flapping, routing and
resolution, through the real incidents and on-call services."""

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.db.models import Count, Q
from django.test.utils import CaptureQueriesContext

from opsdesk.alerts import matching
from opsdesk.alerts.models import Alert, AlertGroup, MaintenanceWindow, RawPayload, Route, Silence
from opsdesk.alerts.processing import process_payload, strip_port
from opsdesk.alerts.selectors import alerts_of_incident
from opsdesk.core.actors import Actor
from opsdesk.core.models import AuditEntry, Timer
from opsdesk.incidents import escalation
from opsdesk.incidents import services as incident_services
from opsdesk.incidents.models import EscalationRule, Incident
from opsdesk.oncall.models import EscalationRun
from opsdesk.sla import services as sla
from opsdesk.sla.models import SLATimer
from tests.accounts.factories import TeamFactory, UserFactory
from tests.alerts.factories import make_integration
from tests.alerts.payloads import event, payload, process
from tests.cmdb.factories import CIFactory
from tests.incidents.factories import shipped
from tests.oncall.paging_factories import make_policy
from tests.services.factories import ServiceFactory

T0 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)
PERSON = Actor.system("test")


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def integration(db, clock):
    shipped()
    found, _key = make_integration("alertmanager")
    return found


def incidents():
    return Incident.objects.filter(source="alert")


def pages(incident):
    return EscalationRun.objects.filter(incident=incident).count()


def assert_counters_right():
    """Every group's counters are what its alert rows say."""
    for group in AlertGroup.objects.annotate(
            n=Count("alerts"), firing=Count("alerts", filter=Q(alerts__status="firing"))):
        assert (group.alert_count, group.firing_count) == (group.n, group.firing), group


def alert(name, **labels):
    return Alert.objects.get(labels__alertname=name, **{f"labels__{k}": v for k, v in labels.items()})


# --- alerts, repeats and groups -----------------------------------------------------------------------

def test_one_incident_per_group_and_later_alerts_attach(integration, clock):
    handled = process(integration, [event("HighCPU", instance="web1", group_key="g1"),
                                    event("HighCPU", instance="web2", group_key="g1"),
                                    event("DiskFull", instance="db1", group_key="g2", severity="warning")])
    assert handled == 3
    assert AlertGroup.objects.count() == 2 and incidents().count() == 2
    g1 = AlertGroup.objects.get(group_key="g1")
    assert (g1.alert_count, g1.firing_count, g1.severity, g1.is_open) == (2, 2, "critical", True)
    incident = g1.incident
    assert incident.title.startswith("HighCPU") and incident.source == "alert"
    assert "Labels:" in incident.description and "- instance=web1" in incident.description

    clock.shift(dt.timedelta(minutes=3))
    process(integration, [event("HighCPU", instance="web3", group_key="g1")])
    g1.refresh_from_db()
    assert (g1.alert_count, g1.firing_count) == (3, 3) and incidents().count() == 2
    assert g1.last_alert_at == T0 + dt.timedelta(minutes=3)
    added = AuditEntry.objects.filter(object_id=incident.pk, action="alert_added")
    assert added.count() == 1 and "HighCPU (web3)" in added.get().changes["alerts"][1]
    assert set(alerts_of_incident(incident).values_list("labels__instance", flat=True)) == {"web1", "web2", "web3"}
    assert_counters_right()


def test_repeats_are_counted_not_duplicated(integration, clock):
    events = [event("HighCPU", instance=f"web{i}", group_key="g") for i in range(3)]
    process(integration, events)
    incident = incidents().get()
    audit_rows = AuditEntry.objects.filter(object_id=incident.pk).count()
    for _repeat in (1, 2):
        clock.shift(dt.timedelta(minutes=1))
        process(integration, events)
    assert Alert.objects.count() == 3
    first = alert("HighCPU", instance="web0")
    assert first.repeat_count == 2 and first.last_seen_at == T0 + dt.timedelta(minutes=2)
    assert first.first_seen_at == T0 and first.state_changes == []
    group = AlertGroup.objects.get()
    assert (group.alert_count, group.firing_count) == (3, 3)
    assert incidents().count() == 1
    assert AuditEntry.objects.filter(object_id=incident.pk).count() == audit_rows  # repeats stay off the timeline


def test_the_same_alert_twice_in_one_payload_fires_then_resolves(integration):
    process(integration, [event("HighCPU", instance="a", group_key="g"),
                          event("HighCPU", "resolved", instance="a", group_key="g")])
    assert Alert.objects.get().status == "resolved"
    group = AlertGroup.objects.get()
    assert (group.status, group.is_open, group.firing_count) == ("resolved", False, 0)
    assert group.incident.status == "resolved"


def test_grouping_template_over_labels(integration):
    integration.grouping_template = "{{ alertname }}/{{ cluster }}"
    integration.save()
    process(integration, [event("A", cluster="eu", instance="1", group_key="am-1"),
                          event("A", cluster="eu", instance="2", group_key="am-2"),
                          event("A", cluster="us", instance="3", group_key="am-1")])
    assert sorted(AlertGroup.objects.values_list("group_key", "alert_count")) == [("A/eu", 2), ("A/us", 1)]


def test_without_group_key_the_fingerprint_groups(integration):
    process(integration, [event("A", instance="1"), event("A", instance="2")])
    assert AlertGroup.objects.count() == 2
    assert set(AlertGroup.objects.values_list("group_key", flat=True)) == set(
        Alert.objects.values_list("fingerprint", flat=True))


def test_processing_twice_does_nothing_twice(integration, clock):
    stored = payload(integration, [event("A", instance="1", group_key="g")])
    assert process_payload(stored.pk) == 1
    assert process_payload(stored.pk) == 0
    assert Alert.objects.get().repeat_count == 0 and incidents().count() == 1
    stored.refresh_from_db()
    assert stored.processed_at == T0 and stored.error == ""
    assert process_payload(999999) == 0


def test_a_bad_event_does_not_lose_the_others(integration):
    good = event("A", instance="1", group_key="g")
    bogus = event("B", instance="2", group_key="g").to_json() | {"status": "exploded"}
    stored = RawPayload.objects.create(integration=integration, events=[
        good.to_json(), {"no": "shape"}, bogus, event("C", instance="3", group_key="g").to_json()],
        body="{}", size=2, received_at=T0, event_count=4)
    assert process_payload(stored.pk) == 2
    stored.refresh_from_db()
    assert stored.processed_at is not None
    assert "Event 1:" in stored.error and "Event 2 (" in stored.error and "exploded" in stored.error
    assert sorted(Alert.objects.values_list("labels__alertname", flat=True)) == ["A", "C"]
    assert AlertGroup.objects.get().alert_count == 2 and incidents().count() == 1
    assert_counters_right()


def test_repeat_payload_of_ten_alerts_takes_a_handful_of_queries(integration, django_assert_max_num_queries):
    events = [event("HighCPU", instance=f"web{i}", group_key="g") for i in range(10)]
    process(integration, events)
    stored = payload(integration, events)
    with django_assert_max_num_queries(8):  # 10 with a savepoint per round
        assert process_payload(stored.pk) == 10
    assert AlertGroup.objects.get().alert_count == 10


def test_a_new_group_payload_opening_its_incident_takes_few_queries(integration, django_assert_max_num_queries):
    # Ten new alerts, each naming a host the CMDB looks up, opening one group and its incident: 62 queries
    # before the CI lookup took one query (not two), the escalation rules were read once (not four times) and
    # the round went without a savepoint (the fast pass; a failing event is the careful pass's business).
    # 53 since the new incident's full-text index entry is written with it (core.records -> core.search).
    process(integration, [event("Warmup", instance="warm:9100", group_key="w")])  # INC sequence, routes
    events = [event("HighCPU", instance=f"web{i}:9100", group_key="g") for i in range(10)]
    stored = payload(integration, events)
    with CaptureQueriesContext(connection) as captured, django_assert_max_num_queries(53):
        assert process_payload(stored.pk) == 10
    statements = [query["sql"] for query in captured.captured_queries]
    assert sum('FROM "incidents_escalationrule"' in sql for sql in statements) == 1
    assert sum('FROM "cmdb_configurationitem" WHERE' in sql for sql in statements) == 1  # the CI lookup
    assert incidents().count() == 2 and AlertGroup.objects.get(group_key="g").alert_count == 10


def test_escalation_rules_read_once_apply_to_every_incident_of_a_payload(integration):
    sla.register_threshold_provider(Incident, escalation.threshold_percents)
    team = TeamFactory()
    team.lead = UserFactory()
    team.save(update_fields=["lead"])
    common = {"kind": "hierarchical", "notify": ["lead"], "order": 100}
    for name, trigger, fields in (("No ack P1", "no_ack", {"minutes": 15, "conditions": {"priority": ["P1"]}}),
                                  ("No ack P4", "no_ack", {"minutes": 5, "conditions": {"priority": ["P4"]}}),
                                  ("Resolve at 60%", "sla_percent", {"metric": "resolve", "percent": 60})):
        incident_services.create_rule(EscalationRule, actor=PERSON, data={
            "name": name, "trigger": trigger, **common, **fields})
    process(integration, [event("A", group_key="a", severity="critical"),
                          event("B", group_key="b", severity="critical"),
                          event("C", group_key="c", severity="info")])
    by_title = {incident.title.split(" ")[0]: incident for incident in incidents()}
    assert set(by_title) == {"A", "B", "C"}
    due = {name: sorted(Timer.objects.filter(kind=escalation.ESCALATE, object_id=incident.pk)
                        .values_list("due_at", flat=True)) for name, incident in by_title.items()}
    assert due == {"A": [T0 + dt.timedelta(minutes=15)], "B": [T0 + dt.timedelta(minutes=15)],
                   "C": [T0 + dt.timedelta(minutes=5)]}
    for incident in by_title.values():
        resolve = SLATimer.objects.get(object_id=incident.pk, metric="resolve")
        assert 60 in resolve.thresholds
        assert 60 not in SLATimer.objects.get(object_id=incident.pk, metric="acknowledge").thresholds
    # Read once per payload, never kept: a rule made now applies to the next payload's incident.
    incident_services.create_rule(EscalationRule, actor=PERSON, data={
        "name": "No ack P1 late", "trigger": "no_ack", **common, "minutes": 30, "conditions": {"priority": ["P1"]}})
    process(integration, [event("D", group_key="d", severity="critical")])
    d = incidents().get(title__startswith="D")
    assert Timer.objects.filter(kind=escalation.ESCALATE, object_id=d.pk).count() == 2


# --- resolution and re-firing -------------------------------------------------------------------------

def test_all_resolved_resolves_the_incident(integration, clock):
    process(integration, [event("A", instance="1", group_key="g"), event("A", instance="2", group_key="g")])
    incident = incidents().get()
    clock.shift(dt.timedelta(minutes=5))
    process(integration, [event("A", "resolved", instance="1", group_key="g")])
    incident.refresh_from_db()
    assert incident.status == "new" and AlertGroup.objects.get().firing_count == 1
    process(integration, [event("A", "resolved", instance="2", group_key="g")])
    incident.refresh_from_db()
    group = AlertGroup.objects.get()
    assert (group.status, group.is_open, group.resolved_at) == ("resolved", False, T0 + dt.timedelta(minutes=5))
    assert incident.status == "resolved" and incident.resolution_code == "restarted"
    assert integration.name in incident.resolution_notes
    assert alert("A", instance="1").ends_at == T0 + dt.timedelta(minutes=5)
    assert_counters_right()


def test_without_auto_resolve_the_incident_stays_open(integration, clock):
    integration.auto_resolve = False
    integration.save()
    process(integration, [event("A", instance="1", group_key="g")])
    process(integration, [event("A", "resolved", instance="1", group_key="g")])
    incident = incidents().get()
    assert incident.status == "new" and AlertGroup.objects.get().status == "resolved"
    assert AuditEntry.objects.filter(object_id=incident.pk, action="alerts_resolved").count() == 1


def test_an_incident_a_person_resolved_is_skipped_quietly(integration):
    process(integration, [event("A", instance="1", group_key="g")])
    incident = incidents().get()
    incident_services.resolve_incident(incident, actor=PERSON, code="fixed", notes="by hand")
    stored = payload(integration, [event("A", "resolved", instance="1", group_key="g")])
    assert process_payload(stored.pk) == 1
    stored.refresh_from_db()
    incident.refresh_from_db()
    assert stored.error == "" and incident.resolution_code == "fixed"


def test_refiring_inside_the_window_reopens_group_and_incident(integration, clock):
    process(integration, [event("A", instance="1", group_key="g")])
    process(integration, [event("A", "resolved", instance="1", group_key="g")])
    incident = incidents().get()
    clock.shift(dt.timedelta(minutes=59))
    process(integration, [event("A", instance="1", group_key="g")])
    group = AlertGroup.objects.get()
    incident.refresh_from_db()
    assert (group.is_open, group.status, group.resolved_at, group.firing_count) == (True, "firing", None, 1)
    assert incident.status == "in_progress" and incident.reopen_count == 1
    assert "fired again" in incident.status_reason
    assert incidents().count() == 1
    assert alert("A").state_changes == [T0.isoformat(), (T0 + dt.timedelta(minutes=59)).isoformat()]
    assert_counters_right()


def test_refiring_pages_again_only_after_the_flapping_window_of_the_last_page(integration, paged, clock):
    process(integration, [event("A", instance="1", group_key="g")])
    incident = incidents().get()
    clock.shift(dt.timedelta(minutes=5))
    process(integration, [event("A", "resolved", instance="1", group_key="g")])
    clock.shift(dt.timedelta(minutes=5))
    process(integration, [event("A", instance="1", group_key="g")])  # 10 minutes after the page: quiet
    incident.refresh_from_db()
    assert (incident.status, incident.reopen_count, pages(incident)) == ("in_progress", 1, 1)
    assert "paged less than 30 minutes before" in incident.status_reason
    assert not alert("A").flapping
    clock.shift(dt.timedelta(minutes=5))
    process(integration, [event("A", "resolved", instance="1", group_key="g")])
    clock.shift(dt.timedelta(minutes=21))
    process(integration, [event("A", instance="1", group_key="g")])  # 31 minutes after the page: pages
    incident.refresh_from_db()
    assert (incident.status, incident.reopen_count, pages(incident)) == ("in_progress", 2, 2)
    assert AlertGroup.objects.get().paged_at == T0 + dt.timedelta(minutes=36)


def test_refiring_after_the_window_opens_a_new_group_and_incident(integration, clock):
    process(integration, [event("A", instance="1", group_key="g")])
    process(integration, [event("A", "resolved", instance="1", group_key="g")])
    first = incidents().get()
    clock.shift(dt.timedelta(minutes=61))
    process(integration, [event("A", instance="1", group_key="g")])
    assert AlertGroup.objects.count() == 2 and incidents().count() == 2
    old, new = AlertGroup.objects.order_by("pk")
    assert (old.is_open, old.alert_count, new.is_open, new.alert_count) == (False, 0, True, 1)
    assert new.incident != first and alert("A").group == new
    first.refresh_from_db()
    assert first.status == "resolved"
    assert_counters_right()


def test_refiring_of_a_closed_incident_opens_a_new_one(integration, clock):
    process(integration, [event("A", instance="1", group_key="g")])
    incident = incidents().get()
    incident_services.transition_incident(incident, "cancel", actor=PERSON, data={"reason": "noise"})
    process(integration, [event("A", "resolved", instance="1", group_key="g")])
    clock.shift(dt.timedelta(minutes=10))
    process(integration, [event("A", instance="1", group_key="g")])
    assert incidents().count() == 2 and AlertGroup.objects.filter(is_open=True).count() == 1
    assert AlertGroup.objects.get(is_open=True).incident.status == "new"


# --- silences and maintenance -------------------------------------------------------------------------

@pytest.fixture
def paged(integration):
    """A route whose policy pages a responder, so 'no page' can be checked."""
    policy = make_policy("Alerts", steps=[{"kind": "notify_users", "users": [UserFactory(role="responder")]}])
    Route.objects.create(name="everything", order=100, escalation_policy=policy)
    matching.routes_changed()
    return policy


def test_a_silence_made_before_the_alert_records_it_without_incident_or_page(integration, paged, clock):
    silence = Silence.objects.create(matchers=[{"label": "alertname", "op": "=", "value": "A"}],
                                     starts_at=T0 - dt.timedelta(minutes=1), ends_at=T0 + dt.timedelta(hours=1),
                                     comment="deploying")
    process(integration, [event("A", instance="1", group_key="g"), event("A", instance="2", group_key="g")])
    assert Alert.objects.count() == 2 and set(Alert.objects.values_list("suppressed", "silence")) == {
        ("silence", silence.pk)}
    group = AlertGroup.objects.get()
    assert (group.suppressed, group.incident) == ("silence", None)
    assert not incidents().exists() and not EscalationRun.objects.exists()
    # An unsilenced alert of the same group opens the incident (and pages).
    process(integration, [event("B", instance="3", group_key="g")])
    group.refresh_from_db()
    assert group.suppressed == "" and group.incident is not None and pages(group.incident) == 1


def test_when_the_silence_ends_a_repeat_opens_the_incident(integration, paged, clock):
    Silence.objects.create(matchers=[{"label": "alertname", "op": "=", "value": "A"}], starts_at=T0,
                           ends_at=T0 + dt.timedelta(minutes=30), comment="deploying")
    process(integration, [event("A", instance="1", group_key="g")])
    assert not incidents().exists()
    clock.shift(dt.timedelta(minutes=31))
    process(integration, [event("A", instance="1", group_key="g")])
    assert alert("A").suppressed == "" and incidents().count() == 1


def test_a_future_silence_does_not_suppress_now(integration, paged):
    Silence.objects.create(matchers=[{"label": "alertname", "op": "=", "value": "A"}],
                           starts_at=T0 + dt.timedelta(minutes=5), ends_at=T0 + dt.timedelta(hours=1),
                           comment="later")
    process(integration, [event("A", instance="1", group_key="g")])
    assert alert("A").suppressed == "" and incidents().count() == 1
    assert pages(incidents().get()) == 1


def test_a_silence_of_another_integration_does_not_suppress(integration):
    other, _key = make_integration("events")
    Silence.objects.create(matchers=[{"label": "alertname", "op": "=", "value": "A"}], integration=other,
                           starts_at=T0, ends_at=T0 + dt.timedelta(hours=1), comment="other")
    process(integration, [event("A", instance="1", group_key="g")])
    assert incidents().count() == 1


def test_maintenance_of_the_alerts_ci(integration, paged):
    ci = CIFactory(name="db01", hostnames=["db01.example.net"])
    window = MaintenanceWindow.objects.create(title="patching", starts_at=T0 - dt.timedelta(minutes=1),
                                              ends_at=T0 + dt.timedelta(hours=2))
    window.cis.add(ci)
    process(integration, [event("A", instance="db01.example.net:9100", group_key="g"),
                          event("B", instance="web01:9100", group_key="h")])
    held = alert("A")
    assert (held.ci, held.suppressed, held.maintenance) == (ci, "maintenance", window)
    assert AlertGroup.objects.get(group_key="g").incident is None
    assert AlertGroup.objects.get(group_key="h").incident is not None
    assert incidents().count() == 1 and EscalationRun.objects.count() == 1


def test_maintenance_of_the_routed_service(integration):
    service = ServiceFactory()
    Route.objects.create(name="db", order=1, matchers=[{"label": "team", "op": "=", "value": "db"}],
                         service=service)
    matching.routes_changed()
    window = MaintenanceWindow.objects.create(title="upgrade", starts_at=T0, ends_at=T0 + dt.timedelta(hours=1))
    window.services.add(service)
    process(integration, [event("A", instance="1", team="db", group_key="g"),
                          event("A", instance="2", team="web", group_key="h")])
    assert alert("A", team="db").suppressed == "maintenance"
    assert alert("A", team="web").suppressed == ""
    assert incidents().count() == 1


# --- flapping -----------------------------------------------------------------------------------------

def test_a_flapping_alert_is_marked_and_pages_once(integration, paged, clock):
    integration.flapping_changes = 3
    integration.save()
    process(integration, [event("A", instance="1", group_key="g")])
    incident = incidents().get()
    assert pages(incident) == 1
    for status in ["resolved", "firing", "resolved", "firing"]:  # four changes in four minutes
        clock.shift(dt.timedelta(minutes=1))
        process(integration, [event("A", status, instance="1", group_key="g")])
    flapping = alert("A")
    assert flapping.flapping and len(flapping.state_changes) == 4
    incident.refresh_from_db()
    # Not flapping yet, each resolution resolved the incident and each re-firing reopened it, quietly: the
    # first within the flapping window of the page, the second because the alert now flaps. One page.
    assert incident.status == "in_progress" and incident.reopen_count == 2 and pages(incident) == 1
    assert "Nobody is paged again" in incident.status_reason
    assert AuditEntry.objects.filter(object_id=incident.pk, action="alert_flapping").count() == 1
    runs_before = pages(incident)
    for status in ["resolved", "firing", "resolved", "firing"]:
        clock.shift(dt.timedelta(minutes=1))
        process(integration, [event("A", status, instance="1", group_key="g")])
    incident.refresh_from_db()
    assert incident.status == "in_progress" and incident.reopen_count == 2 and pages(incident) == runs_before
    assert AuditEntry.objects.filter(object_id=incident.pk, action="alerts_resolved").count() == 2
    assert incidents().count() == 1 and AlertGroup.objects.count() == 1
    assert_counters_right()


def test_flapping_ends_when_the_changes_leave_the_window(integration, clock):
    integration.flapping_changes, integration.flapping_window_minutes = 2, 10
    integration.save()
    process(integration, [event("A", instance="1", group_key="g")])
    for status in ["resolved", "firing", "resolved"]:
        clock.shift(dt.timedelta(minutes=1))
        process(integration, [event("A", status, instance="1", group_key="g")])
    assert alert("A").flapping
    assert incidents().get().status != "resolved"  # a flapping group does not auto-resolve its incident
    clock.shift(dt.timedelta(minutes=30))
    process(integration, [event("A", instance="1", group_key="g")])
    clock.shift(dt.timedelta(minutes=1))
    process(integration, [event("A", "resolved", instance="1", group_key="g")])
    assert not alert("A").flapping
    assert incidents().order_by("-pk").first().status == "resolved"


def test_a_drained_backlog_is_not_flapping(integration, clock):
    """State changes count at the payloads' receipt times: eight changes received 20 minutes apart and
    processed together (a worker catching up) are not "more than 3 within 30 minutes"."""
    integration.flapping_changes = 3
    integration.save()
    stored = [payload(integration, [event("A", instance="1", group_key="g")])]
    for status in ["resolved", "firing"] * 4:
        clock.shift(dt.timedelta(minutes=20))
        stored.append(payload(integration, [event("A", status, instance="1", group_key="g")]))
    clock.shift(dt.timedelta(minutes=1))
    for item in stored:
        process_payload(item.pk)
    found = alert("A")
    assert found.status == "firing" and not found.flapping and len(found.state_changes) == 8
    assert found.state_changes[0] == (T0 + dt.timedelta(minutes=20)).isoformat()


# --- payloads processed out of order ------------------------------------------------------------------

def test_an_older_trigger_processed_after_a_resolution_does_not_refire(integration, clock):
    process(integration, [event("A", instance="1", group_key="g")])
    clock.shift(dt.timedelta(minutes=1))
    older = payload(integration, [event("A", instance="1", group_key="g", summary="stale")])  # a repeat
    clock.shift(dt.timedelta(minutes=1))
    newer = payload(integration, [event("A", "resolved", instance="1", group_key="g")])
    clock.shift(dt.timedelta(minutes=1))
    process_payload(newer.pk)
    process_payload(older.pk)  # retried late: it must not undo the resolution
    found = alert("A")
    assert (found.status, found.ends_at, found.summary) == ("resolved", T0 + dt.timedelta(minutes=2), "A on 1")
    assert found.last_payload_id == newer.pk and found.last_received_at == newer.received_at
    assert found.state_changes == [(T0 + dt.timedelta(minutes=2)).isoformat()]
    older.refresh_from_db()
    assert older.processed_at is not None and older.error == ""
    assert incidents().get().status == "resolved"
    assert AlertGroup.objects.get().is_open is False
    assert_counters_right()


def test_an_older_payload_of_the_same_state_counts_as_a_repeat_only(integration, clock):
    process(integration, [event("A", instance="1", group_key="g")])
    clock.shift(dt.timedelta(minutes=1))
    older = payload(integration, [event("A", instance="1", group_key="g", summary="old text")])
    clock.shift(dt.timedelta(minutes=1))
    newer = payload(integration, [event("A", instance="1", group_key="g", summary="new text")])
    process_payload(newer.pk)
    process_payload(older.pk)
    found = alert("A")
    assert (found.status, found.repeat_count, found.summary) == ("firing", 2, "new text")
    assert found.last_payload_id == newer.pk and found.state_changes == []


def test_a_resolution_received_at_the_same_instant_applies(integration, clock):
    """Not older is enough: two payloads received in one instant apply in processing order."""
    first = payload(integration, [event("A", instance="1", group_key="g")])
    second = payload(integration, [event("A", "resolved", instance="1", group_key="g")])
    process_payload(first.pk)
    process_payload(second.pk)
    assert alert("A").status == "resolved"


# --- routing, CI and priority -------------------------------------------------------------------------

def test_routing_first_match_and_the_integration_default(integration):
    db_team, web_team, default_team = TeamFactory(), TeamFactory(), TeamFactory()
    db_service = ServiceFactory()
    integration.team, integration.service = default_team, ServiceFactory()
    integration.save()
    policy = make_policy("DB", steps=[{"kind": "notify_users", "users": [UserFactory(role="responder")]}])
    Route.objects.create(name="db", order=10, matchers=[{"label": "team", "op": "=", "value": "db"}],
                         team=db_team, service=db_service, escalation_policy=policy, priority="P2")
    Route.objects.create(name="db again", order=20, matchers=[{"label": "team", "op": "=~", "value": "db|web"}],
                         team=web_team)
    matching.routes_changed()
    process(integration, [event("A", team="db", group_key="1"), event("A", team="web", group_key="2"),
                          event("A", team="ops", group_key="3", severity="warning")])
    by_key = {g.group_key: g for g in AlertGroup.objects.select_related("incident", "route")}
    db = by_key["1"].incident
    assert (db.assignment_group, db.service, db.priority, by_key["1"].route.name) == (
        db_team, db_service, "P2", "db")
    assert EscalationRun.objects.get(incident=db).policy == policy
    assert by_key["2"].incident.assignment_group == web_team and by_key["2"].route.name == "db again"
    fallback = by_key["3"].incident
    assert (fallback.assignment_group, fallback.service, by_key["3"].route) == (
        default_team, integration.service, None)


@pytest.mark.parametrize(("severity", "severity_map", "expected"), [
    ("critical", {}, "P1"), ("error", {}, "P2"), ("warning", {}, "P3"), ("info", {}, "P4"), ("", {}, "P3"),
    ("critical", {"critical": "P2"}, "P2"), ("warning", {"warning": "P5"}, "P5"),
])
def test_severity_gives_the_priority(integration, severity, severity_map, expected):
    integration.severity_map = severity_map
    integration.save()
    process(integration, [event("A", severity=severity, group_key="g")])
    incident = incidents().get()
    assert incident.priority == expected and not incident.priority_overridden


def test_a_priority_the_matrix_cannot_give_is_set_with_its_reason(integration):
    settings = incident_services.incident_settings()
    settings.matrix = {k: {u: "P3" for u in row} for k, row in settings.matrix.items()}
    settings.save()
    process(integration, [event("A", severity="critical", group_key="g")])
    incident = incidents().get()
    assert incident.priority == "P1" and incident.priority_overridden
    assert incident.priority_reason == "From alert severity critical."


@pytest.mark.parametrize("label", ["db01", "db01.example.net:9100", "10.0.0.7", "10.0.0.7:9100", "DB01"])
def test_the_ci_is_found_by_name_hostname_or_ip(integration, label):
    ci = CIFactory(name="db01", hostnames=["db01.example.net"], ip_addresses=["10.0.0.7"])
    CIFactory(name="other")
    process(integration, [event("A", instance=label, group_key="g")])
    assert alert("A").ci == ci
    assert list(incidents().get().cis.all()) == [ci]


def test_a_ci_of_that_name_wins_over_an_older_one_with_that_host_name(integration):
    CIFactory(name="older", hostnames=["db01"], ip_addresses=["10.0.0.9"])
    named = CIFactory(name="db01")
    process(integration, [event("A", instance="db01:9100", group_key="g"),
                          event("B", instance="10.0.0.9", group_key="g"),
                          event("C", instance="nowhere", group_key="g")])
    assert alert("A").ci == named
    assert alert("B").ci.name == "older"
    assert alert("C").ci is None


def test_the_integrations_ci_labels_are_tried_in_order(integration):
    integration.ci_labels = ["node", "instance"]
    integration.save()
    node = CIFactory(name="node7")
    CIFactory(name="web01")
    process(integration, [event("A", instance="web01", node="node7", group_key="g")])
    assert alert("A").ci == node


def test_a_new_ci_joins_the_incidents_cis(integration):
    first, second = CIFactory(name="db01"), CIFactory(name="db02")
    process(integration, [event("A", instance="db01", group_key="g")])
    process(integration, [event("A", instance="db02", group_key="g")])
    assert set(incidents().get().cis.all()) == {first, second}


def test_strip_port():
    assert strip_port("web:9100") == "web"
    assert strip_port("[2001:db8::1]:9100") == "2001:db8::1"
    assert strip_port("2001:db8::1") == "2001:db8::1"
    assert strip_port("web") == "web"


# --- events API actions -------------------------------------------------------------------------------

def test_events_api_acknowledge_and_resolve(db, clock):
    shipped()
    events_integration, _key = make_integration("events")
    process(events_integration, [event("Disk", group_key="", action="trigger")])
    incident = incidents().get()
    fingerprint = Alert.objects.get().fingerprint
    ack = event("Disk", action="acknowledge")
    process(events_integration, [ack])
    incident.refresh_from_db()
    assert incident.status == "acknowledged" and Alert.objects.get().status == "firing"
    process(events_integration, [event("Disk", action="resolve")])
    incident.refresh_from_db()
    assert Alert.objects.get(fingerprint=fingerprint).status == "resolved" and incident.status == "resolved"
    # An acknowledgement of an alert never seen is nothing to do.
    assert process(events_integration, [event("Unknown", action="acknowledge")]) == 0
    assert Alert.objects.count() == 1
