"""Demo alerts: an Alertmanager and an events integration, two routes, a silence, a maintenance window,
and alerts posted as their tools would post them, through intake and processing, so their groups open
incidents (and a silenced alert is listed without one)."""

from __future__ import annotations

import datetime
import json

from django.utils import timezone

from opsdesk.accounts.models import Team
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.actors import Actor
from opsdesk.oncall.models import EscalationPolicy
from opsdesk.services.models import Service

from . import integrations, processing, services
from .models import Integration

ALERTMANAGER = "Prometheus Alertmanager (production)"
EVENTS = "Backup jobs (events API)"


def _ci_names(limit: int) -> list[str]:
    return list(ConfigurationItem.objects.filter(status="in_production").order_by("name")
                .values_list("name", flat=True)[:limit])


def _alertmanager_body(status: str, group: dict, alerts: list[dict], now: datetime.datetime) -> bytes:
    started = (now - datetime.timedelta(minutes=12)).isoformat().replace("+00:00", "Z")
    labels_common = {k: v for k, v in alerts[0]["labels"].items() if all(a["labels"].get(k) == v for a in alerts)}
    return json.dumps({
        "version": "4", "groupKey": "{}:" + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(group.items())) + "}",
        "truncatedAlerts": 0, "status": status, "receiver": "opsdesk", "groupLabels": group,
        "commonLabels": labels_common, "commonAnnotations": {}, "externalURL": "http://alertmanager.example.net:9093",
        "alerts": [{"status": status, "labels": a["labels"], "annotations": a["annotations"], "startsAt": started,
                    "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "http://prometheus.example.net:9090/graph?g0.expr=" + a["labels"]["alertname"],
                    "fingerprint": ""} for a in alerts],
    }).encode()


def _post(integration: Integration, body: bytes) -> int:
    payload = integrations.accept_body(integration, body, "application/json")
    return processing.process_payload(payload.pk)  # now, inside the demo's transaction (the worker may be off)


def load(actor: Actor) -> int:
    if Integration.objects.filter(name=ALERTMANAGER).exists():
        return 0
    teams = {t.slug: t for t in Team.objects.all()}
    catalogue = {s.slug: s for s in Service.objects.all()}
    policy = EscalationPolicy.objects.order_by("name").first()
    now = timezone.now()
    created = 0
    manager, _key = integrations.create_integration(actor=actor, data={
        "name": ALERTMANAGER, "kind": "alertmanager",
        "description": "The production Prometheus cluster's Alertmanager (receiver opsdesk).",
        "team": teams.get("platform"), "service": catalogue.get("monitoring"),
        "severity_map": {"critical": "P1", "error": "P2", "warning": "P3", "info": "P4"},
        "ci_labels": ["instance", "host"], "heartbeat_interval_minutes": None})
    events, _key = integrations.create_integration(actor=actor, data={
        "name": EVENTS, "kind": "events", "description": "Backup jobs report failures through the events API.",
        "team": teams.get("platform"), "severity_map": {"critical": "P2", "error": "P3", "warning": "P4"},
        "auto_resolve": True})
    created += 2
    services.create_route(actor=actor, data={
        "name": "Database alerts to the Data Platform", "order": 10,
        "matchers": [{"label": "team", "op": "=", "value": "data"}], "team": teams.get("data"),
        "service": catalogue.get("postgres"), "escalation_policy": policy})
    services.create_route(actor=actor, data={
        "name": "Critical payments alerts are P1", "order": 20,
        "matchers": [{"label": "service", "op": "=~", "value": "payments.*"}], "severities": ["critical"],
        "team": teams.get("payments"), "service": catalogue.get("payments-api"), "priority": "P1",
        "escalation_policy": policy})
    created += 2
    services.create_silence(actor=actor, data={
        "matchers": [{"label": "alertname", "op": "=", "value": "NodeClockSkew"}],
        "starts_at": now - datetime.timedelta(hours=1), "ends_at": now + datetime.timedelta(days=2),
        "comment": "NTP servers are being replaced (CHG planned); the skew alerts are expected until then."})
    cis = list(ConfigurationItem.objects.filter(status="in_production").order_by("name")[:6])
    window_services = [s for s in (catalogue.get("data-warehouse"),) if s is not None]
    if window_services or cis:
        services.create_maintenance_window(actor=actor, data={
            "title": "Data warehouse storage upgrade",
            "description": "New disks for the staging volume; the warehouse may be unavailable.",
            "starts_at": now + datetime.timedelta(days=3), "ends_at": now + datetime.timedelta(days=3, hours=4),
            "services": window_services, "cis": cis[-1:] if not window_services else []})
    created += 2
    hosts = _ci_names(4) or ["db-orders-1", "web-1", "web-2", "ntp-1"]
    hosts += [hosts[-1]] * (4 - len(hosts))
    created += _post(manager, _alertmanager_body("firing", {"alertname": "PostgresReplicationLag"}, [
        {"labels": {"alertname": "PostgresReplicationLag", "severity": "critical", "team": "data",
                    "instance": f"{hosts[0]}:9187", "job": "postgres"},
         "annotations": {"summary": f"Replica {hosts[0]} lags 12 minutes behind the primary",
                         "runbook_url": "https://runbooks.example.net/postgres/replication-lag"}}], now))
    created += _post(manager, _alertmanager_body("firing", {"alertname": "HighErrorRate"}, [
        {"labels": {"alertname": "HighErrorRate", "severity": "critical", "service": "payments-api",
                    "instance": f"{host}:8080", "job": "payments"},
         "annotations": {"summary": f"5xx above 5% on {host}", "description": "Error ratio 7.2% over 5 minutes."}}
        for host in hosts[1:3]], now))
    created += _post(manager, _alertmanager_body("firing", {"alertname": "NodeClockSkew"}, [
        {"labels": {"alertname": "NodeClockSkew", "severity": "warning", "instance": f"{hosts[3]}:9100",
                    "job": "node"},
         "annotations": {"summary": f"Clock of {hosts[3]} is 2.3 s off"}}], now))
    created += _post(events, json.dumps({
        "event_action": "trigger", "dedup_key": "backup-nightly-hr-portal",
        "payload": {"summary": "Nightly backup of hr-portal failed: repository locked", "severity": "error",
                    "source": "backup-runner-1", "component": "restic", "group": "nightly", "class": "backup",
                    "custom_details": {"exit_code": 11, "repository": "s3:backups/hr-portal"}}}).encode())
    return created
