"""The write path of the change catalog: categories and change templates (standard changes and the plan
templates of a category), used by the catalog pages and by config-as-code. Templates are retired
(`active=False`), never deleted: changes made from them keep pointing at them."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from opsdesk.core import records
from opsdesk.core.actors import Actor

from .models import RISK_LEVELS, ChangeCategory, ChangeTemplate

CATEGORY_FIELDS = ["slug", "name", "description", "active"]
TEMPLATE_FIELDS = ["slug", "name", "description", "change_type", "category", "title", "plan_steps",
                   "backout_steps", "test_plan", "communication_plan", "expected_minutes", "risk_level", "active"]
STEP_KEYS = ("who", "action", "minutes", "verification")


def clean_plan(steps, field: str) -> list[dict]:
    """A template's plan: [{"who", "action", "minutes", "verification"}] in order (no kind: the field says it)."""
    from .services import clean_steps

    if steps in (None, ""):
        return []
    if not isinstance(steps, list):
        raise ValidationError({field: _("A list of steps.")})
    try:
        cleaned = clean_steps([{**s, "kind": "implementation"} if isinstance(s, dict) else s for s in steps])
    except ValidationError as exc:
        raise ValidationError({field: exc.message_dict["steps"]}) from None
    return [{key: step[key] for key in STEP_KEYS} for step in cleaned]


def _clean_template(data: dict, template: ChangeTemplate | None) -> dict:
    data = dict(data)
    for name in ("plan_steps", "backout_steps"):
        if name in data:
            data[name] = clean_plan(data[name], name)
    if "risk_level" in data and data["risk_level"] not in dict(RISK_LEVELS):
        raise ValidationError({"risk_level": _("Choose low, medium, high or very high.")})
    change_type = data.get("change_type", template.change_type if template else "normal")
    plan = data.get("plan_steps", template.plan_steps if template else [])
    if change_type == "standard" and not plan:
        raise ValidationError({"plan_steps": _("A standard change template carries its implementation steps.")})
    return data


def create_category(*, actor: Actor, data: dict) -> ChangeCategory:
    return records.create_record(ChangeCategory, actor=actor, fields=dict(data), audited=CATEGORY_FIELDS)


def update_category(category: ChangeCategory, *, actor: Actor, data: dict) -> ChangeCategory:
    return records.update_record(category, actor=actor, fields=dict(data), audited=CATEGORY_FIELDS,
                                 protected=("id",))


def create_template(*, actor: Actor, data: dict) -> ChangeTemplate:
    data = _clean_template(data, None)
    return records.create_record(ChangeTemplate, actor=actor, fields=data, audited=TEMPLATE_FIELDS)


def update_template(template: ChangeTemplate, *, actor: Actor, data: dict) -> ChangeTemplate:
    data = _clean_template(data, template)
    with transaction.atomic():
        return records.update_record(template, actor=actor, fields=data, audited=TEMPLATE_FIELDS, protected=("id",))


def plan_template_for(category: ChangeCategory | None) -> ChangeTemplate | None:
    """The plan template a normal or emergency change of the category starts from (the first active one)."""
    if category is None:
        return None
    return (ChangeTemplate.objects.filter(category=category, active=True).exclude(change_type="standard")
            .order_by("name", "id").first())
