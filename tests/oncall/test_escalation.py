"""Escalation policies end to end with a frozen clock: steps fire in order, repeat, stop on
acknowledgement; pages go through people's rules; the timeline tells who was paged and how."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core import mail

from opsdesk.accounts.services import set_membership
from opsdesk.core import notifications
from opsdesk.core.actors import Actor
from opsdesk.core.models import AuditEntry, Delivery
from opsdesk.core.tasks import sweep_outbox
from opsdesk.core.workflow import TransitionNotAllowed
from opsdesk.incidents import services as incident_services
from opsdesk.oncall import escalation
from opsdesk.oncall.models import EscalationRun, Page
from tests.accounts.factories import TeamFactory, UserFactory
from tests.incidents.factories import make_incident
from tests.oncall.factories import LayerFactory, ScheduleFactory
from tests.oncall.paging_factories import contact, make_policy
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC)  # a Monday, one hour into alice's week
MINUTE = dt.timedelta(minutes=1)


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def world(clock):
    """Schedule A with alice on call, a team whose lead (manager) is lena, and the acceptance policy:
    [page A's on-call, wait 5, page the team's managers, wait 5], repeated twice, on a service."""
    alice = UserFactory(username="alice", role="responder")
    lena = UserFactory(username="lena", role="responder")
    member = UserFactory(username="mo", role="responder")
    team = TeamFactory(name="Database", slug="database")
    set_membership(team, lena, actor=Actor.system("test"), role="manager")
    set_membership(team, member, actor=Actor.system("test"), role="responder")
    schedule = ScheduleFactory(name="A", slug="a")
    LayerFactory(schedule=schedule, users=[alice], rotation_start=T0 - dt.timedelta(hours=1), turn_unit="weeks")
    service = ServiceFactory(name="Checkout", slug="checkout")
    policy = make_policy("Checkout escalation", repeat_count=2, services=[service], steps=[
        {"kind": "notify_schedule", "schedule": schedule},
        {"kind": "wait", "wait_minutes": 5},
        {"kind": "notify_team", "team": team, "team_role": "manager"},
        {"kind": "wait", "wait_minutes": 5},
    ])
    return {"alice": alice, "lena": lena, "team": team, "schedule": schedule, "service": service, "policy": policy}


def pages(incident):
    return [(p.user.username, p.paged_at, p.cycle, p.position)
            for p in Page.objects.filter(run__incident=incident).select_related("user").order_by("paged_at", "id")]


def sweep_at(clock, when):
    clock.move_to(when)
    return escalation.sweep()


def test_acceptance_pages_in_order_repeats_twice_and_finishes(world, clock):
    incident = make_incident(service=world["service"], title="Checkout answers 502")
    run = EscalationRun.objects.get(incident=incident)
    assert (run.status, run.position, run.cycle, run.due_at) == ("active", 0, 0, T0)

    for minute in range(0, 45):  # a sweeper every minute for 45 minutes
        sweep_at(clock, T0 + minute * MINUTE)

    assert pages(incident) == [
        ("alice", T0, 0, 0), ("lena", T0 + 5 * MINUTE, 0, 2),
        ("alice", T0 + 10 * MINUTE, 1, 0), ("lena", T0 + 15 * MINUTE, 1, 2),
        ("alice", T0 + 20 * MINUTE, 2, 0), ("lena", T0 + 25 * MINUTE, 2, 2),
    ]
    run.refresh_from_db()
    assert run.status == "exhausted" and run.stopped_at == T0 + 30 * MINUTE and run.due_at is None


def test_the_acceptance_policy_written_literally_pauses_before_each_repeat(world, clock):
    """"page the on-call of schedule A, wait 5 min, page team lead, repeat twice", with no trailing wait:
    the repeat waits as long as the last wait step, and the run finishes with the last page."""
    literal = make_policy("Literal", repeat_count=2, steps=[
        {"kind": "notify_schedule", "schedule": world["schedule"]},
        {"kind": "wait", "wait_minutes": 5},
        {"kind": "notify_team", "team": world["team"], "team_role": "manager"},
    ])
    incident = make_incident(title="Checkout answers 502")
    escalation.start_for_incident(incident, policy=literal, actor=Actor.system("test"))

    for minute in range(0, 45):
        sweep_at(clock, T0 + minute * MINUTE)

    assert pages(incident) == [
        ("alice", T0, 0, 0), ("lena", T0 + 5 * MINUTE, 0, 2),
        ("alice", T0 + 10 * MINUTE, 1, 0), ("lena", T0 + 15 * MINUTE, 1, 2),
        ("alice", T0 + 20 * MINUTE, 2, 0), ("lena", T0 + 25 * MINUTE, 2, 2),
    ]
    run = EscalationRun.objects.get(incident=incident)
    assert run.status == "exhausted" and run.stopped_at == T0 + 25 * MINUTE


def test_a_repeat_pauses_as_long_as_the_last_wait_and_at_once_without_waits(world, clock):
    alice, lena = world["alice"], world["lena"]
    two_waits = make_policy("Two waits", repeat_count=1, steps=[
        {"kind": "notify_users", "users": [alice]}, {"kind": "wait", "wait_minutes": 3},
        {"kind": "notify_users", "users": [lena]}, {"kind": "wait", "wait_minutes": 7},
        {"kind": "notify_users", "users": [alice]}])
    no_wait = make_policy("No wait", repeat_count=2, steps=[{"kind": "notify_users", "users": [lena]}])
    first, second = make_incident(title="two waits"), make_incident(title="no wait")
    escalation.start_for_incident(first, policy=two_waits, actor=Actor.system("test"))
    escalation.start_for_incident(second, policy=no_wait, actor=Actor.system("test"))
    for minute in range(0, 40):
        sweep_at(clock, T0 + minute * MINUTE)
    assert [(user, at) for user, at, _cycle, _position in pages(first)] == [
        ("alice", T0), ("lena", T0 + 3 * MINUTE), ("alice", T0 + 10 * MINUTE),
        ("alice", T0 + 17 * MINUTE), ("lena", T0 + 20 * MINUTE), ("alice", T0 + 27 * MINUTE)]
    assert [(user, at, cycle) for user, at, cycle, _position in pages(second)] == [
        ("lena", T0, 0), ("lena", T0, 1), ("lena", T0, 2)]
    assert set(EscalationRun.objects.values_list("status", flat=True)) == {"exhausted"}


def test_acknowledging_stops_the_escalation(world, clock):
    incident = make_incident(service=world["service"])
    sweep_at(clock, T0)
    sweep_at(clock, T0 + 2 * MINUTE)
    incident_services.transition_incident(incident, "acknowledge", actor=Actor.for_user(world["alice"]))

    for minute in range(3, 40):
        sweep_at(clock, T0 + minute * MINUTE)

    assert pages(incident) == [("alice", T0, 0, 0)]
    run = EscalationRun.objects.get(incident=incident)
    assert run.status == "acknowledged" and run.stopped_by == "alice"
    assert AuditEntry.objects.filter(object_id=incident.pk, action="escalation_stopped").count() == 1
    assert Page.objects.get().acknowledged_at == T0 + 2 * MINUTE


@pytest.mark.parametrize(("verb", "status"), [("start", "acknowledged"), ("resolve", "resolved"),
                                               ("cancel", "cancelled")])
def test_other_transitions_stop_with_their_status(world, clock, verb, status):
    incident = make_incident(service=world["service"])
    data = {"resolve": {"resolution_code": "fixed", "resolution_notes": "done"}, "cancel": {"reason": "dup"}}
    incident_services.transition_incident(incident, verb, actor=Actor.for_user(world["alice"]),
                                          data=data.get(verb, {}))
    assert escalation.sweep() == 0
    assert EscalationRun.objects.get(incident=incident).status == status
    assert not Page.objects.exists()


def test_each_fired_step_is_on_the_timeline_with_who_and_how(world, clock):
    contact(world["alice"], "email", "alice-pager@example.com", rules=[("high", 0)], label="Pager mail")
    incident = make_incident(service=world["service"])
    sweep_at(clock, T0)
    sweep_at(clock, T0 + 5 * MINUTE)
    rows = list(AuditEntry.objects.filter(object_id=incident.pk, action="page",
                                          content_type__model="incident").order_by("id"))
    assert len(rows) == 2
    assert rows[0].actor_label == "system:escalation-policy"
    assert rows[0].changes["escalation policy"] == [None, "Checkout escalation"]
    assert rows[0].changes["step"] == [None, "1 of 4: notify the on-call of A"]
    assert rows[0].changes["paged"] == [None, "alice (Email)"]
    assert rows[1].changes["paged"] == [None, "lena (Email)"]
    assert rows[1].changes["step"] == [None, "3 of 4: notify the managers of Database"]
    page = Page.objects.get(user=world["alice"])
    assert page.reason == "on call in A" and page.methods[0]["target"] == "Pager mail"


def test_a_step_with_nobody_on_call_is_on_the_timeline_and_the_run_goes_on(world, clock):
    empty = ScheduleFactory(name="Nights", slug="nights")
    policy = make_policy("Nights first", steps=[
        {"kind": "notify_schedule", "schedule": empty},
        {"kind": "notify_users", "users": [world["lena"]]},
    ])
    incident = make_incident(title="Disk full")
    escalation.start_for_incident(incident, policy=policy, actor=Actor.system("test"))
    escalation.sweep()
    changes = [e.changes for e in AuditEntry.objects.filter(object_id=incident.pk, action="page",
                                                            content_type__model="incident").order_by("id")]
    assert changes[0]["paged"] == [None, "nobody on call in Nights"]
    assert changes[1]["paged"] == [None, "lena (Email)"]
    assert EscalationRun.objects.get(incident=incident).status == "exhausted"


def test_sweeping_again_pages_nobody_twice(world, clock):
    incident = make_incident(service=world["service"])
    assert escalation.sweep() == 1
    assert escalation.sweep() == 0
    run = EscalationRun.objects.get(incident=incident)
    # A replayed step (a retry after a crash between page and save) finds the page and logs nothing new.
    escalation._fire_step(run, run.policy.steps.get(position=0), 0, incident, T0)
    assert Page.objects.filter(run=run).count() == 1
    assert AuditEntry.objects.filter(object_id=incident.pk, action="page", content_type__model="incident").count() == 1


def test_starting_again_replaces_the_active_run(world, clock):
    incident = make_incident(service=world["service"])
    first = EscalationRun.objects.get(incident=incident)
    other = make_policy("Lead only", steps=[{"kind": "notify_users", "users": [world["lena"]]}])
    second = escalation.start_for_incident(incident, policy=other, actor=Actor.system("test"))
    first.refresh_from_db()
    assert first.status == "cancelled" and second.status == "active"
    assert EscalationRun.objects.filter(incident=incident, status="active").get() == second


def test_alert_incidents_and_incidents_without_policy_start_nothing(world, clock):
    make_incident(service=world["service"], source="alert")
    make_incident(title="no service")
    assert not EscalationRun.objects.exists()
    assert escalation.start_for_incident(make_incident(title="still none"), actor=Actor.system("test")) is None


def test_a_closed_incident_is_not_escalated(world, clock):
    incident = make_incident(title="done")
    incident_services.transition_incident(incident, "cancel", actor=Actor.system("test"), data={"reason": "dup"})
    with pytest.raises(TransitionNotAllowed):
        escalation.start_for_incident(incident, policy=world["policy"], actor=Actor.system("test"))


def test_repeat_count_zero_runs_the_steps_once(world, clock):
    policy = make_policy("Once", steps=[{"kind": "notify_users", "users": [world["alice"]]}])
    incident = make_incident(title="once")
    escalation.start_for_incident(incident, policy=policy, actor=Actor.system("test"))
    escalation.sweep()
    sweep_at(clock, T0 + 30 * MINUTE)
    assert [p[0] for p in pages(incident)] == ["alice"]


# --- paging through contact methods and rules ---------------------------------------------------------------

def test_rules_send_now_and_later_and_the_page_text_carries_links(world, clock, settings):
    settings.BASE_URL = "https://ops.example.com"
    contact(world["alice"], "email", "alice-now@example.com", rules=[("high", 0)])
    contact(world["alice"], "email", "alice-later@example.com", rules=[("high", 5)])
    incident = make_incident(service=world["service"], title="Checkout answers 502")
    escalation.sweep()
    page = Page.objects.get(user=world["alice"])
    assert [(m["method"], m["delay_minutes"]) for m in page.methods] == [("email", 0), ("email", 5)]
    now_id, later_id = (m["delivery"] for m in page.methods)
    assert Delivery.objects.get(pk=later_id).next_attempt_at == T0 + 5 * MINUTE

    clock.move_to(T0 + MINUTE)
    sweep_outbox()
    assert [m.to for m in mail.outbox] == [["alice-now@example.com"]]
    message = mail.outbox[0]
    assert incident.number in message.subject and "Checkout answers 502" in message.subject
    assert "Service: Checkout" in message.body and "Priority:" in message.body
    assert "Acknowledge: https://ops.example.com/oncall/page-link/" in message.body
    assert "Resolve: https://ops.example.com/oncall/page-link/" in message.body
    assert notifications.deliver(later_id) == "skipped"  # not due yet

    sweep_at(clock, T0 + 5 * MINUTE)
    sweep_outbox()
    assert [m.to for m in mail.outbox][-1] == ["alice-later@example.com"]
    assert Delivery.objects.get(pk=later_id).status == "sent"


def test_acknowledgement_cancels_the_delayed_notifications(world, clock):
    contact(world["alice"], "email", "alice-now@example.com", rules=[("high", 0)])
    contact(world["alice"], "email", "alice-later@example.com", rules=[("high", 5)])
    incident = make_incident(service=world["service"])
    escalation.sweep()
    later_id = Page.objects.get(user=world["alice"]).methods[1]["delivery"]
    clock.move_to(T0 + 2 * MINUTE)
    incident_services.transition_incident(incident, "acknowledge", actor=Actor.for_user(world["alice"]))
    assert Delivery.objects.get(pk=later_id).status == "cancelled"
    stopped = AuditEntry.objects.get(object_id=incident.pk, action="escalation_stopped")
    assert stopped.changes["notifications cancelled"] == [None, 2]  # the unsent immediate one too

    clock.move_to(T0 + 10 * MINUTE)
    sweep_outbox()
    assert "alice-later@example.com" not in [m.to[0] for m in mail.outbox]


def test_rules_of_the_steps_urgency_only_and_email_fallback(world, clock):
    contact(world["alice"], "email", "alice-low@example.com", rules=[("low", 0)])
    policy = make_policy("High", steps=[{"kind": "notify_users", "users": [world["alice"], world["lena"]],
                                         "urgency": "high"}])
    incident = make_incident(title="x")
    escalation.start_for_incident(incident, policy=policy, actor=Actor.system("test"))
    escalation.sweep()
    alice_page = Page.objects.get(user=world["alice"])
    # No rule for high urgency: the account's address at once.
    assert [(m["method"], m["target"]) for m in alice_page.methods] == [("email", "alice@example.com")]


def test_a_disabled_contact_method_is_skipped(world, clock):
    from opsdesk.oncall import paging

    method = contact(world["alice"], "email", "alice-pager@example.com", rules=[("high", 0)])
    paging.update_contact_method(method, actor=Actor.system("test"), data={"enabled": False})
    assert paging.plan(world["alice"], "high") == [(None, "email", "alice@example.com", 0)]
