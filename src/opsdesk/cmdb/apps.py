from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CmdbConfig(AppConfig):
    name = "opsdesk.cmdb"
    label = "cmdb"
    verbose_name = _("Configuration management")

    def ready(self):
        from opsdesk.core import config_as_code, registry

        from . import audit_config, tasks  # noqa: F401  (tasks: timer handlers)
        from .models import ConfigurationItem

        config_as_code.register(audit_config.AuditRuleSection())
        from . import config, demo

        for section in (config.ClassSection(), config.RelationshipTypeSection(), config.CustomAttributeSection()):
            config_as_code.register(section)
        registry.register_demo(30, demo.load)

        registry.register_area(registry.Area("cmdb", _("CMDB"), "cmdb:list", icon="hdd-network", order=20, children=(
            (_("Configuration items"), "cmdb:list"),
            (_("Service map"), "cmdb:map"),
            (_("Imports"), "cmdb:import_list"),
            (_("Configuration audits"), "cmdb:audit_dashboard"),
            (_("Classes"), "cmdb:class_list"),
            (_("Attributes"), "cmdb:attribute_list"),
            (_("Relationship types"), "cmdb:reltype_list"),
        )))
        from django.urls import reverse

        from opsdesk.services.models import Service

        registry.register_record_link(ConfigurationItem, registry.RecordLink(
            _("Service map"), lambda ci: reverse("cmdb:ci_map", args=[ci.pk]), icon="diagram-3"))
        registry.register_record_link(Service, registry.RecordLink(
            _("Service map"), lambda svc: f"{reverse('cmdb:map')}?service={svc.slug}", icon="diagram-3"))
        registry.register_record_link(Service, registry.RecordLink(
            _("Configuration items"), lambda svc: f"{reverse('cmdb:list')}?service={svc.slug}", icon="hdd-network"))
        registry.register_record_type(registry.RecordType(
            ConfigurationItem, _("Configuration items"), ("name", "serial_number", "asset_tag", "identifiers"),
            order=20))
