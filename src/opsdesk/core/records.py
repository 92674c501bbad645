"""The generic write path for record types: create, update and transition with validation, the
change log and an outbox event in one transaction. A module's services.py wraps these with its own
rules (CONVENTIONS §1), so every module writes the same way.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from . import audit, events, numbering, search
from .actors import Actor
from .models import Tag
from .workflow import Workflow

# Listeners of another app on a record type's lifecycle, called inside the writing transaction: on-call
# stops an incident's escalation when it is acknowledged. `func(record, verb, *, actor)`; verb is
# "created" or the transition's name. A listener that raises rolls the write back.
_LISTENERS: dict[type, list] = {}


def listen(model, func) -> None:
    """Call `func(record, verb, actor=...)` after each create and transition of `model`."""
    if func not in _LISTENERS.setdefault(model, []):
        _LISTENERS[model].append(func)


def _notify(record, verb: str, actor: Actor) -> None:
    for func in _LISTENERS.get(type(record), ()):
        func(record, verb, actor=actor)


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


def _new_record(model, fields: dict, *, actor: Actor, workflow: Workflow | None):
    """An unsaved record with its fields, initial state and creator; many-to-many values come back apart."""
    record = model()
    m2m: dict = {}
    _assign(record, fields, m2m)
    if workflow is not None:
        setattr(record, workflow.field, workflow.initial)
    record.created_by = actor.user
    record.updated_by = actor.user
    return record, m2m


def create_record(model, *, actor: Actor, fields: dict, workflow: Workflow | None = None,
                  audited: list[str] | None = None, check=None):
    """`check(fields)` runs inside the transaction, before anything is written (and may lock rows)."""
    with transaction.atomic():
        if check is not None:
            check(fields)
        record, m2m = _new_record(model, fields, actor=actor, workflow=workflow)
        if hasattr(record, "NUMBER_PREFIX") and hasattr(record, "number"):
            numbering.assign_number(record)
        record.full_clean()
        record.save()
        _save_m2m(record, m2m)
        search.index(record)
        initial = {k: v for k, v in audit.snapshot(record, audited).items() if v not in (None, "", [], {})}
        audit.record(record, actor=actor, action="create", changes=audit.diff({}, initial))
        events.emit(event_name(record, "created"), record, actor=actor)
        _notify(record, "created", actor)
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
        search.index(record)
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
        search.index(record)
        changes = audit.diff(before, audit.snapshot(record))
        if data.get("comment"):
            changes["comment"] = [None, str(data["comment"])[:2000]]
        audit.record(record, actor=actor, action=transition.name, changes=changes)
        events.emit(event_name(record, transition.name), record, actor=actor,
                    payload={"from": before.get(workflow.field), "to": transition.target})
        _notify(record, transition.name, actor)
    return record


# --- bulk creates (imports) -------------------------------------------------------------------------------

class BulkCreated:
    """What `bulk_create_records` did: the records it stored and, by item index, the items it refused."""

    def __init__(self, records: list, errors: dict[int, ValidationError]):
        self.records, self.errors = records, errors


def _tag_objects(names: set[str]) -> dict[str, Tag]:
    found = {tag.name: tag for tag in Tag.objects.filter(name__in=names)}
    missing = names - set(found)
    if missing:
        Tag.objects.bulk_create([Tag(name=name) for name in sorted(missing)], ignore_conflicts=True)
        found.update({tag.name: tag for tag in Tag.objects.filter(name__in=missing)})
    return found


def _bulk_save_m2m(model, records: list, m2m_values: list[dict]) -> list[dict]:
    """Write the many-to-many rows of all records with one insert per relation; returns, per record,
    the audited form of its m2m values (sorted str of the related objects, as `audit.snapshot`)."""
    snapshots = [{} for _ in records]
    names = {name for values in m2m_values for name in values}
    for name in sorted(names):
        field = model._meta.get_field(name)
        if name == "tags":
            wanted = [sorted({str(getattr(v, "name", v)).strip().lower() for v in values.get(name) or []
                              if str(getattr(v, "name", v)).strip()}) for values in m2m_values]
            tags = _tag_objects({n for names_ in wanted for n in names_})
            related = [[tags[n] for n in names_] for names_ in wanted]
        else:
            related = [list(values.get(name) or []) for values in m2m_values]
        through = field.remote_field.through
        source, target = field.m2m_field_name(), field.m2m_reverse_field_name()
        rows = [through(**{f"{source}_id": record.pk, f"{target}_id": getattr(obj, "pk", obj)})
                for record, objs in zip(records, related, strict=True) for obj in {getattr(o, "pk", o): o
                                                                                   for o in objs}.values()]
        through.objects.bulk_create(rows, batch_size=500)
        for snapshot, objs in zip(snapshots, related, strict=True):
            snapshot[name] = sorted(str(obj) for obj in objs)
    return snapshots


def bulk_create_records(model, items: list[dict], *, actor: Actor, workflow: Workflow | None = None,
                        audited: list[str] | None = None, summary_obj=None, skip_invalid: bool = False) -> BulkCreated:
    """Create many records of one type in one transaction, the bulk twin of `create_record`: each
    record is validated (`full_clean`), numbered from one reserved block, inserted with one bulk insert,
    its many-to-many rows in bulk, and gets the same "create" change-log row as `create_record` would
    write (hash-chained by `audit.record_many`).

    Events: instead of one `<model>.created` event per record, ONE `<model>.bulk_created` event per call
    (payload: count and the numbers or ids), optionally about `summary_obj` (e.g. the import run). A
    thousand-row import must not become a thousand notifications, webhook calls and outbox rows; a
    subscriber who wants the records reads them from the payload.

    Invalid items raise ValidationError naming the item (`items[3].name`), or, with `skip_invalid`, are
    left out and returned in `errors` by index while the others are stored. The caller batches (a few
    hundred items per call keeps the transaction and its locks short)."""
    records, m2m_values, errors = [], [], {}
    numbered = hasattr(model, "NUMBER_PREFIX") and any(f.name == "number" for f in model._meta.fields)
    # Skipped field checks (model.clean() and the checks of the given fields still run): the number
    # comes from a reserved block below; a foreign key given as a loaded record is known to exist
    # (the database constraint still holds), so neither costs a query per record; a field the item
    # does not give holds its model default, which is valid by definition. Uniqueness is checked only
    # when the model has unique fields besides the id and the number.
    concrete = model._meta.concrete_fields
    defaulted = [f.name for f in concrete if f.has_default() or f.blank or f.null]
    foreign_keys = [f.name for f in concrete if f.many_to_one]
    check_unique = any(f.unique and not f.primary_key and f.name != "number" for f in concrete) or bool(
        model._meta.unique_together or model._meta.total_unique_constraints)
    excluded_for: dict[frozenset, list[str]] = {}
    for index, fields in enumerate(items):
        record, m2m = _new_record(model, fields, actor=actor, workflow=workflow)
        given = frozenset(fields)
        if given not in excluded_for:
            excluded_for[given] = (["number"] if numbered else []) + [n for n in defaulted if n not in given]
        exclude = excluded_for[given] + [n for n in foreign_keys
                                         if n in given and getattr(fields[n], "pk", None) is not None]
        try:
            record.full_clean(exclude=exclude, validate_unique=check_unique)
        except ValidationError as exc:
            errors[index] = exc
            continue
        records.append(record)
        m2m_values.append(m2m)
    if errors and not skip_invalid:
        raise ValidationError({f"items[{index}].{field}": messages for index, exc in errors.items()
                               for field, messages in (exc.message_dict if hasattr(exc, "error_dict")
                                                       else {"__all__": exc.messages}).items()})
    if not records:
        return BulkCreated([], errors)
    # The fields `audit.snapshot` reads (concrete, not the bookkeeping timestamps and users), found once.
    snapshot_fields = [f for f in model._meta.get_fields()
                       if f.concrete and not f.auto_created and not f.many_to_many
                       and f.name not in {"created_at", "updated_at", "created_by", "updated_by", "id"}
                       and (audited is None or f.name in audited)]
    with transaction.atomic():
        if numbered:
            numbering.assign_numbers(records)
        model.objects.bulk_create(records, batch_size=500)
        if any(record.pk is None for record in records):  # a database that cannot return ids from a bulk insert
            if not numbered:
                raise RuntimeError(f"bulk_create_records({model.__name__}) needs ids from the bulk insert")
            ids = dict(model.objects.filter(number__in=[r.number for r in records]).values_list("number", "pk"))
            for record in records:
                record.pk = ids[record.number]
        m2m_snapshots = _bulk_save_m2m(model, records, m2m_values)
        search.index_many(records)
        entries = []
        for record, m2m_snapshot in zip(records, m2m_snapshots, strict=True):
            values = {f.name: audit.to_json_value(getattr(record, f.name)) for f in snapshot_fields}
            if audited is None or m2m_snapshot:
                values.update({k: v for k, v in m2m_snapshot.items() if audited is None or k in audited})
            initial = {k: v for k, v in values.items() if v not in (None, "", [], {})}
            entries.append((record, "create", audit.diff({}, initial)))
        audit.record_many(entries, actor=actor)
        keys = [r.number for r in records] if numbered else [r.pk for r in records]
        events.emit(f"{model._meta.model_name}.bulk_created", summary_obj, actor=actor,
                    payload={"model": model._meta.label_lower, "count": len(records),
                             "numbers" if numbered else "ids": keys})
    return BulkCreated(records, errors)
