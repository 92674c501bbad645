"""The change request rules: create from a template, edit windows, the flow per type, illegal transitions,
submission checks (window, plan, collisions), ticking the plan, closing with a review missing."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from opsdesk.changes import services
from opsdesk.changes.models import ChangeRequest, ChangeTemplate, PlanStep
from opsdesk.core.actors import Actor
from opsdesk.core.models import AuditEntry, Comment
from opsdesk.core.workflow import TransitionNotAllowed
from tests.accounts.factories import UserFactory
from tests.changes.factories import FACTORY_ACTOR, make_change, window
from tests.cmdb.factories import CIFactory

pytestmark = pytest.mark.django_db

PLAN = [{"kind": "implementation", "who": "DBA", "action": "Upgrade the cluster", "minutes": 30,
         "verification": "Version is 16.4"},
        {"kind": "implementation", "who": "DBA", "action": "Run the smoke tests", "minutes": 10},
        {"kind": "backout", "who": "DBA", "action": "Restore the snapshot", "minutes": 40}]


def planned(**fields):
    fields.setdefault("steps", PLAN)
    return make_change(**fields)


def submit(change, **data):
    return services.transition_change(change, "submit", actor=FACTORY_ACTOR, data=data)


def audit_count(change):
    return AuditEntry.objects.filter(object_id=change.pk, content_type__model="changerequest").count()


# --- create and edit ------------------------------------------------------------------------------------

def test_create_writes_the_plan_in_order_and_the_requester_is_the_actor(users, team):
    actor = Actor.for_user(users["responder"])
    change = make_change(actor=actor, owner_team=team, steps=PLAN)
    steps = list(change.steps.all())
    assert [(s.kind, s.order, s.action) for s in steps] == [
        ("backout", 1, "Restore the snapshot"), ("implementation", 1, "Upgrade the cluster"),
        ("implementation", 2, "Run the smoke tests")]
    assert change.requester == users["responder"]


def test_a_standard_change_copies_its_template_plan_title_and_category(team):
    template = ChangeTemplate.objects.get(slug="restart-application-pod")
    change = make_change(owner_team=team, change_type="standard", template=template, title="")
    assert change.title == template.title
    assert change.category == template.category
    assert change.test_plan == template.test_plan
    assert change.steps.filter(kind="implementation").count() == len(template.plan_steps)
    assert change.steps.filter(kind="backout").count() == len(template.backout_steps)


def test_a_standard_change_needs_an_active_standard_template(team):
    with pytest.raises(ValidationError) as error:
        make_change(owner_team=team, change_type="standard")
    assert "template" in error.value.message_dict
    plan = ChangeTemplate.objects.get(slug="plan-database")
    with pytest.raises(ValidationError):
        make_change(owner_team=team, change_type="standard", template=plan)
    retired = ChangeTemplate.objects.get(slug="add-dns-record")
    retired.active = False
    retired.save()
    with pytest.raises(ValidationError):
        make_change(owner_team=team, change_type="standard", template=retired)
    assert ChangeRequest.objects.count() == 0


def test_the_planned_end_must_follow_the_start(team):
    start, end = window()
    with pytest.raises(ValidationError) as error:
        make_change(owner_team=team, planned_start=end, planned_end=start)
    assert "planned_end" in error.value.message_dict
    assert ChangeRequest.objects.count() == 0


def test_bad_steps_are_refused_with_the_step_named(team):
    with pytest.raises(ValidationError) as error:
        make_change(owner_team=team, steps=[{"kind": "sideways", "action": ""}, {"action": "x", "minutes": "many"}])
    text = " ".join(error.value.message_dict["steps"])
    assert "Step 1" in text and "Step 2" in text
    assert ChangeRequest.objects.count() == 0


def test_flow_fields_cannot_be_edited(team):
    change = planned(owner_team=team)
    with pytest.raises(ValidationError) as error:
        services.update_change(change, actor=FACTORY_ACTOR, data={"status": "closed", "risk_level": "low"})
    assert set(error.value.message_dict) == {"status", "risk_level"}


def test_edit_replaces_the_plan_and_is_refused_once_on_its_way_to_approval(users, team):
    change = planned(owner_team=team)
    services.update_change(change, actor=FACTORY_ACTOR, data={"steps": PLAN[:1] + PLAN[2:]})
    assert change.steps.count() == 2
    services.transition_change(submit(change), "start_assessment", actor=FACTORY_ACTOR)
    services.transition_change(change, "request_approval", actor=FACTORY_ACTOR)
    change.refresh_from_db()
    assert change.status == "approval"
    before = audit_count(change)
    with pytest.raises(TransitionNotAllowed):
        services.update_change(change, actor=FACTORY_ACTOR, data={"title": "Something else"})
    with pytest.raises(TransitionNotAllowed):
        services.set_steps(change, PLAN, actor=FACTORY_ACTOR)
    change.refresh_from_db()
    assert change.title != "Something else" and change.steps.count() == 2
    assert audit_count(change) == before


# --- the flow per type ----------------------------------------------------------------------------------

def test_a_standard_change_is_scheduled_on_submit(team):
    template = ChangeTemplate.objects.get(slug="add-dns-record")
    change = make_change(owner_team=team, change_type="standard", template=template)
    change = submit(change)
    assert change.status == "scheduled"
    assert change.submitted_at is not None
    assert change.risk_assessed_at is not None
    actions = list(AuditEntry.objects.filter(object_id=change.pk, content_type__model="changerequest")
                   .values_list("action", flat=True))
    assert "submit" in actions and "schedule_standard" in actions


def test_a_normal_change_goes_submitted_assessment_approval(users, team):
    change = submit(planned(owner_team=team))
    assert change.status == "submitted"
    change = services.transition_change(change, "start_assessment", actor=FACTORY_ACTOR)
    assert change.status == "assessment"
    change = services.transition_change(change, "request_approval", actor=FACTORY_ACTOR)
    # The approvals engine took over in the same transaction: its first stage is open.
    assert change.status == "approval"
    assert change.approval_policy_id is not None and change.approvals.filter(status="pending").exists()


def test_an_emergency_change_goes_to_approval_on_submit_with_a_review_required(users, team):
    change = submit(planned(owner_team=team, change_type="emergency"))
    assert change.status == "approval"
    assert change.approvals.filter(status="pending").exists()
    assert change.review_required is True
    assert change.submitted_at is not None
    actions = set(AuditEntry.objects.filter(object_id=change.pk, content_type__model="changerequest")
                  .values_list("action", flat=True))
    assert "request_emergency_approval" in actions


@pytest.mark.parametrize("change_type,name", [
    ("standard", "request_approval"), ("standard", "start_assessment"), ("emergency", "start_assessment"),
    ("normal", "schedule_standard"), ("normal", "request_emergency_approval"), ("emergency", "request_approval")])
def test_a_type_cannot_take_another_types_transition(team, change_type, name):
    fields = {"owner_team": team, "change_type": change_type}
    if change_type == "standard":
        fields["template"] = ChangeTemplate.objects.get(slug="add-dns-record")
    change = planned(**fields)
    ChangeRequest.objects.filter(pk=change.pk).update(status="submitted")
    change.refresh_from_db()
    before = audit_count(change)
    with pytest.raises(TransitionNotAllowed) as error:
        services.transition_change(change, name, actor=FACTORY_ACTOR)
    assert "cannot" in str(error.value)
    change.refresh_from_db()
    assert change.status == "submitted" and audit_count(change) == before


def test_a_draft_cannot_start_implementation(team):
    change = planned(owner_team=team)
    before = audit_count(change)
    with pytest.raises(TransitionNotAllowed):
        services.transition_change(change, "start_implementation", actor=FACTORY_ACTOR)
    change.refresh_from_db()
    assert change.status == "draft" and change.actual_start is None and audit_count(change) == before


def test_available_transitions_follow_the_type(team):
    template = ChangeTemplate.objects.get(slug="add-dns-record")
    standard = make_change(owner_team=team, change_type="standard", template=template)
    normal = planned(owner_team=team)
    ChangeRequest.objects.filter(pk__in=[standard.pk, normal.pk]).update(status="submitted")
    standard.refresh_from_db()
    normal.refresh_from_db()
    assert {t.name for t in services.available_transitions(standard)} == {"schedule_standard", "revise", "cancel"}
    assert {t.name for t in services.available_transitions(normal)} == {"start_assessment", "revise", "cancel"}


# --- submission checks ----------------------------------------------------------------------------------

def test_submit_needs_a_window(team):
    change = planned(owner_team=team, planned_start=None, planned_end=None)
    with pytest.raises(ValidationError) as error:
        submit(change)
    assert {"planned_start", "planned_end"} <= set(error.value.message_dict)
    change.refresh_from_db()
    assert change.status == "draft" and change.submitted_at is None


def test_submit_needs_implementation_and_backout_steps(team):
    change = make_change(owner_team=team)
    with pytest.raises(ValidationError) as error:
        submit(change)
    text = " ".join(error.value.message_dict["steps"])
    assert "implementation step" in text and "backout step" in text
    services.set_steps(change, PLAN[:2], actor=FACTORY_ACTOR)
    with pytest.raises(ValidationError) as error:
        submit(change)
    assert "backout step" in " ".join(error.value.message_dict["steps"])
    change.refresh_from_db()
    assert change.status == "draft"


def test_submit_with_collisions_is_refused_without_acknowledgement(team):
    ci = CIFactory()
    start, end = window()
    other = planned(owner_team=team, cis=[ci], planned_start=start, planned_end=end)
    submit(other)
    change = planned(owner_team=team, cis=[ci], planned_start=start, planned_end=end)
    before = audit_count(change)
    with pytest.raises(ValidationError) as error:
        submit(change)
    assert other.number in " ".join(error.value.message_dict["collisions"])
    change.refresh_from_db()
    assert change.status == "draft" and change.collisions == [] and change.risk_assessed_at is None
    assert audit_count(change) == before
    user = UserFactory(role="responder")
    change = services.transition_change(change, "submit", actor=Actor.for_user(user),
                                        data={"acknowledge_collisions": True})
    assert change.status == "submitted"
    assert change.collisions and change.collisions_acknowledged_by == user
    assert change.collisions_acknowledged_at is not None


# --- implementation and closing -------------------------------------------------------------------------

def scheduled_change(team, **fields):
    template = ChangeTemplate.objects.get(slug="add-dns-record")
    change = make_change(owner_team=team, change_type="standard", template=template, **fields)
    return submit(change)


def test_implementation_sets_actual_times_and_complete_needs_an_outcome(team):
    change = scheduled_change(team)
    change = services.transition_change(change, "start_implementation", actor=FACTORY_ACTOR)
    assert change.status == "implementing" and change.actual_start is not None
    with pytest.raises(ValidationError) as error:
        services.transition_change(change, "complete", actor=FACTORY_ACTOR, data={"outcome": "cancelled"})
    assert "outcome" in error.value.message_dict
    change.refresh_from_db()
    assert change.status == "implementing"
    change = services.transition_change(change, "complete", actor=FACTORY_ACTOR,
                                        data={"outcome": "successful", "comment": "All fine."})
    assert change.status == "review" and change.actual_end is not None
    assert change.outcome == "successful" and change.outcome_notes == "All fine."
    change = services.transition_change(change, "close", actor=FACTORY_ACTOR)
    assert change.status == "closed" and change.closed_at is not None


def test_close_is_refused_while_a_review_is_missing(team):
    change = scheduled_change(team)
    services.transition_change(change, "start_implementation", actor=FACTORY_ACTOR)
    change = services.transition_change(change, "complete", actor=FACTORY_ACTOR, data={"outcome": "failed"})
    assert change.review_required is True
    with pytest.raises(TransitionNotAllowed) as error:
        services.transition_change(change, "close", actor=FACTORY_ACTOR)
    assert "review" in str(error.value)
    change.refresh_from_db()
    assert change.status == "review" and change.closed_at is None


def test_cancel_closes_with_the_outcome_cancelled(team):
    change = planned(owner_team=team)
    change = services.transition_change(change, "cancel", actor=FACTORY_ACTOR, data={"reason": "Not needed"})
    assert change.status == "closed" and change.outcome == "cancelled" and change.status_reason == "Not needed"


def test_revise_goes_back_to_draft_and_keeps_the_plan(users, team):
    change = submit(planned(owner_team=team))
    change = services.transition_change(change, "revise", actor=FACTORY_ACTOR, data={"reason": "More detail"})
    assert change.status == "draft" and change.steps.count() == 3


def test_steps_are_ticked_only_while_implementing_and_the_timeline_says_so(team):
    implementer = UserFactory(role="viewer")
    change = scheduled_change(team, implementer=implementer)
    step = change.steps.filter(kind="implementation").order_by("order").last()
    with pytest.raises(TransitionNotAllowed):
        services.tick_step(step, actor=Actor.for_user(implementer))
    services.transition_change(change, "start_implementation", actor=FACTORY_ACTOR)
    services.tick_step(step, actor=Actor.for_user(implementer), note="dig says yes")
    step.refresh_from_db()
    assert step.done_at is not None and step.done_by == implementer and step.note == "dig says yes"
    comment = Comment.objects.filter(object_id=change.pk, content_type__model="changerequest").latest("id")
    assert comment.body.startswith(f"Step {step.order} done: {step.action}")
    assert AuditEntry.objects.filter(object_id=change.pk, action="tick_step").exists()
    with pytest.raises(TransitionNotAllowed):
        services.tick_step(step, actor=Actor.for_user(implementer))
    services.untick_step(step, actor=Actor.for_user(implementer))
    step.refresh_from_db()
    assert step.done_at is None


def test_only_the_implementer_or_a_team_responder_ticks(team):
    change = scheduled_change(team)
    services.transition_change(change, "start_implementation", actor=FACTORY_ACTOR)
    step = change.steps.first()
    with pytest.raises(PermissionDenied):
        services.tick_step(step, actor=Actor.for_user(UserFactory(role="viewer")))
    assert PlanStep.objects.get(pk=step.pk).done_at is None


def test_changes_are_found_by_the_search_index(team):
    from opsdesk.core import search

    change = planned(owner_team=team, title="Rotate the kerberos keytab", reason="Annual rotation")
    hits = search.query("kerberos", kinds=["change"])
    assert [h.number for h in hits] == [change.number]


# --- review findings: re-assessment before approval, standard approval, list caps ------------------------

def _tier_1_ci():
    """db-01 <- app-01 (runs on) -> supports Payments (tier 1): a change on db-01 is at least high risk."""
    from tests.cmdb.factories import relate
    from tests.services.factories import ServiceFactory

    payments = ServiceFactory(name="Payments", tier=1, criticality="critical")
    db = CIFactory(name="db-01")
    relate(CIFactory(name="app-01", services=[payments]), "runs-on", db)
    return db


def _in_assessment(team, **fields):
    from tests.changes.approval_factories import member

    member(team, "lead")  # the team lead approves
    change = submit(planned(owner_team=team, **fields))
    return services.transition_change(change, "start_assessment", actor=FACTORY_ACTOR)


def test_request_approval_assesses_again_and_the_policy_follows_the_fresh_risk(team):
    change = _in_assessment(team)
    assert change.risk_level in ("low", "medium")
    # Edited during the assessment: the impact of the new CI reaches a tier-1 service.
    services.update_change(change, actor=FACTORY_ACTOR, data={"cis": [_tier_1_ci()]})
    change = services.transition_change(change, "request_approval", actor=FACTORY_ACTOR)
    assert change.status == "approval" and change.risk_level == "high"
    assert change.approval_policy.slug == "high"  # team lead, then CAB; not the low-risk policy
    assert list(change.approval_policy.stages.order_by("order").values_list("name", flat=True)) == ["Team lead",
                                                                                                      "CAB"]
    assert "cmdb_impact" in {f["key"] for f in change.risk_factors if f["points"]}


def test_request_approval_refuses_collisions_not_acknowledged_at_submission(team):
    ci = CIFactory()
    start, end = window()
    change = _in_assessment(team, cis=[ci], planned_start=start, planned_end=end)
    assert change.collisions == []
    other = submit(planned(owner_team=team, cis=[ci], planned_start=start, planned_end=end),
                   acknowledge_collisions=True)  # appeared after our submission
    before = audit_count(change)
    with pytest.raises(ValidationError) as error:
        services.transition_change(change, "request_approval", actor=FACTORY_ACTOR)
    assert other.number in " ".join(error.value.message_dict["collisions"])
    change.refresh_from_db()
    assert change.status == "assessment" and change.collisions == [] and audit_count(change) == before
    user = UserFactory(role="responder")
    change = services.transition_change(change, "request_approval", actor=Actor.for_user(user),
                                        data={"acknowledge_collisions": "1"})
    assert change.status == "approval"
    assert [c["change_id"] for c in change.collisions] == [other.pk]
    assert change.collisions_acknowledged_by == user and change.collisions_acknowledged_at is not None


def test_collisions_acknowledged_at_submission_are_not_asked_again(team):
    ci = CIFactory()
    start, end = window()
    other = submit(planned(owner_team=team, cis=[ci], planned_start=start, planned_end=end))
    change = submit(planned(owner_team=team, cis=[ci], planned_start=start, planned_end=end),
                    acknowledge_collisions=True)
    from tests.changes.approval_factories import member

    member(team, "lead")
    change = services.transition_change(change, "start_assessment", actor=FACTORY_ACTOR)
    change = services.transition_change(change, "request_approval", actor=FACTORY_ACTOR)
    assert change.status == "approval" and [c["change_id"] for c in change.collisions] == [other.pk]


def test_a_standard_change_is_approved_by_its_template_when_scheduled(team):
    template = ChangeTemplate.objects.get(slug="add-dns-record")
    change = submit(make_change(owner_team=team, change_type="standard", template=template))
    assert change.status == "scheduled"
    assert change.approved_at is not None and change.approved_at >= change.submitted_at
    entry = AuditEntry.objects.get(object_id=change.pk, content_type__model="changerequest",
                                   action="schedule_standard")
    assert "approved_at" in entry.changes


@pytest.mark.parametrize("name", ["services", "cis", "incidents", "problems", "countermeasures", "tags"])
def test_the_service_caps_the_linked_lists_and_writes_nothing(team, name):
    too_many = [object()] * (services.MAX_LINKED + 1)  # refused on the count, before anything is looked up
    count = ChangeRequest.objects.count()
    with pytest.raises(ValidationError) as error:
        make_change(owner_team=team, **{name: too_many})
    assert name in error.value.message_dict
    assert ChangeRequest.objects.count() == count
    change = make_change(owner_team=team)
    before = audit_count(change)
    with pytest.raises(ValidationError) as error:
        services.update_change(change, actor=FACTORY_ACTOR, data={name: too_many, "title": "Changed"})
    assert name in error.value.message_dict
    change.refresh_from_db()
    assert change.title != "Changed" and audit_count(change) == before
