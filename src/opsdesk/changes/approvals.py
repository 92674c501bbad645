"""Approvals of changes: policies chosen by type and risk, stages decided in order with a quorum (any
one, all, N of M), delegation while an approver is away, and the reminder sweep.

Contract (other parts call these):
- policy_for(change) -> ApprovalPolicy | None
- open_approvals(change, *, actor) -> None: called by services.transition_change inside its transaction when a
  change enters "approval": picks the policy, opens the first stage's Approval rows (no policy, or a policy
  without stages: the change is approved at once through the internal transition "grant_approval").
- decide(approval, *, actor, decision, comment="") -> Approval: "approved" | "rejected"; at quorum the last stage
  takes the change on (transition "grant_approval"); a rejection takes "refuse_approval".
- decide_for_change(change, *, actor, decision, comment="") -> Approval: the acting user's own (or delegated)
  pending approval on the change's current stage.
- create_delegation(...), end_delegation(...), remind_approvals(now=None) -> int, eligible_approvers(change, stage).

Rules that hold whoever asks: nobody approves their own change (the requester, the creator and the
implementer are never made approvers and can never decide, also not as a delegate); a stage opens only when
it can reach its quorum (409 otherwise, nothing written); each decision is signed by the acting user
(a delegate's decision is recorded as theirs, "for <approver> (delegation)"); one person counts once per
stage (a delegate who already decided a row of the stage cannot decide a second one).
"""

from __future__ import annotations

import datetime

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from opsdesk.core import audit, comments, events, people, records
from opsdesk.core.actors import Actor
from opsdesk.core.permissions import RANK, has_role
from opsdesk.core.workflow import TransitionNotAllowed

from .models import Approval, ApprovalDelegation, ApprovalPolicy, ApprovalStage, ChangeRequest, ChangeSettings
from .workflows import CHANGE_WORKFLOW

DECISIONS = ("approved", "rejected")
SYSTEM = "approvals"
# A change nobody assessed is matched as medium risk: a missing assessment must not make it pre-approved.
UNASSESSED_RISK = "medium"
REMINDER_BATCH = 500

audit.register_action_labels({
    "approvals_opened": gettext_lazy("Approval stage opened"),
    "approve": gettext_lazy("Approved"),
    "reject": gettext_lazy("Rejected"),
    "approvals_overdue": gettext_lazy("Approvals overdue"),
})


def change_settings() -> ChangeSettings:
    return ChangeSettings.objects.get_or_create(pk=1)[0]


def roles_at_least(role: str) -> list[str]:
    least = RANK.get(role, RANK["manager"])
    return [name for name, rank in RANK.items() if rank >= least]


def _now(now=None) -> datetime.datetime:
    return now or timezone.now()


def active_delegations(now=None):
    now = _now(now)
    return ApprovalDelegation.objects.filter(starts_at__lte=now, ends_at__gt=now)


def delegators_of(user, now=None) -> list[int]:
    """The users whose approvals `user` may decide now."""
    return list(active_delegations(now).filter(delegate=user, user__is_active=True).values_list("user_id", flat=True))


def _own_change_ids(change) -> set[int]:
    """Who may never approve the change: its requester, its creator and its implementer."""
    return {pk for pk in (change.requester_id, change.created_by_id, change.implementer_id) if pk is not None}


# --- policies ------------------------------------------------------------------------------------------

def policy_for(change) -> ApprovalPolicy | None:
    """The first active policy (by order) whose change types and risk levels include the change's."""
    level = change.risk_level or UNASSESSED_RISK
    for policy in ApprovalPolicy.objects.filter(active=True).order_by("order", "id"):
        if policy.change_types and change.change_type not in policy.change_types:
            continue
        if policy.risk_levels and level not in policy.risk_levels:
            continue
        return policy
    return None


