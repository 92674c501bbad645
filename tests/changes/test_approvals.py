"""Approval rules: policies, eligible approvers (never the requester), quorum (any, all, N of M), rejection,
delegation and the reminder sweep."""

import datetime

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from opsdesk.changes import approvals
from opsdesk.changes.models import Approval, ApprovalDelegation, ApprovalPolicy, ChangeRequest
from opsdesk.core.actors import Actor
from opsdesk.core.models import AuditEntry, Comment, OutboxEvent
from opsdesk.core.workflow import TransitionNotAllowed
from tests.accounts.factories import TeamFactory, UserFactory
from tests.changes.approval_factories import change_in, member, policy, to_approval

pytestmark = pytest.mark.django_db


def act(user):
    return Actor.for_user(user)


@pytest.fixture
def team():
    return TeamFactory(slug="dba", name="DBA")


# --- policies and stages ------------------------------------------------------------------------------------

def test_shipped_policies_match_by_type_and_risk(team):
    assert approvals.policy_for(ChangeRequest(change_type="standard", risk_level="low")).slug == "standard"
    assert approvals.policy_for(ChangeRequest(change_type="normal", risk_level="medium")).slug == "low-medium"
    assert approvals.policy_for(ChangeRequest(change_type="normal", risk_level="very_high")).slug == "high"
    assert approvals.policy_for(ChangeRequest(change_type="emergency", risk_level="low")).slug == "emergency"
    # An unassessed normal change is not waved through: it is matched as medium.
    assert approvals.policy_for(ChangeRequest(change_type="normal", risk_level="")).slug == "low-medium"
    assert [s.name for s in ApprovalPolicy.objects.get(slug="high").stages.order_by("order")] == ["Team lead", "CAB"]


def test_low_risk_change_asks_the_owner_team_lead_with_a_deadline(team):
    lead = member(team, "lead", "manager")
    member(team, "dev", "responder")
    requester = member(team, "req", "responder")
    change = to_approval(change_in(team, requester=requester))
    rows = list(change.approvals.all())
    assert [(r.approver.username, r.stage_name, r.status) for r in rows] == [("lead", "Team lead", "pending")]
    assert change.approval_policy.slug == "low-medium" and change.approval_stage == 1
    hours = (rows[0].due_at - timezone.now()).total_seconds() / 3600
    assert 47.9 < hours <= 48
    assert OutboxEvent.objects.filter(event_type="changerequest.approval_requested",
                                      payload__recipients=[lead.pk]).exists()
    assert lead.pk


def test_the_requester_is_never_an_approver_even_as_team_manager(team):
    requester = member(team, "boss", "manager")
    other = member(team, "lead", "manager")
    change = to_approval(change_in(team, requester=requester))
    assert list(change.approvals.values_list("approver__username", flat=True)) == ["lead"]
    approval = Approval.objects.get(change=change)
    with pytest.raises(PermissionDenied):
        approvals.decide_for_change(change, actor=act(requester), decision="approved")
    # Even holding a delegation from the real approver, the requester cannot decide.
    ApprovalDelegation.objects.create(user=other, delegate=requester, starts_at=timezone.now() - datetime.timedelta(1),
                                      ends_at=timezone.now() + datetime.timedelta(1))
    with pytest.raises(PermissionDenied):
        approvals.decide(approval, actor=act(requester), decision="approved")
    approval.refresh_from_db()
    assert approval.status == "pending"
    assert ChangeRequest.objects.get(pk=change.pk).status == "approval"


def test_a_stage_nobody_can_decide_is_refused_with_its_name_and_nothing_is_written(team):
    requester = member(team, "only-manager", "manager")  # the only manager is the requester
    change = change_in(team, requester=requester)
    audit_rows = AuditEntry.objects.count()
    with pytest.raises(TransitionNotAllowed, match="Team lead"):
        to_approval(change)
    change.refresh_from_db()
    assert change.status == "assessment" and change.approval_policy is None
    assert not Approval.objects.exists()
    assert AuditEntry.objects.count() == audit_rows


