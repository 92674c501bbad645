"""The one write path of incidents: create, edit and the response flow, with the priority matrix, the
SLA clocks, assignment rules and escalation timers kept in step in the same transaction."""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from opsdesk.core import audit, records, timers
from opsdesk.core.actors import Actor
from opsdesk.core.workflow import TransitionNotAllowed
from opsdesk.sla import services as sla

from . import assignment, escalation, major
from .models import AssignmentRule, Category, EscalationRule, Incident, IncidentSettings
from .workflows import INCIDENT_WORKFLOW

RECORD_TYPE = "incident"
AUTO_CLOSE = "incidents.auto_close"
AUDITED = ["title", "description", "category", "subcategory", "service", "cis", "impact", "urgency", "priority",
           "priority_overridden", "priority_reason", "proposed_impact", "source", "reporter", "reporter_contact",
           "assignment_group", "assignee", "reassignment_count", "symptoms", "status", "hold_reason",
           "resolution_code", "resolution_notes", "status_reason", "detected_at", "acknowledged_at", "resolved_at",
           "closed_at", "reopen_count", "related", "major_status", "major_reason", "commander",
           "communications_lead", "scribe", "parent", "update_cadence_minutes"]
# Fields whose change re-matches the SLA policy.
SLA_FIELDS = {"priority", "category", "subcategory", "service", "cis"}
READ_ONLY_STATES = ("closed", "cancelled")


# --- settings and the priority matrix -------------------------------------------------------------------

def incident_settings() -> IncidentSettings:
    found = IncidentSettings.objects.filter(pk=1).first()
    if found is None:
        from . import defaults

        defaults.install()
        found = IncidentSettings.objects.get(pk=1)
    return found


def level_values(levels: list[dict]) -> list[int]:
    return [int(level["value"]) for level in levels]


def priority_for(impact: int, urgency: int, config: IncidentSettings | None = None) -> str:
    config = config or incident_settings()
    try:
        return config.matrix[str(impact)][str(urgency)]
    except KeyError:
        raise ValidationError({"impact": _("The priority matrix has no entry for impact %(i)s and urgency %(u)s.")
                               % {"i": impact, "u": urgency}})


def _check_levels(data: dict, config: IncidentSettings) -> None:
    errors = {}
    for name, levels in (("impact", config.impact_levels), ("urgency", config.urgency_levels)):
        if name in data and data[name] is not None and int(data[name]) not in level_values(levels):
            errors[name] = _("Choose one of %(values)s.") % {"values": ", ".join(map(str, level_values(levels)))}
    if errors:
        raise ValidationError(errors)


def _check_category(fields: dict, incident: Incident | None = None) -> None:
    category = fields.get("category", incident.category if incident else None)
    subcategory = fields.get("subcategory", incident.subcategory if incident else None)
    if category is not None and category.parent_id is not None:
        raise ValidationError({"category": _("%(c)s is a subcategory; choose its parent as the category.")
                               % {"c": category}})
    if subcategory is not None and subcategory.parent_id != getattr(category, "pk", None):
        raise ValidationError({"subcategory": _("%(s)s is not a subcategory of %(c)s.")
                               % {"s": subcategory.name, "c": category or _("no category")}})


def _set_priority(fields: dict, incident: Incident | None, config: IncidentSettings) -> None:
    """Priority from the matrix, unless the caller sets another by hand with a reason (recorded). A
    change of impact or urgency without a priority puts the matrix back in charge."""
    impact = int(fields.get("impact", incident.impact if incident else 3))
    urgency = int(fields.get("urgency", incident.urgency if incident else 3))
    computed = priority_for(impact, urgency, config)
    given = fields.pop("priority", None) or None
    reason = fields.pop("priority_reason", None)
    reason = str(reason).strip()[:500] if reason is not None else None
    if given is not None and given != computed:
        if incident is not None and incident.priority_overridden and given == incident.priority and not reason:
            return  # the override stands (a form sends the priority back unchanged)
        if not reason:
            raise ValidationError({"priority_reason": _(
                "Give a reason to set the priority by hand: the matrix gives %(p)s for impact %(i)s and urgency "
                "%(u)s.") % {"p": computed, "i": impact, "u": urgency}})
        fields.update(priority=given, priority_overridden=True, priority_reason=reason)
        return
    if given is None and incident is not None and incident.priority_overridden \
            and not {"impact", "urgency"} & set(fields):
        return
    fields.update(priority=computed, priority_overridden=False, priority_reason="")


