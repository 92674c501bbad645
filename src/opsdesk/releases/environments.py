"""Environments and the release settings: the one write path of the environments page, the settings page and
the config-as-code sections (`release_environments`, `release_settings`).

Rules that hold over the whole set of environments: their orders are unique (promotion goes through them in
order), and at least one active environment is production. A production environment always requires an
approved change.
"""

from __future__ import annotations

import jsonschema
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from opsdesk.core import config_as_code, records
from opsdesk.core.actors import Actor

from .models import Environment, ReleaseSettings

ENVIRONMENT_FIELDS = ("slug", "name", "order", "is_production", "requires_change", "active")
ENVIRONMENT_SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["slug", "name", "order"],
    "properties": {
        "slug": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$"},
        "name": {"type": "string", "minLength": 1, "maxLength": 100},
        "order": {"type": "integer", "minimum": 0, "maximum": 100000},
        "is_production": {"type": "boolean"},
        "requires_change": {"type": "boolean"},
        "active": {"type": "boolean"},
    },
}
SETTINGS_SCHEMA = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "watch_hours": {"type": "integer", "minimum": 1, "maximum": 720},
        "rise_factor": {"type": "number", "minimum": 1, "maximum": 100},
        "rise_min_count": {"type": "integer", "minimum": 1, "maximum": 100000},
        "auto_create_change": {"type": "boolean"},
        "change_template": {"type": "string", "maxLength": 64},
    },
}
SETTINGS_FIELDS = list(SETTINGS_SCHEMA["properties"])


def _schema_errors(schema: dict, data: dict) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for error in jsonschema.Draft202012Validator(schema).iter_errors(data):
        where = str(error.absolute_path[0]) if error.absolute_path else "__all__"
        if error.validator == "required":
            where = error.message.split("'")[1] if "'" in error.message else where
        elif error.validator == "additionalProperties":
            where = "__all__"
        errors.setdefault(where, []).append(error.message)
    return errors


# --- environments -----------------------------------------------------------------------------------------


def set_errors(states: dict[str, dict]) -> dict[str, list[str]]:
    """The rules over the whole set: `states` is {slug: {"order", "is_production", "active"}} after the write."""
    errors: dict[str, list[str]] = {}
    by_order: dict[int, list[str]] = {}
    for slug, state in states.items():
        by_order.setdefault(state["order"], []).append(slug)
    for order, slugs in sorted(by_order.items()):
        if len(slugs) > 1:
            for slug in sorted(slugs):
                errors.setdefault(slug, []).append(
                    _("The order %(order)s is taken by %(others)s; each environment needs its own place.")
                    % {"order": order, "others": ", ".join(s for s in sorted(slugs) if s != slug)})
    if not any(state["is_production"] and state["active"] for state in states.values()):
        errors.setdefault("__all__", []).append(_("At least one active environment must be production."))
    return errors


def current_states(exclude_pk=None) -> dict[str, dict]:
    rows = Environment.objects.exclude(pk=exclude_pk).values("slug", "order", "is_production", "active")
    return {row["slug"]: row for row in rows}


def clean_environment(data: dict, environment: Environment | None) -> dict:
    """The fields of a write, validated on their own (a ValidationError by field name)."""
    allowed = ENVIRONMENT_FIELDS if environment is None else tuple(f for f in ENVIRONMENT_FIELDS if f != "slug")
    data = {k: v for k, v in data.items() if k in allowed}
    if environment is not None and "slug" in data:
        data.pop("slug")
    merged = {**({f: getattr(environment, f) for f in ENVIRONMENT_FIELDS} if environment is not None else
                 {"is_production": False, "requires_change": False, "active": True}), **data}
    errors = _schema_errors(ENVIRONMENT_SCHEMA, merged)
    if errors:
        raise ValidationError(errors)
    if merged["is_production"]:
        data["requires_change"] = True  # production always needs an approved change
    return data


def save_environment(environment: Environment | None = None, *, actor: Actor, data: dict,
                     check_set: bool = True) -> Environment:
    """Create (no `environment`) or update an environment, audited. `check_set=False` leaves the rules over the
    whole set to the caller (config apply checks the file's final state once)."""
    data = clean_environment(data, environment)

    def check_whole_set(pk, fields) -> None:
        if not check_set:
            return
        states = current_states(exclude_pk=pk)
        base = ({"order": environment.order, "is_production": environment.is_production,
                 "active": environment.active} if environment is not None else {})
        slug = environment.slug if environment is not None else fields["slug"]
        states[slug] = {**base, **{k: fields[k] for k in ("order", "is_production", "active") if k in fields}}
        states[slug].setdefault("is_production", False)
        states[slug].setdefault("active", True)
        errors = set_errors(states)
        if errors:
            field_errors = {("order" if name == slug else name): messages for name, messages in errors.items()
                            if name in (slug, "__all__")}
            if "__all__" in field_errors:
                field_errors["is_production"] = field_errors.pop("__all__")
            raise ValidationError(field_errors or errors)

    if environment is None:
        return records.create_record(Environment, actor=actor, fields=data,
                                     check=lambda fields: check_whole_set(None, fields))
    return records.update_record(environment, actor=actor, fields=data,
                                 check=lambda locked, fields: check_whole_set(locked.pk, fields))


# --- release settings -------------------------------------------------------------------------------------


def release_settings() -> ReleaseSettings:
    config, _created = ReleaseSettings.objects.get_or_create(pk=1)
    return config


def settings_values() -> dict:
    config = release_settings()
    return {name: getattr(config, name) for name in SETTINGS_FIELDS}


def validate_settings(data: dict) -> dict:
    errors = _schema_errors(SETTINGS_SCHEMA, data)
    template = data.get("change_template")
    if template and "change_template" not in errors:
        from opsdesk.changes.models import ChangeTemplate

        if not ChangeTemplate.objects.filter(slug=template).exists():
            errors["change_template"] = [_("No change template has the key %(key)s.") % {"key": template}]
    if errors:
        raise ValidationError(errors)
    return dict(data)


def update_release_settings(*, actor: Actor, data: dict) -> dict:
    """Change the release settings (only the fields given), audited; returns {field: [before, after]}."""
    return config_as_code.save_settings(release_settings(), actor=actor, data=validate_settings(data))
