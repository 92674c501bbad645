"""Celery tasks of the core: event dispatch and delivery, and the sweepers beat calls."""

import datetime

from celery import shared_task
from django.db.models import Q
from django.utils import timezone

from . import events, notifications, timers
from .models import Delivery, JobRun, OutboxEvent


@shared_task(name="opsdesk.core.tasks.dispatch_event")
def dispatch_event(event_id: int) -> int:
    return len(events.dispatch(event_id))


@shared_task(name="opsdesk.core.tasks.dispatch_events")
def dispatch_events(event_ids: list[int]) -> int:
    return sum(len(events.dispatch(event_id)) for event_id in event_ids)


@shared_task(name="opsdesk.core.tasks.deliver")
def deliver(delivery_id: int) -> str:
    return notifications.deliver(delivery_id)


@shared_task(name="opsdesk.core.tasks.sweep_timers")
def sweep_timers() -> int:
    return timers.sweep()


@shared_task(name="opsdesk.core.tasks.sweep_outbox")
def sweep_outbox(grace_seconds: int = 30) -> dict:
    """Catch up on anything the broker lost: undispatched events and deliveries whose lease or
    back-off has run out."""
    now = timezone.now()
    cutoff = now - datetime.timedelta(seconds=grace_seconds)
    event_ids = list(OutboxEvent.objects.filter(dispatched_at__isnull=True, created_at__lte=cutoff)
                     .values_list("pk", flat=True)[:500])
    for event_id in event_ids:
        events.dispatch(event_id)
    delivery_ids = list(
        Delivery.objects.filter(status="pending")
        .filter(Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True, created_at__lte=cutoff))
        .values_list("pk", flat=True)[:500]
    )
    for delivery_id in delivery_ids:
        events.enqueue("opsdesk.core.tasks.deliver", delivery_id)
    return {"events": len(event_ids), "deliveries": len(delivery_ids)}


@shared_task(name="opsdesk.core.tasks.prune_outbox")
def prune_outbox(keep_days: int = 90) -> int:
    """Drop delivered history older than `keep_days`: events with nothing left to send (their
    deliveries and in-app notifications go with them). The change log is never pruned."""
    cutoff = timezone.now() - datetime.timedelta(days=keep_days)
    old = OutboxEvent.objects.filter(dispatched_at__isnull=False, created_at__lt=cutoff).exclude(
        deliveries__status="pending")
    deleted, _ = OutboxEvent.objects.filter(pk__in=list(old.values_list("pk", flat=True)[:5000])).delete()
    return deleted


@shared_task(name="opsdesk.core.tasks.prune_job_runs")
def prune_job_runs(keep_days: int = 14) -> int:
    deleted, _ = JobRun.objects.filter(started_at__lt=timezone.now() - datetime.timedelta(days=keep_days)).delete()
    return deleted
