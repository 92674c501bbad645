from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AlertsConfig(AppConfig):
    name = "opsdesk.alerts"
    label = "alerts"
    verbose_name = _("Alerts")

    def ready(self):
        from . import wiring

        wiring.register()
