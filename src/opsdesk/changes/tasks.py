"""Celery tasks of the changes app (approval reminders and deadlines)."""


# --- approvals (part "approvals") ----------------------------------------------------------------------

from celery import shared_task  # noqa: E402


@shared_task(name="opsdesk.changes.tasks.remind_approvals")
def remind_approvals() -> int:
    """Remind approvers before the approval deadline and tell the owner team's managers past it, once each
    (every 15 minutes, skip locked)."""
    from . import approvals

    return approvals.remind_approvals()
