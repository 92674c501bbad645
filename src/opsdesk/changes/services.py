"""The one write path of change requests: create (by hand or from a catalog template), edit while the
change is still being prepared, the flow per type (standard: submitted -> scheduled at once; normal:
submitted -> assessment -> approval; emergency: submitted -> approval (ECAB) with a mandatory review),
and the implementation plan whose steps the implementer ticks while implementing.

Contract (other parts call these):
- create_change(*, actor, data) -> ChangeRequest
- update_change(change, *, actor, data) -> ChangeRequest
- transition_change(change, name, *, actor, data=None) -> ChangeRequest
- set_steps(change, steps, *, actor), tick_step(step, *, actor, note=""), untick_step(step, *, actor)
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from opsdesk.core import audit, events, records, search
from opsdesk.core.actors import Actor
from opsdesk.core.comments import add_comment
from opsdesk.core.permissions import can
from opsdesk.core.workflow import Transition, TransitionNotAllowed

from .models import ChangeRequest, ChangeTemplate, PlanStep
from .workflows import CHANGE_WORKFLOW

AUDITED = ["title", "description", "reason", "change_type", "category", "template", "requester", "owner_team",
           "implementer", "services", "cis", "planned_start", "planned_end", "actual_start", "actual_end",
           "test_plan", "communication_plan", "expected_outage", "outage_minutes", "incidents", "problems",
           "countermeasures", "tags", "status", "status_reason", "outcome", "outcome_notes", "risk_score",
           "risk_level", "collisions_acknowledged_by", "collisions_acknowledged_at", "submitted_at", "approved_at",
           "closed_at", "review_required"]
# A change is edited (and its plan replaced) only while it is being prepared: once it is on its way to
# approval, what the approvers see is what is implemented.
EDITABLE_STATES = ("draft", "submitted", "assessment")
# Which transitions each type may take (the workflow is shared; the type narrows it).
TYPE_TRANSITIONS: dict[str, frozenset[str]] = {
    "standard": frozenset({"submit", "schedule_standard", "start_implementation", "complete", "close", "cancel",
                           "revise"}),
    "normal": frozenset({"submit", "start_assessment", "request_approval", "revise", "start_implementation",
                         "complete", "close", "cancel", "grant_approval", "refuse_approval"}),
    "emergency": frozenset({"submit", "request_emergency_approval", "start_implementation", "complete", "close",
                            "cancel", "revise", "grant_approval", "refuse_approval"}),
}
FINISH_OUTCOMES = ("successful", "successful_with_issues", "failed", "backed_out")
# Set by the flow, by the risk and collision checks or by the approvals engine; never by editing.
FLOW_FIELDS = ("status", "number", "status_reason", "outcome", "outcome_notes", "actual_start", "actual_end",
               "risk_score", "risk_level", "risk_factors", "risk_assessed_at", "collisions",
               "collisions_acknowledged_by", "collisions_acknowledged_at", "approval_policy", "approval_stage",
               "submitted_at", "approved_at", "closed_at", "review_required")
STEP_KINDS = ("implementation", "backout")
MAX_STEPS = 100
# The most related records one change links per list (the form and the API say the same).
MAX_LINKED = 100
LINKED_FIELDS = ("services", "cis", "incidents", "problems", "countermeasures", "tags")


# --- validation -----------------------------------------------------------------------------------------

def clean_steps(steps) -> list[dict]:
    """The plan as given (a list of {"kind", "who", "action", "minutes", "verification"}), checked; the
    order is the order of the list within each kind."""
    if steps is None:
        return []
    if not isinstance(steps, list | tuple):
        raise ValidationError({"steps": _("The plan is a list of steps.")})
    if len(steps) > MAX_STEPS:
        raise ValidationError({"steps": _("A plan holds at most %(n)s steps.") % {"n": MAX_STEPS}})
    cleaned, problems = [], []
    for index, step in enumerate(steps, start=1):
        if not isinstance(step, dict):
            problems.append(_("Step %(n)s is not a step (who, action, minutes, verification).") % {"n": index})
            continue
        kind = str(step.get("kind") or "implementation")
        action = str(step.get("action") or "").strip()
        who = str(step.get("who") or "").strip()
        verification = str(step.get("verification") or "").strip()
        minutes = step.get("minutes")
        if kind not in STEP_KINDS:
            problems.append(_("Step %(n)s: the plan is “implementation” or “backout”.") % {"n": index})
        if not action:
            problems.append(_("Step %(n)s: say what is done.") % {"n": index})
        elif len(action) > 5000:
            problems.append(_("Step %(n)s: what is done is limited to 5000 characters.") % {"n": index})
        if len(who) > 200:
            problems.append(_("Step %(n)s: who is limited to 200 characters.") % {"n": index})
        if len(verification) > 5000:
            problems.append(_("Step %(n)s: the verification is limited to 5000 characters.") % {"n": index})
        if minutes in ("", None):
            minutes = None
        else:
            try:
                minutes = int(minutes)
            except (TypeError, ValueError):
                minutes = -1
            if not 0 <= minutes <= 100000:
                problems.append(_("Step %(n)s: the expected minutes are a whole number from 0.") % {"n": index})
        cleaned.append({"kind": kind, "who": who, "action": action, "minutes": minutes,
                        "verification": verification})
    if problems:
        raise ValidationError({"steps": problems})
    return cleaned


def _template_steps(template: ChangeTemplate) -> list[dict]:
    return [{**step, "kind": "implementation"} for step in template.plan_steps or []] + \
        [{**step, "kind": "backout"} for step in template.backout_steps or []]


def _check_template(change_type: str, template: ChangeTemplate | None) -> None:
    if change_type == "standard":
        if template is None:
            raise ValidationError({"template": _("A standard change is made from an active standard template "
                                                 "of the catalog: choose one.")})
        if template.change_type != "standard" or not template.active:
            raise ValidationError({"template": _("“%(t)s” is not an active standard template; a standard change "
                                                 "needs one.") % {"t": template}})
    elif template is not None and not template.active:
        raise ValidationError({"template": _("“%(t)s” is retired; choose an active template.") % {"t": template}})


def _clean(data: dict, change: ChangeRequest | None) -> dict:
    data = dict(data)
    refused = {name: _("This field is set by the change's flow, not by editing.") for name in FLOW_FIELDS
               if name in data}
    if refused:
        raise ValidationError(refused)
    too_many = {name: _("At most %(n)s items in %(field)s.") % {"n": MAX_LINKED, "field": name}
                for name in LINKED_FIELDS if data.get(name) is not None and len(data[name]) > MAX_LINKED}
    if too_many:
        raise ValidationError(too_many)
    if "steps" in data:
        data["steps"] = clean_steps(data["steps"]) if data["steps"] is not None else None
    for name in ("title",):
        if name in data:
            data[name] = str(data[name] or "").strip()
    change_type = data.get("change_type", change.change_type if change else "normal")
    if change is not None and "change_type" in data and data["change_type"] != change.change_type \
            and change.status != "draft":
        raise ValidationError({"change_type": _("The type is chosen while the change is a draft.")})
    if change_type not in TYPE_TRANSITIONS:
        raise ValidationError({"change_type": _("Choose standard, normal or emergency.")})
    template = data.get("template", change.template if change else None)
    _check_template(change_type, template)
    start = data.get("planned_start", change.planned_start if change else None)
    end = data.get("planned_end", change.planned_end if change else None)
    if start is not None and end is not None and end <= start:
        raise ValidationError({"planned_end": _("The planned end must be after the planned start.")})
    if data.get("expected_outage") is False:
        data["outage_minutes"] = None
    return data


# --- create and edit ------------------------------------------------------------------------------------

def _write_steps(change: ChangeRequest, steps: list[dict]) -> None:
    change.steps.all().delete()
    orders = {kind: 0 for kind in STEP_KINDS}
    rows = []
    for step in steps:
        orders[step["kind"]] += 1
        rows.append(PlanStep(change=change, kind=step["kind"], order=orders[step["kind"]], who=step["who"],
                             action=step["action"], minutes=step["minutes"], verification=step["verification"]))
    PlanStep.objects.bulk_create(rows)


def _plan_lines(change: ChangeRequest) -> list[str]:
    return [f"{s.kind} {s.order}. {s.action[:80]}" for s in change.steps.order_by("kind", "order", "id")]


def create_change(*, actor: Actor, data: dict) -> ChangeRequest:
    """A draft change. With a template and no steps, the template's plan, backout, test and communication
    plans (and its title, category and risk level for a standard change) are copied."""
    data = _clean(data, None)
    steps = data.pop("steps", None)
    template = data.get("template")
    if template is not None:
        if steps is None:
            steps = clean_steps(_template_steps(template))
        for name in ("test_plan", "communication_plan"):
            if not data.get(name):
                data[name] = getattr(template, name)
        if not data.get("title"):
            data["title"] = template.title or template.name
        if data.get("category") is None and template.category_id:
            data["category"] = template.category
    if data.get("requester") is None and actor.user is not None:
        data["requester"] = actor.user
    with transaction.atomic():
        change = records.create_record(ChangeRequest, actor=actor, fields=data, workflow=CHANGE_WORKFLOW,
                                       audited=AUDITED)
        if steps:
            _write_steps(change, steps)
            audit.record(change, actor=actor, action="set_steps", changes={"steps": [[], _plan_lines(change)]})
    return change


def _check_editable(locked: ChangeRequest, fields: dict | None = None) -> None:
    if locked.status not in EDITABLE_STATES:
        raise TransitionNotAllowed(
            _("%(c)s is %(state)s: a change is edited only while it is a draft, submitted or in assessment.")
            % {"c": locked.number, "state": locked.get_status_display().lower()})


def update_change(change: ChangeRequest, *, actor: Actor, data: dict) -> ChangeRequest:
    data = _clean(data, change)
    steps = data.pop("steps", None)
    with transaction.atomic():
        change = records.update_record(change, actor=actor, fields=data, audited=AUDITED, check=_check_editable)
        if steps is not None:
            _replace_steps(change, steps, actor=actor)
    return change


def _replace_steps(change: ChangeRequest, steps: list[dict], *, actor: Actor) -> None:
    before = _plan_lines(change)
    _write_steps(change, steps)
    after = _plan_lines(change)
    if before != after:
        audit.record(change, actor=actor, action="set_steps", changes={"steps": [before, after]})
        events.emit("changerequest.plan_changed", change, actor=actor, payload={"steps": len(after)})


def set_steps(change: ChangeRequest, steps, *, actor: Actor) -> ChangeRequest:
    """Replace the implementation and backout plan (while the change may be edited)."""
    steps = clean_steps(steps)
    with transaction.atomic():
        locked = ChangeRequest.objects.select_for_update().get(pk=change.pk)
        _check_editable(locked)
        _replace_steps(locked, steps, actor=actor)
    return locked


# --- the flow -------------------------------------------------------------------------------------------

def type_allows(change: ChangeRequest, name: str) -> bool:
    return name in TYPE_TRANSITIONS.get(change.change_type, frozenset())


def available_transitions(change: ChangeRequest, user=None) -> list[Transition]:
    """The transitions to offer on the page and in the API: those of the state, of the type, and (with a
    user) of the user's role on the change's team."""
    return [t for t in CHANGE_WORKFLOW.available(change) if type_allows(change, t.name)
            and (user is None or can(user, t.permission, change))]


def _check_type(change: ChangeRequest, name: str) -> Transition:
    transition = CHANGE_WORKFLOW.get(name)
    if not type_allows(change, name):
        raise TransitionNotAllowed(
            _("A %(type)s change cannot “%(action)s”: that step is not part of its flow.")
            % {"type": change.get_change_type_display().lower(), "action": transition.label})
    return transition


def _check_submittable(change: ChangeRequest) -> None:
    missing = {}
    if change.planned_start is None:
        missing["planned_start"] = _("A change is submitted with its planned window: give the planned start.")
    if change.planned_end is None:
        missing["planned_end"] = _("A change is submitted with its planned window: give the planned end.")
    if change.change_type in ("normal", "emergency"):
        kinds = set(change.steps.values_list("kind", flat=True))
        if "implementation" not in kinds:
            missing["steps"] = [_("A %(type)s change needs at least one implementation step.")
                                % {"type": change.get_change_type_display().lower()}]
        if "backout" not in kinds:
            missing.setdefault("steps", []).append(_("A %(type)s change needs at least one backout step.")
                                                   % {"type": change.get_change_type_display().lower()})
    if missing:
        raise ValidationError(missing)


def collisions_sentence(found: list[dict]) -> str:
    lines = " ".join(str(c.get("message") or c.get("kind")) for c in found)
    return _("Acknowledge these warnings to submit (acknowledge_collisions): %(lines)s") % {"lines": lines}


def collision_key(collision: dict) -> tuple:
    """What makes a collision the same one: its kind and the other change (or the freeze window)."""
    return (collision.get("kind"), collision.get("change_id") or collision.get("freeze_id"))


def new_collisions(change: ChangeRequest, found: list[dict]) -> list[dict]:
    """The collisions in `found` that were not acknowledged when the change was submitted."""
    known = {collision_key(c) for c in change.collisions or [] if isinstance(c, dict)}
    return [c for c in found if collision_key(c) not in known]


def approval_collisions_sentence(found: list[dict]) -> str:
    lines = " ".join(str(c.get("message") or c.get("kind")) for c in found)
    return _("New warnings since the change was submitted; acknowledge them to request approval "
             "(acknowledge_collisions): %(lines)s") % {"lines": lines}


def _truthy(value) -> bool:
    return value is True or str(value).strip().lower() in ("1", "true", "yes", "on")


def _apply_transition_fields(actor: Actor, extra: dict):
    def apply(change: ChangeRequest, transition, data: dict) -> None:
        from . import reviews, risk

        now = timezone.now()
        name = transition.name
        reason = str(data.get("reason") or "").strip()
        if len(reason) > 500:
            raise ValidationError({"reason": _("The reason is limited to 500 characters.")})
        if name == "submit":
            risk.apply_assessment(change, risk.assess(change))
            change.collisions = extra.get("collisions") or []
            if change.collisions:
                change.collisions_acknowledged_by = actor.user
                change.collisions_acknowledged_at = now
            change.submitted_at = now
            change.status_reason = ""
            if change.change_type == "emergency":
                change.review_required = True
        elif name == "start_assessment":
            risk.apply_assessment(change, risk.assess(change))
        elif name in ("request_approval", "request_emergency_approval"):
            # The change may have been edited since it was submitted: the approvers (and the policy, chosen
            # from the risk level) see it as it is now.
            risk.apply_assessment(change, risk.assess(change))
            if "collisions" in extra:
                change.collisions = extra["collisions"]
                if extra.get("new_collisions"):
                    change.collisions_acknowledged_by = actor.user
                    change.collisions_acknowledged_at = now
        elif name == "schedule_standard":
            # Pre-approved by its standard template: approved when scheduled (the release gates read this).
            change.approved_at = now
        elif name == "grant_approval":
            change.approved_at = now
        elif name in ("refuse_approval", "revise"):
            change.status_reason = reason
            if name == "revise":
                change.collisions_acknowledged_by = None
                change.collisions_acknowledged_at = None
        elif name == "start_implementation":
            change.actual_start = now
        elif name == "complete":
            outcome = str(data.get("outcome") or "").strip()
            if outcome not in FINISH_OUTCOMES:
                raise ValidationError({"outcome": _("Choose the outcome: successful, successful with issues, "
                                                    "failed or backed out.")})
            notes = str(data.get("outcome_notes") or data.get("comment") or "").strip()
            if len(notes) > 20000:
                raise ValidationError({"outcome_notes": _("The notes are limited to 20000 characters.")})
            change.actual_end = now
            change.outcome = outcome
            change.outcome_notes = notes
            change.review_required = change.review_required or bool(reviews.review_required(change))
        elif name == "close":
            change.closed_at = now
        elif name == "cancel":
            change.outcome = "cancelled"
            change.closed_at = now
            change.status_reason = reason
    return apply


def _take(change: ChangeRequest, name: str, *, actor: Actor, data: dict, extra: dict | None = None):
    return records.transition_record(change, name, actor=actor, workflow=CHANGE_WORKFLOW, data=data,
                                     apply_fields=_apply_transition_fields(actor, extra or {}))


def transition_change(change: ChangeRequest, name: str, *, actor: Actor, data: dict | None = None) -> ChangeRequest:
    from . import approvals, collisions, reviews

    data = dict(data or {})
    with transaction.atomic():
        locked = ChangeRequest.objects.select_for_update().get(pk=change.pk)
        _check_type(locked, name)
        CHANGE_WORKFLOW.check(locked, name, data)  # 409 in the wrong state, 400 without a required field
        extra: dict = {}
        if name == "submit":
            _check_submittable(locked)
            found = list(collisions.find(locked) or [])
            if found and not _truthy(data.get("acknowledge_collisions")):
                raise ValidationError({"collisions": collisions_sentence(found)})
            extra["collisions"] = found
        elif name in ("request_approval", "request_emergency_approval"):
            found = list(collisions.find(locked) or [])
            fresh = new_collisions(locked, found)
            if fresh and not _truthy(data.get("acknowledge_collisions")):
                raise ValidationError({"collisions": approval_collisions_sentence(fresh)})
            extra["collisions"], extra["new_collisions"] = found, fresh
        elif name == "close":
            missing = reviews.missing_review(locked)
            if missing:
                raise TransitionNotAllowed(str(missing))
        record = _take(locked, name, actor=actor, data=data, extra=extra)
        follow = None
        if name == "submit" and record.change_type == "standard":
            follow = "schedule_standard"
        elif name == "submit" and record.change_type == "emergency":
            follow = "request_emergency_approval"
        if follow:
            record = _take(record, follow, actor=actor, data={})
        if record.status == "approval" and (name in ("request_approval", "request_emergency_approval")
                                            or follow == "request_emergency_approval"):
            approvals.open_approvals(record, actor=actor)
            record.refresh_from_db()
    return record


# --- the plan during implementation ---------------------------------------------------------------------

def may_tick(user, change: ChangeRequest) -> bool:
    """The implementer, or a responder (and above) of the owner team."""
    if user is None:
        return False
    return (change.implementer_id is not None and change.implementer_id == user.pk) or can(user, "responder", change)


def step_label(step: PlanStep) -> str:
    if step.kind == "backout":
        return _("Backout step %(n)s") % {"n": step.order}
    return _("Step %(n)s") % {"n": step.order}


def _lock_for_tick(step: PlanStep, actor: Actor) -> tuple[ChangeRequest, PlanStep]:
    change = ChangeRequest.objects.select_for_update().get(pk=step.change_id)
    if change.status != "implementing":
        raise TransitionNotAllowed(_("Steps are ticked while %(c)s is being implemented; it is %(state)s.")
                                   % {"c": change.number, "state": change.get_status_display().lower()})
    if actor.user is not None and not may_tick(actor.user, change):
        raise PermissionDenied(_("Only the implementer or a responder of the owner team ticks the plan."))
    return change, PlanStep.objects.select_for_update().get(pk=step.pk)


def tick_step(step: PlanStep, *, actor: Actor, note: str = "") -> PlanStep:
    note = str(note or "").strip()
    if len(note) > 500:
        raise ValidationError({"note": _("The note is limited to 500 characters.")})
    with transaction.atomic():
        change, step = _lock_for_tick(step, actor)
        if step.done_at is not None:
            raise TransitionNotAllowed(_("%(s)s is already done.") % {"s": step_label(step)})
        step.done_at, step.done_by, step.note = timezone.now(), actor.user, note
        step.save(update_fields=["done_at", "done_by", "note"])
        label = step_label(step)
        audit.record(change, actor=actor, action="tick_step", changes={str(label): [None, step.action[:200]]})
        body = _("%(step)s done: %(action)s") % {"step": label, "action": step.action}
        if note:
            body += "\n\n" + note
        add_comment(change, actor=actor, body=body[:10000])
        events.emit("changerequest.step_ticked", change, actor=actor,
                    payload={"step": step.pk, "kind": step.kind, "order": step.order})
    return step


def untick_step(step: PlanStep, *, actor: Actor) -> PlanStep:
    with transaction.atomic():
        change, step = _lock_for_tick(step, actor)
        if step.done_at is None:
            raise TransitionNotAllowed(_("%(s)s is not done.") % {"s": step_label(step)})
        step.done_at, step.done_by, step.note = None, None, ""
        step.save(update_fields=["done_at", "done_by", "note"])
        label = step_label(step)
        audit.record(change, actor=actor, action="untick_step", changes={str(label): [step.action[:200], None]})
        add_comment(change, actor=actor, body=_("%(step)s marked as not done: %(action)s")
                    % {"step": label, "action": step.action[:9000]})
        events.emit("changerequest.step_unticked", change, actor=actor, payload={"step": step.pk})
    return step


# --- start-up registrations -----------------------------------------------------------------------------

def change_document(change: ChangeRequest) -> search.Document:
    body = "\n".join(part for part in (change.description, change.reason) if part)
    return search.Document(title=change.title, body=body, state=change.status, number=change.number)


ACTION_LABELS = {
    "set_steps": gettext_lazy("plan changed"), "tick_step": gettext_lazy("plan step done"),
    "untick_step": gettext_lazy("plan step reopened"), "schedule_standard": gettext_lazy("scheduled (pre-approved)"),
    "request_emergency_approval": gettext_lazy("sent to the ECAB"),
}


def wire() -> None:
    audit.register_action_labels(ACTION_LABELS)
    search.register(ChangeRequest, kind="change", label=gettext_lazy("Change"), document=change_document)
