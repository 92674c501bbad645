"""The rules of the incident write path: the priority matrix and its override, the response flow with
its required fields and illegal transitions, the SLA clocks it drives, and reopen/auto-close."""

import datetime

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from opsdesk.core import timers
from opsdesk.core.audit import history_for
from opsdesk.core.workflow import TransitionNotAllowed
from opsdesk.incidents import services
from opsdesk.incidents.models import Incident
from opsdesk.sla.models import SLATimer
from tests.incidents.factories import FACTORY_ACTOR, category, make_incident

pytestmark = pytest.mark.django_db
T0 = datetime.datetime(2026, 11, 23, 9, 0, tzinfo=datetime.UTC)  # a Monday


def timers_of(incident):
    return {t.metric: t for t in SLATimer.objects.filter(object_id=incident.pk,
                                                         content_type__model="incident")}


@pytest.mark.parametrize(("impact", "urgency", "priority"), [
    (1, 1, "P1"), (1, 2, "P2"), (1, 3, "P3"), (2, 1, "P2"), (2, 2, "P3"), (2, 3, "P4"), (3, 1, "P3"),
    (3, 2, "P4"), (3, 3, "P5"),
])
def test_priority_comes_from_the_default_matrix(impact, urgency, priority):
    incident = make_incident(impact=impact, urgency=urgency)
    assert incident.priority == priority
    assert not incident.priority_overridden


def test_override_needs_a_reason_and_is_recorded():
    with pytest.raises(ValidationError) as exc:
        make_incident(impact=3, urgency=3, priority="P2")
    assert "priority_reason" in exc.value.message_dict
    assert not Incident.objects.exists()
    incident = make_incident(impact=3, urgency=3, priority="P2", priority_reason="CEO's laptop")
    assert (incident.priority, incident.priority_overridden, incident.priority_reason) == ("P2", True, "CEO's laptop")
    created = history_for(incident).get(action="create")
    assert created.changes["priority"][1] == "P2"
    assert created.changes["priority_reason"][1] == "CEO's laptop"


def test_new_impact_puts_the_matrix_back_in_charge_and_recalculates_the_sla():
    with time_machine.travel(T0, tick=False):
        incident = make_incident(impact=3, urgency=3)
        assert incident.priority == "P5"
        goal_before = timers_of(incident)["resolve"].goal_seconds
    with time_machine.travel(T0 + datetime.timedelta(minutes=30), tick=False):
        incident = services.update_incident(incident, actor=FACTORY_ACTOR, data={"impact": 1, "urgency": 1})
    assert incident.priority == "P1"
    resolve = timers_of(incident)["resolve"]
    assert resolve.goal_seconds != goal_before
    assert resolve.recalculated_at is not None
    # The P1 clock runs in calendar time: 4 h from the start, less nothing (elapsed is kept, not reset).
    assert resolve.due_at == T0 + datetime.timedelta(hours=4)


def test_subcategory_must_belong_to_the_category():
    with pytest.raises(ValidationError) as exc:
        make_incident(category=category("network"), subcategory=category("database-replication"))
    assert "subcategory" in exc.value.message_dict
    ok = make_incident(category=category("network"), subcategory=category("network-dns"))
    assert ok.subcategory.slug == "network-dns"


def test_impact_outside_the_configured_levels_is_refused():
    with pytest.raises(ValidationError) as exc:
        make_incident(impact=7)
    assert "impact" in exc.value.message_dict


def test_the_whole_flow_is_on_the_timeline():
    incident = make_incident(impact=2, urgency=2)
    for name, data in [("acknowledge", {}), ("start", {}), ("hold", {"hold_reason": "awaiting_vendor"}),
                       ("resume", {}), ("resolve", {"resolution_code": "fixed", "resolution_notes": "Restarted"}),
                       ("close", {})]:
        incident = services.transition_incident(incident, name, actor=FACTORY_ACTOR, data=data)
    assert incident.status == "closed"
    assert incident.acknowledged_at and incident.resolved_at and incident.closed_at
    actions = list(history_for(incident).values_list("action", flat=True))
    for step in ("create", "acknowledge", "start", "hold", "resume", "resolve", "close"):
        assert step in actions


@pytest.mark.parametrize(("state_path", "name"), [
    ([], "resume"), ([], "close"), ([], "reopen"), (["acknowledge"], "acknowledge"),
    (["cancel"], "start"),
])
def test_illegal_transitions_are_refused_and_change_nothing(state_path, name):
    incident = make_incident()
    for step in state_path:
        data = {"reason": "duplicate"} if step == "cancel" else {}
        incident = services.transition_incident(incident, step, actor=FACTORY_ACTOR, data=data)
    before = (incident.status, history_for(incident).count())
    with pytest.raises(TransitionNotAllowed):
        services.transition_incident(incident, name, actor=FACTORY_ACTOR, data={"reason": "x"})
    incident.refresh_from_db()
    assert (incident.status, history_for(incident).count()) == before