def test_no_policy_or_no_stage_approves_at_once(team):
    ApprovalPolicy.objects.filter(slug__in=["low-medium"]).update(active=False)
    policy("pre", [], risk_levels=["low"], order=1)
    change = to_approval(change_in(team))
    assert change.status == "scheduled" and change.approved_at is not None
    assert change.approval_policy.slug == "pre"
    ApprovalPolicy.objects.all().update(active=False)
    change = to_approval(change_in(team))
    assert change.status == "scheduled"
    assert AuditEntry.objects.filter(object_id=str(change.pk), action="grant_approval",
                                     actor_label="system:approvals").exists()


# --- quorum -------------------------------------------------------------------------------------------------

def test_n_of_m_moves_the_change_only_when_the_nth_approval_lands(team):
    """Acceptance 3: with three approvers and two required, one approval is not enough."""
    policy("two-of-three", [{"name": "Board", "min_role": "manager", "quorum": "n_of_m", "required": 2}])
    a, b, c = (member(team, name) for name in ("ann", "bob", "cid"))
    change = to_approval(change_in(team, requester=member(team, "req", "responder")))
    assert change.approvals.count() == 3
    approvals.decide_for_change(change, actor=act(a), decision="approved", comment="Looks fine")
    change.refresh_from_db()
    assert change.status == "approval"
    assert change.approvals.filter(status="pending").count() == 2
    approvals.decide_for_change(change, actor=act(b), decision="approved")
    change.refresh_from_db()
    assert change.status == "scheduled" and change.approved_at is not None
    assert Approval.objects.get(change=change, approver=c).status == "not_needed"
    # Decisions are on the timeline and in the change log, signed by each approver.
    bodies = list(Comment.objects.filter(object_id=change.pk).values_list("body", flat=True))
    assert any("ann" in body and "Looks fine" in body for body in bodies)
    assert AuditEntry.objects.filter(object_id=str(change.pk), action="approve", actor_label="bob").exists()


def test_all_quorum_waits_for_every_approver(team):
    policy("everyone", [{"name": "All leads", "min_role": "manager", "quorum": "all"}])
    a, b = member(team, "ann"), member(team, "bob")
    change = to_approval(change_in(team))
    approvals.decide_for_change(change, actor=act(a), decision="approved")
    assert ChangeRequest.objects.get(pk=change.pk).status == "approval"
    approvals.decide_for_change(change, actor=act(b), decision="approved")
    assert ChangeRequest.objects.get(pk=change.pk).status == "scheduled"


def test_the_high_policy_opens_the_cab_stage_after_the_team_lead(team):
    lead = member(team, "lead")
    gm1, gm2 = UserFactory(username="gm1", role="manager"), UserFactory(username="gm2", role="manager")
    UserFactory(username="gresp", role="responder")
    change = to_approval(change_in(team, risk_level="high", requester=member(team, "req", "responder")))
    assert list(change.approvals.values_list("approver__username", flat=True)) == ["lead"]
    approvals.decide_for_change(change, actor=act(lead), decision="approved")
    change.refresh_from_db()
    assert change.status == "approval" and change.approval_stage == 2
    cab = set(change.approvals.filter(stage_order=2).values_list("approver__username", flat=True))
    assert cab == {"lead", "gm1", "gm2"}  # owner team managers and the global managers
    approvals.decide_for_change(change, actor=act(gm1), decision="approved")
    assert ChangeRequest.objects.get(pk=change.pk).status == "approval"
    approvals.decide_for_change(change, actor=act(gm2), decision="approved")
    assert ChangeRequest.objects.get(pk=change.pk).status == "scheduled"


# --- rejection ------------------------------------------------------------------------------------------------

