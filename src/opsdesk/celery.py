"""The Celery application: the worker and beat processes of Opsdesk."""

import os

from celery import Celery
from celery.schedules import crontab  # noqa: F401  (available to modules extending the schedule)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsdesk.settings")

app = Celery("opsdesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Periodic work. Every entry is a sweeper over rows with a due_at, so beat only says "look now":
# a missed tick loses nothing, and any worker can take any row.
app.conf.beat_schedule = {
    "sweep-timers": {"task": "opsdesk.core.tasks.sweep_timers", "schedule": 30.0},
    "sweep-outbox": {"task": "opsdesk.core.tasks.sweep_outbox", "schedule": 60.0},
    "prune-job-runs": {"task": "opsdesk.core.tasks.prune_job_runs", "schedule": 3600.0},
    "prune-outbox": {"task": "opsdesk.core.tasks.prune_outbox", "schedule": 3600.0},
    # Asks hourly; a configuration audit runs when the last scheduled one is a day old.
    "cmdb-audit": {"task": "opsdesk.cmdb.tasks.run_scheduled_audit", "schedule": 3600.0},
    # Import runs left queued (a lost broker message) are enqueued again; stale upload files are removed.
    "cmdb-sweep-imports": {"task": "opsdesk.cmdb.tasks.sweep_imports", "schedule": 120.0},
    # SLA warnings and breaches: timers whose next threshold instant has come (skip locked, any worker).
    "sla-sweep": {"task": "opsdesk.sla.tasks.sweep", "schedule": 30.0},
    # Alert intake: payloads a lost broker message left unprocessed, IMAP mailboxes, missed heartbeats,
    # and raw payloads past their integration's retention.
    "alerts-sweep-payloads": {"task": "opsdesk.alerts.tasks.sweep_payloads", "schedule": 30.0},
    "alerts-poll-mailboxes": {"task": "opsdesk.alerts.tasks.poll_mailboxes", "schedule": 60.0},
    "alerts-check-heartbeats": {"task": "opsdesk.alerts.tasks.check_heartbeats", "schedule": 60.0},
    "alerts-prune-payloads": {"task": "opsdesk.alerts.tasks.prune_payloads", "schedule": 3600.0},
    # Escalation policies: runs whose next step is due (skip locked, any worker); a started run also asks at once.
    "oncall-sweep-escalations": {"task": "opsdesk.oncall.tasks.sweep_escalations", "schedule": 20.0},
    # Knowledge: review reminders (once per article and review period, so hourly asking is harmless).
    "knowledge-remind-reviews": {"task": "opsdesk.knowledge.tasks.remind_reviews", "schedule": 3600.0},
    # Problems: trend detection proposes candidates hourly; recurrence checks whose watch ended are evaluated.
    "problems-detect-trends": {"task": "opsdesk.problems.tasks.detect_trends", "schedule": 3600.0},
    "problems-evaluate-recurrence": {"task": "opsdesk.problems.tasks.evaluate_recurrence", "schedule": 900.0},
    # Countermeasures past their due date: their owners are told once (skip locked, any worker).
    "problems-overdue-countermeasures": {"task": "opsdesk.problems.tasks.notify_overdue_countermeasures",
                                         "schedule": 3600.0},
    # Post-release watch: interim evaluations of watched releases (alerts) and any ended window whose timer was lost.
    "releases-evaluate-watches": {"task": "opsdesk.releases.tasks.evaluate_release_watches", "schedule": 900.0},
    # Change approvals: reminders before the deadline and the overdue notice to the owner team's managers, once each.
    "changes-remind-approvals": {"task": "opsdesk.changes.tasks.remind_approvals", "schedule": 900.0},
}
