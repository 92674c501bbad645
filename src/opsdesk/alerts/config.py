"""The alerts sections of the configuration file: `alert_integrations` (settings only: keys, the HMAC
secret, the bearer token and the IMAP password never leave the database) and `alert_routes` (by name,
naming the service, team and escalation policy by their keys)."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from opsdesk.accounts.models import Team
from opsdesk.core.actors import Actor
from opsdesk.core.config_as_code import Change, located
from opsdesk.incidents.config import KeyedSection
from opsdesk.oncall.models import EscalationPolicy
from opsdesk.services.models import Service

from . import integrations, services
from .models import INTEGRATION_KINDS, SEVERITIES, Integration, Route

SEVERITY_NAMES = [name for name, _label in SEVERITIES]
PRIORITY = {"enum": ["P1", "P2", "P3", "P4", "P5"]}
KEY = {"type": ["string", "null"]}
MATCHERS = {"type": "array", "items": {
    "type": "object", "additionalProperties": False, "required": ["label"],
    "properties": {"label": {"type": "string"}, "op": {"enum": ["=", "!=", "=~", "!~"]}, "value": {"type": "string"}}}}
MINUTES = {"type": "integer", "minimum": 0}


def _by_key(model, key, what: str, field: str = "slug"):
    if not key:
        return None
    found = model.objects.filter(**{field: key}).first()
    if found is None:
        raise ValidationError(f"no {what} with the key {key!r}")
    return found


class IntegrationSection(KeyedSection):
    key = "alert_integrations"
    order = 86  # after teams, services and escalation policies (85)
    model = Integration
    SETTINGS = ["description", "enabled", "grouping_template", "severity_map", "ci_labels", "auto_resolve",
                "reopen_window_minutes", "flapping_changes", "flapping_window_minutes", "payload_retention_days",
                "heartbeat_interval_minutes", "imap_host", "imap_port", "imap_ssl", "imap_username", "imap_folder"]
    item_schema = {
        "type": "object", "additionalProperties": False, "required": ["name", "kind"],
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 100},
            "kind": {"enum": [kind for kind, _label in INTEGRATION_KINDS]},
            "description": {"type": "string"}, "enabled": {"type": "boolean"},
            "grouping_template": {"type": "string", "maxLength": 500},
            "team": KEY, "service": KEY,
            "severity_map": {"type": "object", "additionalProperties": False,
                             "properties": {name: PRIORITY for name in SEVERITY_NAMES}},
            "ci_labels": {"type": "array", "items": {"type": "string", "minLength": 1}},
            "auto_resolve": {"type": "boolean"},
            "reopen_window_minutes": MINUTES, "flapping_changes": {"type": "integer", "minimum": 1},
            "flapping_window_minutes": {"type": "integer", "minimum": 1},
            "payload_retention_days": {"type": "integer", "minimum": 1},
            "heartbeat_interval_minutes": {"type": ["integer", "null"], "minimum": 1},
            "imap_host": {"type": "string"}, "imap_port": {"type": ["integer", "null"], "minimum": 1, "maximum": 65535},
            "imap_ssl": {"type": "boolean"}, "imap_username": {"type": "string"}, "imap_folder": {"type": "string"},
        },
    }

    def rows(self):
        return Integration.objects.select_related("team", "service").order_by("name")

    def to_item(self, row) -> dict:
        item = {"name": row.name, "kind": row.kind, **{name: getattr(row, name) for name in self.SETTINGS},
                "team": row.team.slug if row.team_id else None,
                "service": row.service.slug if row.service_id else None}
        if row.kind != "email":
            for name in ("imap_host", "imap_port", "imap_ssl", "imap_username", "imap_folder"):
                item.pop(name)
        return item

    def to_fields(self, item: dict) -> dict:
        fields = {name: item[name] for name in ("name", "kind", *self.SETTINGS) if name in item}
        if "team" in item:
            fields["team"] = _by_key(Team, item["team"], "team")
        if "service" in item:
            fields["service"] = _by_key(Service, item["service"], "service")
        return fields

    def create(self, key, fields, actor):
        if fields.get("kind") == "email":
            raise ValidationError({f"{self.key}/{key}": "an email integration needs its IMAP password, which "
                                   "configuration files do not carry: create it in the UI or the API, then the "
                                   "file keeps its settings"})
        with located(f"{self.key}/{key}"):
            integration, _key = integrations.create_integration(actor=actor, data=fields)
        return integration

    def update(self, row, fields, actor):
        if fields.get("kind", row.kind) != row.kind:
            raise ValidationError({f"{self.key}/{row.name}/kind": "the kind of an integration cannot change; "
                                   "give the new one another name"})
        fields.pop("kind", None)
        with located(f"{self.key}/{row.name}"):
            return integrations.update_integration(row, actor=actor, data=fields)

    def apply(self, items: list[dict], *, actor: Actor) -> list[Change]:
        changes = super().apply(items, actor=actor)
        for change in changes:
            if change.action == "create":
                # The key is made now and shown nowhere: a person rotates it in the UI to see the URL.
                change.fields["key"] = [None, "made; rotate it on the integration's page to see the URL"]
        return changes


class RouteSection(KeyedSection):
    key = "alert_routes"
    order = 87  # after the integrations they name
    model = Route
    item_schema = {
        "type": "object", "additionalProperties": False, "required": ["name"],
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 100},
            "order": {"type": "integer", "minimum": 0}, "enabled": {"type": "boolean"},
            "integration": KEY, "matchers": MATCHERS,
            "severities": {"type": "array", "items": {"enum": SEVERITY_NAMES}},
            "source_pattern": {"type": "string", "maxLength": 200},
            "service": KEY, "team": KEY, "escalation_policy": KEY,
            "priority": {"enum": ["", "P1", "P2", "P3", "P4", "P5"]},
        },
    }

    def rows(self):
        return Route.objects.select_related("integration", "service", "team", "escalation_policy").order_by(
            "order", "name")

    def to_item(self, row) -> dict:
        return {"name": row.name, "order": row.order, "enabled": row.enabled,
                "integration": row.integration.name if row.integration_id else None,
                "matchers": row.matchers, "severities": row.severities, "source_pattern": row.source_pattern,
                "service": row.service.slug if row.service_id else None,
                "team": row.team.slug if row.team_id else None,
                "escalation_policy": row.escalation_policy.slug if row.escalation_policy_id else None,
                "priority": row.priority}

    def to_fields(self, item: dict) -> dict:
        fields = {name: item[name] for name in ("name", "order", "enabled", "matchers", "severities",
                                                "source_pattern", "priority") if name in item}
        for name, model, what, field in (("integration", Integration, "integration", "name"),
                                         ("service", Service, "service", "slug"), ("team", Team, "team", "slug"),
                                         ("escalation_policy", EscalationPolicy, "escalation policy", "slug")):
            if name in item:
                fields[name] = _by_key(model, item[name], what, field)
        return fields

    def create(self, key, fields, actor):
        with located(f"{self.key}/{key}"):
            return services.create_route(actor=actor, data=fields)

    def update(self, row, fields, actor):
        with located(f"{self.key}/{row.name}"):
            return services.update_route(row, actor=actor, data=fields)


SECTIONS = [IntegrationSection, RouteSection]
