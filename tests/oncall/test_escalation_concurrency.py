"""Two escalation sweepers at once on PostgreSQL: every step fires once and pages each person once; an
acknowledgement racing a sweep leaves no page after it."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection

from opsdesk.core.actors import Actor
from opsdesk.core.models import AuditEntry, Delivery
from opsdesk.incidents import services as incident_services
from opsdesk.oncall import escalation
from opsdesk.oncall.models import EscalationRun, Page
from tests.accounts.factories import UserFactory
from tests.concurrency import run_together
from tests.incidents.factories import make_incident
from tests.oncall.paging_factories import make_policy

INCIDENTS = 10


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_two_sweepers_fire_each_step_once(monkeypatch):
    assert connection.vendor == "postgresql"
    monkeypatch.setattr(escalation, "SWEEP_BATCH", 5)  # many small batches, so the two interleave
    people = [UserFactory(username=name, role="responder") for name in ("alice", "bob", "carol")]
    policy = make_policy("Everyone", repeat_count=1, steps=[
        {"kind": "notify_users", "users": people[:1]}, {"kind": "wait", "wait_minutes": 5},
        {"kind": "notify_users", "users": people[1:2]}, {"kind": "notify_users", "users": people[2:]},
        {"kind": "wait", "wait_minutes": 5}])
    incidents = [make_incident(title=f"Incident {n}") for n in range(INCIDENTS)]
    for incident in incidents:
        escalation.start_for_incident(incident, policy=policy, actor=Actor.system("test"))
    # The first steps are due at once (a started run asks a worker to sweep after its commit; here the
    # eager worker did, or this sweep does).
    escalation.sweep()
    assert Page.objects.count() == INCIDENTS

    now = datetime.datetime.now(datetime.UTC)
    sweep = lambda: escalation.sweep(now=now + datetime.timedelta(minutes=6))  # noqa: E731
    results = run_together(sweep, sweep)
    assert sum(results) == INCIDENTS * 2, results  # the two notify steps after the wait, each once
    assert Page.objects.count() == INCIDENTS * 3
    assert Delivery.objects.filter(event__event_type="oncall.page").count() == INCIDENTS * 3
    assert AuditEntry.objects.filter(action="page").count() == INCIDENTS * 3

    sweep = lambda: escalation.sweep(now=now + datetime.timedelta(minutes=12))  # noqa: E731
    results = run_together(sweep, sweep)
    assert sum(results) == INCIDENTS, results  # after the trailing wait: the repeat's first step
    escalation.sweep(now=now + datetime.timedelta(minutes=18))
    escalation.sweep(now=now + datetime.timedelta(minutes=24))
    assert Page.objects.count() == INCIDENTS * 6
    assert set(Page.objects.values_list("cycle", flat=True)) == {0, 1}
    assert not EscalationRun.objects.filter(status="active").exists()


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_acknowledging_while_sweeping_pages_nobody_after_the_acknowledgement():
    assert connection.vendor == "postgresql"
    alice, bob = UserFactory(username="alice", role="responder"), UserFactory(username="bob", role="responder")
    policy = make_policy("Two", steps=[{"kind": "notify_users", "users": [alice]},
                                       {"kind": "wait", "wait_minutes": 1},
                                       {"kind": "notify_users", "users": [bob]}])
    incidents = [make_incident(title=f"Incident {n}") for n in range(INCIDENTS)]
    for incident in incidents:
        escalation.start_for_incident(incident, policy=policy, actor=Actor.system("test"))
    escalation.sweep()
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=2)

    def acknowledge_all():
        for incident in incidents:
            incident_services.transition_incident(incident, "acknowledge", actor=Actor.for_user(alice))
        return len(incidents)

    def sweep_later():
        return escalation.sweep(now=later)

    run_together(acknowledge_all, sweep_later)
    escalation.sweep(now=later)
    assert not EscalationRun.objects.filter(status="active").exists()
    # Bob was paged only where his step was written before the acknowledgement: the change log's ids
    # follow the order of writes (one chain, one lock), so his step's row comes before the acknowledgement's.
    for incident in incidents:
        rows = list(AuditEntry.objects.filter(object_id=incident.pk, content_type__model="incident",
                                              action__in=["page", "acknowledge"]).order_by("id")
                    .values_list("action", "changes"))
        after_ack = rows[[action for action, _changes in rows].index("acknowledge") + 1:]
        assert not [changes for action, changes in after_ack if action == "page"], rows
        bob_paged = Page.objects.filter(user=bob, run__incident=incident).exists()
        assert bob_paged == any("bob" in str(changes) for action, changes in rows if action == "page")
    assert Page.objects.filter(user=alice).count() == INCIDENTS
