"""Celery tasks of the releases app (post-release watch)."""

from __future__ import annotations

from celery import shared_task

# --- post-release watch (helper H6) -------------------------------------------------------------------------

@shared_task(name="opsdesk.releases.tasks.evaluate_release_watches")
def evaluate_release_watches() -> int:
    """Evaluate the watched releases (every 15 minutes, skip locked): interim while the window is open,
    final once it has ended."""
    from . import watch

    return watch.sweep()


@shared_task(name="opsdesk.releases.tasks.check_release_watch")
def check_release_watch(incident_id: int) -> int:
    """A new incident, after its commit: does it make a rise on a watched release? (see watch.on_incident)"""
    from opsdesk.incidents.models import Incident

    from . import watch

    incident = Incident.objects.filter(pk=incident_id).first()
    return watch.check_incident(incident) if incident is not None else 0
