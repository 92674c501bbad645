"""Celery tasks of the releases app (post-release watch)."""
