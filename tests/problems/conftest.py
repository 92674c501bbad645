"""Fixtures of the problems tests."""

import pytest


@pytest.fixture
def queued_tasks():
    """Tasks handed to the worker stay queued (the test settings run them at once, in-process: eager);
    the broker is the test settings' in-memory one."""
    from opsdesk.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = False
    yield
    app.conf.task_always_eager = before
