"""The problem settings as code (section `problem_settings`): trend thresholds, RCA categories, the
recurrence watch and the verdict threshold. The settings page validates with the same schema and
writes through `update_settings`."""

from __future__ import annotations

import jsonschema
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from opsdesk.core import config_as_code
from opsdesk.core.actors import Actor

from .configuration import problem_settings

COUNT = {"type": "integer", "minimum": 1, "maximum": 100000}
DAYS = {"type": "integer", "minimum": 1, "maximum": 3650}
SHARE = {"type": "number", "minimum": 0, "maximum": 1}
RCA_CATEGORIES = {"type": "array", "minItems": 1, "maxItems": 20, "items": {
    "type": "object", "additionalProperties": False, "required": ["key", "label"],
    "properties": {"key": {"type": "string", "pattern": "^[a-z0-9_]{1,40}$"},
                   "label": {"type": "string", "minLength": 1, "maxLength": 100}}}}
SETTINGS_SCHEMA = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "trend_ci_count": COUNT, "trend_ci_days": DAYS,
        "trend_service_count": COUNT, "trend_service_days": DAYS,
        "trend_category_count": COUNT, "trend_category_days": DAYS,
        "trend_text_count": {"type": "integer", "minimum": 2, "maximum": 100000}, "trend_text_days": DAYS,
        "trend_text_similarity": {"type": "number", "minimum": 0.1, "maximum": 1},
        "dismiss_days": {"type": "integer", "minimum": 0, "maximum": 3650},
        "rca_categories": RCA_CATEGORIES,
        "watch_days": DAYS,
        "partial_reduction": SHARE,
    },
}
SETTINGS_FIELDS = list(SETTINGS_SCHEMA["properties"])


def settings_values() -> dict:
    config = problem_settings()
    values = {name: getattr(config, name) for name in SETTINGS_FIELDS}
    if not values["rca_categories"]:
        from .configuration import rca_categories

        values["rca_categories"] = rca_categories()
    return values


def validate_settings(data: dict) -> dict:
    """The checks of the config-as-code schema, plus unique category keys; a ValidationError by field."""
    errors: dict[str, list[str]] = {}
    for error in jsonschema.Draft202012Validator(SETTINGS_SCHEMA).iter_errors(data):
        where = error.absolute_path[0] if error.absolute_path else "__all__"
        errors.setdefault(str(where), []).append(error.message)
    categories = data.get("rca_categories")
    if isinstance(categories, list) and "rca_categories" not in errors:
        keys = [c.get("key") for c in categories]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            errors["rca_categories"] = [_("Category keys appear more than once: %(keys)s.")
                                        % {"keys": ", ".join(duplicates)}]
    if errors:
        raise ValidationError(errors)
    return dict(data)


def update_settings(*, actor: Actor, data: dict) -> dict:
    """Change the problem settings (only the fields given); returns {field: [before, after]}."""
    return config_as_code.save_settings(problem_settings(), actor=actor, data=validate_settings(data))


class SettingsSection(config_as_code.SettingsSection):
    key = "problem_settings"
    order = 90
    item_schema = SETTINGS_SCHEMA
    label = "problems"

    def values(self) -> dict:
        return settings_values()

    def update(self, *, actor: Actor, data: dict) -> dict:
        return update_settings(actor=actor, data=data)


SECTIONS = [SettingsSection]
