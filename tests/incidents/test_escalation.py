"""Escalation rules: no acknowledgement within N minutes, the priority and SLA percentages trigger
functional (reassign) and hierarchical (page the lead, then the managers) escalations, each exactly
once, on the timeline and notified; manual escalations from the detail page and the API."""

import datetime

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection

from opsdesk.accounts.services import set_membership
from opsdesk.core import events, timers
from opsdesk.core.actors import Actor
from opsdesk.core.audit import history_for
from opsdesk.core.comments import timeline_for
from opsdesk.core.models import Notification, OutboxEvent, Timer
from opsdesk.core.workflow import TransitionNotAllowed
from opsdesk.incidents import escalation, services
from opsdesk.incidents.models import Escalation, EscalationRule, Incident
from opsdesk.sla import services as sla
from tests.accounts.factories import TeamFactory, UserFactory
from tests.concurrency import run_together
from tests.incidents.factories import FACTORY_ACTOR, make_incident

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")
T0 = datetime.datetime(2026, 11, 23, 9, 0, tzinfo=datetime.UTC)
MINUTE = datetime.timedelta(minutes=1)


def escalation_rule(name, *, trigger="no_ack", kind="hierarchical", order=100, **fields):
    fields.setdefault("conditions", {"priority": ["P1"]})
    if trigger == "no_ack":
        fields.setdefault("minutes", 15)
    if kind == "hierarchical":
        fields.setdefault("notify", ["lead", "managers"])
    return services.create_rule(EscalationRule, actor=ACTOR, data={
        "name": name, "trigger": trigger, "kind": kind, "order": order, **fields})


def staffed_team(prefix):
    """A team with a lead, two managers and a responder (all with email addresses)."""
    team = TeamFactory(name=prefix.capitalize(), slug=prefix)
    team.lead = UserFactory(username=f"{prefix}-lead")
    team.save(update_fields=["lead"])
    for name, role in (("lead", "responder"), ("mgr-a", "manager"), ("mgr-b", "manager"), ("resp", "responder")):
        set_membership(team, UserFactory(username=f"{prefix}-{name}"), actor=ACTOR, role=role)
    return team


def p1(team, **fields):
    return make_incident(impact=1, urgency=1, assignment_group=team, **fields)


def sweep(capture, *, at=None):
    """What the worker's timer sweep does, with the events it emits dispatched (notifications)."""
    with capture(execute=True):
        ran = timers.sweep(now=at)
    for event in OutboxEvent.objects.filter(dispatched_at__isnull=True):
        events.dispatch(event.pk)
    return ran


def notified(event_type="incident.escalated"):
    return sorted(Notification.objects.filter(event__event_type=event_type).values_list("user__username", flat=True))


@pytest.fixture
def team():
    return staffed_team("ops")


def test_unacknowledged_p1_escalates_after_the_configured_minutes_once(team, django_capture_on_commit_callbacks):
    escalation_rule("Page the lead after 15 min")
    with time_machine.travel(T0, tick=False) as clock:
        incident = p1(team)
        clock.shift(14 * MINUTE)
        assert sweep(django_capture_on_commit_callbacks) == 0
        assert not Escalation.objects.exists()

        clock.shift(2 * MINUTE)
        sweep(django_capture_on_commit_callbacks)
        sweep(django_capture_on_commit_callbacks)  # a second sweep (or worker) finds nothing more to do

    [done] = Escalation.objects.all()
    assert (done.incident, done.rule_name, done.kind) == (incident, "Page the lead after 15 min", "hierarchical")
    assert done.fired_at == T0 + 16 * MINUTE
    assert done.notified == ["ops-lead", "ops-mgr-a", "ops-mgr-b"]
    assert notified() == ["ops-lead", "ops-mgr-a", "ops-mgr-b"]
    assert OutboxEvent.objects.filter(event_type="incident.escalated").count() == 1
    [logged] = [item for item in timeline_for(incident) if item.kind == "change" and item.item.action == "escalate"]
    assert logged.item.changes["escalation"] == [None, "Page the lead after 15 min"]
    assert logged.actor == "system:escalation"


def test_acknowledging_first_prevents_the_escalation(team, django_capture_on_commit_callbacks):
    escalation_rule("Page the lead after 15 min")
    with time_machine.travel(T0, tick=False) as clock:
        incident = p1(team)
        clock.shift(5 * MINUTE)
        services.acknowledge_incident(incident, actor=FACTORY_ACTOR)
        clock.shift(60 * MINUTE)
        sweep(django_capture_on_commit_callbacks)
    assert not Escalation.objects.exists()
    assert not Timer.objects.filter(kind=escalation.ESCALATE, status="pending").exists()


def test_the_timer_checks_again_when_it_comes_due(team, django_capture_on_commit_callbacks):
    """A timer whose incident was acknowledged behind its back (no hook ran) still does nothing."""
    escalation_rule("Page the lead after 15 min")
    with time_machine.travel(T0, tick=False) as clock:
        incident = p1(team)
        Incident.objects.filter(pk=incident.pk).update(acknowledged_at=T0 + MINUTE)
        clock.shift(20 * MINUTE)
        assert sweep(django_capture_on_commit_callbacks) == 1  # the timer ran ...
    assert not Escalation.objects.exists()  # ... and found nothing to escalate