def propose_impact(incident: Incident, config: IncidentSettings | None = None) -> tuple[int | None, str]:
    """When an affected CI's failure reaches a tier-1 service, propose the highest impact."""
    config = config or incident_settings()
    if not config.propose_impact_from_cmdb:
        return None, ""
    ci_ids = list(incident.cis.values_list("pk", flat=True))
    if not ci_ids:
        return None, ""
    from opsdesk.cmdb import impact as cmdb_impact

    result = cmdb_impact.analyse(ci_ids, direction="downstream", limit=20)
    tier1 = [node for node in result.impacted_services_by_criticality() if node.get("tier") == 1]
    top = min(level_values(config.impact_levels))
    if tier1 and incident.impact > top:
        names = ", ".join(node.get("name", "") for node in tier1[:5])
        return top, _("The affected CIs reach tier-1 services: %(names)s.") % {"names": names}
    return None, ""


def sla_context(incident: Incident) -> dict:
    return {
        "priority": incident.priority,
        "service_tier": incident.service.tier if incident.service_id else None,
        "category": [c.slug for c in (incident.category, incident.subcategory) if c is not None],
        "ci_class": sorted({ci.ci_class.slug for ci in incident.cis.select_related("ci_class")}),
    }


# --- create and edit ------------------------------------------------------------------------------------

def create_incident(*, actor: Actor, data: dict) -> Incident:
    data = dict(data)
    config = incident_settings()
    with transaction.atomic():
        _check_levels(data, config)
        _check_category(data)
        _set_priority(data, None, config)
        data.setdefault("detected_at", timezone.now())
        if data.get("reporter") is None and actor.user is not None and data.get("source", "manual") == "manual":
            data["reporter"] = actor.user
        if data.get("assignment_group") is None:
            team, assignee, _rule = assignment.choose(data)
            if team is not None:
                data["assignment_group"] = team
                if data.get("assignee") is None and assignee is not None:
                    data["assignee"] = assignee
        _check_assignee(data.get("assignment_group"), data.get("assignee"))
        incident = records.create_record(Incident, actor=actor, fields=data, workflow=INCIDENT_WORKFLOW,
                                         audited=AUDITED)
        proposed, reason = propose_impact(incident, config)
        if proposed is not None:
            Incident.objects.filter(pk=incident.pk).update(proposed_impact=proposed, proposed_impact_reason=reason)
            incident.proposed_impact, incident.proposed_impact_reason = proposed, reason
        sla.start(incident, record_type=RECORD_TYPE, context=sla_context(incident), actor=actor)
        escalation.on_created(incident, actor=actor)
    return Incident.objects.get(pk=incident.pk)


def _check_assignee(team, assignee) -> None:
    if assignee is not None and team is not None and not team.memberships.filter(user=assignee).exists():
        raise ValidationError({"assignee": _("%(user)s is not a member of %(team)s.")
                               % {"user": assignee, "team": team}})


