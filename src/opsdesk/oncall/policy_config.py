"""The `escalation_policies` section of the configuration file: policies by slug with their steps
(people by username, schedules by slug, teams by slug) and the services they are attached to (by slug).
A policy's `steps`, when given, are its whole list of steps in order."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from opsdesk.accounts.models import Team
from opsdesk.core.actors import Actor
from opsdesk.core.config_as_code import Change, Section, located, refuse_duplicates
from opsdesk.services.models import Service

from . import policies
from .models import URGENCIES, EscalationPolicy, EscalationStep, Schedule

STEP = {
    "type": "object", "additionalProperties": False, "required": ["kind"],
    "properties": {
        "kind": {"enum": [key for key, _label in EscalationStep.KINDS]},
        "users": {"type": "array", "items": {"type": "string"}},
        "schedule": {"type": "string"},
        "team": {"type": "string"},
        "team_role": {"enum": ["", "manager"]},
        "wait_minutes": {"type": "integer", "minimum": 1, "maximum": policies.MAX_WAIT_MINUTES},
        "urgency": {"enum": [key for key, _label in URGENCIES]},
    },
}


def step_item(step) -> dict:
    item = {"kind": step.kind}
    if step.kind == "wait":
        item["wait_minutes"] = step.wait_minutes
        return item
    if step.kind == "notify_users":
        item["users"] = sorted(u.username for u in step.users.all())
    elif step.kind == "notify_schedule":
        item["schedule"] = step.schedule.slug
    elif step.kind == "notify_team":
        item["team"] = step.team.slug
        item["team_role"] = step.team_role
    item["urgency"] = step.urgency
    return item


def normalized_step(step: dict) -> dict:
    """A step of the file in the form `step_item` exports, to compare them."""
    item = {"kind": step["kind"]}
    if step["kind"] == "wait":
        item["wait_minutes"] = step.get("wait_minutes")
        return item
    if step["kind"] == "notify_users":
        item["users"] = sorted(step.get("users", []))
    elif step["kind"] == "notify_schedule":
        item["schedule"] = step.get("schedule")
    elif step["kind"] == "notify_team":
        item["team"] = step.get("team")
        item["team_role"] = step.get("team_role", "")
    item["urgency"] = step.get("urgency", "high")
    return item


class EscalationPolicySection(Section):
    key = "escalation_policies"
    order = 85  # after the schedules and teams its steps name
    item_schema = {
        "type": "object", "additionalProperties": False, "required": ["slug", "name", "steps"],
        "properties": {
            "slug": {"type": "string", "pattern": "^[-a-zA-Z0-9_]+$", "maxLength": 100},
            "name": {"type": "string", "minLength": 1, "maxLength": 100},
            "description": {"type": "string"},
            "team": {"type": ["string", "null"]},
            "repeat_count": {"type": "integer", "minimum": 0, "maximum": policies.MAX_REPEATS},
            "services": {"type": "array", "items": {"type": "string"}},
            "steps": {"type": "array", "minItems": 1, "items": STEP},
        },
    }

    def export(self) -> list[dict]:
        rows = (EscalationPolicy.objects.select_related("team").prefetch_related("services", "steps__users",
                                                                                  "steps__schedule", "steps__team")
                .order_by("slug"))
        return [self.to_item(row) for row in rows]

    @staticmethod
    def to_item(policy) -> dict:
        return {"slug": policy.slug, "name": policy.name, "description": policy.description,
                "team": policy.team.slug if policy.team_id else None, "repeat_count": policy.repeat_count,
                "services": sorted(s.slug for s in policy.services.all()),
                "steps": [step_item(s) for s in sorted(policy.steps.all(), key=lambda s: (s.position, s.pk))]}

    def _resolve_steps(self, steps: list[dict], path: str) -> list[dict]:
        users = {u.username: u for u in get_user_model().objects.filter(
            username__in={name for step in steps for name in step.get("users", [])})}
        resolved = []
        for index, step in enumerate(steps):
            where = f"{path}/steps/{index}"
            data = {"kind": step["kind"], "urgency": step.get("urgency", "high"),
                    "wait_minutes": step.get("wait_minutes", 0), "team_role": step.get("team_role", "")}
            unknown = [name for name in step.get("users", []) if name not in users]
            if unknown:
                raise ValidationError({f"{where}/users": f"no user {', '.join(unknown)}"})
            data["users"] = [users[name] for name in step.get("users", [])]
            if "schedule" in step:
                data["schedule"] = Schedule.objects.filter(slug=step["schedule"]).first()
                if data["schedule"] is None:
                    raise ValidationError({f"{where}/schedule": f"no schedule with key {step['schedule']!r}"})
            if "team" in step:
                data["team"] = Team.objects.filter(slug=step["team"]).first()
                if data["team"] is None:
                    raise ValidationError({f"{where}/team": f"no team with key {step['team']!r}"})
            resolved.append(data)
        return resolved

    def apply(self, items: list[dict], *, actor: Actor) -> list[Change]:
        refuse_duplicates(self.key, [item["slug"] for item in items])
        existing = {row.slug: row for row in EscalationPolicy.objects.select_related("team")
                    .prefetch_related("services", "steps__users", "steps__schedule", "steps__team")}
        changes = []
        for item in items:
            key = item["slug"]
            path = f"{self.key}/{key}"
            data = {k: item[k] for k in ("name", "description", "repeat_count") if k in item}
            data["slug"] = key
            if "team" in item:
                data["team"] = Team.objects.filter(slug=item["team"]).first() if item["team"] else None
                if item["team"] and data["team"] is None:
                    raise ValidationError({f"{path}/team": f"no team with key {item['team']!r}"})
            if "services" in item:
                found = {s.slug: s for s in Service.objects.filter(slug__in=item["services"])}
                unknown = [slug for slug in item["services"] if slug not in found]
                if unknown:
                    raise ValidationError({f"{path}/services": f"no service {', '.join(unknown)}"})
                data["services"] = [found[slug] for slug in item["services"]]
            data["steps"] = self._resolve_steps(item["steps"], path)
            row = existing.get(key)
            # The error names of the service ("steps.1.schedule") become places in the file.
            with located(path):
                try:
                    if row is None:
                        policies.save_policy(actor=actor, data=data)
                        changes.append(Change(self.key, key, "create", {"name": [None, item["name"]]}))
                        continue
                    current = self.to_item(row)
                    wanted = {**item, "steps": [normalized_step(step) for step in item["steps"]]}
                    if "services" in wanted:
                        wanted["services"] = sorted(wanted["services"])
                    diff = {k: [current.get(k), v] for k, v in sorted(wanted.items()) if current.get(k) != v}
                    if diff:
                        policies.save_policy(row, actor=actor, data=data)
                    changes.append(Change(self.key, key, "update" if diff else "unchanged", diff))
                except ValidationError as exc:
                    if hasattr(exc, "error_dict"):
                        raise ValidationError({name.replace(".", "/"): messages
                                               for name, messages in exc.message_dict.items()}) from None
                    raise
        return changes
