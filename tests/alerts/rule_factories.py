"""Factories of the alerts app's rules and of alerts as processing leaves them.

Routes, silences and maintenance windows go through alerts.services (change log as in production).
`make_alert` writes an alert and its group as rows: the list pages only read them, and processing has
its own tests (tests/alerts/test_processing.py); `posted_alert` goes the whole way, HTTP body included."""

from __future__ import annotations

import datetime
import itertools
import json

import factory
from django.utils import timezone

from opsdesk.alerts import integrations, processing, services
from opsdesk.alerts.models import Alert, AlertGroup, MaintenanceWindow, Route, Silence
from opsdesk.core.actors import Actor
from tests.alerts.factories import make_integration
from tests.services.factories import ServiceFactory

ACTOR = Actor.system("factory")
_numbers = itertools.count(1)


class RouteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Route

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        number = next(_numbers)
        data = {"name": f"Route {number}", "order": number, "matchers": [{"label": "team", "op": "=", "value": "db"}],
                **kwargs}
        return services.create_route(actor=ACTOR, data=data)


class SilenceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Silence

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        actor = kwargs.pop("actor", ACTOR)
        now = timezone.now()
        data = {"matchers": [{"label": "alertname", "op": "=", "value": f"Noise{next(_numbers)}"}],
                "starts_at": now - datetime.timedelta(minutes=5), "ends_at": now + datetime.timedelta(hours=2),
                "comment": "Known noise", **kwargs}
        return services.create_silence(actor=actor, data=data)


class MaintenanceWindowFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MaintenanceWindow

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        now = timezone.now()
        data = {"title": f"Upgrade {next(_numbers)}", "starts_at": now + datetime.timedelta(days=1),
                "ends_at": now + datetime.timedelta(days=1, hours=2), **kwargs}
        if "services" not in data and "cis" not in data:
            data["services"] = [ServiceFactory()]
        return services.create_maintenance_window(actor=ACTOR, data=data)


def make_alert(integration=None, *, group=None, status="firing", severity="critical", incident=None, **fields):
    """An alert row (and its group unless given) as processing would leave it."""
    integration = integration or make_integration()[0]
    number = next(_numbers)
    now = timezone.now()
    labels = fields.pop("labels", {"alertname": f"HighCPU{number}", "instance": f"web-{number}:9100"})
    if group is None:
        group = AlertGroup.objects.create(integration=integration, key_hash=f"{number:064d}",
                                          group_key=f"{{}}:{{alertname=\"{labels.get('alertname')}\"}}",
                                          title=labels.get("alertname", ""), severity=severity, incident=incident,
                                          alert_count=1, firing_count=1 if status == "firing" else 0,
                                          first_alert_at=now, last_alert_at=now)
    return Alert.objects.create(integration=integration, fingerprint=f"{number:016x}", group=group, status=status,
                                summary=fields.pop("summary", f"CPU above 90% on web-{number}"), severity=severity,
                                labels=labels, annotations=fields.pop("annotations", {"summary": "CPU high"}),
                                first_seen_at=now, last_seen_at=now, **fields)


def alertmanager_body(*alerts: dict, status: str = "firing") -> bytes:
    return json.dumps({
        "version": "4", "groupKey": '{}:{alertname="DiskFull"}', "status": status, "receiver": "opsdesk",
        "groupLabels": {"alertname": "DiskFull"}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [{"status": status, "labels": a["labels"], "annotations": a.get("annotations", {}),
                    "startsAt": "2026-11-23T09:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "http://prometheus:9090/graph?g0.expr=disk", "fingerprint": ""}
                   for a in alerts]}).encode()


def posted_alert(integration, labels: dict, annotations: dict | None = None) -> Alert:
    """An alert the whole way: the body stored as intake stores it, then processed."""
    payload = integrations.accept_body(integration, alertmanager_body({"labels": labels,
                                                                        "annotations": annotations or {}}))
    processing.process_payload(payload.pk)
    return Alert.objects.filter(integration=integration).order_by("-id").first()
