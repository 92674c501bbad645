"""The conditions language of audit rules.

A rule's `scope` and `conditions` are lists of `{"field": ..., "op": ..., "value": ...}`, ANDed.
`normalise()` checks a list against the fields of a subject (CIs, discovered hosts or unauthorised
changes) and returns it with the values in their stored form, or raises a ValidationError whose
messages name the entry ("Entry 2: ..."). `compile_q()` turns a normalised list into a Django Q plus
the aliases it needs (class attributes are JSON keys, read the same way on SQLite and PostgreSQL).

Empty values: `isnull` is true for NULL, an empty text, an empty list and a missing attribute. The
comparisons (`lt`, `older_than_days`, `before_today` ...) are never true for an empty value ("null is
not older"); `ne` and `not_in` are (a CI without an owner team is "not owned by ops").
"""

from __future__ import annotations

import datetime
import decimal
import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db.models import DateField, DecimalField, Exists, OuterRef, Q, TextField
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .models import AttributeDefinition, ConfigurationItem
from .workflows import CI_WORKFLOW

MAX_ENTRIES = 20
MAX_DAYS = 36500
DAY_OPS = ("older_than_days", "within_days", "within_last_days")
DATE_OPS = ("eq", "ne", "lt", "lte", "gt", "gte", "isnull", *DAY_OPS, "before_today")
OPS_BY_TYPE = {
    "text": ("eq", "ne", "in", "not_in", "contains", "isnull"),
    "choice": ("eq", "ne", "in", "not_in"),
    "key": ("eq", "ne", "in", "not_in", "isnull"),  # a related record named by its key (slug)
    "many": ("eq", "ne", "in", "not_in", "isnull"),  # tags, services
    "list": ("contains", "isnull"),  # IP addresses, host names
    "number": ("eq", "ne", "in", "not_in", "lt", "lte", "gt", "gte", "isnull"),
    "boolean": ("eq", "ne"),
    "date": DATE_OPS,
    "datetime": tuple(op for op in DATE_OPS if op not in ("eq", "ne")),
    "reference": ("isnull",),
}
ATTRIBUTE_TYPES = {"string": "text", "ip": "text", "choice": "choice", "integer": "number", "decimal": "number",
                   "date": "date", "boolean": "boolean", "reference": "reference"}


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    path: str = ""  # ORM path; attributes and to-many fields are built by compile_q
    nullable: bool = False
    choices: tuple = ()
    model: str = ""  # "accounts.Team" ...: a key must name an existing record
    attribute: str = ""  # attr.<key>

    @property
    def ops(self) -> tuple:
        ops = OPS_BY_TYPE[self.type]
        if self.type == "key" and not self.nullable:
            return tuple(op for op in ops if op != "isnull")
        if self.type == "boolean" and self.nullable:
            return (*ops, "isnull")
        return ops


def _ci_fields() -> dict[str, Field]:
    text = ["name", "location", "vendor", "model_name", "serial_number", "asset_tag", "discovery_source",
            "description"]
    fields = {name: Field(name, "text", name) for name in text}
    fields.update({
        "status": Field("status", "choice", "status", choices=tuple(CI_WORKFLOW.states)),
        "environment": Field("environment", "choice", "environment",
                             choices=tuple(k for k, _label in ConfigurationItem.ENVIRONMENTS)),
        "ci_class": Field("ci_class", "key", "ci_class__slug", model="cmdb.CIClass"),
        "owner_team": Field("owner_team", "key", "owner_team__slug", nullable=True, model="accounts.Team"),
        "services": Field("services", "many", model="services.Service"),
        "tags": Field("tags", "many"),
        "ip_addresses": Field("ip_addresses", "list", "ip_addresses"),
        "hostnames": Field("hostnames", "list", "hostnames"),
        "missing_from_discovery": Field("missing_from_discovery", "boolean", "missing_from_discovery"),
        "purchase_cost": Field("purchase_cost", "number", "purchase_cost", nullable=True),
        "redundancy_min": Field("redundancy_min", "number", "redundancy_min", nullable=True),
    })
    for name in ("purchase_date", "warranty_end", "expires_on", "disposed_on"):
        fields[name] = Field(name, "date", name, nullable=True)
    for name in ("last_seen_at", "created_at", "updated_at"):
        fields[name] = Field(name, "datetime", name, nullable=name == "last_seen_at")
    return fields