def update_incident(incident: Incident, *, actor: Actor, data: dict) -> Incident:
    data = dict(data)
    config = incident_settings()
    _check_levels(data, config)

    def check(locked: Incident, fields: dict) -> None:
        if locked.status in READ_ONLY_STATES:
            raise TransitionNotAllowed(_("%(inc)s is %(state)s and read-only.")
                                       % {"inc": locked, "state": locked.get_status_display().lower()})
        _check_category(fields, locked)
        if {"impact", "urgency", "priority", "priority_reason"} & set(fields):
            _set_priority(fields, locked, config)
        team = fields.get("assignment_group", locked.assignment_group)
        assignee = fields.get("assignee", locked.assignee)
        if "assignment_group" in fields and fields["assignment_group"] != locked.assignment_group \
                and "assignee" not in fields:
            fields["assignee"] = assignee = None  # a new team picks its own assignee
        _check_assignee(team, assignee)
        if ("assignment_group" in fields and fields["assignment_group"] != locked.assignment_group
                and locked.assignment_group_id is not None) or (
                "assignee" in fields and fields["assignee"] != locked.assignee and locked.assignee_id is not None):
            fields["reassignment_count"] = locked.reassignment_count + 1
        before[0] = locked.priority

    before = [None]
    with transaction.atomic():
        incident = records.update_record(incident, actor=actor, fields=data, audited=AUDITED, check=check)
        if (SLA_FIELDS & set(data) or incident.priority != before[0]) and incident.is_open:
            sla.recalculate(incident, record_type=RECORD_TYPE, context=sla_context(incident), actor=actor)
        if incident.priority != before[0]:
            escalation.on_priority_changed(incident, actor=actor)
    return incident


def assign_incident(incident: Incident, *, actor: Actor, team=None, assignee=None) -> Incident:
    data = {}
    if team is not None:
        data["assignment_group"] = team
    if assignee is not None or team is not None:
        data["assignee"] = assignee
    return update_incident(incident, actor=actor, data=data)


def bulk_assign(incidents: list[Incident], *, actor: Actor, data: dict) -> int:
    """Assign many incidents in one transaction, all or none; rows locked in id order."""
    with transaction.atomic():
        locked = list(Incident.objects.select_for_update().filter(pk__in=[i.pk for i in incidents]).order_by("pk"))
        for incident in locked:
            update_incident(incident, actor=actor, data=data)
    return len(locked)


# --- the response flow ----------------------------------------------------------------------------------

def _apply_transition_fields(incident: Incident, transition, data: dict) -> None:
    now = timezone.now()
    reason = str(data.get("reason") or "").strip()
    if len(reason) > 500:
        raise ValidationError({"reason": _("The reason is limited to 500 characters.")})
    name = transition.name
    if name in ("acknowledge", "start") and incident.acknowledged_at is None:
        incident.acknowledged_at = now
    if name == "hold":
        hold_reason = str(data.get("hold_reason") or "")
        if hold_reason not in dict(Incident.HOLD_REASONS):
            raise ValidationError({"hold_reason": _("Choose one of: %(r)s.")
                                   % {"r": ", ".join(dict(Incident.HOLD_REASONS))}})
        incident.hold_reason = hold_reason
    elif name in ("resume", "reopen"):
        incident.hold_reason = ""
    if name == "resolve":
        code = str(data.get("resolution_code") or "")
        if code not in dict(Incident.RESOLUTION_CODES):
            raise ValidationError({"resolution_code": _("Choose one of: %(r)s.")
                                   % {"r": ", ".join(dict(Incident.RESOLUTION_CODES))}})
        incident.resolution_code = code
        incident.resolution_notes = str(data.get("resolution_notes") or "").strip()
        incident.resolved_at = now
        incident.hold_reason = ""
    if name == "reopen":
        window = datetime.timedelta(days=incident_settings().reopen_window_days)
        if incident.resolved_at and now - incident.resolved_at > window:
            raise TransitionNotAllowed(_("%(inc)s was resolved more than %(days)s days ago; open a new incident.")
                                       % {"inc": incident, "days": window.days})
        incident.reopen_count += 1
        incident.resolved_at = None
    if name == "close":
        from . import reports

        missing = reports.missing_for_close(incident)
        if missing:
            raise TransitionNotAllowed(missing)
        incident.closed_at = now
    if name in ("cancel", "reopen"):
        incident.status_reason = reason
    elif name == "hold":  # the hold reason has its own field; a note given with it is the status reason
        incident.status_reason = str(data.get("comment") or "").strip()[:500]
    elif name == "resume":
        incident.status_reason = ""