def eligible_approvers(change, stage: ApprovalStage) -> list:
    """Active members of the stage's team (no team: the change's owner team) whose role there (their team
    role or their global role, the higher) is at least `min_role`; for a CAB stage without a team also every
    user whose global role is at least `min_role`. Never the requester, the creator or the implementer."""
    from opsdesk.accounts.models import Membership

    roles = roles_at_least(stage.min_role)
    team_id = stage.team_id or change.owner_team_id
    ids = set(Membership.objects.filter(team_id=team_id, user__is_active=True)
              .filter(Q(role__in=roles) | Q(user__role__in=roles) | Q(user__is_superuser=True))
              .values_list("user_id", flat=True))
    query = Q(pk__in=ids)
    if stage.cab and stage.team_id is None:
        query |= Q(role__in=roles) | Q(is_superuser=True)
    return list(get_user_model().objects.filter(query, is_active=True).exclude(pk__in=_own_change_ids(change))
                .order_by("username"))


def _stage_needs(stage_quorum: str, required: int, total: int) -> int:
    if stage_quorum == "all":
        return total
    if stage_quorum == "n_of_m":
        # Never fewer than required: a stage that cannot reach its quorum is refused when it opens.
        return max(1, required)
    return 1


def quorum_needed(stage: ApprovalStage, total: int) -> int:
    return _stage_needs(stage.quorum, stage.required, total)


# --- opening stages --------------------------------------------------------------------------------------

def _grant(change: ChangeRequest, *, note: str) -> ChangeRequest:
    def apply_fields(record, transition, data):
        record.approved_at = timezone.now()
        record.status_reason = note[:500]

    return records.transition_record(change, "grant_approval", workflow=CHANGE_WORKFLOW,
                                     actor=Actor.system(SYSTEM), data={"comment": note},
                                     apply_fields=apply_fields)


def _refuse(change: ChangeRequest, *, reason: str) -> ChangeRequest:
    def apply_fields(record, transition, data):
        record.status_reason = reason[:500]

    return records.transition_record(change, "refuse_approval", workflow=CHANGE_WORKFLOW,
                                     actor=Actor.system(SYSTEM), data={"reason": reason}, apply_fields=apply_fields)


def _open_stage(change: ChangeRequest, stage: ApprovalStage, *, actor: Actor) -> list[Approval]:
    approvers = eligible_approvers(change, stage)
    if not approvers:
        raise TransitionNotAllowed(
            _("Nobody can approve %(change)s at the stage “%(stage)s”: no active user other than the requester "
              "holds the role %(role)s there. Add an approver to the team or change the approval policy.")
            % {"change": change.number, "stage": stage.name, "role": stage.min_role})
    if stage.quorum == "n_of_m" and len(approvers) < stage.required:
        raise TransitionNotAllowed(
            _("%(change)s cannot reach the quorum of the stage “%(stage)s”: it needs %(required)s approvals and "
              "%(count)s eligible approver(s) hold the role %(role)s there (the requester, the creator and the "
              "implementer never approve). Add approvers to the team or change the approval policy.")
            % {"change": change.number, "stage": stage.name, "required": stage.required, "count": len(approvers),
               "role": stage.min_role})
    due_at = timezone.now() + datetime.timedelta(hours=change_settings().approval_deadline_hours)
    rows = Approval.objects.bulk_create([
        Approval(change=change, stage_order=stage.order, stage_name=stage.name, approver=user, due_at=due_at)
        for user in approvers])
    ChangeRequest.objects.filter(pk=change.pk).update(approval_stage=stage.order)
    change.approval_stage = stage.order
    names = [user.username for user in approvers]
    audit.record(change, actor=actor, action="approvals_opened",
                 changes={"approval_stage": [None, stage.name], "approvers": [None, names]})
    delegates = list(active_delegations().filter(user__in=approvers, delegate__is_active=True)
                     .values_list("delegate_id", flat=True))
    events.emit("changerequest.approval_requested", change, actor=actor,
                payload={"stage": stage.name, "approvers": names, "due_at": due_at.isoformat()},
                recipients=[user.pk for user in approvers] + delegates)
    return rows


