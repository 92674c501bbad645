"""Risk, freeze windows and change settings as code: sections `change_settings` (one item),
`change_risk_questions` (by slug) and `change_freeze_windows` (by name; services by slug). The settings
page and the questionnaire checks use the same validation."""

from __future__ import annotations

import datetime

import jsonschema
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from opsdesk.core import config_as_code, records
from opsdesk.core.actors import Actor
from opsdesk.core.config_as_code import Change, Section, located, refuse_duplicates

from . import freezes
from .models import RISK_LEVELS, ChangeSettings, FreezeWindow, RiskQuestion
from .workflows import OUTCOMES

POINTS = {"type": "integer", "minimum": 0, "maximum": 1000}
SETTINGS_SCHEMA = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "risk_medium_from": {"type": "integer", "minimum": 1, "maximum": 1000},
        "risk_high_from": {"type": "integer", "minimum": 1, "maximum": 1000},
        "risk_very_high_from": {"type": "integer", "minimum": 1, "maximum": 1000},
        "min_lead_hours": {"type": "integer", "minimum": 0, "maximum": 8760},
        "history_months": {"type": "integer", "minimum": 1, "maximum": 120},
        "approval_deadline_hours": {"type": "integer", "minimum": 1, "maximum": 8760},
        "approval_reminder_hours": {"type": "integer", "minimum": 0, "maximum": 8760},
        "review_outcomes": {"type": "array", "uniqueItems": True, "maxItems": 10,
                            "items": {"enum": [k for k, _label in OUTCOMES]}},
        "review_risk_levels": {"type": "array", "uniqueItems": True, "maxItems": 4,
                               "items": {"enum": [k for k, _label in RISK_LEVELS]}},
    },
}
SETTINGS_FIELDS = list(SETTINGS_SCHEMA["properties"])

SLUG = {"type": "string", "pattern": "^[-a-zA-Z0-9_]{1,64}$"}
ANSWER = {"type": "object", "additionalProperties": False, "required": ["key", "label", "weight"], "properties": {
    "key": {"type": "string", "pattern": "^[-a-z0-9_]{1,40}$"},
    "label": {"type": "string", "minLength": 1, "maxLength": 200}, "weight": POINTS}}
QUESTION_SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["slug", "text", "answers"],
    "properties": {
        "slug": SLUG, "text": {"type": "string", "minLength": 1, "maxLength": 300},
        "help": {"type": "string", "maxLength": 500},
        "order": {"type": "integer", "minimum": 0, "maximum": 100000},
        "answers": {"type": "array", "minItems": 2, "maxItems": 20, "items": ANSWER},
        "active": {"type": "boolean"},
    },
}
FREEZE_SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["name", "start", "end"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "reason": {"type": "string", "maxLength": 500},
        "start": {"type": "string", "minLength": 1}, "end": {"type": "string", "minLength": 1},
        "services": {"type": "array", "items": SLUG, "uniqueItems": True},
        "active": {"type": "boolean"},
    },
}


def _schema_errors(schema: dict, data) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for error in jsonschema.Draft202012Validator(schema).iter_errors(data):
        where = str(error.absolute_path[0]) if error.absolute_path else "__all__"
        errors.setdefault(where, []).append(error.message)
    return errors


# --- settings -------------------------------------------------------------------------------------------

def settings_row() -> ChangeSettings:
    row, _created = ChangeSettings.objects.get_or_create(pk=1, defaults={
        "review_outcomes": ["failed", "backed_out"], "review_risk_levels": ["high", "very_high"]})
    return row


def settings_values() -> dict:
    row = settings_row()
    return {name: getattr(row, name) for name in SETTINGS_FIELDS}


def validate_settings(data: dict, current: dict | None = None) -> dict:
    """The config-as-code schema, plus thresholds in order (medium < high < very high) and the reminder
    before the deadline; a ValidationError by field."""
    errors = _schema_errors(SETTINGS_SCHEMA, data)
    merged = {**(current or {}), **data}
    levels = [merged.get(k) for k in ("risk_medium_from", "risk_high_from", "risk_very_high_from")]
    if not errors and all(isinstance(v, int) for v in levels) and not levels[0] < levels[1] < levels[2]:
        errors.setdefault("risk_high_from", []).append(
            _("The thresholds must rise: medium below high, high below very high."))
    hours = [merged.get("approval_reminder_hours"), merged.get("approval_deadline_hours")]
    if not errors and all(isinstance(v, int) for v in hours) and hours[0] >= hours[1]:
        errors.setdefault("approval_reminder_hours", []).append(
            _("The reminder must come before the deadline (fewer hours than the deadline)."))
    if errors:
        raise ValidationError(errors)
    return dict(data)


def update_settings(*, actor: Actor, data: dict) -> dict:
    """Change the change settings (only the fields given); returns {field: [before, after]}. The checks that
    compare two fields read the row's other values."""
    row = settings_row()
    data = validate_settings(data, {name: getattr(row, name) for name in SETTINGS_FIELDS})
    return config_as_code.save_settings(row, actor=actor, data=data)


class ChangeSettingsSection(config_as_code.SettingsSection):
    key = "change_settings"
    order = 90
    item_schema = SETTINGS_SCHEMA
    label = "changes"

    def values(self) -> dict:
        return settings_values()

    def update(self, *, actor: Actor, data: dict) -> dict:
        return update_settings(actor=actor, data=data)


