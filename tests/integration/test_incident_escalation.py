"""Acceptance 3 of the incidents issue, with real peers: "The unacknowledged P1 escalates after the
configured minutes, once, with notifications delivered through a real worker; acknowledging first
prevents it."

The worker is a separate process, so its clock cannot be frozen: the incidents are created with
the clock moved back by more than the rule's minutes (their escalation timers are then due), and
beat's timer sweep is asked of the worker as beat would ask it.
"""

import datetime

import pytest
import time_machine
from django.utils import timezone

from opsdesk.core import tasks
from opsdesk.core.actors import Actor
from opsdesk.core.models import Delivery, JobRun, Notification, OutboxEvent
from opsdesk.incidents import services
from opsdesk.incidents.models import Escalation, EscalationRule
from tests.accounts.factories import TeamFactory, UserFactory
from tests.incidents.factories import make_incident

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ACTOR = Actor.system("integration-test")
SWEEP_TIMERS = "opsdesk.core.tasks.sweep_timers"


def finished_runs(task_name: str) -> int:
    return JobRun.objects.filter(task_name=task_name, status="succeeded").count()


def sweep_timers(peers) -> None:
    """What beat does every minute: ask a worker to sweep the timers, and wait until it has."""
    before = finished_runs(SWEEP_TIMERS)
    tasks.sweep_timers.delay()
    peers.wait_for(lambda: finished_runs(SWEEP_TIMERS) > before, "the timer sweep to run on the worker")


def p1_created_minutes_ago(team, minutes: int, title: str):
    with time_machine.travel(timezone.now() - datetime.timedelta(minutes=minutes), tick=True):
        return make_incident(actor=ACTOR, impact=1, urgency=1, assignment_group=team, title=title)


@pytest.fixture
def on_call(db):
    lead = UserFactory(username="lena", email="lena@example.com")
    team = TeamFactory(name="Payments", slug="payments-team", lead=lead)
    services.create_rule(EscalationRule, actor=ACTOR, data={
        "name": "P1 not acknowledged in 15 min", "trigger": "no_ack", "minutes": 15, "kind": "hierarchical",
        "notify": ["lead"], "conditions": {"priority": ["P1"]}})
    return team, lead


def test_unacknowledged_p1_escalates_once_and_the_lead_gets_one_email(peers, on_call):
    team, lead = on_call
    incident = p1_created_minutes_ago(team, 16, "Card payments fail")
    assert incident.priority == "P1" and incident.acknowledged_at is None

    sweep_timers(peers)

    escalation = peers.wait_for(lambda: Escalation.objects.filter(incident=incident).first(),
                                "the escalation to fire on the worker")
    assert escalation.notified == ["lena"]
    assert escalation.actor_label == "system:escalation"
    peers.wait_for(lambda: Delivery.objects.filter(event__event_type="incident.escalated", status="sent").exists(),
                   "the escalation email to be sent")
    [mail] = peers.wait_for(lambda: peers.mailbox.received(), "the escalation email to reach the SMTP server")
    assert mail.rcpt_tos == ["lena@example.com"]
    assert mail.message["Subject"] == f"[Opsdesk] incident.escalated: {incident}"
    assert Notification.objects.filter(user=lead, event__event_type="incident.escalated").count() == 1

    sweep_timers(peers)  # later sweeps (or a second worker) find nothing more to do
    sweep_timers(peers)
    peers.wait_until_idle()
    assert Escalation.objects.filter(incident=incident).count() == 1
    assert OutboxEvent.objects.filter(event_type="incident.escalated").count() == 1
    assert len(peers.mailbox.received()) == 1


def test_acknowledging_first_prevents_the_escalation(peers, on_call):
    team, _lead = on_call
    incident = p1_created_minutes_ago(team, 16, "Checkout slow")
    services.acknowledge_incident(incident, actor=ACTOR)  # before the worker's sweep comes round

    sweep_timers(peers)
    sweep_timers(peers)
    peers.wait_until_idle()

    assert not Escalation.objects.exists()
    assert not OutboxEvent.objects.filter(event_type="incident.escalated").exists()
    assert not Delivery.objects.filter(event__event_type="incident.escalated").exists()
    assert peers.mailbox.received() == []
