"""The alerts sections of the configuration file: `alert_integrations` (settings only: keys, the HMAC
secret, the bearer token and the IMAP password never leave the database), `alert_routes` (by name,
naming the service, team and escalation policy by their keys), `alert_maintenance_windows` (by title and
start; services by slug, CIs by number) and `alert_silences` (by comment and start)."""

from __future__ import annotations

import datetime
from contextlib import contextmanager

from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from opsdesk.accounts.models import Team
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.actors import Actor
from opsdesk.core.config_as_code import Change, located, refuse_duplicates
from opsdesk.core.workflow import TransitionNotAllowed
from opsdesk.incidents.config import KeyedSection
from opsdesk.oncall.models import EscalationPolicy
from opsdesk.services.models import Service

from . import integrations, matching, services
from .models import INTEGRATION_KINDS, SEVERITIES, Integration, MaintenanceWindow, Route, Silence

SEVERITY_NAMES = [name for name, _label in SEVERITIES]
PRIORITY = {"enum": ["P1", "P2", "P3", "P4", "P5"]}
KEY = {"type": ["string", "null"]}
MATCHERS = {"type": "array", "items": {
    "type": "object", "additionalProperties": False, "required": ["label"],
    "properties": {"label": {"type": "string"}, "op": {"enum": ["=", "!=", "=~", "!~"]}, "value": {"type": "string"}}}}
MINUTES = {"type": "integer", "minimum": 0}


def _by_key(model, key, what: str, field: str = "slug"):
    if not key:
        return None
    found = model.objects.filter(**{field: key}).first()
    if found is None:
        raise ValidationError(f"no {what} with the key {key!r}")
    return found


class IntegrationSection(KeyedSection):
    key = "alert_integrations"
    order = 86  # after teams, services and escalation policies (85)
    model = Integration
    SETTINGS = ["description", "enabled", "grouping_template", "severity_map", "ci_labels", "auto_resolve",
                "reopen_window_minutes", "flapping_changes", "flapping_window_minutes", "payload_retention_days",
                "heartbeat_interval_minutes", "imap_host", "imap_port", "imap_ssl", "imap_username", "imap_folder"]
    item_schema = {
        "type": "object", "additionalProperties": False, "required": ["name", "kind"],
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 100},
            "kind": {"enum": [kind for kind, _label in INTEGRATION_KINDS]},
            "description": {"type": "string"}, "enabled": {"type": "boolean"},
            "grouping_template": {"type": "string", "maxLength": 500},
            "team": KEY, "service": KEY,
            "severity_map": {"type": "object", "additionalProperties": False,
                             "properties": {name: PRIORITY for name in SEVERITY_NAMES}},
            "ci_labels": {"type": "array", "items": {"type": "string", "minLength": 1}},
            "auto_resolve": {"type": "boolean"},
            "reopen_window_minutes": MINUTES, "flapping_changes": {"type": "integer", "minimum": 1},
            "flapping_window_minutes": {"type": "integer", "minimum": 1},
            "payload_retention_days": {"type": "integer", "minimum": 1},
            "heartbeat_interval_minutes": {"type": ["integer", "null"], "minimum": 1},
            "imap_host": {"type": "string"}, "imap_port": {"type": ["integer", "null"], "minimum": 1, "maximum": 65535},
            "imap_ssl": {"type": "boolean"}, "imap_username": {"type": "string"}, "imap_folder": {"type": "string"},
        },
    }

    def rows(self):
        return Integration.objects.select_related("team", "service").order_by("name")

    def to_item(self, row) -> dict:
        item = {"name": row.name, "kind": row.kind, **{name: getattr(row, name) for name in self.SETTINGS},
                "team": row.team.slug if row.team_id else None,
                "service": row.service.slug if row.service_id else None}
        if row.kind != "email":
            for name in ("imap_host", "imap_port", "imap_ssl", "imap_username", "imap_folder"):
                item.pop(name)
        return item

    def to_fields(self, item: dict) -> dict:
        fields = {name: item[name] for name in ("name", "kind", *self.SETTINGS) if name in item}
        if "team" in item:
            fields["team"] = _by_key(Team, item["team"], "team")
        if "service" in item:
            fields["service"] = _by_key(Service, item["service"], "service")
        return fields

    def create(self, key, fields, actor):
        if fields.get("kind") == "email":
            raise ValidationError({f"{self.key}/{key}": "an email integration needs its IMAP password, which "
                                   "configuration files do not carry: create it in the UI or the API, then the "
                                   "file keeps its settings"})
        with located(f"{self.key}/{key}"):
            integration, _key = integrations.create_integration(actor=actor, data=fields)
        return integration

    def update(self, row, fields, actor):
        if fields.get("kind", row.kind) != row.kind:
            raise ValidationError({f"{self.key}/{row.name}/kind": "the kind of an integration cannot change; "
                                   "give the new one another name"})
        fields.pop("kind", None)
        with located(f"{self.key}/{row.name}"):
            return integrations.update_integration(row, actor=actor, data=fields)

    def apply(self, items: list[dict], *, actor: Actor) -> list[Change]:
        changes = super().apply(items, actor=actor)
        for change in changes:
            if change.action == "create":
                # The key is made now and shown nowhere: a person rotates it in the UI to see the URL.
                change.fields["key"] = [None, "made; rotate it on the integration's page to see the URL"]
        return changes