def open_approvals(change, *, actor) -> None:
    """The change has just entered "approval" (same transaction): open its policy's first stage, or
    approve it at once when no policy (or a policy without stages) applies."""
    with transaction.atomic():
        change = ChangeRequest.objects.select_for_update().get(pk=change.pk)
        if change.status != "approval":
            raise TransitionNotAllowed(_("%(change)s is not awaiting approval.") % {"change": change.number})
        policy = policy_for(change)
        # A change sent back to approval after a revision starts over: old pending rows are void.
        Approval.objects.filter(change=change, status="pending").update(status="not_needed")
        stage = policy.stages.order_by("order").first() if policy is not None else None
        ChangeRequest.objects.filter(pk=change.pk).update(approval_policy=policy, approval_stage=0)
        change.approval_policy, change.approval_stage = policy, 0
        if stage is None:
            note = (_("Pre-approved by the policy “%(policy)s”.") % {"policy": policy.name} if policy is not None
                    else _("No approval policy applies to this change."))
            _grant(change, note=note)
            return
        _open_stage(change, stage, actor=actor)


# --- deciding --------------------------------------------------------------------------------------------

def _signature(approval: Approval, user, delegated: bool) -> str:
    if delegated:
        return _("%(user)s for %(approver)s (delegation)") % {"user": user.username,
                                                              "approver": approval.approver.username}
    return user.username


def decided_label(approval: Approval) -> str:
    """Who decided a row, as the panel and the API show it."""
    if approval.decided_by_id is None:
        return ""
    return _signature(approval, approval.decided_by, approval.decided_by_id != approval.approver_id)


def _validate_decision(decision: str, comment: str) -> str:
    if decision not in DECISIONS:
        raise ValidationError({"decision": _("Choose approved or rejected.")})
    comment = (comment or "").strip()
    if decision == "rejected" and not comment:
        raise ValidationError({"comment": _("Say why the change is rejected.")})
    if len(comment) > 2000:
        raise ValidationError({"comment": _("A comment is limited to 2000 characters.")})
    return comment