def _take_on_acknowledge(incident: Incident, transition, actor: Actor) -> None:
    """Whoever acknowledges or starts an unassigned incident takes it, when they may be its assignee
    (a member of its team, or anyone when it has no team), as on-call tools do."""
    user = actor.user
    if transition.name not in ("acknowledge", "start") or incident.assignee_id is not None or user is None:
        return
    team = incident.assignment_group
    if team is None or team.memberships.filter(user=user).exists():
        incident.assignee = user


def transition_incident(incident: Incident, name: str, *, actor: Actor, data: dict | None = None) -> Incident:
    data = data or {}

    def apply_fields(record, transition, values):
        _apply_transition_fields(record, transition, values)
        _take_on_acknowledge(record, transition, actor)

    with transaction.atomic():
        incident = records.transition_record(incident, name, actor=actor, workflow=INCIDENT_WORKFLOW, data=data,
                                             apply_fields=apply_fields)
        if name in ("acknowledge", "start"):
            sla.stop(incident, "acknowledge", actor=actor)
            escalation.on_acknowledged(incident, actor=actor)
        if name in ("hold", "resume"):
            sla.on_state(incident, incident.status, actor=actor)
        elif name == "resolve":
            sla.stop_all(incident, actor=actor)
            escalation.on_closed(incident, actor=actor)
            days = incident_settings().auto_close_days
            if days:
                timers.schedule(AUTO_CLOSE, incident.resolved_at + datetime.timedelta(days=days), incident)
        elif name == "reopen":
            timers.cancel(AUTO_CLOSE, incident)
            sla.reopen(incident, "resolve", actor=actor)
            sla.on_state(incident, incident.status, actor=actor)
            major.on_reopened(incident, actor=actor)
        elif name == "close":
            timers.cancel(AUTO_CLOSE, incident)
        elif name == "cancel":
            sla.cancel_all(incident, actor=actor)
            escalation.on_closed(incident, actor=actor)
        rank = incident.sla_rank(incident.sla_due_at)
        if rank != incident.sla_rank_at:  # the queue's sort key follows the state (the SLA calls mostly did)
            Incident.objects.filter(pk=incident.pk).update(sla_rank_at=rank)
            incident.sla_rank_at = rank
    return incident


def acknowledge_incident(incident: Incident, *, actor: Actor) -> Incident:
    return transition_incident(incident, "acknowledge", actor=actor)


def resolve_incident(incident: Incident, *, actor: Actor, code: str, notes: str) -> Incident:
    return transition_incident(incident, "resolve", actor=actor,
                               data={"resolution_code": code, "resolution_notes": notes})


@timers.handler(AUTO_CLOSE)
def auto_close(timer) -> None:
    """Close a resolved incident after the configured days; one whose report is still missing stays
    resolved, and the reason is on its timeline."""
    incident = Incident.objects.filter(pk=timer.object_id).first()
    if incident is None or incident.status != "resolved":
        return
    actor = Actor.system("auto-close")
    try:
        transition_incident(incident, "close", actor=actor, data={"comment": _("Closed automatically.")})
    except TransitionNotAllowed as exc:
        audit.record(incident, actor=actor, action="auto_close_skipped", changes={"reason": [None, str(exc)]})


# --- the taxonomy ---------------------------------------------------------------------------------------

CATEGORY_AUDITED = ["name", "slug", "parent", "description", "order", "active"]


def _check_category_parent(category: Category | None, fields: dict) -> None:
    parent = fields.get("parent", category.parent if category else None)
    if parent is None:
        return
    if parent.parent_id is not None:
        raise ValidationError({"parent": _("%(p)s is itself a subcategory; the taxonomy has two levels.")
                               % {"p": parent}})
    if category is not None and (parent.pk == category.pk or category.children.exists()):
        raise ValidationError({"parent": _("%(c)s has subcategories, so it stays a top-level category.")
                               % {"c": category}})


def create_category(*, actor: Actor, data: dict) -> Category:
    return records.create_record(Category, actor=actor, fields=dict(data), audited=CATEGORY_AUDITED,
                                 check=lambda fields: _check_category_parent(None, fields))


