"""What escalation and paging register at start-up (called from oncall/wiring.py): the listener on
incidents (start a service's policy, stop on acknowledge / resolve / cancel), the page texts of the
outbox, the link from an incident to its paging, and policies in the global search. (The
`escalation_policies` config-as-code section is in config.SECTIONS.)"""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext_lazy as _


def _paging_url(incident) -> str:
    return reverse("oncall:incident_paging", args=[incident.pk])


def register() -> None:
    from opsdesk.core import events, notifications, records, registry
    from opsdesk.incidents.models import Incident

    from . import escalation, escalation_demo, paging, tasks  # noqa: F401  (tasks: the sweeper beat and a started run call)
    from .models import EscalationPolicy

    records.listen(Incident, escalation.on_incident_event)
    for event_type, renderer in ((paging.PAGE_EVENT, paging.render_page), (paging.TEST_EVENT, paging.render_test)):
        events.register_direct(event_type)
        notifications.register_renderer(event_type, renderer)
    registry.register_record_link(Incident, registry.RecordLink(label=_("Paging"), url=_paging_url, icon="bell"))
    registry.register_record_type(registry.RecordType(EscalationPolicy, _("Escalation policies"),
                                                      ("name", "slug"), order=41))
    registry.register_demo(46, escalation_demo.load)  # after the demo schedules (45)