def decide(approval: Approval, *, actor: Actor, decision: str, comment: str = "") -> Approval:
    comment = _validate_decision(decision, comment)
    user = actor.user
    if user is None:
        raise PermissionDenied(_("An approval is decided by a person, not by a system job."))
    with transaction.atomic():
        # The change row first: two approvals landing together are counted one after the other.
        change = ChangeRequest.objects.select_for_update().get(pk=approval.change_id)
        approval = Approval.objects.select_for_update().select_related("approver").get(pk=approval.pk)
        if user.pk in _own_change_ids(change):
            raise PermissionDenied(_("Nobody approves their own change: you requested, created or implement "
                                     "%(change)s.") % {"change": change.number})
        delegated = user.pk != approval.approver_id
        if delegated and not active_delegations().filter(user_id=approval.approver_id, delegate=user).exists():
            raise PermissionDenied(_("Only %(approver)s, or their delegate while a delegation is active, may decide "
                                     "this approval.") % {"approver": approval.approver.username})
        if approval.status != "pending":
            raise TransitionNotAllowed(_("This approval was already decided (%(status)s).")
                                       % {"status": approval.get_status_display().lower()})
        if change.status != "approval" or approval.stage_order != change.approval_stage:
            raise TransitionNotAllowed(_("%(change)s is not awaiting this approval stage.") % {"change": change.number})
        if Approval.objects.filter(change=change, stage_order=approval.stage_order, decided_by=user).exists():
            raise PermissionDenied(_("You already decided at this stage; one person counts once."))
        now = timezone.now()
        approval.status, approval.decided_by, approval.decided_at, approval.comment = decision, user, now, comment
        approval.save(update_fields=["status", "decided_by", "decided_at", "comment"])
        signature = _signature(approval, user, delegated)
        verb = "approve" if decision == "approved" else "reject"
        audit.record(change, actor=actor, action=verb,
                     changes={"approval": [None, f"{approval.stage_name}: {approval.get_status_display()}"],
                              "decided_by": [None, signature], **({"comment": [None, comment]} if comment else {})})
        text = (_("Approved at the stage “%(stage)s” by %(who)s.") if decision == "approved"
                else _("Rejected at the stage “%(stage)s” by %(who)s.")) % {"stage": approval.stage_name,
                                                                             "who": signature}
        comments.add_comment(change, actor=actor, body=f"{text}\n\n{comment}" if comment else text)
        events.emit(f"changerequest.approval_{decision}", change, actor=actor,
                    payload={"stage": approval.stage_name, "decided_by": signature, "comment": comment[:500]},
                    recipients=people.responsible(change.requester) if change.requester_id else None)
        if decision == "rejected":
            Approval.objects.filter(change=change, status="pending").update(status="not_needed")
            _refuse(change, reason=_("Rejected by %(who)s: %(reason)s") % {"who": signature, "reason": comment})
            return approval
        stage_rows = Approval.objects.filter(change=change, stage_order=approval.stage_order).exclude(
            status="not_needed")
        total = stage_rows.count()
        approved = stage_rows.filter(status="approved").count()
        stage = (ApprovalStage.objects.filter(policy_id=change.approval_policy_id, order=approval.stage_order).first()
                 if change.approval_policy_id else None)
        needed = quorum_needed(stage, total) if stage is not None else 1
        if approved < needed:
            return approval
        stage_rows.filter(status="pending").update(status="not_needed")
        following = (ApprovalStage.objects.filter(policy_id=change.approval_policy_id, order__gt=approval.stage_order)
                     .order_by("order").first() if change.approval_policy_id else None)
        if following is not None:
            _open_stage(change, following, actor=Actor.system(SYSTEM))
        else:
            _grant(change, note=_("Approved: every approval stage reached its quorum."))
    return approval


def pending_for(user, change=None, now=None):
    """Pending approvals `user` may decide now: their own and those delegated to them (current stages only)."""
    query = Approval.objects.filter(status="pending", change__status="approval",
                                    stage_order=F("change__approval_stage"))
    if change is not None:
        query = query.filter(change=change)
    return query.filter(Q(approver=user) | Q(approver_id__in=delegators_of(user, now))).exclude(
        Q(change__requester=user) | Q(change__created_by=user) | Q(change__implementer=user))


def decide_for_change(change, *, actor: Actor, decision: str, comment: str = "") -> Approval:
    """The acting user's decision on a change: their own pending approval of the current stage, else one
    delegated to them. Nobody names another approver."""
    _validate_decision(decision, comment)
    user = actor.user
    if user is None:
        raise PermissionDenied(_("An approval is decided by a person, not by a system job."))
    change = ChangeRequest.objects.get(pk=change.pk)
    if user.pk in _own_change_ids(change):
        raise PermissionDenied(_("Nobody approves their own change: you requested, created or implement "
                                 "%(change)s.") % {"change": change.number})
    if change.status != "approval":
        raise TransitionNotAllowed(_("%(change)s is not awaiting approval (it is %(state)s).")
                                   % {"change": change.number, "state": change.get_status_display().lower()})
    rows = list(pending_for(user, change).order_by("id"))
    own = [row for row in rows if row.approver_id == user.pk]
    chosen = (own or rows or [None])[0]
    if chosen is None:
        raise PermissionDenied(_("You have no pending approval on %(change)s at its current stage.")
                               % {"change": change.number})
    return decide(chosen, actor=actor, decision=decision, comment=comment)


def can_decide(user, approval: Approval, delegators: set[int] | None = None) -> bool:
    if not user.is_authenticated or approval.status != "pending":
        return False
    if user.pk in _own_change_ids(approval.change):
        return False
    if approval.approver_id == user.pk:
        return True
    if delegators is None:
        delegators = set(delegators_of(user))
    return approval.approver_id in delegators


