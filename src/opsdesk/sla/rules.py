"""The write path of the SLA rules: business calendars and policies with their targets. Views, the API
and the configuration file all write through these functions (CONVENTIONS §1); each write is checked
whole before anything is stored, and lands in the change log with its targets."""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from opsdesk.core import audit, events, weekly_hours
from opsdesk.core.actors import Actor
from opsdesk.core.workflow import TransitionNotAllowed

from . import holiday_dates, specs
from .models import BusinessCalendar, SLAPolicy, SLATarget, SLATimer

CALENDAR_FIELDS = ["name", "slug", "description", "time_zone", "hours", "holiday_country", "holiday_subdivision",
                   "custom_holidays", "extra_days"]
POLICY_FIELDS = ["name", "slug", "description", "record_type", "order", "active", "conditions", "calendar",
                 "pause_states", "warn_percentages"]
CONDITION_KEYS = ("priority", "service_tier", "category", "ci_class")


# --- calendars ---------------------------------------------------------------------------------------------

def _date(value, field: str, index: int) -> str:
    try:
        return (value if isinstance(value, datetime.date) else datetime.date.fromisoformat(str(value))).isoformat()
    except ValueError:
        raise ValidationError({field: _("Entry %(n)s: “%(value)s” is not a date (write YYYY-MM-DD).")
                               % {"n": index + 1, "value": value}}) from None


def day_ranges(value) -> list[list[str]]:
    """Working ranges of one day, given as text ("09:00-13:00, 14:00-16:00") or as [["09:00", "13:00"]]."""
    if isinstance(value, str):
        return weekly_hours.parse(f"mon {value}").get("mon", []) if value.strip() else []
    return weekly_hours.parse(weekly_hours.format_hours({"mon": [list(r) for r in value or []]})).get("mon", [])


def clean_custom_holidays(items) -> list[dict]:
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ValidationError({"custom_holidays": _('A list of {"date": "YYYY-MM-DD", "name": "..."} entries.')})
    cleaned = [{"date": _date(item.get("date"), "custom_holidays", i), "name": str(item.get("name") or "")[:100]}
               for i, item in enumerate(items)]
    return sorted(cleaned, key=lambda item: item["date"])


def clean_extra_days(items) -> list[dict]:
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ValidationError({"extra_days": _('A list of {"date": "YYYY-MM-DD", "hours": "09:00-13:00", '
                                               '"name": "..."} entries.')})
    cleaned = []
    for index, item in enumerate(items):
        try:
            hours = day_ranges(item.get("hours"))
        except (ValidationError, TypeError, ValueError) as exc:
            messages = exc.messages if isinstance(exc, ValidationError) else [str(exc)]
            raise ValidationError({"extra_days": _("Entry %(n)s: %(problem)s") % {"n": index + 1,
                                                                                 "problem": " ".join(messages)}})
        if not hours:
            raise ValidationError({"extra_days": _("Entry %(n)s: give the working hours of the day, "
                                                   "e.g. 09:00-13:00.") % {"n": index + 1}})
        cleaned.append({"date": _date(item.get("date"), "extra_days", index), "hours": hours,
                        "name": str(item.get("name") or "")[:100]})
    return sorted(cleaned, key=lambda item: item["date"])


def _check_calendar(calendar: BusinessCalendar) -> None:
    try:
        weekly_hours.validate(calendar.hours or {})
    except ValidationError as exc:
        raise ValidationError({"hours": exc.messages}) from None
    calendar.holiday_country = (calendar.holiday_country or "").strip().upper()
    calendar.holiday_subdivision = (calendar.holiday_subdivision or "").strip().upper()
    if calendar.holiday_subdivision and not calendar.holiday_country:
        raise ValidationError({"holiday_country": _("Give the country of the region.")})
    if calendar.holiday_country:
        try:
            holiday_dates.validate_country(calendar.holiday_country, calendar.holiday_subdivision or None)
        except (ValidationError, ValueError, LookupError) as exc:
            messages = exc.messages if isinstance(exc, ValidationError) else [str(exc)]
            field = "holiday_subdivision" if calendar.holiday_subdivision and "region" in " ".join(messages).lower() \
                else "holiday_country"
            raise ValidationError({field: messages}) from None
    calendar.custom_holidays = clean_custom_holidays(calendar.custom_holidays or [])
    calendar.extra_days = clean_extra_days(calendar.extra_days or [])
    calendar.full_clean()
    try:
        spec = specs.build(calendar)
    except ValueError as exc:
        raise ValidationError({"hours": str(exc)}) from None
    if not spec.has_working_time:
        raise ValidationError({"hours": _("A calendar needs working hours (or extra working days); "
                                          "“24x7” counts every minute.")})


def _write(record, data: dict, names: list[str]) -> None:
    unknown = sorted(set(data) - set(names) - {"targets"})
    if unknown:
        raise ValidationError({name: _("Unknown field.") for name in unknown})
    for name in names:
        if name in data:
            setattr(record, name, data[name])


