"""Celery tasks and timer handlers of the CMDB. The expiry reminder handler lives with the service
functions that schedule it (`services.send_expiry_reminder`); importing it here registers it."""

from . import auditing, import_runs, services  # noqa: F401  (the audit run tasks; run_import, sweep_imports)
