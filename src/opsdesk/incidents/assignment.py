"""Assignment rules: the first active rule (by order, then name) whose conditions match picks the team;
within the team, round-robin or least-loaded picks the assignee when the rule says so.

Conditions are a mapping of lists of keys, e.g. {"category": ["network"], "priority": ["P1", "P2"]}:
every named condition must match (any of its values), and an empty mapping matches every incident.
Escalation rules use the same conditions (see escalation.py). Rules are written by services.create_rule
and update_rule, which call `validate_conditions` here.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.utils.translation import gettext as _

from opsdesk.core import audit
from opsdesk.core.permissions import RANK

from .models import PRIORITIES, AssignmentRule, Category, Incident
from .workflows import OPEN_STATES

CONDITION_KEYS = ("category", "service", "ci_class", "priority")
# Who may be handed incidents by a rule: members whose role (in the team or globally) is responder or above.
ASSIGNABLE_ROLES = [name for name, rank in RANK.items() if rank >= RANK["responder"]]


# --- conditions -----------------------------------------------------------------------------------------

def _slugs(objects) -> set[str]:
    return {obj.slug for obj in objects if obj is not None}


def context_for_data(data: dict) -> dict:
    """What rules match on, from a new incident's fields (model instances; `cis` a list of CIs or ids)."""
    from opsdesk.cmdb.models import ConfigurationItem

    cis = list(data.get("cis") or [])
    ci_ids = [getattr(ci, "pk", ci) for ci in cis]
    ci_classes = set(ConfigurationItem.objects.filter(pk__in=ci_ids).values_list("ci_class__slug", flat=True)) \
        if ci_ids else set()
    return {
        "category": _slugs([data.get("category"), data.get("subcategory")]),
        "service": _slugs([data.get("service")]),
        "ci_class": ci_classes,
        "priority": {data["priority"]} if data.get("priority") else set(),
    }


def context_for_incident(incident: Incident) -> dict:
    return {
        "category": _slugs([incident.category, incident.subcategory]),
        "service": _slugs([incident.service]),
        "ci_class": set(incident.cis.values_list("ci_class__slug", flat=True)),
        "priority": {incident.priority},
    }


def matches(conditions: dict, context: dict) -> bool:
    for key, wanted in (conditions or {}).items():
        if wanted and not set(wanted) & context.get(key, set()):
            return False
    return True


def validate_conditions(conditions) -> dict:
    """The conditions as stored (lists of keys, empty ones left out), or ValidationError naming what
    is unknown. Used by the rule forms, the services and config-as-code."""
    from opsdesk.cmdb.models import CIClass
    from opsdesk.services.models import Service

    if conditions in (None, ""):
        return {}
    if not isinstance(conditions, dict):
        raise ValidationError({"conditions": _("Conditions must be a mapping of %(keys)s to lists.")
                               % {"keys": ", ".join(CONDITION_KEYS)}})
    problems, cleaned = [], {}
    for key, values in conditions.items():
        if key not in CONDITION_KEYS:
            problems.append(_("Unknown condition “%(key)s”; use %(keys)s.") % {"key": key,
                                                                             "keys": ", ".join(CONDITION_KEYS)})
            continue
        if isinstance(values, str):
            values = [values]
        if not isinstance(values, list | tuple) or not all(isinstance(v, str) for v in values):
            problems.append(_("Condition “%(key)s” must be a list of keys.") % {"key": key})
            continue
        values = sorted({v.strip() for v in values if v.strip()})
        if not values:
            continue
        known = {
            "category": lambda vs: set(Category.objects.filter(slug__in=vs).values_list("slug", flat=True)),
            "service": lambda vs: set(Service.objects.filter(slug__in=vs).values_list("slug", flat=True)),
            "ci_class": lambda vs: set(CIClass.objects.filter(slug__in=vs).values_list("slug", flat=True)),
            "priority": lambda vs: {p for p, _label in PRIORITIES} & set(vs),
        }[key](values)
        unknown = [v for v in values if v not in known]
        if unknown:
            problems.append(_("Condition “%(key)s”: unknown %(values)s.") % {"key": key, "values": ", ".join(unknown)})
            continue
        cleaned[key] = values
    if problems:
        raise ValidationError({"conditions": problems})
    return cleaned


def describe_conditions(conditions: dict) -> str:
    labels = {"category": _("category"), "service": _("service"), "ci_class": _("CI class"), "priority": _("priority")}
    parts = [f"{labels[key]}: {', '.join(values)}" for key, values in (conditions or {}).items() if values]
    return "; ".join(parts) or _("every incident")


# --- choosing the team and the assignee -------------------------------------------------------------------

def choose(data: dict):
    """(team, assignee, rule) for a new incident's fields, or (None, None, None) when no rule matches.
    `data` holds model instances: category, subcategory, service, cis (list), priority."""
    context = context_for_data(data)
    for rule in AssignmentRule.objects.filter(active=True).select_related("team").order_by("order", "name"):
        if matches(rule.conditions, context):
            return rule.team, pick_assignee(rule), rule
    return None, None, None


def assignable_members(team):
    User = get_user_model()  # noqa: N806
    # One filter() call, so the team and the role conditions apply to the same membership row.
    return User.objects.filter(Q(memberships__team=team) & (Q(memberships__role__in=ASSIGNABLE_ROLES)
                                                            | Q(role__in=ASSIGNABLE_ROLES) | Q(is_superuser=True)),
                               is_active=True)


def pick_assignee(rule: AssignmentRule):
    if rule.method == "round_robin":
        return _round_robin(rule)
    if rule.method == "least_loaded":
        return _least_loaded(rule.team)
    return None


def _round_robin(rule: AssignmentRule):
    """The member after the last one this rule picked, by username, wrapping around. The rule row is
    locked, so two incidents created at once get different members."""
    with transaction.atomic():
        locked = AssignmentRule.objects.select_for_update().get(pk=rule.pk)
        members = list(assignable_members(locked.team).order_by("username"))
        if not members:
            return None
        last = locked.last_assignee.username if locked.last_assignee_id else None
        # By name, not position: the last one may have left the team since.
        chosen = next((m for m in members if last is None or m.username > last), members[0])
        AssignmentRule.objects.filter(pk=locked.pk).update(last_assignee=chosen)
        rule.last_assignee = chosen
    return chosen


def _least_loaded(team):
    return (assignable_members(team)
            .annotate(open_incidents=Count("assigned_incidents", filter=Q(assigned_incidents__status__in=OPEN_STATES),
                                           distinct=True))
            .order_by("open_incidents", "username").first())


def reassignment_history(incident: Incident) -> list[dict]:
    """The incident's changes of team or assignee, oldest first, from the change log."""
    rows = (audit.history_for(incident)
            .filter(Q(changes__has_key="assignment_group") | Q(changes__has_key="assignee"))
            .order_by("id"))
    history = []
    for entry in rows:
        team = entry.changes.get("assignment_group")
        person = entry.changes.get("assignee")
        history.append({
            "at": entry.timestamp, "actor": entry.actor_label, "action": entry.action,
            "from_team": team[0] if team else None, "to_team": team[1] if team else None,
            "from_assignee": person[0] if person else None, "to_assignee": person[1] if person else None,
        })
    return history
