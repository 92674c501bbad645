"""The on-call sections of the configuration file: schedules with their layers (people by username;
overrides and swaps are day-to-day work, not configuration)."""

from __future__ import annotations

import datetime

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from opsdesk.accounts.models import Team
from opsdesk.core.actors import Actor
from opsdesk.core.config_as_code import Change, Section, located, refuse_duplicates

from . import schedules
from .models import Schedule

HHMM = {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"}
WEEKDAY = {"type": "integer", "minimum": 0, "maximum": 6}
# YAML reads an unquoted ISO timestamp as a date-time, a quoted one as text: both are accepted.
INSTANT = {"description": "ISO 8601 date and time with its UTC offset"}
LAYER = {
    "type": "object", "additionalProperties": False, "required": ["name", "users", "rotation_start"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 100},
        "order": {"type": "integer", "minimum": 0},
        "users": {"type": "array", "minItems": 1, "items": {"type": "string"}},
        "rotation_start": INSTANT,
        "turn_unit": {"enum": list(schedules.TURN_UNITS)},
        "turn_count": {"type": "integer", "minimum": 1, "maximum": schedules.MAX_TURN_COUNT},
        "restrictions": {"oneOf": [
            {"type": "object", "maxProperties": 0},
            {"type": "object", "additionalProperties": False, "required": ["kind", "ranges"], "properties": {
                "kind": {"const": "daily"}, "ranges": {"type": "array", "minItems": 1, "items": {
                    "type": "object", "additionalProperties": False, "required": ["start", "end"],
                    "properties": {"start": HHMM, "end": HHMM}}}}},
            {"type": "object", "additionalProperties": False, "required": ["kind", "ranges"], "properties": {
                "kind": {"const": "weekly"}, "ranges": {"type": "array", "minItems": 1, "items": {
                    "type": "object", "additionalProperties": False,
                    "required": ["start_day", "start", "end_day", "end"],
                    "properties": {"start_day": WEEKDAY, "start": HHMM, "end_day": WEEKDAY, "end": HHMM}}}}},
        ]},
        "starts_at": INSTANT,
        "ends_at": INSTANT,
    },
}


def _instant(value):
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    return value


