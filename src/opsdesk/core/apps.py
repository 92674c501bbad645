from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "opsdesk.core"
    label = "core"
    verbose_name = "Core"

    def ready(self):
        from django.utils.translation import gettext_lazy as _

        from . import jobs, registry, tasks  # noqa: F401  (job-run recorder on Celery's signals; task registry)

        registry.register_area(registry.Area("channels", _("Channels"), "channels:list", icon="broadcast",
                                             order=95, admin_only=True))
