"""What the incidents app registers at start-up: navigation, search, config sections, demo data,
links from services and CIs, the SLA listeners and the timer handlers."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _


def register() -> None:
    from django.urls import reverse

    from opsdesk.cmdb.models import ConfigurationItem
    from opsdesk.core import config_as_code, registry, search
    from opsdesk.services.models import Service
    from opsdesk.sla import services as sla

    # services: the auto-close timer handler; escalation and major: theirs (imported by services).
    from . import config, demo, escalation, reports, services  # noqa: F401  (reports: its timer handler)
    from .models import Incident

    for section in config.SECTIONS:
        config_as_code.register(section())
    # Escalation rules that trigger at an SLA percentage: the SLA sweep announces those percentages too.
    sla.register_threshold_provider(Incident, escalation.threshold_percents)
    sla.register_threshold_listener(Incident, escalation.on_sla_threshold)
    registry.register_area(registry.Area("incidents", _("Incidents"), "incidents:list", icon="fire", order=10,
                                         children=(
                                             (_("Incident queue"), "incidents:list"),
                                             (_("Report an incident"), "incidents:create"),
                                             (_("Categories"), "incidents:category_list"),
                                             (_("Assignment rules"), "incidents:assignmentrule_list"),
                                             (_("Escalation rules"), "incidents:escalationrule_list"),
                                         )))
    registry.register_demo(40, demo.load)
    registry.register_record_type(registry.RecordType(Incident, _("Incidents"), ("title",), order=5))
    search.register(Incident, kind="incident", label=_("Incidents"), document=search_document)
    registry.register_record_link(Service, registry.RecordLink(
        _("Incidents"), lambda svc: f"{reverse('incidents:list')}?service={svc.slug}", icon="fire"))
    registry.register_record_link(ConfigurationItem, registry.RecordLink(
        _("Incidents"), lambda ci: f"{reverse('incidents:list')}?ci={ci.number}", icon="fire"))


def search_document(incident):
    """What the full-text index keeps of an incident (core.search): title first, then its texts."""
    from opsdesk.core.search import Document

    body = "\n".join(t for t in (incident.description, incident.symptoms, incident.resolution_notes) if t)
    return Document(title=incident.title, body=body, state=incident.status, number=incident.number)
