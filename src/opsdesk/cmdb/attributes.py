"""Typed class attributes: every write of a CI's `attributes` goes through `clean_attributes`, which
checks each value against the class's definitions (and the custom attributes every class has), turns
human input ("4", "yes", "2026-03-01") into the stored JSON form and names the field it refuses."""

from __future__ import annotations

import datetime
import decimal
import ipaddress

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext as _

from .models import AttributeDefinition, CIClass, ConfigurationItem

TRUE = {"true", "yes", "y", "1", "on"}
FALSE = {"false", "no", "n", "0", "off"}


def definitions_for(ci_class: CIClass | None) -> dict[str, AttributeDefinition]:
    """The attributes a CI of `ci_class` may carry: the class's own and the custom ones, by key."""
    if ci_class is None:
        return {}
    cached = getattr(ci_class, "_opsdesk_definitions", None)
    if cached is None:
        rows = AttributeDefinition.objects.filter(Q(ci_class=ci_class) | Q(ci_class__isnull=True))
        cached = {d.key: d for d in sorted(rows, key=lambda d: (d.ci_class_id is None, d.order, d.key))}
        ci_class._opsdesk_definitions = cached
    return cached


def field_name(key: str) -> str:
    return f"attributes.{key}"


def convert(definition: AttributeDefinition, value):
    """The stored JSON value of `value` for `definition`, or ValidationError with a sentence."""
    kind = definition.type
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if kind == "string":
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ValidationError(_("Expected text."))
        text = str(value).strip()
        if len(text) > 1000:
            raise ValidationError(_("At most 1000 characters."))
        return text
    if kind == "integer":
        if isinstance(value, bool):
            raise ValidationError(_("Expected a whole number, not yes/no."))
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise ValidationError(_("Expected a whole number, got “%(value)s”.") % {"value": value})
    if kind == "decimal":
        if isinstance(value, bool):
            raise ValidationError(_("Expected a number, not yes/no."))
        try:
            number = decimal.Decimal(str(value).strip())
        except decimal.InvalidOperation:
            raise ValidationError(_("Expected a number, got “%(value)s”.") % {"value": value}) from None
        if not number.is_finite():
            raise ValidationError(_("Expected a finite number."))
        # A JSON number, so that filters compare numerically on every database.
        return int(number) if number == number.to_integral_value() else float(number)
    if kind == "date":
        if isinstance(value, datetime.date):
            return value.isoformat()
        try:
            return datetime.date.fromisoformat(str(value).strip()[:10]).isoformat()
        except ValueError:
            raise ValidationError(_("Expected a date (YYYY-MM-DD), got “%(value)s”.") % {"value": value}) from None
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in TRUE:
            return True
        if text in FALSE:
            return False
        raise ValidationError(_("Expected yes or no, got “%(value)s”.") % {"value": value})
    if kind == "choice":
        if str(value) not in definition.choices:
            raise ValidationError(_("“%(value)s” is not one of: %(choices)s.")
                                  % {"value": value, "choices": ", ".join(definition.choices)})
        return str(value)
    if kind == "ip":
        try:
            return str(ipaddress.ip_address(str(value).strip()))
        except ValueError:
            raise ValidationError(_("“%(value)s” is not an IP address.") % {"value": value}) from None
    if kind == "reference":
        return _reference(definition, value)
    raise ValidationError(_("Unknown attribute type %(type)s.") % {"type": kind})


def _reference(definition: AttributeDefinition, value) -> int:
    """A reference is stored as the CI's id; callers may give the id or the number (CI-42)."""
    if isinstance(value, bool):
        raise ValidationError(_("Expected a CI (its number or id)."))
    query = ConfigurationItem.objects.only("id", "ci_class_id", "status")
    target = None
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        target = query.filter(pk=int(value)).first()
    elif isinstance(value, str):
        target = query.filter(number=value.strip().upper()).first()
    if target is None:
        raise ValidationError(_("No CI “%(value)s”.") % {"value": value})
    if definition.reference_class_id and target.ci_class_id != definition.reference_class_id:
        raise ValidationError(_("%(ci)s is not a %(cls)s.") % {"ci": value, "cls": definition.reference_class})
    return target.pk


def clean_attributes(ci_class: CIClass | None, attributes) -> dict:
    """Validate and convert a whole attribute dict; errors name each field (`attributes.<key>`)."""
    if attributes is None:
        attributes = {}
    if not isinstance(attributes, dict):
        raise ValidationError({"attributes": _("An object of attribute values.")})
    definitions = definitions_for(ci_class)
    errors: dict[str, list[str]] = {}
    cleaned: dict = {}
    for key, value in attributes.items():
        definition = definitions.get(key)
        if definition is None:
            errors[field_name(key)] = [_("%(cls)s CIs have no attribute “%(key)s”.")
                                       % {"cls": ci_class or _("These"), "key": key}]
            continue
        try:
            converted = convert(definition, value)
        except ValidationError as exc:
            errors[field_name(key)] = exc.messages
            continue
        if converted is not None:
            cleaned[key] = converted
    for key, definition in definitions.items():
        if definition.required and key not in cleaned and field_name(key) not in errors:
            errors[field_name(key)] = [_("%(label)s is required for %(cls)s CIs.")
                                       % {"label": definition.label, "cls": ci_class}]
    if errors:
        raise ValidationError(errors)
    return {key: cleaned[key] for key in sorted(cleaned)}


def display(definition: AttributeDefinition | None, value) -> str:
    if value is None:
        return ""
    if definition is not None and definition.type == "boolean":
        return _("Yes") if value else _("No")
    return str(value)
