"""Two workers processing payloads of one new group at once on PostgreSQL: one group, one incident, no
duplicate alerts, counters right, and a payload is processed by one worker only."""

import pytest
from django.db import connection

from opsdesk.alerts.models import Alert, AlertGroup, RawPayload
from opsdesk.alerts.processing import process_payload
from opsdesk.incidents.models import Incident
from tests.alerts.factories import make_integration
from tests.alerts.payloads import event, payload
from tests.concurrency import run_together
from tests.incidents.factories import shipped


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_workers_at_once_make_one_group_one_incident_and_no_duplicates():
    assert connection.vendor == "postgresql"
    shipped()
    integration, _key = make_integration("alertmanager")
    for round_ in range(3):  # a few rounds, so the two meet in different places
        key = f"group-{round_}"
        shared = [event("HighCPU", instance=f"web{i}", round=round_, group_key=key) for i in range(4)]
        first = payload(integration, shared + [event("HighCPU", instance="a", round=round_, group_key=key)])
        second = payload(integration, list(reversed(shared)) + [event("HighCPU", instance="b", round=round_,
                                                                      group_key=key)])
        results = run_together(lambda p=first.pk: process_payload(p), lambda p=second.pk: process_payload(p))
        assert results == [5, 5]
        group = AlertGroup.objects.get(group_key=key)
        assert (group.alert_count, group.firing_count) == (6, 6)
        assert Alert.objects.filter(group=group).count() == 6
        assert sum(Alert.objects.filter(group=group).values_list("repeat_count", flat=True)) == 4
    assert AlertGroup.objects.count() == 3
    assert Incident.objects.filter(source="alert").count() == 3
    assert Alert.objects.count() == len(set(Alert.objects.values_list("fingerprint", flat=True))) == 18
    assert not RawPayload.objects.filter(processed_at__isnull=True).exists()
    assert not RawPayload.objects.exclude(error="").exists()
    # Two new groups in one payload, met in the opposite order by the other worker with other alerts of
    # them (so the alert rows do not put one worker behind the other): no deadlock.
    def alerts_of(key, worker):
        return [event("Two", instance=f"{worker}{i}", key=key, group_key=key) for i in range(3)]

    first = payload(integration, alerts_of("x", "a") + alerts_of("y", "a"))
    second = payload(integration, alerts_of("y", "b") + alerts_of("x", "b"))
    assert run_together(lambda: process_payload(first.pk), lambda: process_payload(second.pk)) == [6, 6]
    assert sorted(AlertGroup.objects.filter(group_key__in=["x", "y"]).values_list("group_key", "alert_count")) == [
        ("x", 6), ("y", 6)]
    assert Incident.objects.filter(source="alert").count() == 5
    # One payload taken by three workers at once: one processes it, the others leave it alone.
    stored = payload(integration, [event("A", instance=str(i), group_key="g") for i in range(5)])
    results = run_together(*[lambda: process_payload(stored.pk)] * 3)
    assert sorted(results) == [0, 0, 5]
    assert Alert.objects.filter(labels__alertname="A").count() == 5
    assert sum(Alert.objects.filter(labels__alertname="A").values_list("repeat_count", flat=True)) == 0
    assert Incident.objects.filter(source="alert").count() == 6