def test_resolve_requires_code_and_notes_and_writes_nothing_without_them():
    incident = make_incident()
    with pytest.raises(ValidationError) as exc:
        services.transition_incident(incident, "resolve", actor=FACTORY_ACTOR, data={"resolution_notes": "done"})
    assert "resolution_code" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        services.transition_incident(incident, "resolve", actor=FACTORY_ACTOR,
                                     data={"resolution_code": "magic", "resolution_notes": "done"})
    assert "resolution_code" in exc.value.message_dict
    incident.refresh_from_db()
    assert incident.status == "new" and incident.resolved_at is None


def test_hold_requires_a_known_reason():
    incident = make_incident()
    services.transition_incident(incident, "acknowledge", actor=FACTORY_ACTOR)
    with pytest.raises(ValidationError) as exc:
        services.transition_incident(incident, "hold", actor=FACTORY_ACTOR, data={"hold_reason": "lunch"})
    assert "hold_reason" in exc.value.message_dict


def test_acknowledging_stops_the_acknowledge_clock():
    with time_machine.travel(T0, tick=False):
        incident = make_incident(impact=1, urgency=1)
    with time_machine.travel(T0 + datetime.timedelta(minutes=5), tick=False):
        services.transition_incident(incident, "acknowledge", actor=FACTORY_ACTOR)
    clocks = timers_of(incident)
    assert clocks["acknowledge"].state == "stopped" and clocks["acknowledge"].breached_at is None
    assert clocks["resolve"].state == "running"


def test_on_hold_pauses_the_resolution_clock_and_resume_keeps_the_elapsed_time():
    """Acceptance 2 (P2: resolve in 8 hours of calendar time)."""
    with time_machine.travel(T0, tick=False):
        incident = make_incident(impact=1, urgency=2)
        assert incident.priority == "P2"
        services.transition_incident(incident, "start", actor=FACTORY_ACTOR)
    with time_machine.travel(T0 + datetime.timedelta(hours=2), tick=False):
        services.transition_incident(incident, "hold", actor=FACTORY_ACTOR, data={"hold_reason": "awaiting_customer"})
    resolve = timers_of(incident)["resolve"]
    assert resolve.state == "paused" and resolve.due_at is None
    assert resolve.elapsed_seconds == pytest.approx(2 * 3600)
    incident.refresh_from_db()
    assert incident.sla_due_at is None  # nothing counts down while on hold
    with time_machine.travel(T0 + datetime.timedelta(hours=5), tick=False):
        services.transition_incident(incident, "resume", actor=FACTORY_ACTOR)
    resolve = timers_of(incident)["resolve"]
    assert resolve.state == "running"
    # 2 h counted before the hold, 6 h left from the resume at +5 h: due at +11 h, 3 h later than without the hold.
    assert resolve.due_at == T0 + datetime.timedelta(hours=11)
    incident.refresh_from_db()
    assert incident.sla_due_at == resolve.due_at


def test_resolving_stops_the_clocks_and_schedules_the_auto_close():
    with time_machine.travel(T0, tick=False):
        incident = make_incident(impact=2, urgency=2)
        incident = services.resolve_incident(incident, actor=FACTORY_ACTOR, code="fixed", notes="Cache flushed")
    assert {t.state for t in timers_of(incident).values()} == {"stopped"}
    close_at = T0 + datetime.timedelta(days=services.incident_settings().auto_close_days)
    timers.sweep(now=close_at - datetime.timedelta(minutes=1))
    incident.refresh_from_db()
    assert incident.status == "resolved"
    timers.sweep(now=close_at + datetime.timedelta(minutes=1))
    incident.refresh_from_db()
    assert incident.status == "closed"
    assert history_for(incident).first().actor_label == "system:auto-close"


def test_reopen_within_the_window_restarts_the_resolve_clock_and_cancels_the_auto_close():
    with time_machine.travel(T0, tick=False):
        incident = make_incident(impact=2, urgency=2)
        services.resolve_incident(incident, actor=FACTORY_ACTOR, code="fixed", notes="Cache flushed")
    with time_machine.travel(T0 + datetime.timedelta(days=1), tick=False):
        incident = services.transition_incident(incident, "reopen", actor=FACTORY_ACTOR, data={"reason": "Back again"})
    assert (incident.status, incident.reopen_count, incident.resolved_at) == ("in_progress", 1, None)
    assert timers_of(incident)["resolve"].state == "running"
    timers.sweep(now=T0 + datetime.timedelta(days=30))
    incident.refresh_from_db()
    assert incident.status == "in_progress"


def test_reopen_after_the_window_is_refused():
    with time_machine.travel(T0, tick=False):
        incident = make_incident()
        services.resolve_incident(incident, actor=FACTORY_ACTOR, code="fixed", notes="ok")
    with time_machine.travel(T0 + datetime.timedelta(days=30), tick=False), pytest.raises(TransitionNotAllowed):
        services.transition_incident(incident, "reopen", actor=FACTORY_ACTOR, data={"reason": "again"})


