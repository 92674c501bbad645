"""Two sweepers at once on PostgreSQL: each warning and breach is announced exactly once."""

import datetime

import pytest
from django.db import connection

from opsdesk.core.actors import Actor
from opsdesk.core.models import AuditEntry, OutboxEvent
from opsdesk.sla import services
from opsdesk.sla.models import BusinessCalendar, SLATimer
from tests.concurrency import run_together
from tests.sla.factories import PolicyFactory, incident

MON_10 = datetime.datetime(2026, 3, 2, 10, 0, tzinfo=datetime.UTC)


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_sweepers_announce_each_threshold_exactly_once(monkeypatch):
    assert connection.vendor == "postgresql"
    monkeypatch.setattr(services, "SWEEP_BATCH", 7)  # many small batches, so the two interleave
    from opsdesk.sla import defaults

    defaults.install()  # a transactional test before this one flushed the shipped calendars
    always = BusinessCalendar.objects.get(slug="24x7")
    PolicyFactory(calendar=always, targets=[{"metric": "resolve", "goal_minutes": 60, "business_time": False},
                                            {"metric": "acknowledge", "goal_minutes": 15, "business_time": False}])
    records = [incident("P1") for _ in range(40)]
    for record in records:
        services.start(record, record_type="incident", context={"priority": "P1"}, actor=Actor.system("test"),
                       at=MON_10)
    results = run_together(*[lambda: services.sweep(now=MON_10 + datetime.timedelta(hours=2))] * 2)
    expected = 40 * 2 * 3  # 40 incidents, 2 metrics, 50 % + 75 % + breach
    assert sum(results) == expected, results
    assert OutboxEvent.objects.filter(event_type__startswith="incident.sla_").count() == expected
    assert AuditEntry.objects.filter(action__in=["sla_warning", "sla_breached"]).count() == expected
    assert SLATimer.objects.filter(breached_at__isnull=False).count() == 80
    assert services.sweep(now=MON_10 + datetime.timedelta(hours=3)) == 0
