"""Approval policies as code: section `change_approval_policies`. An item names its stages in full; applying it
replaces the policy's stages when they differ (approvals already opened keep their stage name and order).
A stage names its team by key (slug), or none for the change's owner team."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from opsdesk.accounts.models import Team
from opsdesk.core import audit
from opsdesk.core.actors import Actor
from opsdesk.core.config_as_code import Change, Section, refuse_duplicates

from .models import CHANGE_TYPES, RISK_LEVELS, ApprovalPolicy, ApprovalStage

SLUG = {"type": "string", "pattern": "^[-a-zA-Z0-9_]{1,64}$"}
ROLE = {"enum": ["viewer", "responder", "manager", "admin"]}
STAGE = {"type": "object", "additionalProperties": False, "required": ["name"], "properties": {
    "order": {"type": "integer", "minimum": 1, "maximum": 100},
    "name": {"type": "string", "minLength": 1, "maxLength": 100},
    "team": {"type": ["string", "null"], "maxLength": 64},
    "min_role": ROLE,
    "quorum": {"enum": ["any", "all", "n_of_m"]},
    "required": {"type": "integer", "minimum": 1, "maximum": 100},
    "cab": {"type": "boolean"}}}
POLICY = {"type": "object", "additionalProperties": False, "required": ["slug", "name"], "properties": {
    "slug": SLUG, "name": {"type": "string", "minLength": 1, "maxLength": 200},
    "change_types": {"type": "array", "uniqueItems": True, "items": {"enum": [k for k, _label in CHANGE_TYPES]}},
    "risk_levels": {"type": "array", "uniqueItems": True, "items": {"enum": [k for k, _label in RISK_LEVELS]}},
    "order": {"type": "integer", "minimum": 0, "maximum": 100000},
    "active": {"type": "boolean"},
    "stages": {"type": "array", "maxItems": 20, "items": STAGE}}}


def export_stage(stage: ApprovalStage) -> dict:
    return {"order": stage.order, "name": stage.name, "team": stage.team.slug if stage.team_id else "",
            "min_role": stage.min_role, "quorum": stage.quorum, "required": stage.required, "cab": stage.cab}


def export_policy(policy: ApprovalPolicy) -> dict:
    return {"slug": policy.slug, "name": policy.name, "change_types": list(policy.change_types),
            "risk_levels": list(policy.risk_levels), "order": policy.order, "active": policy.active,
            "stages": [export_stage(s) for s in policy.stages.all()]}


def _stages_of(item: dict, where: str) -> list[dict]:
    stages, teams = [], {}
    for index, stage in enumerate(item.get("stages") or [], start=1):
        slug = stage.get("team") or ""
        if slug and slug not in teams:
            team = Team.objects.filter(slug=slug).first()
            if team is None:
                raise ValidationError({f"{where}/stages/{index}/team": f"no team with the key {slug!r}"})
            teams[slug] = team
        stages.append({"order": stage.get("order", index), "name": stage["name"], "team": slug,
                       "min_role": stage.get("min_role", "manager"), "quorum": stage.get("quorum", "any"),
                       "required": stage.get("required", 1), "cab": stage.get("cab", False),
                       "_team": teams.get(slug)})
    orders = [s["order"] for s in stages]
    if len(set(orders)) != len(orders):
        raise ValidationError({f"{where}/stages": "two stages have the same order"})
    return sorted(stages, key=lambda s: s["order"])


class ApprovalPolicySection(Section):
    key = "change_approval_policies"
    order = 97  # after categories and teams
    item_schema = POLICY

    def export(self) -> list[dict]:
        return [export_policy(p) for p in ApprovalPolicy.objects.prefetch_related("stages__team").order_by(
            "order", "slug")]

    def apply(self, items: list[dict], *, actor: Actor) -> list[Change]:
        refuse_duplicates(self.key, [item["slug"] for item in items])
        changes = []
        with transaction.atomic():
            for item in items:
                where = f"{self.key}/{item['slug']}"
                stages = _stages_of(item, where)
                fields = {k: item[k] for k in ("name", "change_types", "risk_levels", "order", "active") if k in item}
                policy = ApprovalPolicy.objects.filter(slug=item["slug"]).first()
                before = export_policy(policy) if policy is not None else {}
                if policy is None:
                    policy = ApprovalPolicy(slug=item["slug"], created_by=actor.user)
                for name, value in fields.items():
                    setattr(policy, name, value)
                policy.updated_by = actor.user
                policy.save()
                wanted = [{k: v for k, v in s.items() if k != "_team"} for s in stages]
                if "stages" in item and wanted != before.get("stages"):
                    policy.stages.all().delete()
                    ApprovalStage.objects.bulk_create([ApprovalStage(
                        policy=policy, order=s["order"], name=s["name"], team=s["_team"], min_role=s["min_role"],
                        quorum=s["quorum"], required=s["required"], cab=s["cab"]) for s in stages])
                after = export_policy(ApprovalPolicy.objects.prefetch_related("stages__team").get(pk=policy.pk))
                diff = {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v and k != "slug"}
                action = "create" if not before else ("update" if diff else "unchanged")
                if diff:
                    audit.record(policy, actor=actor, action="create" if not before else "update", changes=diff)
                changes.append(Change(self.key, item["slug"], action, diff))
        return changes


SECTIONS = [ApprovalPolicySection]
