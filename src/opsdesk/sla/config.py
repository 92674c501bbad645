"""The SLA engine's sections of the configuration file: business calendars and SLA policies.

Items are matched by `key`; nothing is deleted (a calendar or policy absent from the file is left
alone). Values are compared in their file form (hours as "mon-fri 09:00-17:00", extra days' hours as
"09:00-13:00"), so an export applied again reports every item unchanged. Calendars come first, so a
policy may name a calendar defined in the same file.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError

from opsdesk.core import weekly_hours
from opsdesk.core.actors import Actor
from opsdesk.core.config_as_code import Change, Section, located, refuse_duplicates

from . import rules
from .models import BusinessCalendar, SLAPolicy

KEY = {"type": "string", "pattern": "^[-a-zA-Z0-9_]+$", "maxLength": 100}
DATE = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"}
STRINGS = {"type": "array", "items": {"type": "string", "minLength": 1}}




def _diff(current: dict, wanted: dict) -> dict:
    return {name: [current.get(name), value] for name, value in wanted.items() if current.get(name) != value}


# --- calendars ---------------------------------------------------------------------------------------------

def _extra_days_text(items: list[dict]) -> list[dict]:
    return [{"date": d["date"], "hours": ",".join(f"{s}-{e}" for s, e in d.get("hours") or []),
             "name": d.get("name", "")} for d in items]


def calendar_item(calendar: BusinessCalendar) -> dict:
    return {
        "key": calendar.slug, "name": calendar.name, "description": calendar.description,
        "time_zone": calendar.time_zone, "hours": weekly_hours.format_hours(calendar.hours),
        "holidays": {"country": calendar.holiday_country, "region": calendar.holiday_subdivision},
        "custom_holidays": [{"date": h["date"], "name": h.get("name", "")} for h in calendar.custom_holidays or []],
        "extra_days": _extra_days_text(calendar.extra_days or []),
    }


def _calendar_wanted(item: dict) -> dict:
    """The item in its normal file form, only the keys it gives."""
    wanted = {k: item[k] for k in ("name", "description", "time_zone") if k in item}
    if "hours" in item:
        try:
            wanted["hours"] = weekly_hours.format_hours(weekly_hours.parse(item["hours"]))
        except ValidationError as exc:
            raise ValidationError({"hours": exc.messages}) from None
    if "holidays" in item:
        holidays = item["holidays"] or {}
        wanted["holidays"] = {"country": (holidays.get("country") or "").upper(),
                              "region": (holidays.get("region") or "").upper()}
    if "custom_holidays" in item:
        wanted["custom_holidays"] = rules.clean_custom_holidays(item["custom_holidays"])
    if "extra_days" in item:
        wanted["extra_days"] = _extra_days_text(rules.clean_extra_days(item["extra_days"]))
    return wanted


def _calendar_data(wanted: dict) -> dict:
    data = {k: v for k, v in wanted.items() if k not in ("hours", "holidays")}
    if "hours" in wanted:
        data["hours"] = weekly_hours.parse(wanted["hours"])
    if "holidays" in wanted:
        data["holiday_country"] = wanted["holidays"]["country"]
        data["holiday_subdivision"] = wanted["holidays"]["region"]
    return data


class CalendarSection(Section):
    key = "sla_calendars"
    order = 40
    item_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["key", "name"],
        "properties": {
            "key": KEY,
            "name": {"type": "string", "minLength": 1, "maxLength": 100},
            "description": {"type": "string"},
            "time_zone": {"type": "string", "minLength": 1, "maxLength": 64},
            "hours": {"type": "string", "description": '"mon-fri 09:00-17:00; sat 10:00-14:00" or "24x7"'},
            "holidays": {"type": "object", "additionalProperties": False,
                         "properties": {"country": {"type": "string", "maxLength": 8},
                                        "region": {"type": "string", "maxLength": 16}}},
            "custom_holidays": {"type": "array", "items": {
                "type": "object", "additionalProperties": False, "required": ["date"],
                "properties": {"date": DATE, "name": {"type": "string", "maxLength": 100}}}},
            "extra_days": {"type": "array", "items": {
                "type": "object", "additionalProperties": False, "required": ["date", "hours"],
                "properties": {"date": DATE, "hours": {"type": "string", "minLength": 1},
                               "name": {"type": "string", "maxLength": 100}}}},
        },
    }

    def export(self) -> list[dict]:
        return [calendar_item(c) for c in BusinessCalendar.objects.order_by("slug")]

    def apply(self, items: list[dict], *, actor: Actor) -> list[Change]:
        refuse_duplicates(self.key, [item["key"] for item in items])
        existing = {c.slug: c for c in BusinessCalendar.objects.filter(slug__in=[i["key"] for i in items])}
        changes = []
        for item in items:
            key = item["key"]
            path = f"{self.key}/{key}"
            with located(path):
                wanted = _calendar_wanted(item)
                calendar = existing.get(key)
                if calendar is None:
                    if "hours" not in wanted:
                        raise ValidationError({"hours": "give the working hours, e.g. mon-fri 09:00-17:00 or 24x7"})
                    rules.create_calendar(actor=actor, data={"slug": key, **_calendar_data(wanted)})
                    changes.append(Change(self.key, key, "create",
                                          {k: [None, v] for k, v in wanted.items() if v not in ("", [], None)}))
                    continue
                diff = _diff(calendar_item(calendar), wanted)
                if diff:
                    rules.update_calendar(calendar, actor=actor, data=_calendar_data({k: wanted[k] for k in diff}))
                changes.append(Change(self.key, key, "update" if diff else "unchanged", diff))
        return changes


# --- policies ----------------------------------------------------------------------------------------------

TARGET_SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["metric", "goal_minutes"],
    "properties": {"metric": {"type": "string", "pattern": "^[a-z0-9_]+$", "maxLength": 32},
                   "goal_minutes": {"type": "integer", "minimum": 1, "maximum": 525600},
                   "business_time": {"type": "boolean"}},
}


def policy_item(policy: SLAPolicy) -> dict:
    return {
        "key": policy.slug, "name": policy.name, "description": policy.description,
        "record_type": policy.record_type, "order": policy.order, "active": policy.active,
        "conditions": dict(policy.conditions or {}), "calendar": policy.calendar.slug,
        "pause_states": list(policy.pause_states or []), "warn_percentages": list(policy.warn_percentages or []),
        "targets": rules.target_items(policy),
    }


def _policy_wanted(item: dict) -> dict:
    wanted = {k: item[k] for k in ("name", "description", "record_type", "order", "active", "calendar")
              if k in item}
    if "conditions" in item:
        wanted["conditions"] = rules.clean_conditions(item["conditions"])
    if "pause_states" in item:
        wanted["pause_states"] = sorted(set(item["pause_states"]))
    if "warn_percentages" in item:
        wanted["warn_percentages"] = sorted(set(item["warn_percentages"]))
    if "targets" in item:
        wanted["targets"] = sorted(rules.clean_targets(item["targets"]), key=lambda t: t["metric"])
    return wanted


class PolicySection(Section):
    key = "sla_policies"
    order = 41  # after the calendars they name
    item_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["key", "name", "calendar", "targets"],
        "properties": {
            "key": KEY,
            "name": {"type": "string", "minLength": 1, "maxLength": 100},
            "description": {"type": "string"},
            "record_type": {"enum": [value for value, _label in SLAPolicy.RECORD_TYPES]},
            "order": {"type": "integer", "minimum": 0, "maximum": 2147483647},
            "active": {"type": "boolean"},
            "conditions": {"type": "object", "additionalProperties": False, "properties": {
                "priority": STRINGS, "category": STRINGS, "ci_class": STRINGS,
                "service_tier": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 4}}}},
            "calendar": KEY,
            "pause_states": STRINGS,
            "warn_percentages": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 99}},
            "targets": {"type": "array", "minItems": 1, "items": TARGET_SCHEMA},
        },
    }

    def export(self) -> list[dict]:
        return [policy_item(p) for p in SLAPolicy.objects.select_related("calendar").prefetch_related("targets")
                .order_by("record_type", "order", "slug")]

    def apply(self, items: list[dict], *, actor: Actor) -> list[Change]:
        refuse_duplicates(self.key, [item["key"] for item in items])
        existing = {p.slug: p for p in SLAPolicy.objects.filter(slug__in=[i["key"] for i in items])
                    .select_related("calendar").prefetch_related("targets")}
        calendars = {c.slug: c for c in BusinessCalendar.objects.filter(slug__in={i["calendar"] for i in items})}
        changes = []
        for item in items:
            key = item["key"]
            with located(f"{self.key}/{key}"):
                if item["calendar"] not in calendars:
                    raise ValidationError({"calendar": f"no calendar with key {item['calendar']!r}"})
                wanted = _policy_wanted(item)
                data = {k: (calendars[v] if k == "calendar" else v) for k, v in wanted.items()}
                policy = existing.get(key)
                if policy is None:
                    rules.create_policy(actor=actor, data={"slug": key, **data})
                    changes.append(Change(self.key, key, "create",
                                          {k: [None, v] for k, v in wanted.items() if v not in ("", [], {}, None)}))
                    continue
                diff = _diff(policy_item(policy), wanted)
                if diff:
                    rules.update_policy(policy, actor=actor, data={k: data[k] for k in diff})
                changes.append(Change(self.key, key, "update" if diff else "unchanged", diff))
        return changes
