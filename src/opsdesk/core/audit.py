"""The change log: who changed what, when, from where, with before and after values.

Written by the service layer in the same transaction as the change, so CLI and task writes are
logged like web writes. Rows are hash-chained: each row's hash covers its content and the previous
row's hash, so editing or deleting a row breaks the chain at that point (`opsdesk audit verify`).
"""

from __future__ import annotations

import datetime
import decimal
import hashlib
import json
import uuid
from dataclasses import dataclass

from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.utils import timezone

from .actors import Actor, current_request_id
from .models import AuditChainHead, AuditEntry

GENESIS = "0" * 64

# How a change-log action reads on the Timeline and History tabs ({action: label}); modules register
# theirs at start-up (`register_action_labels`). Actions without a label read with spaces for "_".
ACTION_LABELS: dict[str, str] = {}


def register_action_labels(labels: dict) -> None:
    """Register readable labels (lazy translations) for change-log actions, e.g. {"rca_add": _("…")}."""
    ACTION_LABELS.update(labels)


def to_json_value(value):
    """A JSON-native, stable form of a field value, for diffs and hashing."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, models.Model):
        return str(value)
    if isinstance(value, dict):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [to_json_value(v) for v in value]
    return str(value)


def snapshot(record, fields: list[str] | None = None) -> dict:
    """The audited values of a record: concrete fields (FKs by their str) and many-to-many names."""
    values = {}
    for field in record._meta.get_fields():
        if fields is not None and field.name not in fields:
            continue
        if field.name in {"created_at", "updated_at", "created_by", "updated_by", "id"}:
            continue
        if field.many_to_many and not field.auto_created:
            if record.pk is None:
                continue
            values[field.name] = sorted(str(item) for item in getattr(record, field.name).all())
        elif field.concrete and not field.auto_created and not field.many_to_many:
            values[field.name] = to_json_value(getattr(record, field.name))
    return values


def diff(before: dict, after: dict) -> dict:
    keys = set(before) | set(after)
    return {k: [before.get(k), after.get(k)] for k in sorted(keys) if before.get(k) != after.get(k)}


def _canonical(entry: AuditEntry, content_type_label: str) -> bytes:
    body = {
        "timestamp": entry.timestamp.isoformat(),
        "actor_kind": entry.actor_kind,
        "actor_user_id": entry.actor_user_id,
        "actor_label": entry.actor_label,
        "token_key_id": entry.token_key_id,
        "request_id": entry.request_id,
        "action": entry.action,
        "content_type": content_type_label,
        "object_id": entry.object_id,
        "object_repr": entry.object_repr,
        "changes": entry.changes,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()


def compute_hash(entry: AuditEntry, prev_hash: str, content_type_label: str) -> str:
    return hashlib.sha256(prev_hash.encode() + b"|" + _canonical(entry, content_type_label)).hexdigest()


def record(obj, *, actor: Actor, action: str, changes: dict | None = None) -> AuditEntry:
    """Append one change-log row for `obj`. Call inside the transaction that makes the change."""
    content_type = ContentType.objects.get_for_model(obj, for_concrete_model=True)
    with transaction.atomic():
        head, _ = AuditChainHead.objects.get_or_create(id=1)
        head = AuditChainHead.objects.select_for_update().get(id=1)
        entry = AuditEntry(
            timestamp=timezone.now(),
            actor_kind=actor.kind,
            actor_user_id=actor.user_id,
            actor_label=actor.label[:200],
            token_key_id=getattr(actor.token, "key_id", "") or "",
            request_id=current_request_id(),
            action=action,
            content_type=content_type,
            object_id=obj.pk,
            object_repr=str(obj)[:300],
            changes=to_json_value(changes or {}),
            prev_hash=head.last_hash,
        )
        entry.hash = compute_hash(entry, head.last_hash, f"{content_type.app_label}.{content_type.model}")
        entry.save()
        head.last_hash = entry.hash
        head.last_entry_id = entry.pk
        head.save(update_fields=["last_hash", "last_entry_id"])
    return entry


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    bad_entry_id: int | None = None
    reason: str = ""


def verify_chain(batch_size: int = 2000) -> VerifyResult:
    """Walk the chain in id order and report the first row whose hash or link does not hold."""
    labels = {ct.pk: f"{ct.app_label}.{ct.model}" for ct in ContentType.objects.all()}
    prev_hash = GENESIS
    checked = 0
    last_id = 0
    while True:
        rows = list(AuditEntry.objects.filter(id__gt=last_id).order_by("id")[:batch_size])
        if not rows:
            break
        for entry in rows:
            if entry.prev_hash != prev_hash:
                return VerifyResult(False, checked, entry.pk, "its link to the previous row is broken "
                                    "(a row before it was changed or deleted)")
            expected = compute_hash(entry, prev_hash, labels.get(entry.content_type_id, "?"))
            if expected != entry.hash:
                return VerifyResult(False, checked, entry.pk, "its content does not match its hash (it was edited)")
            prev_hash = entry.hash
            checked += 1
            last_id = entry.pk
    head = AuditChainHead.objects.filter(id=1).first()
    if head and head.last_hash != prev_hash:
        # The head remembers the newest row ever written: rows deleted from the end (or all rows) show here.
        return VerifyResult(False, checked, head.last_entry_id,
                            "rows at the end of the chain are missing (deleted), up to and including this one")
    return VerifyResult(True, checked)


def history_for(obj):
    content_type = ContentType.objects.get_for_model(obj, for_concrete_model=True)
    return AuditEntry.objects.filter(content_type=content_type, object_id=obj.pk).select_related("actor_user")


def record_many(items, *, actor: Actor) -> list[AuditEntry]:
    """Append change-log rows for many records at once: `items` is a list of (obj, action, changes).

    The chain is computed in memory under one lock of the chain head and the rows are written with one
    bulk insert, in list order, so ids ascend along the chain and `verify_chain` checks them like rows
    written one by one. Call inside the transaction that makes the changes."""
    items = list(items)
    if not items:
        return []
    labels: dict[type, tuple[ContentType, str]] = {}
    with transaction.atomic():
        AuditChainHead.objects.get_or_create(id=1)
        head = AuditChainHead.objects.select_for_update().get(id=1)
        prev_hash = head.last_hash
        now = timezone.now()
        request_id = current_request_id()
        entries = []
        for obj, action, changes in items:
            model = type(obj)
            if model not in labels:
                content_type = ContentType.objects.get_for_model(obj, for_concrete_model=True)
                labels[model] = (content_type, f"{content_type.app_label}.{content_type.model}")
            content_type, label = labels[model]
            entry = AuditEntry(
                timestamp=now,
                actor_kind=actor.kind,
                actor_user_id=actor.user_id,
                actor_label=actor.label[:200],
                token_key_id=getattr(actor.token, "key_id", "") or "",
                request_id=request_id,
                action=action,
                content_type=content_type,
                object_id=obj.pk,
                object_repr=str(obj)[:300],
                changes=to_json_value(changes or {}),
                prev_hash=prev_hash,
            )
            entry.hash = compute_hash(entry, prev_hash, label)
            prev_hash = entry.hash
            entries.append(entry)
        AuditEntry.objects.bulk_create(entries, batch_size=500)
        last = entries[-1]
        head.last_hash = last.hash
        head.last_entry_id = last.pk if last.pk is not None else AuditEntry.objects.get(hash=last.hash).pk
        head.save(update_fields=["last_hash", "last_entry_id"])
    return entries
