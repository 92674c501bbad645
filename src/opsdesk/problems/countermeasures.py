"""Countermeasures of a problem: actions (workaround, permanent fix, monitoring, process, training) with
an owner, a due date, a status flow and an optional change request (CHG-12), and the sweep that tells
owners about overdue ones, once per countermeasure. Re-exported by problems/services.py."""

from __future__ import annotations

import datetime
import re

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from opsdesk.core import audit, events, people, records
from opsdesk.core.actors import Actor
from opsdesk.core.workflow import TransitionNotAllowed

from .models import Countermeasure, Problem
from .workflows import COUNTERMEASURE_WORKFLOW

AUDITED = ["title", "description", "kind", "owner", "due_date", "status", "status_reason", "change_number",
           "completed_at"]
OPEN_STATES = ("planned", "in_progress")
PROBLEM_READ_ONLY = ("closed", "cancelled")
CHANGE_NUMBER = re.compile(r"^CHG-\d{1,9}$")
EDITABLE = ("title", "description", "kind", "owner", "due_date", "change_number")


def _clean(data: dict) -> dict:
    unknown = [name for name in data if name not in EDITABLE]
    if unknown:
        raise ValidationError({name: _("This field cannot be set here.") for name in unknown})
    data = dict(data)
    if "change_number" in data:
        number = str(data["change_number"] or "").strip().upper()
        if number and not CHANGE_NUMBER.match(number):
            raise ValidationError({"change_number": _("A change number looks like CHG-12.")})
        data["change_number"] = number
    if "title" in data:
        data["title"] = str(data["title"] or "").strip()
    return data


def _check_problem(problem: Problem) -> None:
    if problem.status in PROBLEM_READ_ONLY:
        raise TransitionNotAllowed(_("%(p)s is %(state)s: its countermeasures are read-only.")
                                   % {"p": problem, "state": problem.get_status_display().lower()})


def create_countermeasure(problem: Problem, *, actor: Actor, data: dict) -> Countermeasure:
    data = _clean(data)
    with transaction.atomic():
        problem = Problem.objects.select_for_update().get(pk=problem.pk)
        _check_problem(problem)
        cm = records.create_record(Countermeasure, actor=actor, fields={**data, "problem": problem},
                                   workflow=COUNTERMEASURE_WORKFLOW, audited=AUDITED)
        # The problem's own timeline lists its countermeasures as they come.
        audit.record(problem, actor=actor, action="add_countermeasure",
                     changes={"countermeasure": [None, f"{cm.get_kind_display()}: {cm.title}"]})
    return cm


def update_countermeasure(cm: Countermeasure, *, actor: Actor, data: dict) -> Countermeasure:
    data = _clean(data)

    def check(locked: Countermeasure, fields: dict) -> None:
        _check_problem(locked.problem)
        if locked.status == "cancelled":
            raise TransitionNotAllowed(_("“%(cm)s” is cancelled and read-only.") % {"cm": locked})
        if "due_date" in fields and fields["due_date"] != locked.due_date:
            fields["overdue_notified_at"] = None  # a new due date earns a new reminder

    return records.update_record(cm, actor=actor, fields=data, audited=AUDITED, check=check)


def _apply_transition_fields(cm: Countermeasure, transition, data: dict) -> None:
    reason = str(data.get("reason") or "").strip()
    if len(reason) > 500:
        raise ValidationError({"reason": _("The reason is limited to 500 characters.")})
    if transition.name == "complete":
        cm.completed_at = timezone.now()
        cm.status_reason = ""
    elif transition.name == "reopen":
        cm.completed_at = None
        cm.status_reason = reason
    elif transition.name == "cancel":
        cm.status_reason = reason


def transition_countermeasure(cm: Countermeasure, name: str, *, actor: Actor,
                              data: dict | None = None) -> Countermeasure:
    with transaction.atomic():
        _check_problem(Problem.objects.get(pk=cm.problem_id))
        return records.transition_record(cm, name, actor=actor, workflow=COUNTERMEASURE_WORKFLOW, data=data or {},
                                         apply_fields=_apply_transition_fields)


def is_overdue(cm: Countermeasure, today: datetime.date | None = None) -> bool:
    today = today or timezone.localdate()
    return cm.status in OPEN_STATES and cm.due_date is not None and cm.due_date < today


def _recipients(cm: Countermeasure) -> list:
    """The countermeasure's owner; else the problem's owner; else the owner team's members (active ones)."""
    return people.responsible([cm.owner, cm.problem.owner], cm.problem.owner_team_id, roles=None)


def notify_overdue_countermeasures(now: datetime.datetime | None = None) -> int:
    """Tell the owners of open countermeasures past their due date, once per countermeasure (a new
    due date re-arms it). Rows are taken with SKIP LOCKED, so two sweepers never both notify."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    actor = Actor.system("overdue-countermeasures")
    with transaction.atomic():
        due = list(Countermeasure.objects.select_for_update(skip_locked=True, of=("self",))
                   .filter(status__in=OPEN_STATES, due_date__lt=today, overdue_notified_at__isnull=True)
                   .select_related("owner", "problem", "problem__owner").order_by("due_date", "id")[:500])
        for cm in due:
            Countermeasure.objects.filter(pk=cm.pk).update(overdue_notified_at=now)
            events.emit("countermeasure.overdue", cm, actor=actor,
                        payload={"problem": cm.problem.number, "title": cm.title,
                                 "due_date": cm.due_date.isoformat(),
                                 "days_overdue": (today - cm.due_date).days},
                        recipients=_recipients(cm))
    return len(due)
