"""What the on-call app registers at start-up: navigation, config sections, timer handlers, demo data."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _


def register() -> None:
    from opsdesk.core import config_as_code, registry

    from . import config, demo
    from .models import Schedule

    for section in config.SECTIONS:
        config_as_code.register(section())
    # Menu entries whose URL name does not resolve (yet) are left out by the navigation.
    registry.register_area(registry.Area("oncall", _("On-call"), "oncall:who", icon="telephone", order=15,
                                         children=(
                                             (_("Who is on call"), "oncall:who"),
                                             (_("Schedules"), "oncall:schedule_list"),
                                             (_("My shifts"), "oncall:my_shifts"),
                                             (_("Escalation policies"), "oncall:policy_list"),
                                             (_("My paging settings"), "oncall:paging_settings"),
                                         )))
    registry.register_record_type(registry.RecordType(Schedule, _("On-call schedules"), ("name", "slug"), order=40))
    registry.register_demo(45, demo.load)
    from . import escalation_wiring  # escalation and paging: listener, page texts, incident link

    escalation_wiring.register()
