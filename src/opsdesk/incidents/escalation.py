"""Escalation rules: functional (reassign to the next support tier) and hierarchical (notify the
team lead, then the managers), triggered by no acknowledgement within N minutes, an SLA percentage or
the priority. Timers live in the database; an escalation fires once per (incident, rule).

The hooks `on_created`, `on_acknowledged`, `on_priority_changed` and `on_closed` are called by
services.py inside its transactions. SLA-percent rules ride on the SLA engine: `threshold_percents`
tells it which extra percentages to announce and `on_sla_threshold` hears them (both registered by
wiring.py). Every escalation is an Escalation row, a change-log row ("escalate", on the timeline)
and an "incident.escalated" event addressed to the people it pages.
"""

from __future__ import annotations

import datetime

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from opsdesk.core import audit, events, timers
from opsdesk.core.actors import Actor
from opsdesk.core.models import Timer
from opsdesk.core.workflow import TransitionNotAllowed
from opsdesk.sla import services as sla

from . import major
from .assignment import context_for_incident, matches, validate_conditions
from .models import Escalation, EscalationRule, Incident

ESCALATE = "incidents.escalate"
SYSTEM_ACTOR = Actor.system("escalation")
SLA_METRICS = ("acknowledge", "resolve")
NOTIFY_KEYS = [key for key, _label in EscalationRule.NOTIFY]
# A manual hierarchical escalation climbs one step each time: the team lead first, then the managers.
HIERARCHY = (("lead",), ("managers",))


def _rules(trigger: str):
    # Inside an SLA sweep or the processing of an alert payload (sla.memo_scope): every active rule is
    # read once for the whole unit of work, not once per trigger, crossing or incident.
    memo = sla.sweep_memo()
    if memo is None:
        return EscalationRule.objects.filter(active=True, trigger=trigger).select_related("target_team") \
            .order_by("order", "name")
    key = "incidents.escalation_rules"
    if key not in memo:
        memo[key] = list(EscalationRule.objects.filter(active=True).select_related("target_team")
                         .order_by("order", "name"))
    return [rule for rule in memo[key] if rule.trigger == trigger]


def _lazy_context(incident: Incident):
    """context_for_incident, built at the first call only (no query when no rule needs it)."""
    built: list[dict] = []

    def context() -> dict:
        if not built:
            built.append(context_for_incident(incident))
        return built[0]
    return context


def _pending_rule_ids(incident: Incident) -> set[int]:
    payloads = Timer.objects.filter(kind=ESCALATE, status="pending", object_id=incident.pk,
                                    content_type=ContentType.objects.get_for_model(Incident)) \
        .values_list("payload", flat=True)
    return {payload.get("rule") for payload in payloads}


def _schedule_no_ack(incident: Incident, context) -> None:
    if incident.acknowledged_at is not None or not incident.is_open:
        return
    rules = list(_rules("no_ack"))
    if not rules:
        return
    pending = _pending_rule_ids(incident)
    fired = set(Escalation.objects.filter(incident=incident, rule__isnull=False).values_list("rule_id", flat=True))
    for rule in rules:
        if rule.pk in pending or rule.pk in fired or rule.minutes is None or not matches(rule.conditions, context()):
            continue
        # From the creation, not from now: a priority raised later does not restart the clock.
        timers.schedule(ESCALATE, incident.created_at + datetime.timedelta(minutes=rule.minutes), incident,
                        payload={"rule": rule.pk})


def _fire_priority_rules(incident: Incident, context, *, actor: Actor) -> None:
    for rule in _rules("priority"):
        if matches(rule.conditions, context()):
            fire(incident, rule, actor=actor, reason=_("Priority is %(p)s.") % {"p": incident.priority})


# --- hooks called by services.py ----------------------------------------------------------------------------

def on_created(incident: Incident, *, actor: Actor) -> None:
    context = _lazy_context(incident)
    _schedule_no_ack(incident, context)
    _fire_priority_rules(incident, context, actor=actor)


def on_acknowledged(incident: Incident, *, actor: Actor) -> None:
    timers.cancel(ESCALATE, incident)


def on_priority_changed(incident: Incident, *, actor: Actor) -> None:
    if not incident.is_open:
        return
    context = _lazy_context(incident)
    _fire_priority_rules(incident, context, actor=actor)
    _schedule_no_ack(incident, context)


def on_closed(incident: Incident, *, actor: Actor) -> None:
    timers.cancel(ESCALATE, incident)
    major.on_closed(incident, actor=actor)


@timers.handler(ESCALATE)
def run_escalation_timer(timer) -> None:
    """A no-acknowledgement timer came due. The condition is checked again now: an incident
    acknowledged, closed or re-classified since the timer was set is left alone."""
    incident = Incident.objects.filter(pk=timer.object_id).first()
    rule = EscalationRule.objects.filter(pk=(timer.payload or {}).get("rule"), active=True).first()
    if incident is None or rule is None or not incident.is_open or incident.acknowledged_at is not None:
        return
    if not matches(rule.conditions, context_for_incident(incident)):
        return
    fire(incident, rule, actor=SYSTEM_ACTOR, reason=_("Not acknowledged within %(n)s minutes.") % {"n": rule.minutes},
         condition=lambda locked: locked.acknowledged_at is None)


