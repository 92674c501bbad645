"""Celery tasks of the changes app (approval reminders and deadlines)."""