def update_category(category: Category, *, actor: Actor, data: dict) -> Category:
    return records.update_record(category, actor=actor, fields=dict(data), audited=CATEGORY_AUDITED,
                                 protected=("slug",), check=_check_category_parent)


# --- settings and rules ---------------------------------------------------------------------------------

SETTINGS_FIELDS = ["impact_levels", "urgency_levels", "matrix", "auto_close_days", "reopen_window_days",
                   "major_update_minutes", "report_required_priorities", "report_required_for_major",
                   "report_sections", "propose_impact_from_cmdb"]
PRIORITY_VALUES = [value for value, _label in Incident._meta.get_field("priority").choices]


def _check_settings(config: IncidentSettings) -> None:
    errors = {}
    for name in ("impact_levels", "urgency_levels"):
        levels = getattr(config, name)
        values = [level.get("value") for level in levels if isinstance(level, dict)]
        if not levels or len(values) != len(levels) or len(set(values)) != len(values) \
                or not all(isinstance(v, int) and 1 <= v <= 9 for v in values):
            errors[name] = _("Give 1 to 9 levels, each with a distinct whole-number value from 1 to 9 and a label.")
    if not errors:
        for impact in level_values(config.impact_levels):
            for urgency in level_values(config.urgency_levels):
                value = (config.matrix or {}).get(str(impact), {}).get(str(urgency))
                if value not in PRIORITY_VALUES:
                    errors["matrix"] = _("Impact %(i)s with urgency %(u)s needs a priority (one of %(p)s).") % {
                        "i": impact, "u": urgency, "p": ", ".join(PRIORITY_VALUES)}
                    break
    unknown = [p for p in config.report_required_priorities or [] if p not in PRIORITY_VALUES]
    if unknown:
        errors["report_required_priorities"] = _("Unknown priorities: %(p)s.") % {"p": ", ".join(unknown)}
    keys = [section.get("key") for section in config.report_sections or [] if isinstance(section, dict)]
    if len(keys) != len(config.report_sections or []) or len(set(keys)) != len(keys) or not all(keys):
        errors["report_sections"] = _("Each report section needs a distinct key and a title.")
    if errors:
        raise ValidationError(errors)


def update_settings(*, actor: Actor, data: dict) -> IncidentSettings:
    unknown = set(data) - set(SETTINGS_FIELDS)
    if unknown:
        raise ValidationError({name: _("Not a setting.") for name in unknown})
    with transaction.atomic():
        incident_settings()
        config = IncidentSettings.objects.select_for_update().get(pk=1)
        before = {name: getattr(config, name) for name in SETTINGS_FIELDS}
        for name, value in data.items():
            setattr(config, name, value)
        _check_settings(config)
        config.save()
        changes = audit.diff(audit.to_json_value(before),
                             audit.to_json_value({name: getattr(config, name) for name in SETTINGS_FIELDS}))
        if changes:
            audit.record(config, actor=actor, action="update", changes=changes)
    return config


RULE_AUDITED = {
    AssignmentRule: ["name", "order", "active", "conditions", "team", "method"],
    EscalationRule: ["name", "order", "active", "conditions", "trigger", "minutes", "metric", "percent", "kind",
                     "target_team", "notify"],
}


def _rule_check(model):
    def check(*args):
        fields = args[-1]
        rule = args[0] if len(args) == 2 else None
        values = {name: fields.get(name, getattr(rule, name, None)) for name in RULE_AUDITED[model]}
        if model is AssignmentRule:
            assignment.validate_conditions(values.get("conditions") or {})
        else:
            escalation.validate_rule(values)
    return check


def create_rule(model, *, actor: Actor, data: dict):
    """Create an assignment or escalation rule (conditions and triggers checked by their modules)."""
    return records.create_record(model, actor=actor, fields=dict(data), audited=RULE_AUDITED[model],
                                 check=_rule_check(model))


def update_rule(rule, *, actor: Actor, data: dict):
    return records.update_record(rule, actor=actor, fields=dict(data), audited=RULE_AUDITED[type(rule)],
                                 protected=(), check=_rule_check(type(rule)))