SUBJECTS = {
    "ci": _ci_fields(),
    "host": {"source": Field("source", "text", "source"), "key": Field("key", "text", "key"),
             "first_seen_at": Field("first_seen_at", "datetime", "first_seen_at"),
             "last_seen_at": Field("last_seen_at", "datetime", "last_seen_at")},
    "change": {"detected_at": Field("detected_at", "datetime", "detected_at"),
               "actor": Field("actor", "text", "actor_label")},
}
SUBJECT_LABELS = {"ci": gettext_lazy("CI"), "host": gettext_lazy("discovered host"),
                  "change": gettext_lazy("unauthorised change")}


def field_for(subject: str, name) -> Field | None:
    if not isinstance(name, str):
        return None
    if subject == "ci" and name.startswith("attr."):
        key = name[5:]
        types = set(AttributeDefinition.objects.filter(key=key).values_list("type", flat=True))
        if not types:
            return None
        # A key used with different types in different classes is compared as text.
        kind = ATTRIBUTE_TYPES[types.pop()] if len(types) == 1 else "text"
        choices = ()
        if kind == "choice":
            choices = tuple(sorted({c for cs in AttributeDefinition.objects.filter(key=key)
                                    .values_list("choices", flat=True) for c in cs}))
        return Field(name, kind, nullable=True, choices=choices, attribute=key)
    return SUBJECTS[subject].get(name)


# --- validation --------------------------------------------------------------------------------------

class _Bad(Exception):
    pass


def _bool(value) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "1"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "no", "0"):
        return False
    raise _Bad(_("the value must be true or false, not “%(value)s”.") % {"value": value})


def _days(value) -> int:
    try:
        days = int(str(value).strip()) if not isinstance(value, bool) else None
    except ValueError:
        days = None
    if days is None or not 0 <= days <= MAX_DAYS:
        raise _Bad(_("the value must be a number of days from 0 to %(max)s, not “%(value)s”.")
                   % {"max": MAX_DAYS, "value": value})
    return days


def _scalar(field: Field, value):
    """One value of `field` in its stored form."""
    if field.type in ("text", "list"):
        if not isinstance(value, str | int | float) or isinstance(value, bool) or str(value).strip() == "":
            raise _Bad(_("the value must be a non-empty text, not “%(value)s”.") % {"value": value})
        return str(value).strip()
    if field.type == "choice":
        if str(value) not in field.choices:
            raise _Bad(_("“%(value)s” is not one of: %(choices)s.")
                       % {"value": value, "choices": ", ".join(field.choices)})
        return str(value)
    if field.type in ("key", "many"):
        if not isinstance(value, str) or not re.fullmatch(r"[-a-zA-Z0-9_]+", value.strip()):
            raise _Bad(_("“%(value)s” is not a key.") % {"value": value})
        return value.strip() if field.name != "tags" else value.strip().lower()
    if field.type == "number":
        try:
            number = decimal.Decimal(str(value).strip()) if not isinstance(value, bool) else None
        except decimal.InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            raise _Bad(_("the value must be a number, not “%(value)s”.") % {"value": value})
        return int(number) if number == number.to_integral_value() else float(number)
    if field.type == "boolean":
        return _bool(value)
    if field.type == "date":
        try:
            return datetime.date.fromisoformat(str(value).strip()).isoformat()
        except ValueError:
            raise _Bad(_("the value must be a date (YYYY-MM-DD), not “%(value)s”.") % {"value": value}) from None
    if field.type == "datetime":
        text = str(value).strip()
        parsed = parse_datetime(text) if "T" in text or " " in text else None
        if parsed is None:
            try:
                parsed = datetime.datetime.combine(datetime.date.fromisoformat(text), datetime.time())
            except ValueError:
                raise _Bad(_("the value must be a date and time (YYYY-MM-DDTHH:MM), not “%(value)s”.")
                           % {"value": value}) from None
        if timezone.is_naive(parsed):
            parsed = timezone.make_aware(parsed)
        return parsed.isoformat()
    raise _Bad(_("no value can be compared with this field."))


def _check_exists(field: Field, values: list) -> None:
    if not field.model:
        return
    from django.apps import apps

    model = apps.get_model(field.model)
    found = set(model.objects.filter(slug__in=values).values_list("slug", flat=True))
    missing = [v for v in values if v not in found]
    if missing:
        raise _Bad(_("there is no %(what)s with the key “%(key)s”.")
                   % {"what": model._meta.verbose_name, "key": missing[0]})


