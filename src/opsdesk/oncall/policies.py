"""The write path of escalation policies: a policy and its ordered steps are saved together, validated
step by step (errors named "steps.<index>.<field>"), with one change-log row that lists the steps."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify
from django.utils.translation import gettext as _

from opsdesk.core import audit
from opsdesk.core.actors import Actor
from opsdesk.core.permissions import has_role
from opsdesk.core.workflow import TransitionNotAllowed
from opsdesk.services.models import Service

from .models import URGENCIES, EscalationPolicy, EscalationStep

POLICY_FIELDS = ("name", "slug", "description", "team", "repeat_count")
STEP_KINDS = dict(EscalationStep.KINDS)
MAX_REPEATS = 10
MAX_WAIT_MINUTES = 1440
MAX_STEPS = 30


def clean_step(step: dict, index: int) -> dict:
    """One step made consistent for its kind: fields other kinds use are cleared."""
    errors = {}
    kind = step.get("kind")
    where = f"steps.{index}."
    cleaned = {"kind": kind, "users": [], "schedule": None, "team": None, "team_role": "", "wait_minutes": 0,
               "urgency": step.get("urgency") or "high"}
    if kind not in STEP_KINDS:
        errors[where + "kind"] = _("Choose one of: %(k)s.") % {"k": ", ".join(STEP_KINDS)}
    if cleaned["urgency"] not in dict(URGENCIES):
        errors[where + "urgency"] = _("Choose one of: %(u)s.") % {"u": ", ".join(dict(URGENCIES))}
    if kind == "notify_users":
        users = list(step.get("users") or [])
        if not users:
            errors[where + "users"] = _("Name at least one person to notify.")
        cleaned["users"] = users
    elif kind == "notify_schedule":
        if step.get("schedule") is None:
            errors[where + "schedule"] = _("Choose the schedule whose on-call is notified.")
        cleaned["schedule"] = step.get("schedule")
    elif kind == "notify_team":
        if step.get("team") is None:
            errors[where + "team"] = _("Choose the team to notify.")
        if (step.get("team_role") or "") not in ("", "manager"):
            errors[where + "team_role"] = _("Leave empty for every member, or 'manager' for the team's managers.")
        cleaned["team"], cleaned["team_role"] = step.get("team"), step.get("team_role") or ""
    elif kind == "wait":
        minutes = step.get("wait_minutes")
        if not isinstance(minutes, int) or isinstance(minutes, bool) or not 1 <= minutes <= MAX_WAIT_MINUTES:
            errors[where + "wait_minutes"] = _("A wait step needs whole minutes from 1 to %(max)s.") % {
                "max": MAX_WAIT_MINUTES}
        cleaned["wait_minutes"] = minutes
    if errors:
        raise ValidationError(errors)
    return cleaned


def clean_policy(data: dict, policy: EscalationPolicy | None = None) -> dict:
    errors = {}
    cleaned = {}
    name = str(data.get("name", policy.name if policy else "") or "").strip()
    if not name:
        errors["name"] = _("Give the policy a name.")
    elif len(name) > 100:
        errors["name"] = _("The name is limited to 100 characters.")
    cleaned["name"] = name
    slug = str(data.get("slug", policy.slug if policy else "") or "").strip() or slugify(name)[:100]
    if slug != slugify(slug) or not slug:
        errors["slug"] = _("A key uses lower-case letters, digits and hyphens.")
    cleaned["slug"] = slug
    for field, value in (("name", name), ("slug", slug)):
        clash = EscalationPolicy.objects.filter(**{field: value})
        if policy is not None:
            clash = clash.exclude(pk=policy.pk)
        if value and field not in errors and clash.exists():
            errors[field] = _("Another policy already has this %(field)s.") % {"field": field}
    repeat = data.get("repeat_count", policy.repeat_count if policy else 0)
    if not isinstance(repeat, int) or isinstance(repeat, bool) or not 0 <= repeat <= MAX_REPEATS:
        errors["repeat_count"] = _("Repeat the steps 0 to %(max)s times.") % {"max": MAX_REPEATS}
    cleaned["repeat_count"] = repeat
    cleaned["description"] = str(data.get("description", policy.description if policy else "") or "")
    cleaned["team"] = data.get("team", policy.team if policy else None)
    if "services" in data:
        cleaned["services"] = list(data["services"] or [])
    if "steps" in data or policy is None:
        steps = list(data.get("steps") or [])
        if not steps:
            errors["steps"] = _("A policy needs at least one step.")
        elif len(steps) > MAX_STEPS:
            errors["steps"] = _("A policy has at most %(max)s steps.") % {"max": MAX_STEPS}
        elif all(step.get("kind") == "wait" for step in steps):
            errors["steps"] = _("A policy needs at least one step that notifies someone.")
        cleaned_steps = []
        for index, step in enumerate(steps[:MAX_STEPS]):
            try:
                cleaned_steps.append(clean_step(step, index))
            except ValidationError as exc:
                errors.update(exc.message_dict)
        cleaned["steps"] = cleaned_steps
    if errors:
        raise ValidationError(errors)
    return cleaned


def services_not_managed(user, policy: EscalationPolicy | None, services) -> list:
    """The services among the attachments `services` would change (attached or detached) whose owner
    team `user` does not manage; empty for global managers and admins. Attaching a policy to a service
    decides who is paged for that service, so it is its owner team's managers' decision."""
    if has_role(user, "manager"):
        return []
    current = set(policy.services.values_list("pk", flat=True)) if policy is not None and policy.pk else set()
    wanted = {service.pk: service for service in services}
    changed = [service for pk, service in wanted.items() if pk not in current]
    if current - set(wanted):
        changed += list(Service.objects.filter(pk__in=current - set(wanted)))
    return sorted((s for s in changed if not has_role(user, "manager", s.owner_team_id)), key=lambda s: s.name)


def _refuse_taken_services(policy: EscalationPolicy | None, services) -> None:
    """One policy per service: a service another policy already has is refused, naming that policy.
    The services' rows are locked first, so two policies cannot take the same service at once."""
    ids = sorted(service.pk for service in services)
    list(Service.objects.select_for_update().filter(pk__in=ids).values_list("pk", flat=True))
    taken = (EscalationPolicy.services.through.objects.filter(service_id__in=ids)
             .select_related("service", "escalationpolicy").order_by("service__name"))
    if policy is not None and policy.pk:
        taken = taken.exclude(escalationpolicy_id=policy.pk)
    messages = [_("%(service)s already has the escalation policy %(policy)s; detach it there first.")
                % {"service": row.service.name, "policy": row.escalationpolicy.name} for row in taken]
    if messages:
        raise ValidationError({"services": messages})


