"""What the alerts app registers at start-up: navigation, search, config sections, demo data and the
"Alerts" buttons on incidents, CIs and services."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _


def register() -> None:
    from django.urls import reverse

    from opsdesk.cmdb.models import ConfigurationItem
    from opsdesk.core import config_as_code, registry
    from opsdesk.incidents.models import Incident
    from opsdesk.services.models import Service

    # tasks: the Celery tasks register by being imported (a worker autodiscovers them; the web process,
    # which enqueues them, and eager test runs need them imported too).
    from . import config, demo, tasks  # noqa: F401
    from .models import Integration

    for section in config.SECTIONS:
        config_as_code.register(section())
    registry.register_area(registry.Area("alerts", _("Alerts"), "alerts:alert_list", icon="bell", order=15, children=(
        (_("Alerts"), "alerts:alert_list"),
        (_("Alert groups"), "alerts:group_list"),
        (_("Integrations"), "alerts:integration_list"),
        (_("Routes"), "alerts:route_list"),
        (_("Silences"), "alerts:silence_list"),
        (_("Maintenance windows"), "alerts:maintenance_list"),
    )))
    registry.register_demo(50, demo.load)
    registry.register_record_type(registry.RecordType(Integration, _("Alert integrations"), ("name", "description"),
                                                      order=60))
    registry.register_record_link(Incident, registry.RecordLink(
        _("Alerts"), lambda incident: f"{reverse('alerts:alert_list')}?incident={incident.number}", icon="bell"))
    registry.register_record_link(ConfigurationItem, registry.RecordLink(
        _("Alerts"), lambda ci: f"{reverse('alerts:alert_list')}?ci={ci.number}", icon="bell"))
    registry.register_record_link(Service, registry.RecordLink(
        _("Alerts"), lambda svc: f"{reverse('alerts:alert_list')}?service={svc.slug}", icon="bell"))