def _normalise_entry(subject: str, entry) -> dict:
    if not isinstance(entry, dict):
        raise _Bad(_("an entry is an object with field, op and value."))
    extra = sorted(set(entry) - {"field", "op", "value"})
    if extra:
        raise _Bad(_("unexpected key “%(key)s” (an entry has field, op and value).") % {"key": extra[0]})
    field = field_for(subject, entry.get("field"))
    if field is None:
        raise _Bad(_("unknown field “%(field)s” for a %(subject)s.")
                   % {"field": entry.get("field"), "subject": SUBJECT_LABELS[subject]})
    op = entry.get("op")
    if op not in field.ops:
        raise _Bad(_("the operator “%(op)s” does not apply to %(field)s (%(type)s); use one of: %(ops)s.")
                   % {"op": op, "field": field.name, "type": field.type, "ops": ", ".join(field.ops)})
    value = entry.get("value")
    if op == "before_today":
        if value not in (None, "", True):
            raise _Bad(_("before_today takes no value."))
        value = None
    elif op == "isnull":
        value = _bool(value)
    elif op in DAY_OPS:
        value = _days(value)
    elif op in ("in", "not_in"):
        if not isinstance(value, list) or not value:
            raise _Bad(_("the value of %(op)s must be a non-empty list.") % {"op": op})
        value = list(dict.fromkeys(_scalar(field, v) for v in value))
        _check_exists(field, value)
    else:
        value = _scalar(field, value)
        _check_exists(field, [value])
    return {"field": field.name, "op": op, "value": value}


def normalise(subject: str, entries, *, key: str) -> list[dict]:
    """The entries in their stored form; ValidationError({key: ["Entry 2: ..."]}) naming each bad entry."""
    if entries in (None, ""):
        return []
    if not isinstance(entries, list):
        raise ValidationError({key: [_("A list of conditions (objects with field, op and value).")]})
    if len(entries) > MAX_ENTRIES:
        raise ValidationError({key: [_("At most %(n)s conditions.") % {"n": MAX_ENTRIES}]})
    result, problems = [], []
    for index, entry in enumerate(entries, start=1):
        try:
            result.append(_normalise_entry(subject, entry))
        except _Bad as exc:
            problems.append(_("Entry %(n)s: %(problem)s") % {"n": index, "problem": exc})
    if problems:
        raise ValidationError({key: problems})
    return result


# --- compilation -------------------------------------------------------------------------------------

def _window(op: str, value, field: Field, now: datetime.datetime):
    """(low, high) bounds of a relative date operator; either may be None."""
    if field.type == "datetime":
        start, today = now, now
        step = datetime.timedelta(days=value or 0)
    else:
        today = timezone.localdate(now)
        start, step = today, datetime.timedelta(days=value or 0)
    if op == "before_today":
        if field.type == "datetime":
            midnight = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
            return None, midnight
        return None, today
    if op == "older_than_days":
        return None, start - step
    if op == "within_days":
        return start, start + step
    return start - step, start  # within_last_days


def _many_exists(field: Field, values=None) -> Exists:
    m2m = ConfigurationItem._meta.get_field(field.name)
    through = m2m.remote_field.through
    rows = through.objects.filter(**{f"{m2m.m2m_field_name()}_id": OuterRef("pk")})
    if values is not None:
        lookup = "name" if field.name == "tags" else "slug"
        rows = rows.filter(**{f"{m2m.m2m_reverse_field_name()}__{lookup}__in": values})
    return Exists(rows)


def _attribute_alias(field: Field):
    if field.type == "number":
        return Cast(KeyTextTransform(field.attribute, "attributes"), DecimalField(max_digits=30, decimal_places=10))
    if field.type == "date":
        return Cast(KeyTextTransform(field.attribute, "attributes"), DateField())
    if field.type == "boolean":
        return KeyTransform(field.attribute, "attributes")
    # Cast, so that the lookups are those of text (a key transform's would read the value as JSON).
    return Cast(KeyTextTransform(field.attribute, "attributes"), TextField())


def _empty(field: Field, path: str) -> Q:
    if field.type == "text" and not field.attribute:
        return Q(**{path: ""})
    if field.type == "list":
        return Q(**{path: []})
    if field.type == "key":
        return Q(**{f"{path.split('__')[0]}__isnull": True})
    return Q(**{f"{path}__isnull": True})