# --- the SLA engine's thresholds ----------------------------------------------------------------------------

def threshold_percents(incident: Incident, metric: str) -> list[int]:
    """Extra percentages the SLA engine should announce for this incident's `metric` clock."""
    rules = [r for r in _rules("sla_percent") if r.metric == metric and r.percent]
    if not rules:
        return []
    context = context_for_incident(incident)
    return sorted({r.percent for r in rules if matches(r.conditions, context)})


def on_sla_threshold(incident: Incident, timer, percent, *, actor: Actor) -> None:
    """The SLA engine reached `percent` on one of the incident's clocks. A late sweep may jump over a
    threshold, so every rule at or below the reached percentage fires (once each)."""
    if not incident.is_open:
        return
    metric = getattr(timer, "metric", "")
    rules = [r for r in _rules("sla_percent") if r.metric == metric and r.percent and r.percent <= percent]
    if not rules:
        return  # the common case in a sweep: no rule for this clock, so no incident context to build
    context = context_for_incident(incident)
    for rule in rules:
        if matches(rule.conditions, context):
            fire(incident, rule, actor=actor, reason=_("SLA %(metric)s reached %(p)s%%.")
                 % {"metric": metric, "p": rule.percent})


# --- firing -----------------------------------------------------------------------------------------------

def _people(incident: Incident, keys) -> list:
    """The users behind "lead", "managers" and "assignee" for the incident's assignment group, in
    that order, each once; inactive users are skipped."""
    from opsdesk.accounts.models import Membership

    team = incident.assignment_group
    found = []
    for key in keys:
        if key == "lead" and team is not None and team.lead_id:
            found.append(team.lead)
        elif key == "managers" and team is not None:
            found += [m.user for m in Membership.objects.filter(team=team, role="manager")
                      .select_related("user").order_by("user__username")]
        elif key == "assignee" and incident.assignee_id:
            found.append(incident.assignee)
    unique = {}
    for user in found:
        if user.is_active:
            unique.setdefault(user.pk, user)
    return list(unique.values())


def _escalate(incident: Incident, *, actor: Actor, rule: EscalationRule | None, kind: str, to_team, notify,
              reason: str, condition=None) -> Escalation | None:
    """Lock the incident, record the escalation (once per rule), reassign or page, log and announce.
    `condition(locked_incident)` is checked again under the lock (an acknowledgement may have won)."""
    from . import services

    with transaction.atomic():
        incident = Incident.objects.select_for_update().get(pk=incident.pk)
        if not incident.is_open or (condition is not None and not condition(incident)):
            return None
        if rule is not None and Escalation.objects.filter(incident=incident, rule=rule).exists():
            return None
        from_team = incident.assignment_group
        escalation = Escalation(incident=incident, rule=rule, rule_name=rule.name if rule else _("manual")[:100],
                                kind=kind, fired_at=timezone.now(), from_team=from_team, to_team=to_team,
                                actor_label=actor.label[:200], reason=str(reason or "")[:500])
        try:
            # A savepoint: a concurrent sweeper that won the race leaves this transaction usable.
            with transaction.atomic():
                escalation.save()
        except IntegrityError:
            return None
        if kind == "functional" and to_team is not None and to_team != from_team:
            incident = services.update_incident(incident, actor=actor, data={"assignment_group": to_team})
        people = _people(incident, notify)
        escalation.notified = [user.username for user in people]
        escalation.save(update_fields=["notified"])
        changes = {"escalation": [None, escalation.rule_name], "kind": [None, kind]}
        if kind == "functional":
            changes["team"] = [str(from_team) if from_team else None, str(to_team) if to_team else None]
        if escalation.notified:
            changes["notified"] = [None, ", ".join(escalation.notified)]
        if escalation.reason:
            changes["reason"] = [None, escalation.reason]
        audit.record(incident, actor=actor, action="escalate", changes=changes)
        events.emit("incident.escalated", incident, actor=actor, recipients=people, payload={
            "escalation": escalation.pk, "rule": escalation.rule_name, "kind": kind, "reason": escalation.reason,
            "from_team": str(from_team) if from_team else None, "to_team": str(to_team) if to_team else None,
            "notified": escalation.notified, "priority": incident.priority})
    return escalation


def fire(incident: Incident, rule: EscalationRule, *, actor: Actor, reason: str = "",
         condition=None) -> Escalation | None:
    """Fire `rule` on the open incident, exactly once: a second call (another sweeper, a repeated SLA
    threshold) finds the Escalation row and does nothing. Returns the new Escalation or None."""
    if rule.kind == "functional":
        notify = rule.notify or ["lead"]  # the receiving team hears that work arrived
        return _escalate(incident, actor=actor, rule=rule, kind="functional", to_team=rule.target_team,
                         notify=notify, reason=reason, condition=condition)
    return _escalate(incident, actor=actor, rule=rule, kind="hierarchical", to_team=None,
                     notify=rule.notify or ["lead", "managers"], reason=reason, condition=condition)