class RouteSection(KeyedSection):
    key = "alert_routes"
    order = 87  # after the integrations they name
    model = Route
    item_schema = {
        "type": "object", "additionalProperties": False, "required": ["name"],
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 100},
            "order": {"type": "integer", "minimum": 0}, "enabled": {"type": "boolean"},
            "integration": KEY, "matchers": MATCHERS,
            "severities": {"type": "array", "items": {"enum": SEVERITY_NAMES}},
            "source_pattern": {"type": "string", "maxLength": 200},
            "service": KEY, "team": KEY, "escalation_policy": KEY,
            "priority": {"enum": ["", "P1", "P2", "P3", "P4", "P5"]},
        },
    }

    def rows(self):
        return Route.objects.select_related("integration", "service", "team", "escalation_policy").order_by(
            "order", "name")

    def to_item(self, row) -> dict:
        return {"name": row.name, "order": row.order, "enabled": row.enabled,
                "integration": row.integration.name if row.integration_id else None,
                "matchers": row.matchers, "severities": row.severities, "source_pattern": row.source_pattern,
                "service": row.service.slug if row.service_id else None,
                "team": row.team.slug if row.team_id else None,
                "escalation_policy": row.escalation_policy.slug if row.escalation_policy_id else None,
                "priority": row.priority}

    def to_fields(self, item: dict) -> dict:
        fields = {name: item[name] for name in ("name", "order", "enabled", "matchers", "severities",
                                                "source_pattern", "priority") if name in item}
        for name, model, what, field in (("integration", Integration, "integration", "name"),
                                         ("service", Service, "service", "slug"), ("team", Team, "team", "slug"),
                                         ("escalation_policy", EscalationPolicy, "escalation policy", "slug")):
            if name in item:
                fields[name] = _by_key(model, item[name], what, field)
        return fields

    def create(self, key, fields, actor):
        with located(f"{self.key}/{key}"):
            return services.create_route(actor=actor, data=fields)

    def update(self, row, fields, actor):
        with located(f"{self.key}/{row.name}"):
            return services.update_route(row, actor=actor, data=fields)


# YAML reads an unquoted ISO timestamp as a date-time, a quoted one as text: both are accepted, with their
# UTC offset. The export writes UTC.
INSTANT = {"description": "ISO 8601 date and time with its UTC offset, e.g. 2026-12-01T22:00:00Z"}
TEXT_MATCHER = {"type": "string", "description": "Alertmanager's form: label=value, label!=value, label=~regex"}


def _instant(value, name: str) -> datetime.datetime:
    """An aware date-time from the file (a YAML timestamp or ISO text), or a ValidationError naming `name`."""
    parsed = value
    if isinstance(value, str):
        try:
            parsed = parse_datetime(value.strip())
        except ValueError:
            parsed = None
    if not isinstance(parsed, datetime.datetime):
        raise ValidationError({name: f"{value!r} is not a date and time; write e.g. 2026-12-01T22:00:00Z"})
    if timezone.is_naive(parsed):
        raise ValidationError({name: f"{value!r} has no UTC offset; write e.g. 2026-12-01T22:00:00Z or "
                                     "2026-12-01T23:00:00+01:00"})
    return parsed


def _utc_text(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).isoformat()


def _key_text(value) -> str:
    """The start as it appears in an item's key: UTC when it can be read, as written otherwise."""
    try:
        return _utc_text(_instant(value, "starts"))
    except ValidationError:
        return str(value)


