from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChangesConfig(AppConfig):
    name = "opsdesk.changes"
    label = "changes"
    verbose_name = _("Changes")

    def ready(self):
        from . import wiring

        wiring.register()