def test_rules_match_their_conditions_only(team, django_capture_on_commit_callbacks):
    escalation_rule("P1 only")
    with time_machine.travel(T0, tick=False) as clock:
        make_incident(impact=3, urgency=3, assignment_group=team)  # P5
        clock.shift(60 * MINUTE)
        sweep(django_capture_on_commit_callbacks)
    assert not Escalation.objects.exists()


def test_functional_escalation_reassigns_to_the_next_tier(team, django_capture_on_commit_callbacks):
    tier2 = staffed_team("tier2")
    escalation_rule("To tier 2 after 10 min", kind="functional", minutes=10, target_team=tier2)
    with time_machine.travel(T0, tick=False) as clock:
        incident = p1(team, assignee=team.members.get(username="ops-resp"))
        clock.shift(11 * MINUTE)
        sweep(django_capture_on_commit_callbacks)

    incident.refresh_from_db()
    assert (incident.assignment_group, incident.assignee, incident.reassignment_count) == (tier2, None, 1)
    [done] = Escalation.objects.all()
    assert (done.from_team, done.to_team, done.kind) == (team, tier2, "functional")
    assert done.notified == ["tier2-lead"]  # the receiving team's lead hears that work arrived
    assert notified() == ["tier2-lead"]
    actions = [entry.action for entry in history_for(incident).order_by("id")]
    assert actions[-2:] == ["update", "escalate"]


def test_hierarchical_rules_page_the_lead_then_the_managers(team, django_capture_on_commit_callbacks):
    escalation_rule("Lead after 10 min", minutes=10, notify=["lead"], order=1)
    escalation_rule("Managers after 30 min", minutes=30, notify=["managers"], order=2)
    with time_machine.travel(T0, tick=False) as clock:
        p1(team)
        clock.shift(11 * MINUTE)
        sweep(django_capture_on_commit_callbacks)
        assert notified() == ["ops-lead"]
        clock.shift(20 * MINUTE)
        sweep(django_capture_on_commit_callbacks)
    assert notified() == ["ops-lead", "ops-mgr-a", "ops-mgr-b"]
    assert list(Escalation.objects.order_by("fired_at").values_list("rule_name", flat=True)) == [
        "Lead after 10 min", "Managers after 30 min"]


def test_priority_rule_fires_at_creation_and_when_the_priority_is_raised_once(team):
    escalation_rule("P1 pages the managers", trigger="priority", notify=["managers"])
    first = p1(team)
    assert Escalation.objects.get().incident == first

    later = make_incident(impact=3, urgency=3, assignment_group=team)
    assert Escalation.objects.filter(incident=later).count() == 0
    later = services.update_incident(later, actor=FACTORY_ACTOR, data={"impact": 1, "urgency": 1})
    later = services.update_incident(later, actor=FACTORY_ACTOR, data={"urgency": 2})
    later = services.update_incident(later, actor=FACTORY_ACTOR, data={"urgency": 1})
    assert Escalation.objects.filter(incident=later).count() == 1


def test_a_priority_raised_later_arms_the_no_ack_rule_from_the_creation_time(team, django_capture_on_commit_callbacks):
    escalation_rule("P1 after 15 min")
    with time_machine.travel(T0, tick=False) as clock:
        incident = make_incident(impact=3, urgency=3, assignment_group=team)
        assert not Timer.objects.filter(kind=escalation.ESCALATE).exists()
        clock.shift(5 * MINUTE)
        services.update_incident(incident, actor=FACTORY_ACTOR, data={"impact": 1, "urgency": 1})
        [timer] = Timer.objects.filter(kind=escalation.ESCALATE, status="pending")
        assert timer.due_at == T0 + 15 * MINUTE
        services.update_incident(incident, actor=FACTORY_ACTOR, data={"urgency": 2})
        services.update_incident(incident, actor=FACTORY_ACTOR, data={"urgency": 1})
        assert Timer.objects.filter(kind=escalation.ESCALATE, status="pending").count() == 1  # not twice
        clock.shift(11 * MINUTE)
        sweep(django_capture_on_commit_callbacks)
    assert Escalation.objects.filter(incident=incident).count() == 1


def test_sla_percentage_rule_fires_at_its_threshold(team):
    sla.register_threshold_provider(Incident, escalation.threshold_percents)
    sla.register_threshold_listener(Incident, escalation.on_sla_threshold)
    tier2 = staffed_team("tier2")
    escalation_rule("Ack clock at 80%", trigger="sla_percent", kind="functional", metric="acknowledge", percent=80,
                    target_team=tier2)
    with time_machine.travel(T0, tick=False) as clock:
        incident = p1(team)  # P1: acknowledge within 15 minutes, 24x7
        clock.shift(10 * MINUTE)
        sla.sweep()
        assert not Escalation.objects.exists()  # 50% and 75% announced; the rule waits for 80%
        clock.shift(3 * MINUTE)
        sla.sweep()
        sla.sweep()
    [done] = Escalation.objects.all()
    assert (done.rule_name, done.to_team) == ("Ack clock at 80%", tier2)
    incident.refresh_from_db()
    assert incident.assignment_group == tier2


