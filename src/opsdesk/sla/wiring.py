"""What the SLA app registers at start-up: config sections, navigation, timer sweeping."""

from django.utils.translation import gettext_lazy as _


def register() -> None:
    from opsdesk.core import config_as_code, registry

    from . import config, tasks  # noqa: F401  (tasks: the sweep task beat calls)

    config_as_code.register(config.CalendarSection())
    config_as_code.register(config.PolicySection())
    registry.register_area(registry.Area("sla", _("Service levels"), "sla:policy_list", icon="stopwatch", order=80,
                                         children=((_("SLA policies"), "sla:policy_list"),
                                                   (_("Business calendars"), "sla:calendar_list"))))
