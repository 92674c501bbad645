"""The change catalog as code: sections `change_categories` and `change_templates` (a template names its
category by key). Applied through changes/catalog.py; problems are named by their place in the file
(`change_templates/add-dns-record/plan_steps`)."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from opsdesk.core.actors import Actor
from opsdesk.core.config_as_code import Change, Section, located, refuse_duplicates

from . import catalog
from .models import ChangeCategory, ChangeTemplate

SLUG = {"type": "string", "pattern": "^[-a-zA-Z0-9_]{1,64}$"}
STEP = {"type": "object", "additionalProperties": False, "required": ["action"], "properties": {
    "who": {"type": "string", "maxLength": 200}, "action": {"type": "string", "minLength": 1, "maxLength": 5000},
    "minutes": {"type": ["integer", "null"], "minimum": 0, "maximum": 100000},
    "verification": {"type": "string", "maxLength": 5000}}}


def _value(value):
    return getattr(value, "slug", value)


def _apply_items(section: str, model, items: list[dict], fields_of, create, update) -> list[Change]:
    refuse_duplicates(section, [item["slug"] for item in items])
    changes = []
    for item in items:
        where = f"{section}/{item['slug']}"
        with located(where):
            fields = fields_of(item, where)
            record = model.objects.filter(slug=item["slug"]).first()
            if record is None:
                create(data={"slug": item["slug"], **fields})
                changes.append(Change(section, item["slug"], "create",
                                      {k: [None, _value(v)] for k, v in fields.items()}))
                continue
            diff = {k: [_value(getattr(record, k)), _value(v)] for k, v in fields.items() if getattr(record, k) != v}
            if diff:
                update(record, data={k: fields[k] for k in diff})
            changes.append(Change(section, item["slug"], "update" if diff else "unchanged", diff))
    return changes


class CategorySection(Section):
    key = "change_categories"
    order = 95  # after teams and services; before the change policies (97+)
    item_schema = {"type": "object", "additionalProperties": False, "required": ["slug", "name"], "properties": {
        "slug": SLUG, "name": {"type": "string", "minLength": 1, "maxLength": 100},
        "description": {"type": "string", "maxLength": 5000}, "active": {"type": "boolean"}}}

    def export(self) -> list[dict]:
        return [{"slug": c.slug, "name": c.name, "description": c.description, "active": c.active}
                for c in ChangeCategory.objects.order_by("slug")]

    def apply(self, items: list[dict], *, actor: Actor) -> list[Change]:
        def fields_of(item, where):
            return {k: item[k] for k in ("name", "description", "active") if k in item}

        return _apply_items(self.key, ChangeCategory, items, fields_of,
                            lambda data: catalog.create_category(actor=actor, data=data),
                            lambda record, data: catalog.update_category(record, actor=actor, data=data))


class TemplateSection(Section):
    key = "change_templates"
    order = 96  # after the categories it names
    item_schema = {"type": "object", "additionalProperties": False, "required": ["slug", "name"], "properties": {
        "slug": SLUG, "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "description": {"type": "string", "maxLength": 20000},
        "change_type": {"enum": ["standard", "normal", "emergency"]},
        "category": {"type": ["string", "null"]}, "title": {"type": "string", "maxLength": 300},
        "plan_steps": {"type": "array", "maxItems": 100, "items": STEP},
        "backout_steps": {"type": "array", "maxItems": 100, "items": STEP},
        "test_plan": {"type": "string", "maxLength": 20000}, "communication_plan": {"type": "string",
                                                                                   "maxLength": 20000},
        "expected_minutes": {"type": ["integer", "null"], "minimum": 0, "maximum": 100000},
        "risk_level": {"enum": ["low", "medium", "high", "very_high"]}, "active": {"type": "boolean"}}}
    FIELDS = ("name", "description", "change_type", "title", "plan_steps", "backout_steps", "test_plan",
              "communication_plan", "expected_minutes", "risk_level", "active")

    def export(self) -> list[dict]:
        return [{"slug": t.slug, "name": t.name, "description": t.description, "change_type": t.change_type,
                 "category": t.category.slug if t.category_id else None, "title": t.title,
                 "plan_steps": t.plan_steps, "backout_steps": t.backout_steps, "test_plan": t.test_plan,
                 "communication_plan": t.communication_plan, "expected_minutes": t.expected_minutes,
                 "risk_level": t.risk_level, "active": t.active}
                for t in ChangeTemplate.objects.select_related("category").order_by("slug")]

    def apply(self, items: list[dict], *, actor: Actor) -> list[Change]:
        def fields_of(item, where):
            fields = {k: item[k] for k in self.FIELDS if k in item}
            for name in ("plan_steps", "backout_steps"):
                if name in fields:
                    fields[name] = catalog.clean_plan(fields[name], name)
            if "category" in item:
                slug = item["category"]
                fields["category"] = ChangeCategory.objects.filter(slug=slug).first() if slug else None
                if slug and fields["category"] is None:
                    raise ValidationError({"category": f"no change category with the key {slug!r}"})
            return fields

        return _apply_items(self.key, ChangeTemplate, items, fields_of,
                            lambda data: catalog.create_template(actor=actor, data=data),
                            lambda record, data: catalog.update_template(record, actor=actor, data=data))


SECTIONS = [CategorySection, TemplateSection]
