"""Celery tasks of the knowledge base: the daily review reminder (beat asks hourly; an article is
reminded once per review period, so asking more often changes nothing)."""

from celery import shared_task

from . import services


@shared_task(name="opsdesk.knowledge.tasks.remind_reviews")
def remind_reviews() -> int:
    """Notify the owners of published articles whose review date has come."""
    return services.remind_reviews()
