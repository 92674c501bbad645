"""The write path of the alerts app's rules: routes, silences and maintenance windows (CONVENTIONS §1).

Integrations have theirs in `integrations.py` (keys and secrets); alerts and groups are written only by
`processing.py`. Every write here goes through `core.records` (change log row and outbox event in the
same transaction); route writes tell the routing cache (`matching.routes_changed`).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from opsdesk.core import audit, events, records
from opsdesk.core.actors import Actor
from opsdesk.core.workflow import TransitionNotAllowed

from . import matching
from .models import SEVERITIES, MaintenanceWindow, Route, Silence

SEVERITY_VALUES = [value for value, _label in SEVERITIES]
PRIORITY_VALUES = ["P1", "P2", "P3", "P4", "P5"]

ROUTE_FIELDS = ["name", "order", "enabled", "integration", "matchers", "severities", "source_pattern", "service",
                "team", "escalation_policy", "priority"]
SILENCE_FIELDS = ["matchers", "starts_at", "ends_at", "comment", "integration"]
WINDOW_FIELDS = ["title", "description", "starts_at", "ends_at", "services", "cis"]


def _only(data: dict, allowed: list[str]) -> dict:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ValidationError({name: _("This field cannot be set here.") for name in unknown})
    return dict(data)


def _matchers(value, *, required: bool) -> list[dict]:
    if value in (None, "") and not required:
        return []
    if required and not value:
        raise ValidationError({"matchers": _("Give at least one label matcher.")})
    try:
        return matching.validate_matchers(value)
    except ValidationError as exc:
        raise ValidationError({"matchers": exc.messages}) from None


def _check_period(starts_at, ends_at) -> None:
    if starts_at is None:
        raise ValidationError({"starts_at": _("Give the start.")})
    if ends_at is None:
        raise ValidationError({"ends_at": _("Give the end.")})
    if ends_at <= starts_at:
        raise ValidationError({"ends_at": _("The end must be after the start.")})


# --- routes ---------------------------------------------------------------------------------------------

def _clean_route(fields: dict) -> dict:
    errors = {}
    if "matchers" in fields:
        try:
            fields["matchers"] = _matchers(fields["matchers"], required=False)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if "severities" in fields:
        severities = fields["severities"] or []
        if not isinstance(severities, list) or any(s not in SEVERITY_VALUES for s in severities):
            errors["severities"] = [_("Choose from %(values)s.") % {"values": ", ".join(SEVERITY_VALUES)}]
        else:
            fields["severities"] = sorted(set(severities), key=SEVERITY_VALUES.index)
    if fields.get("source_pattern"):
        try:
            matching.validate_regex(fields["source_pattern"])  # valid, and not one that takes very long
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if "priority" in fields:
        fields["priority"] = fields["priority"] or ""
        if fields["priority"] not in ("", *PRIORITY_VALUES):
            errors["priority"] = [_("Choose P1 to P5, or leave empty for the integration's severity mapping.")]
    if errors:
        raise ValidationError(errors)
    return fields


def _routes_changed() -> None:
    # Now (this process, and tests inside one transaction) and again after commit: a process that
    # reloaded the routes between the two bumps would otherwise keep the old list.
    matching.routes_changed()
    transaction.on_commit(matching.routes_changed)


def create_route(*, actor: Actor, data: dict) -> Route:
    fields = _clean_route(_only(data, ROUTE_FIELDS))
    route = records.create_record(Route, actor=actor, fields=fields)
    _routes_changed()
    return route


def update_route(route: Route, *, actor: Actor, data: dict) -> Route:
    fields = _clean_route(_only(data, ROUTE_FIELDS))
    route = records.update_record(route, actor=actor, fields=fields, protected=())
    _routes_changed()
    return route


def delete_route(route: Route, *, actor: Actor) -> None:
    """Routes are rules, not records an audit needs kept: the change log keeps what it was. Groups that
    were routed by it keep their incident (their `route` becomes empty)."""
    with transaction.atomic():
        route = Route.objects.select_for_update().get(pk=route.pk)
        audit.record(route, actor=actor, action="delete", changes=audit.diff(audit.snapshot(route), {}))
        events.emit("route.deleted", route, actor=actor, payload={"name": route.name})
        route.delete()
    _routes_changed()


# --- silences ---------------------------------------------------------------------------------------------

def silence_state(silence: Silence, now=None) -> str:
    """"pending" (starts later), "active" or "expired" (ended, or ended by hand)."""
    now = now or timezone.now()
    if silence.expired_early_at is not None or silence.ends_at <= now:
        return "expired"
    if silence.starts_at > now:
        return "pending"
    return "active"


def _clean_silence(fields: dict, silence: Silence | None = None) -> dict:
    if "matchers" in fields or silence is None:
        fields["matchers"] = _matchers(fields.get("matchers"), required=True)
        try:
            matching.validate_not_matching_everything(fields["matchers"])
        except ValidationError as exc:
            raise ValidationError({"matchers": exc.messages}) from None
    if "comment" in fields or silence is None:
        fields["comment"] = (fields.get("comment") or "").strip()
        if not fields["comment"]:
            raise ValidationError({"comment": _("Say why the alerts are silenced.")})
    if silence is None and not fields.get("starts_at"):
        fields["starts_at"] = timezone.now()
    starts_at = fields.get("starts_at", getattr(silence, "starts_at", None))
    ends_at = fields.get("ends_at", getattr(silence, "ends_at", None))
    _check_period(starts_at, ends_at)
    if silence is None and ends_at <= timezone.now():
        raise ValidationError({"ends_at": _("The end is in the past: the silence would never act.")})
    return fields


def create_silence(*, actor: Actor, data: dict) -> Silence:
    """A silence from now (or a future start) to its end; its creator is the actor's user."""
    fields = _clean_silence(_only(data, SILENCE_FIELDS))
    return records.create_record(Silence, actor=actor, fields=fields)