# --- delegations --------------------------------------------------------------------------------------

def managed_team_ids(actor_user) -> list[int]:
    """The teams `actor_user` manages: those where their membership's role is manager or admin (a global
    manager role alone manages no particular team)."""
    if actor_user is None or not actor_user.pk:
        return []
    return list(actor_user.memberships.filter(role__in=roles_at_least("manager")).values_list("team_id", flat=True))


def may_manage_delegations_of(actor_user, user) -> bool:
    """A user sets their own delegations; a manager sets them for members of a team they manage (an admin for
    anyone)."""
    if actor_user is None:
        return False
    if actor_user.pk == user.pk or has_role(actor_user, "admin"):
        return True
    managed = managed_team_ids(actor_user)
    return bool(managed) and user.memberships.filter(team_id__in=managed).exists()


def create_delegation(*, actor: Actor, user, delegate, starts_at, ends_at, reason: str = "") -> ApprovalDelegation:
    errors = {}
    if user is None:
        errors["user"] = _("Name whose approvals are delegated.")
    if delegate is None:
        errors["delegate"] = _("Name the delegate.")
    elif not delegate.is_active:
        errors["delegate"] = _("The delegate's account is deactivated.")
    elif user is not None and delegate.pk == user.pk:
        errors["delegate"] = _("Delegate to someone else.")
    if starts_at is None:
        errors["starts_at"] = _("Give the start.")
    if ends_at is None:
        errors["ends_at"] = _("Give the end.")
    elif starts_at is not None and ends_at <= starts_at:
        errors["ends_at"] = _("The end must come after the start.")
    elif ends_at <= timezone.now():
        errors["ends_at"] = _("The end is already past.")
    if len(reason or "") > 300:
        errors["reason"] = _("The reason is limited to 300 characters.")
    if errors:
        raise ValidationError(errors)
    if actor.kind != "system" and not may_manage_delegations_of(actor.user, user):
        raise PermissionDenied(_("You may delegate your own approvals; managers may set a delegation for their "
                                 "team's members."))
    if actor.kind != "system" and actor.user_id != user.pk and actor.user_id == delegate.pk:
        # Otherwise a manager could name themselves delegate and approve in someone else's name.
        raise PermissionDenied(_("You may not make yourself the delegate of someone else's approvals; %(user)s "
                                 "names their own delegate, or another manager sets it.") % {"user": user.username})
    return records.create_record(ApprovalDelegation, actor=actor, fields={
        "user": user, "delegate": delegate, "starts_at": starts_at, "ends_at": ends_at, "reason": reason or ""})


def end_delegation(delegation: ApprovalDelegation, *, actor: Actor) -> ApprovalDelegation:
    """End a delegation now (it stays in the list, ended)."""
    if actor.kind != "system" and not (may_manage_delegations_of(actor.user, delegation.user)
                                       or actor.user_id == delegation.delegate_id):
        raise PermissionDenied(_("Only the delegating user, the delegate or a manager may end a delegation."))
    now = timezone.now()
    if delegation.ends_at <= now:
        raise TransitionNotAllowed(_("This delegation has already ended."))
    fields = {"ends_at": now}
    if delegation.starts_at >= now:  # not started yet: it becomes an empty past interval
        fields["starts_at"] = now - datetime.timedelta(seconds=1)
    return records.update_record(delegation, actor=actor, fields=fields)


# --- reminders (CONVENTIONS §5) -------------------------------------------------------------------------

