"""Celery tasks of on-call: the escalation sweeper beat calls."""

from celery import shared_task

from . import escalation


@shared_task(name="opsdesk.oncall.tasks.sweep_escalations")
def sweep_escalations() -> int:
    """Fire the escalation steps that are due (skip locked: any number of workers may sweep at once)."""
    return escalation.sweep()
