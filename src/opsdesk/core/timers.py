"""Timers in the database (CONVENTIONS §5).

A module registers a handler for a timer kind and schedules rows with a due_at. The sweeper locks
due rows with skip_locked, runs each handler inside the same transaction and marks the row done, so
two workers never run one timer and a worker restart loses none. Tests move a frozen clock and call
`sweep()` rather than sleeping.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from .models import Timer

log = logging.getLogger(__name__)
HANDLERS: dict[str, Callable[[Timer], None]] = {}
MAX_ATTEMPTS = 5


def handler(kind: str):
    def register(func):
        HANDLERS[kind] = func
        return func

    return register


def schedule(kind: str, due_at: datetime.datetime, obj=None, payload: dict | None = None) -> Timer:
    return Timer.objects.create(
        kind=kind,
        due_at=due_at,
        content_type=ContentType.objects.get_for_model(obj) if obj is not None else None,
        object_id=getattr(obj, "pk", None),
        payload=payload or {},
    )


def cancel(kind: str, obj) -> int:
    return Timer.objects.filter(
        kind=kind, status="pending", content_type=ContentType.objects.get_for_model(obj), object_id=obj.pk
    ).update(status="cancelled", done_at=timezone.now())


def sweep(limit: int = 200, now: datetime.datetime | None = None) -> int:
    """Run the due timers, one transaction each: the handler's writes and the row's `done` commit
    together, so a timer's effect happens once even if a worker dies, and the database lock is held
    for one handler at a time. Returns how many ran."""
    now = now or timezone.now()
    ran = 0
    for _ in range(limit):
        with transaction.atomic():
            timer = (Timer.objects.select_for_update(skip_locked=True)
                     .filter(status="pending", due_at__lte=now).order_by("due_at", "id").first())
            if timer is None:
                break
            func = HANDLERS.get(timer.kind)
            timer.attempts += 1
            try:
                if func is None:
                    raise LookupError(f"no handler registered for timer kind {timer.kind!r}")
                with transaction.atomic():
                    func(timer)
            except Exception as exc:  # noqa: BLE001  (a failing handler must not stop the others)
                log.exception("timer %s (%s) failed", timer.pk, timer.kind)
                timer.last_error = str(exc)[:2000]
                if timer.attempts >= MAX_ATTEMPTS:
                    timer.status = "failed"
                    timer.done_at = now
                else:
                    timer.due_at = now + datetime.timedelta(minutes=2 ** timer.attempts)
            else:
                timer.status = "done"
                timer.done_at = now
                ran += 1
            timer.save(update_fields=["attempts", "last_error", "status", "done_at", "due_at"])
    return ran
