"""Celery tasks of problem management. Beat asks for them (see opsdesk/celery.py); each is safe to run on
several workers at once."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="opsdesk.problems.tasks.detect_trends")
def detect_trends() -> int:
    """Propose problem candidates where incidents recur (hourly); returns the candidates written."""
    from . import trends

    return len(trends.detect())


@shared_task(name="opsdesk.problems.tasks.evaluate_recurrence")
def evaluate_recurrence() -> int:
    """Evaluate the recurrence checks whose watch has ended (every 15 minutes, skip locked)."""
    from . import recurrence

    return recurrence.evaluate_due_checks()


@shared_task(name="opsdesk.problems.tasks.check_recurrence")
def check_recurrence(incident_id: int) -> int:
    """A new incident, after its commit: is it the recurrence of a watched problem? (see recurrence.on_incident)"""
    from opsdesk.incidents.models import Incident

    from . import recurrence

    incident = Incident.objects.filter(pk=incident_id).first()
    return recurrence.check_incident(incident) if incident is not None else 0


# --- countermeasures (helper "problems") -----------------------------------------------------------------

@shared_task(name="opsdesk.problems.tasks.notify_overdue_countermeasures")
def notify_overdue_countermeasures() -> int:
    """Tell the owners of open countermeasures past their due date, once each (hourly, skip locked)."""
    from . import services

    return services.notify_overdue_countermeasures()