def create_calendar(*, actor: Actor, data: dict) -> BusinessCalendar:
    with transaction.atomic():
        calendar = BusinessCalendar(created_by=actor.user, updated_by=actor.user)
        _write(calendar, data, CALENDAR_FIELDS)
        _check_calendar(calendar)
        calendar.save()
        audit.record(calendar, actor=actor, action="create",
                     changes=audit.diff({}, {k: v for k, v in audit.snapshot(calendar).items()
                                             if v not in (None, "", [], {})}))
        events.emit("businesscalendar.created", calendar, actor=actor)
    return calendar


def update_calendar(calendar: BusinessCalendar, *, actor: Actor, data: dict) -> BusinessCalendar:
    """Running clocks keep their due dates; they count on the new rules from their next change."""
    with transaction.atomic():
        calendar = BusinessCalendar.objects.select_for_update().get(pk=calendar.pk)
        before = audit.snapshot(calendar)
        _write(calendar, data, CALENDAR_FIELDS)
        calendar.updated_by = actor.user
        _check_calendar(calendar)
        calendar.save()
        changes = audit.diff(before, audit.snapshot(calendar))
        if changes:
            audit.record(calendar, actor=actor, action="update", changes=changes)
            events.emit("businesscalendar.updated", calendar, actor=actor, payload={"changed": sorted(changes)})
    return calendar


def delete_calendar(calendar: BusinessCalendar, *, actor: Actor) -> None:
    with transaction.atomic():
        calendar = BusinessCalendar.objects.select_for_update().get(pk=calendar.pk)
        users = list(calendar.policies.order_by("name").values_list("name", flat=True)[:5])
        if users:
            raise TransitionNotAllowed(_("%(calendar)s is used by the policies %(names)s; change them first.")
                                       % {"calendar": calendar, "names": ", ".join(users)})
        if SLATimer.objects.filter(calendar=calendar).exists():
            raise TransitionNotAllowed(_("%(calendar)s has counted SLA clocks; it stays for their history.")
                                       % {"calendar": calendar})
        audit.record(calendar, actor=actor, action="delete", changes=audit.diff(audit.snapshot(calendar), {}))
        events.emit("businesscalendar.deleted", None, actor=actor, payload={"slug": calendar.slug})
        calendar.delete()


# --- policies ----------------------------------------------------------------------------------------------

def clean_conditions(conditions) -> dict:
    if not isinstance(conditions, dict):
        raise ValidationError({"conditions": _("A mapping of condition to values, e.g. {\"priority\": [\"P1\"]}.")})
    unknown = sorted(set(conditions) - set(CONDITION_KEYS))
    if unknown:
        raise ValidationError({"conditions": _("Unknown conditions %(keys)s; use %(known)s.")
                               % {"keys": ", ".join(unknown), "known": ", ".join(CONDITION_KEYS)}})
    cleaned = {}
    for key in CONDITION_KEYS:
        values = conditions.get(key)
        if values in (None, "", []):
            continue  # no condition on this: every record matches it
        values = values if isinstance(values, list) else [values]
        if key == "service_tier":
            try:
                values = sorted({int(v) for v in values})
            except (TypeError, ValueError):
                raise ValidationError({"conditions": _("Service tiers are numbers 1 to 4.")}) from None
            if any(not 1 <= v <= 4 for v in values):
                raise ValidationError({"conditions": _("Service tiers are numbers 1 to 4.")})
        else:
            values = sorted({str(v).strip() for v in values if str(v).strip()})
        if values:
            cleaned[key] = values
    return cleaned


def clean_targets(targets) -> list[dict]:
    if not isinstance(targets, list) or not targets:
        raise ValidationError({"targets": _("Give at least one target, e.g. time to resolve in 240 minutes.")})
    cleaned, seen = [], set()
    for index, item in enumerate(targets):
        if not isinstance(item, dict):
            raise ValidationError({"targets": _("Target %(n)s: give metric, goal_minutes and business_time.")
                                   % {"n": index + 1}})
        metric = str(item.get("metric") or "").strip()
        if not metric or not metric.replace("_", "").isalnum() or len(metric) > 32:
            raise ValidationError({"targets": _("Target %(n)s: the metric is a key such as acknowledge or resolve.")
                                   % {"n": index + 1}})
        if metric in seen:
            raise ValidationError({"targets": _("Target %(n)s: %(metric)s appears twice.")
                                   % {"n": index + 1, "metric": metric}})
        seen.add(metric)
        try:
            minutes = int(item.get("goal_minutes"))
        except (TypeError, ValueError):
            minutes = 0
        if not 1 <= minutes <= 525600:
            raise ValidationError({"targets": _("Target %(n)s (%(metric)s): the goal is 1 to 525600 minutes.")
                                   % {"n": index + 1, "metric": metric}})
        cleaned.append({"metric": metric, "goal_minutes": minutes,
                        "business_time": bool(item.get("business_time", True))})
    return cleaned


