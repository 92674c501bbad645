"""The alerts demo: made through intake and processing, so its groups have incidents; safe to run again."""

import pytest

from opsdesk.alerts.models import Alert, AlertGroup, Integration, MaintenanceWindow, Route, Silence
from opsdesk.core.demo import load_demo

pytestmark = pytest.mark.django_db


def test_demo_alerts_open_incidents_and_a_silenced_one_does_not():
    created = load_demo(only=("accounts", "services", "alerts"))
    assert created
    assert set(Integration.objects.values_list("kind", flat=True)) == {"alertmanager", "events"}
    assert Route.objects.count() == 2 and Silence.objects.count() == 1 and MaintenanceWindow.objects.count() == 1
    assert Alert.objects.count() == 5
    assert AlertGroup.objects.filter(incident__isnull=False).count() == 3
    skewed = Alert.objects.get(labels__alertname="NodeClockSkew")
    assert skewed.suppressed == "silence" and skewed.group.incident_id is None
    assert all(alert.last_payload_id for alert in Alert.objects.all())
    assert load_demo(only=("alerts",)) == 0