def test_rejection_needs_a_reason_and_rejects_the_change(team):
    lead, other = member(team, "lead"), member(team, "lead2")
    requester = member(team, "req", "responder")
    policy("all", [{"name": "Leads", "min_role": "manager", "quorum": "all"}])
    change = to_approval(change_in(team, requester=requester))
    with pytest.raises(ValidationError) as exc:
        approvals.decide_for_change(change, actor=act(lead), decision="rejected", comment="  ")
    assert "comment" in exc.value.message_dict
    assert Approval.objects.filter(change=change, status="pending").count() == 2
    approvals.decide_for_change(change, actor=act(lead), decision="rejected", comment="No backout plan")
    change.refresh_from_db()
    assert change.status == "rejected" and "No backout plan" in change.status_reason
    assert Approval.objects.get(change=change, approver=other).status == "not_needed"
    assert OutboxEvent.objects.filter(event_type="changerequest.approval_rejected",
                                      payload__recipients=[requester.pk]).exists()


def test_only_the_approver_decides_and_only_once(team):
    lead = member(team, "lead")
    stranger = UserFactory(username="stranger", role="admin")
    change = to_approval(change_in(team))
    approval = change.approvals.get()
    with pytest.raises(PermissionDenied):
        approvals.decide(approval, actor=act(stranger), decision="approved")
    with pytest.raises(PermissionDenied):
        approvals.decide_for_change(change, actor=act(stranger), decision="approved")
    with pytest.raises(ValidationError):
        approvals.decide(approval, actor=act(lead), decision="maybe")
    approvals.decide(approval, actor=act(lead), decision="approved")
    with pytest.raises(TransitionNotAllowed):
        approvals.decide(approval, actor=act(lead), decision="approved")


# --- delegation -----------------------------------------------------------------------------------------------

def test_a_delegate_decides_while_the_delegation_is_active_and_is_recorded_as_delegate(team):
    lead = member(team, "lead")
    deputy = UserFactory(username="deputy", role="responder")
    now = timezone.now()
    delegation = approvals.create_delegation(actor=act(lead), user=lead, delegate=deputy, starts_at=now,
                                             ends_at=now + datetime.timedelta(days=7), reason="Holiday")
    change = to_approval(change_in(team))
    approval = approvals.decide_for_change(change, actor=act(deputy), decision="approved", comment="ok")
    assert approval.decided_by == deputy and approval.approver == lead
    assert approvals.decided_label(approval) == "deputy for lead (delegation)"
    assert ChangeRequest.objects.get(pk=change.pk).status == "scheduled"
    assert Comment.objects.filter(object_id=change.pk, body__contains="deputy for lead (delegation)").exists()
    # Once ended, the delegate can no longer decide.
    approvals.end_delegation(delegation, actor=act(lead))
    second = to_approval(change_in(team))
    with pytest.raises(PermissionDenied):
        approvals.decide_for_change(second, actor=act(deputy), decision="approved")
    assert ChangeRequest.objects.get(pk=second.pk).status == "approval"


def test_delegations_are_set_by_the_user_or_a_team_manager(team):
    worker = member(team, "worker", "responder")
    lead = member(team, "lead")
    deputy = UserFactory(username="deputy")
    outsider = UserFactory(username="outsider", role="responder")
    now = timezone.now()
    window = {"starts_at": now, "ends_at": now + datetime.timedelta(days=1)}
    with pytest.raises(PermissionDenied):
        approvals.create_delegation(actor=act(outsider), user=worker, delegate=deputy, **window)
    assert approvals.create_delegation(actor=act(lead), user=worker, delegate=deputy, **window).user == worker
    with pytest.raises(ValidationError) as exc:
        approvals.create_delegation(actor=act(worker), user=worker, delegate=worker, **window)
    assert "delegate" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        approvals.create_delegation(actor=act(worker), user=worker, delegate=deputy, starts_at=now,
                                    ends_at=now - datetime.timedelta(hours=1))
    assert "ends_at" in exc.value.message_dict
    assert ApprovalDelegation.objects.count() == 1