# --- the questionnaire ---------------------------------------------------------------------------------

def validate_question(item: dict) -> None:
    errors = _schema_errors(QUESTION_SCHEMA, item)
    answers = item.get("answers")
    if "answers" not in errors and isinstance(answers, list):
        keys = [a.get("key") for a in answers]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            errors["answers"] = [_("Answer keys appear more than once: %(keys)s.") % {"keys": ", ".join(duplicates)}]
    if errors:
        raise ValidationError(errors)


def _question_fields(item: dict) -> dict:
    return {"text": item["text"], "help_text": item.get("help", ""), "order": item.get("order", 100),
            "answers": [dict(a) for a in item["answers"]], "active": item.get("active", True)}


def save_question(item: dict, *, actor: Actor) -> tuple[RiskQuestion, dict]:
    """Create or update a question by slug; returns the question and {field: [before, after]}."""
    validate_question(item)
    fields = _question_fields(item)
    existing = RiskQuestion.objects.filter(slug=item["slug"]).first()
    if existing is None:
        question = records.create_record(RiskQuestion, actor=actor, fields={"slug": item["slug"], **fields})
        return question, {k: [None, v] for k, v in fields.items()}
    changes = {k: [getattr(existing, k), v] for k, v in fields.items() if getattr(existing, k) != v}
    if changes:
        existing = records.update_record(existing, actor=actor, fields={k: v for k, (_b, v) in changes.items()})
    return existing, changes


def _question_export(question: RiskQuestion) -> dict:
    return {"slug": question.slug, "text": question.text, "help": question.help_text, "order": question.order,
            "answers": [dict(a) for a in question.answers or []], "active": question.active}


class RiskQuestionSection(Section):
    key = "change_risk_questions"
    order = 91
    item_schema = QUESTION_SCHEMA

    def export(self) -> list[dict]:
        return [_question_export(q) for q in RiskQuestion.objects.order_by("order", "id")]

    def apply(self, items: list[dict], *, actor: Actor) -> list[Change]:
        refuse_duplicates(self.key, [item["slug"] for item in items])
        changes = []
        for item in items:
            with located(f"{self.key}/{item['slug']}"):
                created = not RiskQuestion.objects.filter(slug=item["slug"]).exists()
                _question, fields = save_question(item, actor=actor)
            action = "create" if created else ("update" if fields else "unchanged")
            changes.append(Change(self.key, item["slug"], action, {} if created else fields))
        return changes


# --- freeze windows -------------------------------------------------------------------------------------

def _moment(value, name: str) -> datetime.datetime:
    parsed = value if isinstance(value, datetime.datetime) else parse_datetime(str(value))
    if parsed is None:
        raise ValidationError({name: _("Not a date and time (ISO 8601, e.g. 2026-12-20T00:00:00Z).")})
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, datetime.UTC)
    return parsed


def _freeze_export(window: FreezeWindow) -> dict:
    return {"name": window.name, "reason": window.reason, "start": window.starts_at.isoformat(),
            "end": window.ends_at.isoformat(), "services": sorted(s.slug for s in window.services.all()),
            "active": window.active}


class FreezeWindowSection(Section):
    key = "change_freeze_windows"
    order = 92  # after the services (20) it names
    item_schema = FREEZE_SCHEMA

    def export(self) -> list[dict]:
        return [_freeze_export(w) for w in FreezeWindow.objects.prefetch_related("services").order_by("starts_at",
                                                                                                    "id")]

    def apply(self, items: list[dict], *, actor: Actor) -> list[Change]:
        from opsdesk.services.models import Service

        refuse_duplicates(self.key, [item["name"] for item in items])
        changes = []
        for item in items:
            with located(f"{self.key}/{item['name']}"):
                slugs = item.get("services", [])
                services = list(Service.objects.filter(slug__in=slugs))
                missing = sorted(set(slugs) - {s.slug for s in services})
                if missing:
                    raise ValidationError({"services": _("No service has the key: %(keys)s.")
                                           % {"keys": ", ".join(missing)}})
                data = {"name": item["name"], "reason": item.get("reason", ""),
                        "starts_at": _moment(item["start"], "start"), "ends_at": _moment(item["end"], "end"),
                        "services": services}
                existing = FreezeWindow.objects.filter(name=item["name"]).order_by("id").first()
                if existing is None:
                    window = freezes.create_freeze_window(actor=actor, data=data)
                    if item.get("active") is False:
                        freezes.cancel_freeze_window(window, actor=actor)
                    changes.append(Change(self.key, item["name"], "create"))
                    continue
                before = _freeze_export(existing)
                after = {**_freeze_export(existing), "reason": data["reason"],
                         "start": data["starts_at"].isoformat(), "end": data["ends_at"].isoformat(),
                         "services": sorted(slugs), "active": item.get("active", existing.active)}
                diff = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
                if diff:  # the file is authoritative: a cancelled window may be edited or revived here
                    freezes.check_window(data)
                    records.update_record(existing, actor=actor, fields={**data, "active": after["active"]})
                changes.append(Change(self.key, item["name"], "update" if diff else "unchanged", diff))
        return changes


SECTIONS = [ChangeSettingsSection, RiskQuestionSection, FreezeWindowSection]