def test_closing_cancels_the_pending_escalations(team):
    escalation_rule("P1 after 15 min")
    incident = p1(team)
    services.transition_incident(incident, "cancel", actor=FACTORY_ACTOR, data={"reason": "duplicate"})
    assert not Timer.objects.filter(kind=escalation.ESCALATE, status="pending").exists()


# --- manual escalation ---------------------------------------------------------------------------------

def test_manual_escalation_climbs_from_the_lead_to_the_managers_and_may_repeat(team,
                                                                                django_capture_on_commit_callbacks):
    incident = p1(team)
    responder = Actor.for_user(team.members.get(username="ops-resp"))
    with django_capture_on_commit_callbacks(execute=True):
        escalation.escalate_incident(incident, actor=responder, reason="Customer is shouting")
    assert notified() == ["ops-lead"]
    with django_capture_on_commit_callbacks(execute=True):
        escalation.escalate_incident(incident, actor=responder, reason="Still down")
        escalation.escalate_incident(incident, actor=responder, reason="And again")
    assert notified() == ["ops-lead", "ops-mgr-a", "ops-mgr-a", "ops-mgr-b", "ops-mgr-b"]
    assert [e.notified for e in Escalation.objects.order_by("id")] == [
        ["ops-lead"], ["ops-mgr-a", "ops-mgr-b"], ["ops-mgr-a", "ops-mgr-b"]]
    assert {e.rule_name for e in Escalation.objects.all()} == {"manual"}
    assert history_for(incident).filter(action="escalate").count() == 3


def test_manual_functional_escalation_and_its_refusals(team):
    tier2 = staffed_team("tier2")
    incident = p1(team)
    incident = escalation.escalate_incident(incident, actor=ACTOR, team=tier2, reason="Needs the DBAs")
    assert incident.assignment_group == tier2
    with pytest.raises(ValidationError):
        escalation.escalate_incident(incident, actor=ACTOR, team=tier2)  # already there
    with pytest.raises(ValidationError):
        escalation.escalate_incident(incident, actor=ACTOR, notify=["boss"])
    services.resolve_incident(incident, actor=ACTOR, code="fixed", notes="ok")
    with pytest.raises(TransitionNotAllowed):
        escalation.escalate_incident(incident, actor=ACTOR)


def test_escalate_button_needs_a_responder(client, team, users):
    incident = p1(team)
    client.force_login(users["viewer"])
    assert client.post(f"/incidents/{incident.pk}/escalate/", {"reason": "x"}).status_code == 403
    client.force_login(users["responder"])
    response = client.post(f"/incidents/{incident.pk}/escalate/", {"reason": "Customer waiting"},
                           HTTP_HX_REQUEST="true", HTTP_HX_TARGET="major-pane")
    assert response.status_code == 200
    assert "ops-lead" in response.content.decode()
    assert Escalation.objects.get().notified == ["ops-lead"]


def test_rule_validation_names_the_fields():
    with pytest.raises(ValidationError) as exc:
        escalation.validate_rule({"trigger": "no_ack", "kind": "functional", "notify": ["boss"]})
    assert {"minutes", "target_team", "notify"} <= set(exc.value.message_dict)
    with pytest.raises(ValidationError) as exc:
        escalation.validate_rule({"trigger": "sla_percent", "kind": "hierarchical", "metric": "coffee"})
    assert {"metric", "percent", "notify"} <= set(exc.value.message_dict)
    with pytest.raises(ValidationError) as exc:
        escalation.validate_rule({"trigger": "priority", "kind": "hierarchical", "notify": ["lead"]})
    assert "conditions" in exc.value.message_dict
    assert not EscalationRule.objects.exists()


# --- exactly once under concurrent sweepers ---------------------------------------------------------------

@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_escalation_fires_exactly_once_under_two_concurrent_sweepers():
    assert connection.vendor == "postgresql"
    team = staffed_team("ops")
    rule = escalation_rule("Page the lead after 15 min")
    incident = p1(team)
    # A second timer for the same rule (as if a restarted worker had armed it again): both sweepers
    # get one, and both try to escalate at the same moment.
    timers.schedule(escalation.ESCALATE, incident.created_at + 15 * MINUTE, incident, payload={"rule": rule.pk})
    later = incident.created_at + 16 * MINUTE
    results = run_together(*[lambda: timers.sweep(now=later)] * 2)

    assert sum(results) == 2  # both timers ran
    assert Escalation.objects.filter(incident=incident).count() == 1
    assert OutboxEvent.objects.filter(event_type="incident.escalated").count() == 1
    assert history_for(incident).filter(action="escalate").count() == 1
