"""The incidents sections of the configuration file: settings (levels, priority matrix, clocks, the
report template), the category taxonomy, assignment rules and escalation rules."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from opsdesk.accounts.models import Team
from opsdesk.core.actors import Actor
from opsdesk.core.config_as_code import Change, Section, refuse_duplicates

from . import services
from .models import AssignmentRule, Category, EscalationRule, IncidentSettings

PRIORITY = {"enum": services.PRIORITY_VALUES}
SLUGS = {"type": "array", "items": {"type": "string"}}
CONDITIONS = {"type": "object", "additionalProperties": False, "properties": {
    "priority": {"type": "array", "items": PRIORITY}, "category": SLUGS, "service": SLUGS, "ci_class": SLUGS}}
LEVELS = {"type": "array", "minItems": 1, "maxItems": 9, "items": {
    "type": "object", "additionalProperties": False, "required": ["value", "label"],
    "properties": {"value": {"type": "integer", "minimum": 1, "maximum": 9}, "label": {"type": "string"}}}}


class SettingsSection(Section):
    key = "incident_settings"
    order = 60
    item_schema = {
        "type": "object", "additionalProperties": False,
        "properties": {
            "impact_levels": LEVELS, "urgency_levels": LEVELS,
            "matrix": {"type": "object", "additionalProperties": {
                "type": "object", "additionalProperties": PRIORITY}},
            "auto_close_days": {"type": "integer", "minimum": 0, "maximum": 365},
            "reopen_window_days": {"type": "integer", "minimum": 0, "maximum": 365},
            "major_update_minutes": {"type": "integer", "minimum": 5, "maximum": 1440},
            "report_required_priorities": {"type": "array", "items": PRIORITY},
            "report_required_for_major": {"type": "boolean"},
            "report_sections": {"type": "array", "items": {
                "type": "object", "additionalProperties": False, "required": ["key", "title"],
                "properties": {"key": {"type": "string", "pattern": "^[a-z0-9_]+$"}, "title": {"type": "string"},
                               "hint": {"type": "string"}, "required": {"type": "boolean"}}}},
            "propose_impact_from_cmdb": {"type": "boolean"},
        },
    }

    def export(self) -> list[dict]:
        config = services.incident_settings()
        return [{name: getattr(config, name) for name in services.SETTINGS_FIELDS}]

    def apply(self, items: list[dict], *, actor: Actor) -> list[Change]:
        if len(items) > 1:
            raise ValidationError({self.key: "holds one item"})
        if not items:
            return []
        config = services.incident_settings()
        diff = {name: [getattr(config, name), value] for name, value in items[0].items()
                if getattr(config, name) != value}
        if diff:
            services.update_settings(actor=actor, data=dict(items[0]))
        return [Change(self.key, "incidents", "update" if diff else "unchanged", diff)]


class KeyedSection(Section):
    """Items matched to rows by a key field; `to_fields` turns an item into service data."""

    model = None
    key_field = "name"

    def rows(self):
        return self.model.objects.all()

    def to_item(self, row) -> dict:
        raise NotImplementedError

    def to_fields(self, item: dict) -> dict:
        raise NotImplementedError

    def create(self, key: str, fields: dict, actor: Actor):
        raise NotImplementedError

    def update(self, row, fields: dict, actor: Actor):
        raise NotImplementedError

    def export(self) -> list[dict]:
        return [self.to_item(row) for row in self.rows()]

    def apply(self, items: list[dict], *, actor: Actor) -> list[Change]:
        refuse_duplicates(self.key, [item[self.key_field] for item in items])
        changes = []
        existing = {getattr(row, self.key_field): row for row in self.rows()}
        for item in items:
            key = item[self.key_field]
            try:
                fields = self.to_fields(item)
            except ValidationError as exc:
                raise ValidationError({f"{self.key}/{key}": exc.messages})
            row = existing.get(key)
            if row is None:
                self.create(key, fields, actor)
                changes.append(Change(self.key, key, "create", {k: [None, str(v)] for k, v in sorted(fields.items())
                                                                 if v not in ("", [], {}, None)}))
                continue
            current = self.to_item(row)
            diff = {k: [current.get(k), item[k]] for k in item if current.get(k) != item[k]}
            if diff:
                self.update(row, fields, actor)
            changes.append(Change(self.key, key, "update" if diff else "unchanged", diff))
        return changes


def _team(slug: str | None):
    if not slug:
        return None
    team = Team.objects.filter(slug=slug).first()
    if team is None:
        raise ValidationError(f"no team with key {slug!r}")
    return team


class CategorySection(KeyedSection):
    key = "incident_categories"
    order = 61
    model = Category
    key_field = "slug"
    item_schema = {
        "type": "object", "additionalProperties": False, "required": ["slug", "name"],
        "properties": {"slug": {"type": "string", "pattern": "^[-a-zA-Z0-9_]+$"}, "name": {"type": "string"},
                       "parent": {"type": ["string", "null"]}, "description": {"type": "string"},
                       "order": {"type": "integer", "minimum": 0}, "active": {"type": "boolean"}},
    }

    def rows(self):
        return Category.objects.select_related("parent").order_by("parent__order", "parent__slug", "order", "slug")

    def export(self) -> list[dict]:
        # Parents first, so a file applies in one pass.
        rows = list(self.rows())
        return [self.to_item(r) for r in rows if r.parent_id is None] + \
            [self.to_item(r) for r in rows if r.parent_id is not None]

    def to_item(self, row) -> dict:
        return {"slug": row.slug, "name": row.name, "parent": row.parent.slug if row.parent_id else None,
                "description": row.description, "order": row.order, "active": row.active}

    def to_fields(self, item: dict) -> dict:
        fields = {k: item[k] for k in ("name", "description", "order", "active") if k in item}
        if "parent" in item:
            parent = Category.objects.filter(slug=item["parent"]).first() if item["parent"] else None
            if item["parent"] and parent is None:
                raise ValidationError(f"no category with key {item['parent']!r} (list parents first)")
            fields["parent"] = parent
        return fields

    def create(self, key, fields, actor):
        return services.create_category(actor=actor, data={"slug": key, **fields})

    def update(self, row, fields, actor):
        return services.update_category(row, actor=actor, data=fields)


class AssignmentRuleSection(KeyedSection):
    key = "incident_assignment_rules"
    order = 62
    model = AssignmentRule
    item_schema = {
        "type": "object", "additionalProperties": False, "required": ["name", "team"],
        "properties": {"name": {"type": "string", "minLength": 1}, "order": {"type": "integer", "minimum": 0},
                       "active": {"type": "boolean"}, "conditions": CONDITIONS, "team": {"type": "string"},
                       "method": {"enum": [m for m, _label in AssignmentRule.METHODS]}},
    }

    def rows(self):
        return AssignmentRule.objects.select_related("team").order_by("order", "name")

    def to_item(self, row) -> dict:
        return {"name": row.name, "order": row.order, "active": row.active, "conditions": row.conditions,
                "team": row.team.slug, "method": row.method}

    def to_fields(self, item: dict) -> dict:
        fields = {k: item[k] for k in ("name", "order", "active", "conditions", "method") if k in item}
        fields["team"] = _team(item["team"])
        return fields

    def create(self, key, fields, actor):
        return services.create_rule(AssignmentRule, actor=actor, data=fields)

    def update(self, row, fields, actor):
        return services.update_rule(row, actor=actor, data=fields)


class EscalationRuleSection(KeyedSection):
    key = "incident_escalation_rules"
    order = 63
    model = EscalationRule
    item_schema = {
        "type": "object", "additionalProperties": False, "required": ["name", "trigger", "kind"],
        "properties": {
            "name": {"type": "string", "minLength": 1}, "order": {"type": "integer", "minimum": 0},
            "active": {"type": "boolean"}, "conditions": CONDITIONS,
            "trigger": {"enum": [t for t, _label in EscalationRule.TRIGGERS]},
            "minutes": {"type": ["integer", "null"], "minimum": 1},
            "metric": {"type": "string"}, "percent": {"type": ["integer", "null"], "minimum": 1, "maximum": 1000},
            "kind": {"enum": [k for k, _label in EscalationRule.KINDS]},
            "target_team": {"type": ["string", "null"]},
            "notify": {"type": "array", "items": {"enum": [n for n, _label in EscalationRule.NOTIFY]}},
        },
    }

    def rows(self):
        return EscalationRule.objects.select_related("target_team").order_by("order", "name")

    def to_item(self, row) -> dict:
        return {"name": row.name, "order": row.order, "active": row.active, "conditions": row.conditions,
                "trigger": row.trigger, "minutes": row.minutes, "metric": row.metric, "percent": row.percent,
                "kind": row.kind, "target_team": row.target_team.slug if row.target_team_id else None,
                "notify": row.notify}

    def to_fields(self, item: dict) -> dict:
        fields = {k: item[k] for k in ("name", "order", "active", "conditions", "trigger", "minutes", "metric",
                                       "percent", "kind", "notify") if k in item}
        if "target_team" in item:
            fields["target_team"] = _team(item["target_team"])
        return fields

    def create(self, key, fields, actor):
        return services.create_rule(EscalationRule, actor=actor, data=fields)

    def update(self, row, fields, actor):
        return services.update_rule(row, actor=actor, data=fields)


SECTIONS = [SettingsSection, CategorySection, AssignmentRuleSection, EscalationRuleSection]
__all__ = ["SECTIONS", "IncidentSettings"]
