from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IncidentsConfig(AppConfig):
    name = "opsdesk.incidents"
    label = "incidents"
    verbose_name = _("Incidents")

    def ready(self):
        from . import wiring

        wiring.register()