def _entry_q(field: Field, op: str, value, path: str, now) -> Q:
    if field.type == "many":
        has = {"eq": lambda: _many_exists(field, [value]), "in": lambda: _many_exists(field, value),
               "isnull": lambda: _many_exists(field)}
        if op in ("eq", "in"):
            return Q(has[op]())
        if op == "ne":
            return ~Q(_many_exists(field, [value]))
        if op == "not_in":
            return ~Q(_many_exists(field, value))
        return ~Q(_many_exists(field)) if value else Q(_many_exists(field))
    if field.type == "list":
        if op == "contains":  # one of the values, exactly; `identifiers` holds them space-delimited
            return Q(identifiers__contains=f" {value.lower()} ")
        return _empty(field, path) if value else ~_empty(field, path)
    if op == "isnull":
        return _empty(field, path) if value else ~_empty(field, path)
    if field.type == "number" and op in ("eq", "ne", "in", "not_in", "lt", "lte", "gt", "gte"):
        value = [decimal.Decimal(str(v)) for v in value] if isinstance(value, list) else decimal.Decimal(str(value))
    if field.type == "date" and isinstance(value, str):
        value = datetime.date.fromisoformat(value)
    if field.type == "datetime" and isinstance(value, str):
        value = parse_datetime(value)
    nullable = field.nullable or bool(field.attribute)
    if op == "eq":
        return Q(**{path: value})
    if op == "ne":
        return ~Q(**{path: value}) | _empty(field, path) if nullable else ~Q(**{path: value})
    if op == "in":
        return Q(**{f"{path}__in": value})
    if op == "not_in":
        return ~Q(**{f"{path}__in": value}) | _empty(field, path) if nullable else ~Q(**{f"{path}__in": value})
    if op == "contains":
        return Q(**{f"{path}__icontains": value})
    if op in ("lt", "lte", "gt", "gte"):
        return Q(**{f"{path}__{op}": value})
    low, high = _window(op, value, field, now)
    condition = Q()
    if low is not None:
        condition &= Q(**{f"{path}__gte": low})
    if high is not None:
        condition &= Q(**{f"{path}__{'lte' if op in ('within_days', 'within_last_days') else 'lt'}": high})
    return condition


def compile_q(subject: str, entries: list[dict], *, now: datetime.datetime | None = None) -> tuple[dict, Q]:
    """(aliases, Q) for normalised `entries`: `Model.objects.alias(**aliases).filter(q)`."""
    now = now or timezone.now()
    aliases, condition = {}, Q()
    for index, entry in enumerate(entries):
        field = field_for(subject, entry["field"])
        if field is None:  # an attribute definition removed since the rule was saved: nothing matches it
            raise ValueError(_("unknown field “%(field)s”") % {"field": entry["field"]})
        path = field.path
        if field.attribute:
            path = f"audit_attr_{index}"
            aliases[path] = _attribute_alias(field)
        condition &= _entry_q(field, entry["op"], entry.get("value"), path, now)
    return aliases, condition


def matching(queryset, subject: str, entries: list[dict], *, now=None):
    aliases, condition = compile_q(subject, entries, now=now)
    return queryset.alias(**aliases).filter(condition) if aliases else queryset.filter(condition)


# --- the line form used by the UI: one "field op value" per line -------------------------------------

def format_lines(entries: list[dict]) -> str:
    lines = []
    for entry in entries or []:
        value = entry.get("value")
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        lines.append(" ".join(str(p) for p in (entry.get("field"), entry.get("op"), value) if p not in (None, "")))
    return "\n".join(lines)


def parse_lines(text: str, *, key: str) -> list[dict]:
    """"status in in_production, maintenance" -> {"field": "status", "op": "in", "value": [...]}."""
    entries, problems = [], []
    for number, line in enumerate((text or "").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 2)
        if len(parts) < 2:
            problems.append(_("Line %(n)s: write “field operator value”, e.g. “status eq in_production”.")
                            % {"n": number})
            continue
        field, op = parts[0], parts[1]
        value = parts[2].strip() if len(parts) == 3 else None
        if op in ("in", "not_in") and value is not None:
            value = [v.strip() for v in value.split(",") if v.strip()]
        entries.append({"field": field, "op": op, "value": value})
    if problems:
        raise ValidationError({key: problems})
    return entries
