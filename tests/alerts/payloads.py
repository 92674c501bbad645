"""Stored payloads without HTTP, for the processing tests: `payload(integration, [event(...), ...])`
makes the RawPayload the intake would have stored; `process(...)` makes one and processes it."""

from __future__ import annotations

from django.utils import timezone

from opsdesk.alerts.fingerprint import fingerprint
from opsdesk.alerts.intake import AlertEvent
from opsdesk.alerts.models import RawPayload
from opsdesk.alerts.processing import process_payload


def event(alertname: str = "HighCPU", status: str = "firing", *, group_key: str = "", severity: str = "critical",
          summary: str = "", action: str = "", source: str = "", **labels) -> AlertEvent:
    labels = {"alertname": alertname, **{name: str(value) for name, value in labels.items()}}
    return AlertEvent(fingerprint=fingerprint(labels), status=status, labels=labels,
                      annotations={"summary": summary or f"{alertname} on {labels.get('instance', 'host')}"},
                      summary=summary or f"{alertname} on {labels.get('instance', 'host')}", severity=severity,
                      source=source, group_key=group_key, action=action)


def payload(integration, events: list[AlertEvent]) -> RawPayload:
    data = [e.to_json() for e in events]
    return RawPayload.objects.create(integration=integration, events=data, body="{}", size=2,
                                     received_at=timezone.now(), event_count=len(data))


def process(integration, events: list[AlertEvent]) -> int:
    return process_payload(payload(integration, events).pk)