def escalate_incident(incident: Incident, *, actor: Actor, team=None, reason: str = "", notify=()) -> Incident:
    """A person escalates by hand (API action `escalate`, the detail page's button). With a team:
    functional, the incident moves to that team. Without: hierarchical, one step up each time (the
    team lead, then the managers) unless `notify` names whom ("lead", "managers", "assignee").
    The caller checks the permission; manual escalations may repeat. Returns the incident as it is
    now (its newest Escalation row is `incident.escalations.first()`)."""
    incident = Incident.objects.select_related("assignment_group").get(pk=incident.pk)
    if not incident.is_open:
        raise TransitionNotAllowed(_("%(inc)s is %(state)s; only open incidents are escalated.")
                                   % {"inc": incident, "state": incident.get_status_display().lower()})
    reason = str(reason or "").strip()
    if len(reason) > 500:
        raise ValidationError({"reason": _("The reason is limited to 500 characters.")})
    notify = list(notify or [])
    unknown = [key for key in notify if key not in NOTIFY_KEYS]
    if unknown:
        raise ValidationError({"notify": _("Choose from %(keys)s.") % {"keys": ", ".join(NOTIFY_KEYS)}})
    if team is not None:
        if team.pk == incident.assignment_group_id:
            raise ValidationError({"team": _("%(inc)s is already with %(team)s.") % {"inc": incident, "team": team}})
        _escalate(incident, actor=actor, rule=None, kind="functional", to_team=team, notify=notify or ["lead"],
                  reason=reason)
        return Incident.objects.get(pk=incident.pk)
    if incident.assignment_group_id is None and "assignee" not in notify:
        raise ValidationError({"team": _("%(inc)s has no assignment group to escalate in; choose a team to "
                                         "escalate to.") % {"inc": incident}})
    if not notify:
        steps = Escalation.objects.filter(incident=incident, rule__isnull=True, kind="hierarchical").count()
        notify = list(HIERARCHY[min(steps, len(HIERARCHY) - 1)])
    _escalate(incident, actor=actor, rule=None, kind="hierarchical", to_team=None, notify=notify, reason=reason)
    return Incident.objects.get(pk=incident.pk)


def escalations_for(incident: Incident):
    return Escalation.objects.filter(incident=incident).select_related("from_team", "to_team")


# --- rules: validation (services.create_rule / update_rule, the forms, config-as-code) -----------

def validate_rule(data: dict, rule: EscalationRule | None = None) -> dict:
    """The rule's fields made consistent for its trigger and kind, or ValidationError by field. `data`
    may be partial when `rule` (the stored rule) supplies the rest."""
    def value(name, default=None):
        if name in data:
            return data[name]
        return getattr(rule, name, default) if rule is not None else default

    cleaned = dict(data)
    errors = {}
    if "conditions" in data:
        try:
            cleaned["conditions"] = validate_conditions(data["conditions"])
        except ValidationError as exc:
            errors.update(exc.message_dict)
    conditions = cleaned.get("conditions", value("conditions") or {})
    trigger, kind = value("trigger"), value("kind")
    if trigger not in dict(EscalationRule.TRIGGERS):
        errors["trigger"] = _("Choose one of: %(t)s.") % {"t": ", ".join(dict(EscalationRule.TRIGGERS))}
    if kind not in dict(EscalationRule.KINDS):
        errors["kind"] = _("Choose one of: %(k)s.") % {"k": ", ".join(dict(EscalationRule.KINDS))}
    if trigger == "no_ack":
        minutes = value("minutes")
        if not minutes or int(minutes) < 1:
            errors["minutes"] = _("Give the minutes without acknowledgement after which the rule fires.")
        cleaned.update(metric="", percent=None)
    elif trigger == "sla_percent":
        if value("metric") not in SLA_METRICS:
            errors["metric"] = _("Choose the SLA metric: %(m)s.") % {"m": ", ".join(SLA_METRICS)}
        percent = value("percent")
        if not percent or not 1 <= int(percent) <= 1000:
            errors["percent"] = _("Give the SLA percentage (1 to 1000; 100 is the breach).")
        cleaned["minutes"] = None
    elif trigger == "priority":
        if not conditions.get("priority"):
            errors["conditions"] = [_("A priority rule needs the priorities it fires on (e.g. P1).")]
        cleaned.update(minutes=None, metric="", percent=None)
    notify = value("notify") or []
    if not isinstance(notify, list | tuple) or any(key not in NOTIFY_KEYS for key in notify):
        errors["notify"] = _("Choose from %(keys)s.") % {"keys": ", ".join(NOTIFY_KEYS)}
    elif "notify" in data:
        cleaned["notify"] = [key for key in NOTIFY_KEYS if key in notify]
    if kind == "functional" and value("target_team") is None:
        errors["target_team"] = _("A functional escalation needs the team it hands the incident to.")
    if kind == "hierarchical":
        if not notify:
            errors["notify"] = _("A hierarchical escalation needs whom to notify.")
        cleaned["target_team"] = None
    if errors:
        raise ValidationError(errors)
    return cleaned