def _check_policy(policy: SLAPolicy) -> None:
    if policy.record_type not in dict(SLAPolicy.RECORD_TYPES):
        raise ValidationError({"record_type": _("Unknown record type %(value)s; use %(known)s.")
                               % {"value": policy.record_type, "known": ", ".join(dict(SLAPolicy.RECORD_TYPES))}})
    policy.conditions = clean_conditions(policy.conditions or {})
    states = policy.pause_states or []
    if not isinstance(states, list) or not all(isinstance(s, str) and s.strip() for s in states):
        raise ValidationError({"pause_states": _("A list of state keys, e.g. on_hold.")})
    policy.pause_states = sorted({s.strip() for s in states})
    warnings = policy.warn_percentages if policy.warn_percentages is not None else []
    if not isinstance(warnings, list) or not all(isinstance(p, int) and not isinstance(p, bool) and 1 <= p <= 99
                                                 for p in warnings):
        raise ValidationError({"warn_percentages": _("Whole percentages between 1 and 99, e.g. 50, 75.")})
    policy.warn_percentages = sorted(set(warnings))
    policy.full_clean()


def targets_text(targets) -> list[str]:
    """How targets show in the change log and diffs: ["acknowledge 15 min calendar time", ...]."""
    return [f"{t['metric']} {t['goal_minutes']} min {'business' if t['business_time'] else 'calendar'} time"
            for t in sorted(targets, key=lambda t: t["metric"])]


def target_items(policy: SLAPolicy) -> list[dict]:
    return [{"metric": t.metric, "goal_minutes": t.goal_minutes, "business_time": t.business_time}
            for t in sorted(policy.targets.all(), key=lambda t: t.metric)]


def _put_targets(policy: SLAPolicy, targets: list[dict]) -> None:
    existing = {t.metric: t for t in policy.targets.all()}
    wanted = {t["metric"]: t for t in targets}
    SLATarget.objects.filter(policy=policy, metric__in=set(existing) - set(wanted)).delete()
    for metric, item in wanted.items():
        target = existing.get(metric)
        if target is None:
            SLATarget.objects.create(policy=policy, **item)
        elif (target.goal_minutes, target.business_time) != (item["goal_minutes"], item["business_time"]):
            target.goal_minutes, target.business_time = item["goal_minutes"], item["business_time"]
            target.save(update_fields=["goal_minutes", "business_time"])
    if hasattr(policy, "_prefetched_objects_cache"):
        policy._prefetched_objects_cache.pop("targets", None)


def create_policy(*, actor: Actor, data: dict) -> SLAPolicy:
    with transaction.atomic():
        policy = SLAPolicy(created_by=actor.user, updated_by=actor.user)
        _write(policy, data, POLICY_FIELDS)
        targets = clean_targets(data.get("targets"))
        _check_policy(policy)
        policy.save()
        _put_targets(policy, targets)
        initial = {k: v for k, v in audit.snapshot(policy).items() if v not in (None, "", [], {})}
        initial["targets"] = targets_text(targets)
        audit.record(policy, actor=actor, action="create", changes=audit.diff({}, initial))
        events.emit("slapolicy.created", policy, actor=actor)
    return policy


def update_policy(policy: SLAPolicy, *, actor: Actor, data: dict) -> SLAPolicy:
    """`data["targets"]`, when given, is the whole list: metrics left out are removed. Running clocks
    keep their goals until the record's next recalculation."""
    with transaction.atomic():
        policy = SLAPolicy.objects.select_for_update().get(pk=policy.pk)
        before = {**audit.snapshot(policy), "targets": targets_text(target_items(policy))}
        _write(policy, data, POLICY_FIELDS)
        policy.updated_by = actor.user
        targets = clean_targets(data["targets"]) if "targets" in data else None
        _check_policy(policy)
        policy.save()
        if targets is not None:
            _put_targets(policy, targets)
        changes = audit.diff(before, {**audit.snapshot(policy), "targets": targets_text(target_items(policy))})
        if changes:
            audit.record(policy, actor=actor, action="update", changes=changes)
            events.emit("slapolicy.updated", policy, actor=actor, payload={"changed": sorted(changes)})
    return policy


def delete_policy(policy: SLAPolicy, *, actor: Actor) -> None:
    with transaction.atomic():
        policy = SLAPolicy.objects.select_for_update().get(pk=policy.pk)
        if SLATimer.objects.filter(policy=policy).exists():
            raise TransitionNotAllowed(_("%(policy)s has counted SLA clocks and stays for their history; "
                                         "deactivate it instead.") % {"policy": policy})
        audit.record(policy, actor=actor, action="delete",
                     changes=audit.diff({**audit.snapshot(policy), "targets": targets_text(target_items(policy))}, {}))
        events.emit("slapolicy.deleted", None, actor=actor, payload={"slug": policy.slug})
        policy.delete()
