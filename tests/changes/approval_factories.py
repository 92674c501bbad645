"""Helpers of the approval tests: people with roles in a team, and a change moved into "approval".

`to_approval` moves the change with core.records (as the approvals brief says while the change services may
still be a stub) and opens its approvals in the same transaction, as services.transition_change does."""

from __future__ import annotations

from django.db import transaction

from opsdesk.accounts.services import set_membership
from opsdesk.changes import approvals
from opsdesk.changes.models import ApprovalPolicy, ApprovalStage, ChangeRequest
from opsdesk.changes.workflows import CHANGE_WORKFLOW
from opsdesk.core import records
from opsdesk.core.actors import Actor
from tests.accounts.factories import UserFactory
from tests.changes.factories import make_change

SYSTEM = Actor.system("test")


def member(team, username: str, role: str = "manager", global_role: str = "viewer"):
    user = UserFactory(username=username, role=global_role)
    set_membership(team, user, actor=SYSTEM, role=role)
    return user


def change_in(team, *, requester=None, risk_level="low", change_type="normal", **fields):
    change = make_change(actor=Actor.for_user(requester) if requester else None, owner_team=team,
                         requester=requester, change_type=change_type, **fields)
    ChangeRequest.objects.filter(pk=change.pk).update(risk_level=risk_level, status="assessment")
    change.refresh_from_db()
    return change


def to_approval(change, actor=None):
    """assessment -> approval, and the approvals opened, in one transaction."""
    actor = actor or SYSTEM
    with transaction.atomic():
        change = records.transition_record(change, "request_approval", actor=actor, workflow=CHANGE_WORKFLOW)
        approvals.open_approvals(change, actor=actor)
    change.refresh_from_db()
    return change


def policy(slug: str, stages: list[dict], *, change_types=("normal",), risk_levels=(), order=1):
    made = ApprovalPolicy.objects.create(slug=slug, name=slug.title(), change_types=list(change_types),
                                         risk_levels=list(risk_levels), order=order)
    for index, stage in enumerate(stages, start=1):
        ApprovalStage.objects.create(policy=made, order=stage.pop("order", index), **stage)
    return made
