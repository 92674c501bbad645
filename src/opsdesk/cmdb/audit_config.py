"""The audit rules' section of the configuration file, `cmdb_audit_rules`.

Items are matched by `slug` and written through `auditing.create_rule` / `update_rule`, so the file
gets the same validation (errors name `cmdb_audit_rules/<slug>/<field>` and the bad entry) as the API
and the UI. Nothing is deleted; a rule shipped with Opsdesk can be renamed, re-rated or disabled here,
but its scope and conditions are its own.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError

from opsdesk.core.actors import Actor
from opsdesk.core.config_as_code import Change, Section

from . import auditing
from .models import AuditRule

FIELDS = ("name", "description", "kind", "severity", "enabled", "scope", "conditions")
CONDITION = {
    "type": "object",
    "additionalProperties": False,
    "required": ["field", "op"],
    "properties": {"field": {"type": "string"}, "op": {"type": "string"}, "value": {}},
}


class AuditRuleSection(Section):
    key = "cmdb_audit_rules"
    order = 40  # after the classes (30) and teams (10) that conditions name
    item_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["slug", "name", "kind"],
        "properties": {
            "slug": {"type": "string", "pattern": "^[-a-zA-Z0-9_]+$", "maxLength": 64},
            "name": {"type": "string", "minLength": 1, "maxLength": 200},
            "description": {"type": "string"},
            "kind": {"enum": [value for value, _label in AuditRule.KINDS]},
            "severity": {"enum": [value for value, _label in AuditRule.SEVERITIES]},
            "enabled": {"type": "boolean"},
            "scope": {"type": "array", "items": CONDITION},
            "conditions": {"type": "array", "items": CONDITION},
        },
    }

    def export(self) -> list[dict]:
        return [{"slug": rule.slug, **{name: getattr(rule, name) for name in FIELDS}}
                for rule in AuditRule.objects.order_by("slug")]

    def apply(self, items: list[dict], *, actor: Actor) -> list[Change]:
        existing = {r.slug: r for r in AuditRule.objects.filter(slug__in=[i["slug"] for i in items])}
        changes = []
        for item in items:
            slug = item["slug"]
            fields = {name: item[name] for name in FIELDS if name in item}
            rule = existing.get(slug)
            try:
                if rule is None:
                    rule = auditing.create_rule(actor=actor, data={"slug": slug, **fields})
                    changes.append(Change(self.key, slug, "create", {k: [None, v] for k, v in sorted(fields.items())}))
                    continue
                if "scope" in fields or "conditions" in fields:
                    # Compare definitions in their stored form, so "value: 'true'" equals true.
                    fields["scope"], fields["conditions"] = auditing.validate_definition(
                        fields.get("kind", rule.kind), fields.get("scope", rule.scope),
                        fields.get("conditions", rule.conditions))
                diff = {k: [getattr(rule, k), v] for k, v in fields.items() if getattr(rule, k) != v}
                if diff:
                    auditing.update_rule(rule, actor=actor, data={k: fields[k] for k in diff})
                changes.append(Change(self.key, slug, "update" if diff else "unchanged", diff))
            except ValidationError as exc:
                raise ValidationError({f"{self.key}/{slug}/{field}": messages
                                       for field, messages in exc.message_dict.items()}) from None
        return changes
