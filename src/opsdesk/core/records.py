"""The generic write path for record types: create, update and transition with validation, the
change log and an outbox event in one transaction. A module's services.py wraps these with its own
rules (CONVENTIONS §1), so every module writes the same way.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from . import audit, events, numbering
from .actors import Actor
from .models import Tag
from .workflow import Workflow


def event_name(record, verb: str) -> str:
    return f"{record._meta.model_name}.{verb}"


def set_tags(record, names) -> None:
    names = sorted({str(n).strip().lower() for n in names or [] if str(n).strip()})
    tags = []
    for name in names:
        tag, _ = Tag.objects.get_or_create(name=name)
        tags.append(tag)
    record.tags.set(tags)


def _assign(record, fields: dict, m2m: dict) -> None:
    for name, value in fields.items():
        field = record._meta.get_field(name)
        if field.many_to_many:
            m2m[name] = value
        else:
            setattr(record, name, value)


def _save_m2m(record, m2m: dict) -> None:
    for name, value in m2m.items():
        if name == "tags":
            set_tags(record, [getattr(v, "name", v) for v in value])
        else:
            getattr(record, name).set(value)


def create_record(model, *, actor: Actor, fields: dict, workflow: Workflow | None = None,
                  audited: list[str] | None = None, check=None):
    """`check(fields)` runs inside the transaction, before anything is written (and may lock rows)."""
    with transaction.atomic():
        if check is not None:
            check(fields)
        record = model()
        m2m: dict = {}
        _assign(record, fields, m2m)
        if workflow is not None:
            setattr(record, workflow.field, workflow.initial)
        record.created_by = actor.user
        record.updated_by = actor.user
        if hasattr(record, "NUMBER_PREFIX") and hasattr(record, "number"):
            numbering.assign_number(record)
        record.full_clean()
        record.save()
        _save_m2m(record, m2m)
        initial = {k: v for k, v in audit.snapshot(record, audited).items() if v not in (None, "", [], {})}
        audit.record(record, actor=actor, action="create", changes=audit.diff({}, initial))
        events.emit(event_name(record, "created"), record, actor=actor)
    return record


def update_record(record, *, actor: Actor, fields: dict, audited: list[str] | None = None,
                  protected: tuple[str, ...] = ("status", "number"), check=None, mask=None):
    """`check(locked_record, fields)` runs after the row is locked, so rules about the record's state
    (read-only when retired, ...) hold against concurrent writers. `mask(snapshot)` hides values the
    change log must not keep in clear."""
    refused = [name for name in fields if name in protected]
    if refused:
        raise ValidationError({name: "This field cannot be changed here; use a transition." for name in refused})
    with transaction.atomic():
        record = type(record).objects.select_for_update().get(pk=record.pk)
        if check is not None:
            check(record, fields)
        mask = mask or (lambda snapshot: snapshot)
        before = mask(audit.snapshot(record, audited))
        m2m: dict = {}
        _assign(record, fields, m2m)
        record.updated_by = actor.user
        record.full_clean()
        record.save()
        _save_m2m(record, m2m)
        changes = audit.diff(before, mask(audit.snapshot(record, audited)))
        if changes:
            audit.record(record, actor=actor, action="update", changes=changes)
            events.emit(event_name(record, "updated"), record, actor=actor, payload={"changed": sorted(changes)})
    return record


def transition_record(record, name: str, *, actor: Actor, workflow: Workflow, data: dict | None = None,
                      apply_fields=None):
    """Take a declared transition. `apply_fields(record, transition, data)` sets what the
    transition records (a reason, a date); everything it changes lands in the same change-log row."""
    data = data or {}
    with transaction.atomic():
        record = type(record).objects.select_for_update().get(pk=record.pk)
        before = audit.snapshot(record)
        transition = workflow.apply(record, name, data)
        if apply_fields is not None:
            apply_fields(record, transition, data)
        record.updated_by = actor.user
        record.full_clean()
        record.save()
        changes = audit.diff(before, audit.snapshot(record))
        if data.get("comment"):
            changes["comment"] = [None, str(data["comment"])[:2000]]
        audit.record(record, actor=actor, action=transition.name, changes=changes)
        events.emit(event_name(record, transition.name), record, actor=actor,
                    payload={"from": before.get(workflow.field), "to": transition.target})
    return record