def update_silence(silence: Silence, *, actor: Actor, data: dict) -> Silence:
    fields = _clean_silence(_only(data, SILENCE_FIELDS), silence)

    def check(locked, _fields):
        if silence_state(locked) == "expired":
            raise TransitionNotAllowed(_("This silence has ended; create a new one."))

    return records.update_record(silence, actor=actor, fields=fields, protected=("expired_early_at",), check=check)


def expire_silence(silence: Silence, *, actor: Actor) -> Silence:
    """End a silence now (Alertmanager's "expire"); alerts from now on are no longer silenced."""
    with transaction.atomic():
        silence = Silence.objects.select_for_update().get(pk=silence.pk)
        now = timezone.now()
        if silence_state(silence, now) == "expired":
            raise TransitionNotAllowed(_("This silence has already ended."))
        before = audit.snapshot(silence)
        silence.expired_early_at = now
        silence.updated_by = actor.user
        silence.save(update_fields=["expired_early_at", "updated_by", "updated_at"])
        audit.record(silence, actor=actor, action="expire", changes=audit.diff(before, audit.snapshot(silence)))
        events.emit("silence.expired", silence, actor=actor)
    return silence


# --- maintenance windows ----------------------------------------------------------------------------------

def window_state(window: MaintenanceWindow, now=None) -> str:
    """"cancelled", "upcoming", "now" (in progress) or "past"."""
    now = now or timezone.now()
    if window.cancelled_at is not None:
        return "cancelled"
    if window.starts_at > now:
        return "upcoming"
    if window.ends_at > now:
        return "now"
    return "past"


def _clean_window(fields: dict, window: MaintenanceWindow | None = None) -> dict:
    if "title" in fields or window is None:
        fields["title"] = (fields.get("title") or "").strip()
        if not fields["title"]:
            raise ValidationError({"title": _("Give the maintenance a title.")})
    starts_at = fields.get("starts_at", getattr(window, "starts_at", None))
    ends_at = fields.get("ends_at", getattr(window, "ends_at", None))
    _check_period(starts_at, ends_at)
    services = fields["services"] if "services" in fields else (list(window.services.all()) if window else [])
    cis = fields["cis"] if "cis" in fields else (list(window.cis.all()) if window else [])
    if not services and not cis:
        raise ValidationError({"services": _("Name at least one service or configuration item.")})
    return fields


def create_maintenance_window(*, actor: Actor, data: dict) -> MaintenanceWindow:
    """Planned maintenance of services and CIs; future windows are allowed (that is the point)."""
    fields = _clean_window(_only(data, WINDOW_FIELDS))
    return records.create_record(MaintenanceWindow, actor=actor, fields=fields)


def update_maintenance_window(window: MaintenanceWindow, *, actor: Actor, data: dict) -> MaintenanceWindow:
    fields = _clean_window(_only(data, WINDOW_FIELDS), window)

    def check(locked, _fields):
        if window_state(locked) in ("cancelled", "past"):
            raise TransitionNotAllowed(_("This maintenance window is over; plan a new one."))

    return records.update_record(window, actor=actor, fields=fields, protected=("cancelled_at",), check=check)


def cancel_maintenance_window(window: MaintenanceWindow, *, actor: Actor) -> MaintenanceWindow:
    """Call off planned maintenance, or end a running one now: its services and CIs alert again."""
    with transaction.atomic():
        window = MaintenanceWindow.objects.select_for_update().get(pk=window.pk)
        if window_state(window) in ("cancelled", "past"):
            raise TransitionNotAllowed(_("This maintenance window is already over or cancelled."))
        before = audit.snapshot(window)
        window.cancelled_at = timezone.now()
        window.updated_by = actor.user
        window.save(update_fields=["cancelled_at", "updated_by", "updated_at"])
        audit.record(window, actor=actor, action="cancel", changes=audit.diff(before, audit.snapshot(window)))
        events.emit("maintenancewindow.cancelled", window, actor=actor)
    return window