def test_a_person_counts_once_per_stage_even_holding_a_delegation(team):
    policy("two", [{"name": "Two", "min_role": "manager", "quorum": "n_of_m", "required": 2}])
    a, b = member(team, "ann"), member(team, "bob")
    member(team, "cid")
    now = timezone.now()
    approvals.create_delegation(actor=act(b), user=b, delegate=a, starts_at=now, ends_at=now + datetime.timedelta(1))
    change = to_approval(change_in(team))
    approvals.decide_for_change(change, actor=act(a), decision="approved")
    with pytest.raises(PermissionDenied):
        approvals.decide_for_change(change, actor=act(a), decision="approved")
    assert ChangeRequest.objects.get(pk=change.pk).status == "approval"


# --- reminders ------------------------------------------------------------------------------------------------

def _due_changes(team, count):
    return [to_approval(change_in(team, title=f"Change {n}")) for n in range(count)]


def test_reminders_go_once_before_the_deadline_and_the_overdue_notice_once_after(team):
    lead = member(team, "lead")
    deputy = UserFactory(username="deputy")
    boss = member(team, "boss", "admin")  # the requester: a manager told when overdue, never an approver
    now = timezone.now()
    approvals.create_delegation(actor=act(lead), user=lead, delegate=deputy, starts_at=now,
                                ends_at=now + datetime.timedelta(days=30))
    change = to_approval(change_in(team, requester=boss))
    approval = change.approvals.get(approver=lead)
    assert approvals.remind_approvals(now=now + datetime.timedelta(hours=30)) == 0  # not yet
    at = approval.due_at - datetime.timedelta(hours=7)
    assert approvals.remind_approvals(now=at) == 1
    reminder = OutboxEvent.objects.get(event_type="changerequest.approval_reminder")
    assert sorted(reminder.payload["recipients"]) == sorted([lead.pk, deputy.pk])
    assert approvals.remind_approvals(now=at + datetime.timedelta(hours=1)) == 0  # once
    late = approval.due_at + datetime.timedelta(minutes=5)
    assert approvals.remind_approvals(now=late) == 1
    approval.refresh_from_db()
    assert approval.reminded_at == at and approval.overdue_notified_at == late
    overdue = OutboxEvent.objects.get(event_type="changerequest.approval_overdue")
    assert sorted(overdue.payload["recipients"]) == sorted([lead.pk, boss.pk])
    assert approvals.remind_approvals(now=late + datetime.timedelta(hours=2)) == 0
    assert OutboxEvent.objects.filter(event_type__startswith="changerequest.approval_").count() == 3  # + requested


def test_a_decided_approval_is_not_reminded(team):
    lead = member(team, "lead")
    change = to_approval(change_in(team))
    due_at = change.approvals.get().due_at
    approvals.decide_for_change(change, actor=act(lead), decision="approved")
    assert approvals.remind_approvals(now=due_at + datetime.timedelta(hours=1)) == 0


@pytest.mark.parametrize("count", [1, 50])
def test_the_reminder_sweep_makes_the_same_queries_for_1_or_50(team, count, django_assert_num_queries):
    member(team, "lead")
    changes = _due_changes(team, count)
    later = Approval.objects.filter(change__in=changes).first().due_at + datetime.timedelta(minutes=1)
    approvals.change_settings()
    with django_assert_num_queries(9):
        assert approvals.remind_approvals(now=later) == count
    assert Approval.objects.filter(change__in=changes, reminded_at__isnull=True).count() == 0
    assert Approval.objects.filter(change__in=changes, overdue_notified_at__isnull=True).count() == 0


def test_the_celery_task_runs_the_sweep(team):
    from opsdesk.celery import app
    from opsdesk.changes.tasks import remind_approvals

    member(team, "lead")
    change = to_approval(change_in(team))
    due_at = change.approvals.get().due_at
    with time_machine.travel(due_at - datetime.timedelta(hours=1), tick=False):
        assert remind_approvals() == 1
    assert app.conf.beat_schedule["changes-remind-approvals"]["schedule"] == 900.0