class PeriodSection(KeyedSection):
    """Items keyed by a text field and their start (`"<text> @ <start in UTC>"`): maintenance windows and
    silences have no name of their own. Only the rows that have not ended are exported; an item matching an
    ended row (an old file applied again) is compared with it like any other, and is refused if it would
    change it (the service's rule: an ended window or silence cannot be edited)."""

    text_field = ""
    FILE_NAMES = {"starts_at": "starts", "ends_at": "ends"}  # the services' field names as the file writes them

    @contextmanager
    def located(self, path: str):
        try:
            with located(path):
                yield
        except ValidationError as exc:
            raise ValidationError({"/".join(self.FILE_NAMES.get(part, part) for part in where.split("/")): messages
                                   for where, messages in exc.message_dict.items()}) from None

    def item_key(self, item: dict) -> str:
        return f"{str(item[self.text_field]).strip()} @ {_key_text(item['starts'])}"

    def row_key(self, row) -> str:
        return f"{getattr(row, self.text_field)} @ {_utc_text(row.starts_at)}"

    def ended(self, row) -> bool:
        raise NotImplementedError

    def candidates(self, items: list[dict]):
        """The rows that may match the file's items (all with one of their texts, ended ones included)."""
        return self.rows().filter(**{f"{self.text_field}__in": [str(i[self.text_field]).strip() for i in items]})

    def normal(self, item: dict) -> dict:
        """An item as `to_item` writes it, to compare: instants in UTC, lists in a fixed order."""
        raise NotImplementedError

    def apply(self, items: list[dict], *, actor: Actor) -> list[Change]:
        keys = [self.item_key(item) for item in items]
        refuse_duplicates(self.key, keys)
        existing = {}
        for row in self.candidates(items).order_by("id"):
            key = self.row_key(row)
            # Two rows with one key (made in the UI): the latest that has not ended is the one the file means.
            if key not in existing or self.ended(existing[key]) or not self.ended(row):
                existing[key] = row
        changes = []
        for key, item in zip(keys, items, strict=True):
            path = f"{self.key}/{key}"
            try:
                wanted = self.normal(item)
                fields = self.to_fields(item)
            except ValidationError as exc:
                if hasattr(exc, "error_dict"):
                    raise ValidationError({f"{path}/{name}": messages
                                           for name, messages in exc.message_dict.items()}) from None
                raise ValidationError({path: exc.messages}) from None
            row = existing.get(key)
            try:
                if row is None:
                    with self.located(path):
                        self.create(key, fields, actor)
                    changes.append(Change(self.key, key, "create", {
                        k: [None, v] for k, v in sorted(wanted.items()) if v not in ("", [], {}, None)}))
                    continue
                current = self.to_item(row)
                diff = {k: [current.get(k), wanted[k]] for k in wanted if current.get(k) != wanted[k]}
                if diff:
                    with self.located(path):
                        self.update(row, fields, actor)
            except TransitionNotAllowed as exc:
                raise ValidationError({path: str(exc)}) from None
            changes.append(Change(self.key, key, "update" if diff else "unchanged", diff))
        return changes