def describe(policy: EscalationPolicy) -> dict:
    """The audited form of a policy with its steps."""
    from .escalation import step_description

    return {
        "name": policy.name, "slug": policy.slug, "description": policy.description,
        "team": str(policy.team) if policy.team_id else None, "repeat_count": policy.repeat_count,
        "services": sorted(s.slug for s in policy.services.all()),
        "steps": [f"{i + 1}. {step_description(s)} ({s.urgency})" if s.kind != "wait" else
                  f"{i + 1}. {step_description(s)}"
                  for i, s in enumerate(policy.steps.order_by("position", "id").prefetch_related("users"))],
    }


def _write_steps(policy: EscalationPolicy, steps: list[dict]) -> None:
    policy.steps.all().delete()
    for position, step in enumerate(steps):
        users = step.pop("users")
        row = EscalationStep.objects.create(policy=policy, position=position, **step)
        if users:
            row.users.set(users)


def save_policy(policy: EscalationPolicy | None = None, *, actor: Actor, data: dict) -> EscalationPolicy:
    """Create (policy None) or update a policy; `steps` (a list of step dicts, in order) replaces the
    steps when given; `services` replaces the attached services when given."""
    cleaned = clean_policy(data, policy)
    with transaction.atomic():
        if policy is None:
            policy = EscalationPolicy(created_by=actor.user)
            before = {}
        else:
            policy = EscalationPolicy.objects.select_for_update().get(pk=policy.pk)
            before = describe(policy)
        for name in POLICY_FIELDS:
            setattr(policy, name, cleaned[name])
        policy.updated_by = actor.user
        policy.full_clean()
        policy.save()
        if "services" in cleaned:
            _refuse_taken_services(policy, cleaned["services"])
            policy.services.set(cleaned["services"])
        if "steps" in cleaned:
            _write_steps(policy, cleaned["steps"])
        changes = audit.diff(before, describe(policy))
        if changes:
            audit.record(policy, actor=actor, action="create" if not before else "update", changes=changes)
    return policy


def delete_policy(policy: EscalationPolicy, *, actor: Actor) -> None:
    """A policy that has run keeps its history: it cannot be deleted (detach it from its services)."""
    with transaction.atomic():
        policy = EscalationPolicy.objects.select_for_update().get(pk=policy.pk)
        if policy.runs.exists():
            raise TransitionNotAllowed(_("%(policy)s has paged for incidents; its runs keep it. Detach it from "
                                         "its services and routes instead.") % {"policy": policy.name})
        audit.record(policy, actor=actor, action="delete", changes=audit.diff(describe(policy), {}))
        policy.delete()