def remind_approvals(now=None) -> int:
    """Remind approvers (and their active delegates) of pending approvals `approval_reminder_hours` before
    the deadline, once; past the deadline tell the owner team's managers, once.

    `reminded_at` and `overdue_notified_at` mark what was sent. Rows are taken with SKIP LOCKED; the
    number of queries does not depend on how many approvals are due."""
    now = _now(now)
    lead = datetime.timedelta(hours=change_settings().approval_reminder_hours)
    actor = Actor.system("approval-reminders")
    with transaction.atomic():
        due = list(Approval.objects.select_for_update(skip_locked=True, of=("self",))
                   .filter(status="pending", change__status="approval")
                   .filter(Q(reminded_at__isnull=True, due_at__lte=now + lead)
                           | Q(overdue_notified_at__isnull=True, due_at__lte=now))
                   .select_related("change", "approver").order_by("due_at", "id")[:REMINDER_BATCH])
        if not due:
            return 0
        delegates: dict[int, list[int]] = {}
        for user_id, delegate_id in (active_delegations(now).filter(user_id__in={a.approver_id for a in due},
                                                                    delegate__is_active=True)
                                     .values_list("user_id", "delegate_id")):
            delegates.setdefault(user_id, []).append(delegate_id)
        managers = people.team_members({a.change.owner_team_id for a in due})
        items, overdue_changes = [], set()
        for approval in due:
            change = approval.change
            if approval.reminded_at is None:
                items.append(("changerequest.approval_reminder", change, {
                    "stage": approval.stage_name, "approver": approval.approver.username,
                    "due_at": approval.due_at.isoformat(),
                    "recipients": [approval.approver_id, *delegates.get(approval.approver_id, [])]}))
            if (approval.due_at <= now and approval.overdue_notified_at is None
                    and (change.pk, approval.stage_order) not in overdue_changes):
                overdue_changes.add((change.pk, approval.stage_order))
                recipients = people.responsible(None, change.owner_team_id, members=managers)
                items.append(("changerequest.approval_overdue", change, {
                    "stage": approval.stage_name, "due_at": approval.due_at.isoformat(), "recipients": recipients}))
        events.emit_many(items, actor=actor)
        Approval.objects.filter(pk__in=[a.pk for a in due], reminded_at__isnull=True).update(reminded_at=now)
        Approval.objects.filter(pk__in=[a.pk for a in due if a.due_at <= now]).update(overdue_notified_at=now)
    return len(due)


# --- the approval panel on the change page ---------------------------------------------------------------

def panel_context(change, user) -> dict | None:
    from django.urls import reverse

    from opsdesk.core.permissions import can

    if not can(user, "viewer", change):
        return None
    rows = list(Approval.objects.filter(change=change).select_related("approver", "decided_by")
                .order_by("stage_order", "id"))
    delegators = set(delegators_of(user))
    stages: dict[int, dict] = {}
    for row in rows:
        stage = stages.setdefault(row.stage_order, {"order": row.stage_order, "name": row.stage_name, "rows": [],
                                                    "current": row.stage_order == change.approval_stage
                                                    and change.status == "approval"})
        row.change = change
        row.decided_label = decided_label(row)
        row.mine = stage["current"] and can_decide(user, row, delegators)
        stage["rows"].append(row)
    policy = change.approval_policy
    definitions = {s.order: s for s in policy.stages.all()} if policy is not None else {}
    for order, stage in stages.items():
        definition = definitions.get(order)
        total = len([r for r in stage["rows"] if r.status != "not_needed" or r.decided_at])
        stage["quorum"] = (quorum_needed(definition, total) if definition is not None else 1)
        stage["approved"] = len([r for r in stage["rows"] if r.status == "approved"])
        stage["definition"] = definition
    upcoming = [s for order, s in sorted(definitions.items()) if order not in stages]
    can_act = change.status == "approval" and any(r.mine for s in stages.values() for r in s["rows"])
    return {"change": change, "policy": policy, "stages": [stages[k] for k in sorted(stages)],
            "upcoming": upcoming, "can_decide": can_act,
            "decide_url": reverse("changes:approval_decide", args=[change.pk])}


def wire() -> None:
    from opsdesk.core import registry

    registry.register_record_panel(ChangeRequest, registry.RecordPanel(
        "approvals", "changes/approval_panel.html", panel_context, order=20))