class ScheduleSection(Section):
    """Schedules by slug. A schedule's `layers`, when given, are its whole set of layers: a layer is matched
    by name, and a layer the file does not name is removed."""

    key = "oncall_schedules"
    order = 80
    item_schema = {
        "type": "object", "additionalProperties": False, "required": ["slug", "name"],
        "properties": {
            "slug": {"type": "string", "pattern": "^[-a-zA-Z0-9_]+$", "maxLength": 100},
            "name": {"type": "string", "minLength": 1, "maxLength": 100},
            "description": {"type": "string"},
            "team": {"type": ["string", "null"]},
            "time_zone": {"type": "string"},
            "layers": {"type": "array", "items": LAYER},
        },
    }

    def export(self) -> list[dict]:
        rows = Schedule.objects.select_related("team").prefetch_related("layers").order_by("slug")
        names = dict(get_user_model().objects.values_list("pk", "username"))
        return [self.to_item(row, names) for row in rows]

    def to_item(self, row: Schedule, names: dict) -> dict:
        return {"slug": row.slug, "name": row.name, "description": row.description,
                "team": row.team.slug if row.team_id else None, "time_zone": row.time_zone,
                "layers": [self.layer_item(layer, names) for layer in row.layers.all()]}

    @staticmethod
    def layer_item(layer, names: dict) -> dict:
        item = {"name": layer.name, "order": layer.order, "users": [names.get(uid, str(uid)) for uid in layer.users],
                "rotation_start": layer.rotation_start.isoformat(), "turn_unit": layer.turn_unit,
                "turn_count": layer.turn_count, "restrictions": layer.restrictions or {}}
        for name in ("starts_at", "ends_at"):
            item[name] = getattr(layer, name).isoformat() if getattr(layer, name) else None
        return item

    def apply(self, items: list[dict], *, actor: Actor) -> list[Change]:
        refuse_duplicates(self.key, [item["slug"] for item in items])
        names = dict(get_user_model().objects.values_list("pk", "username"))
        existing = {row.slug: row for row in Schedule.objects.select_related("team").prefetch_related("layers")}
        changes = []
        for item in items:
            key = item["slug"]
            path = f"{self.key}/{key}"
            fields = {k: item[k] for k in ("name", "description", "time_zone") if k in item}
            if "team" in item:
                team = Team.objects.filter(slug=item["team"]).first() if item["team"] else None
                if item["team"] and team is None:
                    raise ValidationError({f"{path}/team": f"no team with key {item['team']!r}"})
                fields["team"] = team
            row = existing.get(key)
            with located(path):
                if row is None:
                    row = schedules.create_schedule(actor=actor, data={"slug": key, **fields})
                    diff = {k: [None, str(v)] for k, v in sorted(fields.items()) if v not in ("", None)}
                    action = "create"
                    current_layers = {}
                else:
                    current = self.to_item(row, names)
                    diff = {k: [current.get(k), item[k]] for k in ("name", "description", "team", "time_zone")
                            if k in item and current.get(k) != item[k]}
                    if diff:
                        schedules.update_schedule(row, actor=actor, data=fields)
                    action = "update" if diff else "unchanged"
                    current_layers = {layer.name: layer for layer in row.layers.all()}
            if "layers" in item:
                diff.update(self.apply_layers(row, item["layers"], current_layers, names, actor, path))
                if diff and action == "unchanged":
                    action = "update"
            changes.append(Change(self.key, key, action, diff))
        return changes

    def apply_layers(self, schedule, layers: list[dict], current: dict, names: dict, actor, path) -> dict:
        refuse_duplicates(f"{path}/layers", [layer["name"] for layer in layers])
        ids = {username: pk for pk, username in names.items()}
        diff = {}
        for position, layer in enumerate(layers, start=1):
            where = f"{path}/layers/{layer['name']}"
            unknown = [u for u in layer["users"] if u not in ids]
            if unknown:
                raise ValidationError({f"{where}/users": f"no user {', '.join(unknown)}"})
            # Left out of the file: the order is the place in the list, no restrictions, always active.
            wanted = {"order": position, "restrictions": {}, "starts_at": None, "ends_at": None,
                      **{k: _instant(v) for k, v in layer.items()}}
            data = {**wanted, "users": [ids[u] for u in layer["users"]]}
            found = current.pop(layer["name"], None)
            with located(where):
                if found is None:
                    schedules.add_layer(schedule, actor=actor, data=data)
                    diff[f"layer {layer['name']}"] = [None, "added"]
                    continue
                before = self.layer_item(found, names)
                changed = sorted(k for k, v in _normal({**before, **wanted}).items() if _normal(before).get(k) != v)
                if changed:
                    schedules.update_layer(found, actor=actor, data=data)
                    diff[f"layer {layer['name']}"] = [f"changed: {', '.join(changed)}", "updated"]
        for name, layer in current.items():
            schedules.remove_layer(layer, actor=actor)
            diff[f"layer {name}"] = ["removed", None]
        return diff


def _normal(item: dict) -> dict:
    """Compare instants as instants, whatever offset the file writes them with."""
    from django.utils.dateparse import parse_datetime

    out = dict(item)
    for name in ("rotation_start", "starts_at", "ends_at"):
        if isinstance(out.get(name), str):
            parsed = parse_datetime(out[name])
            out[name] = parsed.timestamp() if parsed else out[name]
    return out


SECTIONS = [ScheduleSection]

from .policy_config import EscalationPolicySection  # noqa: E402  (escalation policies, after the schedules they name)

SECTIONS.append(EscalationPolicySection)
