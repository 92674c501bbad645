"""The intake's periodic tasks: the payload sweeper and retention, with a frozen clock."""

import datetime
import json

import pytest
import time_machine

from opsdesk.alerts import tasks
from opsdesk.alerts.integrations import accept_body
from opsdesk.alerts.models import Alert, RawPayload
from tests.alerts.factories import make_integration
from tests.alerts.test_intake import alertmanager_body

T0 = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)
BODY = json.dumps(alertmanager_body()).encode()


@pytest.fixture
def clock(db):
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def test_sweep_processes_payloads_left_unprocessed_for_30_seconds(clock):
    integration, _key = make_integration("alertmanager")
    lost = accept_body(integration, BODY)  # its broker message never arrives (on_commit does not run here)
    clock.shift(datetime.timedelta(seconds=20))
    fresh = accept_body(integration, BODY)
    clock.shift(datetime.timedelta(seconds=15))
    assert tasks.sweep_payloads() == 1
    lost.refresh_from_db()
    fresh.refresh_from_db()
    assert lost.processed_at is not None and fresh.processed_at is None
    assert Alert.objects.filter(integration=integration).count() == 2
    clock.shift(datetime.timedelta(seconds=30))
    assert tasks.sweep_payloads() == 1
    assert tasks.sweep_payloads() == 0
    assert not RawPayload.objects.filter(processed_at__isnull=True).exists()


def test_prune_keeps_each_integrations_retention_and_every_unprocessed_payload(clock):
    short, _ = make_integration("alertmanager", payload_retention_days=1)
    long, _ = make_integration("alertmanager", payload_retention_days=30)
    old_short = accept_body(short, BODY)
    old_long = accept_body(long, BODY)
    old_unprocessed = accept_body(short, BODY)
    RawPayload.objects.exclude(pk=old_unprocessed.pk).update(processed_at=T0)
    clock.shift(datetime.timedelta(days=2))
    recent = accept_body(short, BODY)
    RawPayload.objects.filter(pk=recent.pk).update(processed_at=T0 + datetime.timedelta(days=2))

    assert tasks.prune() == 1
    assert set(RawPayload.objects.values_list("pk", flat=True)) == {old_long.pk, old_unprocessed.pk, recent.pk}
    assert not RawPayload.objects.filter(pk=old_short.pk).exists()
    clock.shift(datetime.timedelta(days=29))
    assert tasks.prune_payloads() == 2  # old_long and recent; the unprocessed one stays
    assert list(RawPayload.objects.values_list("pk", flat=True)) == [old_unprocessed.pk]


def test_check_heartbeats_task(clock):
    make_integration("events", heartbeat_interval_minutes=1)
    clock.shift(datetime.timedelta(minutes=2))
    assert tasks.check_heartbeats() == 1
