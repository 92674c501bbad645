from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ServicesConfig(AppConfig):
    name = "opsdesk.services"
    label = "services"
    verbose_name = _("Service catalog")

    def ready(self):
        from opsdesk.core import config_as_code, registry

        from . import config, demo
        from .models import Service

        registry.register_area(registry.Area("services", _("Services"), "services:list", icon="diagram-3", order=10))
        registry.register_record_type(registry.RecordType(Service, _("Services"), ("name", "slug", "description"),
                                                          order=10))
        config_as_code.register(config.ServiceSection())
        registry.register_demo(20, demo.load)