def test_through_the_change_service_the_approvals_are_opened(team):
    """services.transition_change opens the approvals in its transaction (the contract with the change part)."""
    from opsdesk.changes import services

    member(team, "lead")
    change = services.transition_change(change_in(team), "request_approval", actor=Actor.system("test"))
    assert change.status == "approval" and change.approval_policy.slug == "low-medium"
    assert list(change.approvals.values_list("approver__username", flat=True)) == ["lead"]


def test_through_the_change_service_a_stage_without_approver_is_409_and_the_change_stays(team):
    from opsdesk.changes import services

    requester = member(team, "only", "manager")
    change = change_in(team, requester=requester)
    with pytest.raises(TransitionNotAllowed, match="Team lead"):
        services.transition_change(change, "request_approval", actor=Actor.for_user(requester))
    change.refresh_from_db()
    assert change.status == "assessment" and not Approval.objects.exists()


# --- config as code -------------------------------------------------------------------------------------------

def test_policies_as_code_export_and_apply(team):
    from opsdesk.core import config_as_code

    section = config_as_code.SECTIONS["change_approval_policies"]
    exported = {p["slug"]: p for p in section.export()}
    assert exported["high"]["stages"][1] == {"order": 2, "name": "CAB", "team": "", "min_role": "manager",
                                             "quorum": "n_of_m", "required": 2, "cab": True}
    document = config_as_code.load(
        "version: 1\nchange_approval_policies:\n"
        "  - slug: db\n    name: Database changes\n    change_types: [normal]\n    order: 1\n"
        "    stages:\n      - {name: DBA lead, team: dba, quorum: all}\n")
    changes = config_as_code.apply_document(document, actor=Actor.system("test"))
    assert [(c.key, c.action) for c in changes] == [("db", "create")]
    made = ApprovalPolicy.objects.get(slug="db")
    assert [(s.name, s.team.slug, s.quorum) for s in made.stages.all()] == [("DBA lead", "dba", "all")]
    again = config_as_code.apply_document(document, actor=Actor.system("test"))
    assert [c.action for c in again] == ["unchanged"]
    with pytest.raises(config_as_code.ConfigError, match="no team"):
        config_as_code.apply_document(config_as_code.load(
            "version: 1\nchange_approval_policies:\n  - slug: x\n    name: X\n    stages: [{name: A, team: nope}]\n"),
            actor=Actor.system("test"))
    with pytest.raises(config_as_code.ConfigError):
        config_as_code.load("version: 1\nchange_approval_policies:\n  - slug: y\n    name: Y\n"
                            "    stages: [{name: A, quorum: most}]\n")
    assert not ApprovalPolicy.objects.filter(slug__in=["x", "y"]).exists()


# --- concurrency (PostgreSQL: row locks and SKIP LOCKED) ------------------------------------------------------

