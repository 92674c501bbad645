"""The one write path for freeze (blackout) windows: create, edit and cancel, each audited.

A cancelled freeze window stays in the list (`active` false) and no longer raises collisions."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from opsdesk.core import records
from opsdesk.core.actors import Actor
from opsdesk.core.workflow import TransitionNotAllowed

from .models import FreezeWindow

FIELDS = ("name", "reason", "starts_at", "ends_at", "services")


def check_window(fields: dict, record: FreezeWindow | None = None) -> None:
    start = fields.get("starts_at", getattr(record, "starts_at", None))
    end = fields.get("ends_at", getattr(record, "ends_at", None))
    if start and end and end <= start:
        raise ValidationError({"ends_at": _("The freeze must end after it starts.")})


def create_freeze_window(*, actor: Actor, data: dict) -> FreezeWindow:
    fields = {k: v for k, v in data.items() if k in FIELDS}
    check_window(fields)
    return records.create_record(FreezeWindow, actor=actor, fields=fields)


def update_freeze_window(window: FreezeWindow, *, actor: Actor, data: dict) -> FreezeWindow:
    fields = {k: v for k, v in data.items() if k in FIELDS}

    def check(locked, fields_):
        if not locked.active:
            raise TransitionNotAllowed(_("The freeze window “%(name)s” is cancelled and cannot be edited.")
                                       % {"name": locked.name})
        check_window(fields_, locked)

    return records.update_record(window, actor=actor, fields=fields, check=check)


def cancel_freeze_window(window: FreezeWindow, *, actor: Actor) -> FreezeWindow:
    def check(locked, fields_):
        if not locked.active:
            raise TransitionNotAllowed(_("The freeze window “%(name)s” is already cancelled.") % {"name": locked.name})

    return records.update_record(window, actor=actor, fields={"active": False}, check=check)