def test_cancel_needs_a_reason_and_stops_the_clocks_without_breach():
    incident = make_incident(impact=1, urgency=1)
    with pytest.raises(ValidationError):
        services.transition_incident(incident, "cancel", actor=FACTORY_ACTOR, data={})
    incident = services.transition_incident(incident, "cancel", actor=FACTORY_ACTOR, data={"reason": "Duplicate"})
    assert incident.status_reason == "Duplicate"
    assert {t.state for t in timers_of(incident).values()} == {"cancelled"}
    with pytest.raises(TransitionNotAllowed):
        services.update_incident(incident, actor=FACTORY_ACTOR, data={"title": "changed"})


def test_reassignment_is_counted(team, other_team, users):
    incident = make_incident(assignment_group=team)
    assert incident.reassignment_count == 0
    incident = services.update_incident(incident, actor=FACTORY_ACTOR, data={"assignment_group": other_team})
    assert incident.reassignment_count == 1
    incident = services.update_incident(incident, actor=FACTORY_ACTOR, data={"assignment_group": team})
    assert incident.reassignment_count == 2


def test_assignee_must_be_a_member_of_the_team(team, users):
    with pytest.raises(ValidationError) as exc:
        make_incident(assignment_group=team, assignee=users["responder"])
    assert "assignee" in exc.value.message_dict
    incident = make_incident(assignment_group=team, assignee=users["team_manager"])
    assert incident.assignee == users["team_manager"]


def test_cmdb_proposes_a_higher_impact_when_a_tier1_service_is_reached(team):
    from tests.cmdb.factories import CIFactory, cls
    from tests.services.factories import ServiceFactory

    shop = ServiceFactory(tier=1, owner_team=team, name="Web shop")
    db = CIFactory(ci_class=cls("database"), owner_team=team)
    db.services.add(shop)
    from opsdesk.core import versions

    versions.bump(versions.IMPACT_GRAPH)
    incident = make_incident(impact=3, urgency=2, cis=[db])
    assert incident.proposed_impact == 1
    assert "Web shop" in incident.proposed_impact_reason
    assert incident.impact == 3  # proposed, not applied


def test_detected_at_defaults_to_now_and_reporter_to_the_person():
    incident = make_incident()
    assert incident.detected_at is not None
    assert incident.detected_at <= timezone.now()


def test_cancelling_keeps_an_acknowledgement_that_was_met():
    incident = make_incident(impact=1, urgency=1)
    services.transition_incident(incident, "acknowledge", actor=FACTORY_ACTOR)
    services.transition_incident(incident, "cancel", actor=FACTORY_ACTOR, data={"reason": "Duplicate of INC-9"})
    clocks = timers_of(incident)
    assert (clocks["acknowledge"].state, clocks["acknowledge"].breached_at) == ("stopped", None)
    assert clocks["resolve"].state == "cancelled"


def test_acknowledging_an_unassigned_incident_takes_it_when_the_person_may_be_its_assignee(team, users):
    from opsdesk.core.actors import Actor

    member = users["team_manager"]  # a member of `team`
    mine = make_incident(assignment_group=team)
    services.transition_incident(mine, "acknowledge", actor=Actor.for_user(member))
    mine.refresh_from_db()
    assert mine.assignee == member and mine.reassignment_count == 0
    theirs = make_incident(assignment_group=team)
    services.transition_incident(theirs, "acknowledge", actor=Actor.for_user(users["responder"]))  # not a member
    theirs.refresh_from_db()
    assert theirs.assignee is None
    by_system = make_incident()
    services.transition_incident(by_system, "start", actor=FACTORY_ACTOR)
    by_system.refresh_from_db()
    assert by_system.assignee is None


def test_the_queue_sort_key_follows_the_clocks_and_the_state():
    """sla_rank_at: the due date while a clock runs, after every due date when none runs (on hold),
    and last of all once resolved, closed or cancelled; reopening puts the due date back."""
    from opsdesk.incidents.models import CLOSED_RANK, OPEN_WITHOUT_CLOCK_RANK

    with time_machine.travel(T0, tick=False):
        incident = make_incident(impact=1, urgency=2)  # P2: acknowledge in 30 minutes
        assert incident.sla_rank_at == incident.sla_due_at == T0 + datetime.timedelta(minutes=30)
        services.transition_incident(incident, "start", actor=FACTORY_ACTOR)
        services.transition_incident(incident, "hold", actor=FACTORY_ACTOR, data={"hold_reason": "awaiting_vendor"})
        incident.refresh_from_db()
        assert (incident.sla_due_at, incident.sla_rank_at) == (None, OPEN_WITHOUT_CLOCK_RANK)
        services.resolve_incident(incident, actor=FACTORY_ACTOR, code="fixed", notes="Vendor patched")
        incident.refresh_from_db()
        assert incident.sla_rank_at == CLOSED_RANK
        services.transition_incident(incident, "reopen", actor=FACTORY_ACTOR, data={"reason": "Back"})
        incident.refresh_from_db()
        assert incident.sla_rank_at == incident.sla_due_at == T0 + datetime.timedelta(hours=8)
    assert list(Incident.objects.filter(sla_rank_at__lt=CLOSED_RANK)) == [incident]
