"""The transactional outbox.

`emit()` writes an OutboxEvent in the caller's transaction; after commit the worker is asked to
dispatch it. Dispatch fans the event out into Delivery rows (one per channel or subscriber, unique,
so a repeated dispatch adds nothing), and each delivery is sent at least once with back-off. A lost
broker message is picked up by the outbox sweeper, so nothing is lost; a failing channel never
blocks or rolls back the write that emitted the event.
"""

from __future__ import annotations

import fnmatch
import functools
import logging

from django.contrib.auth import get_user_model as USER_MODEL  # noqa: N812
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from .actors import Actor, current_request_id
from .audit import to_json_value
from .models import Delivery, Notification, NotificationChannel, OutboxEvent, Subscription

log = logging.getLogger(__name__)


def emit(event_type: str, obj=None, *, actor: Actor, payload: dict | None = None,
         recipients=None) -> OutboxEvent:
    """`recipients`: users (or their ids) the event is addressed to; they get it in the app and by
    email whatever their subscriptions, besides the channels and subscribers matching the type."""
    if recipients:
        payload = {**(payload or {}), "recipients": sorted({getattr(u, "pk", u) for u in recipients})}
    event = OutboxEvent.objects.create(
        event_type=event_type,
        content_type=ContentType.objects.get_for_model(obj) if obj is not None else None,
        object_id=getattr(obj, "pk", None),
        object_repr=str(obj)[:300] if obj is not None else "",
        payload=to_json_value(payload or {}),
        actor_label=actor.label[:200],
        request_id=current_request_id(),
    )
    batch = _open_batch()
    batch.ids.append(event.pk)
    transaction.on_commit(functools.partial(_committed, batch))
    return event


def emit_many(items, *, actor: Actor) -> list[OutboxEvent]:
    """The bulk twin of `emit` for many events of one transaction (an SLA sweep announcing hundreds of
    warnings): `items` are (event_type, obj, payload); one insert per 500 rows, and the ids join the
    transaction's batch handed to the worker after commit. An id the database does not return is
    picked up by the outbox sweeper."""
    request_id = current_request_id()
    rows = [OutboxEvent(event_type=event_type,
                        content_type=ContentType.objects.get_for_model(obj) if obj is not None else None,
                        object_id=getattr(obj, "pk", None), object_repr=str(obj)[:300] if obj is not None else "",
                        payload=to_json_value(payload or {}), actor_label=actor.label[:200], request_id=request_id)
            for event_type, obj, payload in items]
    if not rows:
        return []
    OutboxEvent.objects.bulk_create(rows, batch_size=DISPATCH_CHUNK)
    batch = _open_batch()
    batch.ids.extend(row.pk for row in rows if row.pk is not None)
    transaction.on_commit(functools.partial(_committed, batch))
    return rows


DISPATCH_CHUNK = 500


class _Batch:
    """The events of one transaction, handed to the worker in one message after commit rather than one
    per event (a demo load or an import emits hundreds, and each broker message costs a write)."""

    def __init__(self):
        self.ids: list[int] = []
        self.sent = False


def _open_batch() -> _Batch:
    connection = transaction.get_connection()
    batch = connection.__dict__.get("_opsdesk_event_batch")
    if batch is None or batch.sent:
        batch = connection.__dict__["_opsdesk_event_batch"] = _Batch()
    return batch


def _committed(batch: _Batch) -> None:
    """The first of a batch's commit callbacks to run sends every id of the batch; the others find it
    sent. Ids whose rows were rolled back (a savepoint, or a whole transaction whose batch the next one
    joined) are skipped by dispatch(); callbacks of rolled-back savepoints never run."""
    if batch.sent:
        return
    batch.sent = True
    for start in range(0, len(batch.ids), DISPATCH_CHUNK):
        chunk = batch.ids[start:start + DISPATCH_CHUNK]
        if len(chunk) == 1:
            enqueue("opsdesk.core.tasks.dispatch_event", chunk[0])
        else:
            enqueue("opsdesk.core.tasks.dispatch_events", chunk)


def enqueue(task_name: str, *args) -> None:
    """Hand work to the worker. A broker outage must not fail the request: the sweeper catches up."""
    from opsdesk.celery import app

    try:
        app.tasks[task_name].delay(*args)
    except Exception:  # noqa: BLE001  (any broker error: the sweeper retries later)
        log.warning("could not enqueue %s%r; the outbox sweeper will retry", task_name, args,
                    exc_info=log.isEnabledFor(logging.DEBUG))


# Event types whose deliveries are made by their sender, never fanned out to channels or subscribers.
DIRECT_EVENT_TYPES = {"channel.test"}


def register_direct(event_type: str) -> None:
    DIRECT_EVENT_TYPES.add(event_type)


def matches(patterns, event_type: str) -> bool:
    return any(fnmatch.fnmatchcase(event_type, p) for p in patterns)


def event_url(event: OutboxEvent) -> str:
    if event.content_type_id is None or event.object_id is None:
        return ""
    model = event.content_type.model_class()
    if model is None or not hasattr(model, "get_absolute_url"):
        return ""
    try:
        return model(pk=event.object_id).get_absolute_url()
    except Exception:  # noqa: BLE001
        return ""


def dispatch(event_id: int) -> list[int]:
    """Fan an event out into deliveries and in-app notifications. Safe to run more than once."""
    with transaction.atomic():
        event = OutboxEvent.objects.select_for_update().filter(pk=event_id).first()
        if event is None:
            return []
        # A channel test goes only to the channel under test (its delivery is created by send_test); a
        # page only to the contact methods its deliveries name (they carry a person's signed links).
        fan_out = event.event_type not in DIRECT_EVENT_TYPES
        for channel in NotificationChannel.objects.filter(enabled=True) if fan_out else []:
            if matches(channel.event_types or ["*"], event.event_type):
                Delivery.objects.get_or_create(event=event, destination=f"channel:{channel.pk}",
                                               defaults={"channel": channel})
        url = event_url(event)
        # People the event is addressed to by name (an escalation paging a team lead), whatever they subscribed to.
        recipients = [int(r) for r in (event.payload or {}).get("recipients") or [] if str(r).isdigit()]
        for user in USER_MODEL().objects.filter(pk__in=recipients, is_active=True) if fan_out else []:
            title = f"{event.event_type}: {event.object_repr}"[:300]
            Notification.objects.get_or_create(user=user, event=event, defaults={"title": title, "url": url})
            if user.email:
                Delivery.objects.get_or_create(event=event, destination=f"email:{user.pk}", defaults={"user": user})
        subscriptions = Subscription.objects.select_related("user").filter(user__is_active=True) if fan_out else []
        for sub in subscriptions:
            if not matches([sub.event_type], event.event_type):
                continue
            if sub.in_app:
                Notification.objects.get_or_create(
                    user=sub.user, event=event,
                    defaults={"title": f"{event.event_type}: {event.object_repr}"[:300], "url": url},
                )
            if sub.email and sub.user.email:
                Delivery.objects.get_or_create(event=event, destination=f"email:{sub.user_id}",
                                               defaults={"user": sub.user})
        if event.dispatched_at is None:
            event.dispatched_at = timezone.now()
            event.save(update_fields=["dispatched_at"])
        pending = list(event.deliveries.filter(status="pending").values_list("pk", flat=True))
    for delivery_id in pending:
        transaction.on_commit(lambda d=delivery_id: enqueue("opsdesk.core.tasks.deliver", d))
    return pending
