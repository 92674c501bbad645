from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReleasesConfig(AppConfig):
    name = "opsdesk.releases"
    label = "releases"
    verbose_name = _("Releases")

    def ready(self):
        from . import wiring

        wiring.register()
