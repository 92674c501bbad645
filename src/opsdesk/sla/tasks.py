"""Celery tasks of the SLA engine; beat asks for a sweep every 30 seconds ("sla-sweep")."""

from celery import shared_task

from . import services


@shared_task(name="opsdesk.sla.tasks.sweep")
def sweep(limit: int = 100_000) -> int:
    """Announce due warnings and breaches. Any number of workers may run it at once (skip locked)."""
    return services.sweep(limit=limit)