def _in_thread(func, *args):
    import threading

    from django.db import connection

    outcome = {}

    def run():
        try:
            outcome["value"] = func(*args)
        except Exception as exc:  # noqa: BLE001  (handed back to the test)
            outcome["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_approvals_count_once_each():
    from tests.changes.factories import shipped

    shipped()
    team = TeamFactory()
    policy("two-of-three", [{"name": "Board", "min_role": "manager", "quorum": "n_of_m", "required": 2}])
    a, b, _c = member(team, "ann"), member(team, "bob"), member(team, "cid")
    change = to_approval(change_in(team))
    threads = []
    for user in (a, b):
        threads.append(_in_thread(lambda u=user: approvals.decide_for_change(change, actor=act(u),
                                                                               decision="approved")))
    for thread, _outcome in threads:
        thread.join(30)
    assert [o.get("error") for _t, o in threads] == [None, None]
    change.refresh_from_db()
    assert change.status == "scheduled"  # the second approval saw the first: quorum reached once
    assert AuditEntry.objects.filter(object_id=str(change.pk), action="grant_approval").count() == 1


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_the_reminder_sweep_skips_approvals_another_worker_holds():
    from django.db import transaction

    from tests.changes.factories import shipped

    shipped()
    team = TeamFactory()
    member(team, "lead")
    change = to_approval(change_in(team))
    later = change.approvals.get().due_at + datetime.timedelta(minutes=1)
    with transaction.atomic():
        list(Approval.objects.select_for_update().filter(change=change))
        thread, outcome = _in_thread(approvals.remind_approvals, later)
        thread.join(30)
    assert outcome == {"value": 0}
    assert approvals.remind_approvals(now=later) == 1


# --- review findings: quorum, implementer, delegations -------------------------------------------------------

def test_a_stage_that_cannot_reach_its_quorum_is_refused_with_the_numbers_and_nothing_is_written(team):
    policy("three", [{"name": "Board", "min_role": "manager", "quorum": "n_of_m", "required": 3}])
    member(team, "ann")
    member(team, "bob")
    requester = member(team, "req")  # a manager too, but never their own approver: two remain, three needed
    change = change_in(team, requester=requester)
    audit_rows = AuditEntry.objects.count()
    with pytest.raises(TransitionNotAllowed) as error:
        to_approval(change)
    text = str(error.value)
    assert "Board" in text and "3" in text and "2" in text
    change.refresh_from_db()
    assert change.status == "assessment" and change.approval_policy is None
    assert not Approval.objects.exists() and AuditEntry.objects.count() == audit_rows


def test_the_implementer_is_never_an_approver_of_the_change(team):
    lead = member(team, "lead")
    implementer = member(team, "impl")  # a manager of the team, implementing the change
    change = to_approval(change_in(team, implementer=implementer))
    assert list(change.approvals.values_list("approver__username", flat=True)) == ["lead"]
    with pytest.raises(PermissionDenied):
        approvals.decide_for_change(change, actor=act(implementer), decision="approved")
    # Not as a delegate either.
    approvals.create_delegation(actor=act(lead), user=lead, delegate=implementer, starts_at=timezone.now(),
                                ends_at=timezone.now() + datetime.timedelta(days=1))
    assert not approvals.pending_for(implementer, change).exists()
    with pytest.raises(PermissionDenied):
        approvals.decide(Approval.objects.get(change=change), actor=act(implementer), decision="approved")
    assert ChangeRequest.objects.get(pk=change.pk).status == "approval"


def test_a_manager_cannot_make_themselves_delegate_nor_delegate_outside_their_teams(team):
    worker = member(team, "worker", "responder")
    lead = member(team, "lead")
    deputy = UserFactory(username="deputy")
    other_lead = member(TeamFactory(slug="net", name="Network"), "netlead")
    global_manager = UserFactory(username="gm", role="manager")
    now = timezone.now()
    window = {"starts_at": now, "ends_at": now + datetime.timedelta(days=1)}
    with pytest.raises(PermissionDenied):  # approving in the worker's name
        approvals.create_delegation(actor=act(lead), user=worker, delegate=lead, **window)
    with pytest.raises(PermissionDenied):  # a manager of another team
        approvals.create_delegation(actor=act(other_lead), user=worker, delegate=deputy, **window)
    with pytest.raises(PermissionDenied):  # a global manager who manages no team of the worker's
        approvals.create_delegation(actor=act(global_manager), user=worker, delegate=deputy, **window)
    assert not ApprovalDelegation.objects.exists()
    # The worker's own delegation to the lead, and the lead's delegation for the worker to someone else, work.
    assert approvals.create_delegation(actor=act(worker), user=worker, delegate=lead, **window).delegate == lead
    assert approvals.create_delegation(actor=act(lead), user=worker, delegate=deputy, **window).delegate == deputy