class MaintenanceWindowSection(PeriodSection):
    """Planned maintenance by title and start. The export holds the windows that have not ended and are
    not cancelled; cancelling stays a UI/API action (a window absent from the file is left alone)."""

    key = "alert_maintenance_windows"
    order = 88  # after the services (20) and CIs it names
    model = MaintenanceWindow
    text_field = "title"
    item_schema = {
        "type": "object", "additionalProperties": False, "required": ["title", "starts", "ends"],
        "properties": {
            "title": {"type": "string", "minLength": 1, "maxLength": 200},
            "description": {"type": "string"},
            "starts": INSTANT, "ends": INSTANT,
            "services": {"type": "array", "items": {"type": "string"}},
            "cis": {"type": "array", "items": {"type": "string"}},
        },
    }

    def rows(self):
        return MaintenanceWindow.objects.prefetch_related(
            Prefetch("services", queryset=Service.objects.only("id", "slug")),
            Prefetch("cis", queryset=ConfigurationItem.objects.only("id", "number")))

    def export(self) -> list[dict]:
        rows = self.rows().filter(cancelled_at__isnull=True, ends_at__gt=timezone.now()).order_by("starts_at", "title",
                                                                                                  "id")
        return [self.to_item(row) for row in rows]

    def ended(self, row) -> bool:
        return services.window_state(row) in ("cancelled", "past")

    def to_item(self, row) -> dict:
        return {"title": row.title, "description": row.description, "starts": _utc_text(row.starts_at),
                "ends": _utc_text(row.ends_at), "services": sorted(s.slug for s in row.services.all()),
                "cis": sorted(ci.number for ci in row.cis.all())}

    def normal(self, item: dict) -> dict:
        out = {k: item[k] for k in ("title", "description") if k in item}
        out["title"] = out["title"].strip()
        out["starts"] = _utc_text(_instant(item["starts"], "starts"))
        out["ends"] = _utc_text(_instant(item["ends"], "ends"))
        for name in ("services", "cis"):
            if name in item:
                out[name] = sorted(set(item[name]))
        return out

    def to_fields(self, item: dict) -> dict:
        fields = {"title": item["title"].strip(), "starts_at": _instant(item["starts"], "starts"),
                  "ends_at": _instant(item["ends"], "ends")}
        if "description" in item:
            fields["description"] = item["description"]
        for name, model, field, what in (("services", Service, "slug", "services"),
                                         ("cis", ConfigurationItem, "number", "configuration items")):
            if name in item:
                found = {getattr(row, field): row for row in model.objects.filter(**{f"{field}__in": item[name]})}
                unknown = sorted(set(item[name]) - set(found))
                if unknown:
                    raise ValidationError({name: f"unknown {what} {unknown}"})
                fields[name] = [found[k] for k in sorted(found)]
        return fields

    def create(self, key, fields, actor):
        return services.create_maintenance_window(actor=actor, data=fields)

    def update(self, row, fields, actor):
        return services.update_maintenance_window(row, actor=actor, data=fields)


class SilenceSection(PeriodSection):
    """Silences by comment and start. The export holds the active and future silences (not the ended or
    expired ones); expiring a silence early stays a UI/API action."""

    key = "alert_silences"
    order = 89  # after the integrations (86) it names
    model = Silence
    text_field = "comment"
    item_schema = {
        "type": "object", "additionalProperties": False, "required": ["comment", "starts", "ends", "matchers"],
        "properties": {
            "comment": {"type": "string", "minLength": 1},
            "starts": INSTANT, "ends": INSTANT,
            "matchers": {"type": "array", "minItems": 1, "items": {"anyOf": [MATCHERS["items"], TEXT_MATCHER]}},
            "integration": KEY,
        },
    }

    def rows(self):
        return Silence.objects.select_related("integration")

    def export(self) -> list[dict]:
        rows = self.rows().filter(expired_early_at__isnull=True, ends_at__gt=timezone.now()).order_by(
            "starts_at", "comment", "id")
        return [self.to_item(row) for row in rows]

    def ended(self, row) -> bool:
        return services.silence_state(row) == "expired"

    def to_item(self, row) -> dict:
        return {"comment": row.comment, "starts": _utc_text(row.starts_at), "ends": _utc_text(row.ends_at),
                "matchers": row.matchers, "integration": row.integration.name if row.integration_id else None}

    def normal(self, item: dict) -> dict:
        out = {"comment": item["comment"].strip(), "starts": _utc_text(_instant(item["starts"], "starts")),
               "ends": _utc_text(_instant(item["ends"], "ends"))}
        try:
            out["matchers"] = matching.validate_matchers(item["matchers"])
        except ValidationError as exc:
            raise ValidationError({"matchers": exc.messages}) from None
        if "integration" in item:
            out["integration"] = item["integration"]
        return out

    def to_fields(self, item: dict) -> dict:
        fields = {"comment": item["comment"], "starts_at": _instant(item["starts"], "starts"),
                  "ends_at": _instant(item["ends"], "ends"), "matchers": item["matchers"]}
        if "integration" in item:
            try:
                fields["integration"] = _by_key(Integration, item["integration"], "integration", "name")
            except ValidationError as exc:
                raise ValidationError({"integration": exc.messages}) from None
        return fields

    def create(self, key, fields, actor):
        return services.create_silence(actor=actor, data=fields)

    def update(self, row, fields, actor):
        return services.update_silence(row, actor=actor, data=fields)


SECTIONS = [IntegrationSection, RouteSection, MaintenanceWindowSection, SilenceSection]
