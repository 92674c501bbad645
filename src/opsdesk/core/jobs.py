"""Job runs visible in the UI: every Celery task run leaves a row with status, duration and error.

Celery's task signals are infrastructure, not domain logic, so connecting to them here is fine.
Recording never fails a task. (Celery's Django fix-up already closes stale connections per task.)
"""

import logging
import time

from celery import signals
from django.utils import timezone

log = logging.getLogger(__name__)
_started: dict[str, float] = {}


def _safe(func):
    def wrapper(*args, **kwargs):
        try:
            func(*args, **kwargs)
        except Exception:  # noqa: BLE001
            log.warning("could not record a job run", exc_info=True)

    return wrapper


@signals.task_prerun.connect
@_safe
def on_prerun(task_id=None, task=None, **_):
    from .models import JobRun

    _started[task_id] = time.monotonic()
    JobRun.objects.create(task_id=task_id, task_name=task.name, status="running", started_at=timezone.now())


@signals.task_postrun.connect
@_safe
def on_postrun(task_id=None, state=None, **_):
    from .models import JobRun

    began = _started.pop(task_id, None)
    status = {"SUCCESS": "succeeded", "RETRY": "retrying"}.get(state, "failed")
    JobRun.objects.filter(task_id=task_id, status="running").update(
        status=status,
        finished_at=timezone.now(),
        duration_ms=int((time.monotonic() - began) * 1000) if began else None,
    )


@signals.task_failure.connect
@_safe
def on_failure(task_id=None, exception=None, **_):
    from .models import JobRun

    JobRun.objects.filter(task_id=task_id).update(error=f"{type(exception).__name__}: {exception}"[:4000])
