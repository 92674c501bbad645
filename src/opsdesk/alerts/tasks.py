"""Celery tasks of the alert intake. Beat asks for the sweeps (see opsdesk/celery.py); each is safe to run
on several workers at once."""

from __future__ import annotations

import datetime
import logging

from celery import shared_task
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from . import heartbeats
from .models import Integration, RawPayload

log = logging.getLogger(__name__)
SWEEP_AFTER_SECONDS = 30
SWEEP_BATCH = 500
PRUNE_BATCH = 2000


def _process(payload_id: int):
    from opsdesk.alerts import processing

    return processing.process_payload(payload_id)


@shared_task(name="opsdesk.alerts.tasks.process_payload")
def process_payload(payload_id: int):
    """Turn a stored payload's events into alerts, groups and incidents (opsdesk.alerts.processing)."""
    return _process(payload_id)


@shared_task(name="opsdesk.alerts.tasks.sweep_payloads")
def sweep_payloads(limit: int = SWEEP_BATCH) -> int:
    """Payloads left unprocessed for more than 30 s (a lost broker message, a killed worker) are processed
    here, oldest first. Processing locks its payload and skips a processed one, so a payload the worker
    takes at the same moment is not done twice. Returns how many were processed."""
    cutoff = timezone.now() - datetime.timedelta(seconds=SWEEP_AFTER_SECONDS)
    ids = list(RawPayload.objects.filter(processed_at__isnull=True, received_at__lt=cutoff)
               .order_by("received_at", "id").values_list("pk", flat=True)[:limit])
    done = 0
    for payload_id in ids:
        try:
            _process(payload_id)
            done += 1
        except Exception:  # one payload that fails must not stop the others; it stays unprocessed
            log.exception("processing payload %s failed in the sweep", payload_id)
    return done


@shared_task(name="opsdesk.alerts.tasks.poll_mailboxes")
def poll_mailboxes() -> int:
    """Poll every enabled email integration; one failing mailbox does not stop the others."""
    from .email_intake import MailboxError, poll_mailbox

    stored = 0
    for integration in Integration.objects.filter(kind="email", enabled=True):
        try:
            stored += poll_mailbox(integration)
        except MailboxError as exc:
            log.warning("%s", exc)
    return stored


@shared_task(name="opsdesk.alerts.tasks.check_heartbeats")
def check_heartbeats() -> int:
    return heartbeats.check_heartbeats()


def prune(now: datetime.datetime | None = None) -> int:
    """Delete payloads older than their integration's retention, never one still unprocessed; in
    batches, so no transaction holds many rows."""
    now = now or timezone.now()
    deleted = 0
    for integration_id, days in Integration.objects.values_list("pk", "payload_retention_days"):
        cutoff = now - datetime.timedelta(days=max(days, 1))
        old = Q(integration_id=integration_id, received_at__lt=cutoff, processed_at__isnull=False)
        while True:
            ids = list(RawPayload.objects.filter(old).values_list("pk", flat=True)[:PRUNE_BATCH])
            if not ids:
                break
            with transaction.atomic():
                count, _ = RawPayload.objects.filter(old, pk__in=ids).delete()
            deleted += count
            if len(ids) < PRUNE_BATCH:
                break
    return deleted


@shared_task(name="opsdesk.alerts.tasks.prune_payloads")
def prune_payloads() -> int:
    return prune()
