from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "opsdesk.core"
    label = "core"
    verbose_name = "Core"

    def ready(self):
        from . import jobs, tasks  # noqa: F401  (job-run recorder on Celery's signals; task registry)
