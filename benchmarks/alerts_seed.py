"""Seed active alerts for the list figures of benchmarks/alerts.py: N firing alerts in G open groups
of one Alertmanager integration, written with bulk_create (seeding speed is not the subject; the
ingest figures measure the real path). The groups point at incidents the ingest phase opened, round
robin, so the list joins what it joins in production.

Shape (fixed random seed): group sizes vary around N / G (half to one and a half times the mean); 15 alert
names, 40 clusters, severities critical 10 % / warning 60 % / info 30 %; each alert has 7 labels and 2
annotations; last seen within the last hour, first seen within the last week; a tenth of the alerts
were repeated up to 500 times.
"""

from __future__ import annotations

import datetime
import hashlib
import random
import time

NAMES = ["HighErrorRate", "DiskFull", "NodeDown", "HighLatency", "CertificateExpiry", "ReplicationLag",
         "PodCrashLooping", "MemoryPressure", "QueueBacklog", "TargetDown", "HighCPU", "ErrorBudgetBurn",
         "BackupFailed", "DNSFailures", "SlowQueries"]
SEVERITIES = [("critical", 10), ("warning", 60), ("info", 30)]
BATCH = 5_000


def _fingerprint(labels: dict) -> str:
    value = 0xCBF29CE484222325
    for name in sorted(labels):
        for byte in name.encode() + b"\xff" + labels[name].encode() + b"\xff":
            value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{value:016x}"


def seed_active_alerts(n_alerts: int, n_groups: int, *, incident_ids: list[int], seed_value: int = 5) -> dict:
    from django.db import transaction
    from django.utils import timezone

    from opsdesk.alerts.integrations import create_integration
    from opsdesk.alerts.models import Alert, AlertGroup
    from opsdesk.core.actors import Actor

    rng = random.Random(seed_value)
    t0 = time.perf_counter()
    now = timezone.now()
    integration, _key = create_integration(actor=Actor.system("bench-seed"), data={
        "name": "Bench list", "kind": "alertmanager"})
    # Every group has at least one alert; the rest are shared out by weight (half to one and a half
    # times the mean), the remainder of the rounding one by one, so the total is exactly n_alerts.
    weights = [rng.uniform(0.5, 1.5) for _ in range(n_groups)]
    spare, total_weight = n_alerts - n_groups, sum(weights)
    sizes = [1 + int(w / total_weight * spare) for w in weights]
    for index in range(n_alerts - sum(sizes)):
        sizes[index % n_groups] += 1
    groups = []
    for number, size in enumerate(sizes):
        name = NAMES[number % len(NAMES)]
        cluster = f"cluster-{number % 40:02d}"
        key = f'{{}}/{{env="prod"}}:{{alertname="{name}", cluster="{cluster}", shard="{number}"}}'
        severity = rng.choices([s for s, _w in SEVERITIES], [w for _s, w in SEVERITIES])[0]
        first = now - datetime.timedelta(minutes=rng.randint(60, 7 * 24 * 60))
        last = now - datetime.timedelta(seconds=rng.randint(0, 3600))
        groups.append(AlertGroup(
            integration=integration, key_hash=hashlib.sha256(key.encode()).hexdigest(), group_key=key,
            is_open=True, status="firing", title=f"{name} in {cluster}", severity=severity,
            incident_id=incident_ids[number % len(incident_ids)] if incident_ids else None,
            alert_count=size, firing_count=size, first_alert_at=first, last_alert_at=last))
    with transaction.atomic():
        AlertGroup.objects.bulk_create(groups, batch_size=BATCH)
    label = None
    batch = []
    made = 0
    for number, (group, size) in enumerate(zip(groups, sizes, strict=True)):
        name, cluster = group.title.split(" in ")
        for _index in range(size):
            labels = {"alertname": name, "cluster": cluster, "shard": str(number),
                      "instance": f"{cluster}-node-{made}:9100", "job": "node", "severity": group.severity,
                      "team": f"team-{made % 12}"}
            label = label or "team=team-3"
            last = group.last_alert_at - datetime.timedelta(seconds=rng.randint(0, 600))
            batch.append(Alert(
                integration=integration, fingerprint=_fingerprint(labels), group=group, status="firing",
                summary=f"{name} on {labels['instance']}", severity=group.severity, source="prometheus",
                labels=labels, annotations={"summary": f"{name} on {labels['instance']}",
                                            "description": "Seeded by benchmarks/alerts_seed.py."},
                generator_url="http://prometheus.bench:9090/graph", starts_at=group.first_alert_at,
                first_seen_at=group.first_alert_at, last_seen_at=last,
                repeat_count=rng.randint(1, 500) if rng.random() < 0.1 else 0))
            made += 1
            if len(batch) >= BATCH:
                Alert.objects.bulk_create(batch)
                batch = []
    if batch:
        Alert.objects.bulk_create(batch)
    return {"alerts": made, "groups": len(groups), "seconds": time.perf_counter() - t0, "label": label,
            "integration": integration.pk}
