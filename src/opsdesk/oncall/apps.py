from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OncallConfig(AppConfig):
    name = "opsdesk.oncall"
    label = "oncall"
    verbose_name = _("On-call")

    def ready(self):
        from . import wiring

        wiring.register()
