"""What the changes app registers at start-up: navigation, record types, config sections, demo data,
search, record links and panels on other apps' records, and the Celery tasks."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _


def register() -> None:
    from opsdesk.core import config_as_code, registry

    # tasks: the Celery tasks register by being imported.
    from . import approvals, collisions, config, demo, reviews, risk, schedule, services, tasks  # noqa: F401
    from .models import ChangeRequest

    for section in config.SECTIONS:
        config_as_code.register(section())
    registry.register_area(registry.Area("changes", _("Changes"), "changes:list", icon="arrow-repeat", order=25,
                                         children=(
        (_("Changes"), "changes:list"),
        (_("Change calendar"), "changes:calendar"),
        (_("My approvals"), "changes:approval_inbox"),
        (_("CAB meetings"), "changes:cab_list"),
        (_("Change templates"), "changes:template_list"),
        (_("Freeze windows"), "changes:freeze_list"),
        (_("Change settings"), "changes:settings"),
        (_("Change KPIs"), "changes:kpis"),
        (_("New change"), "changes:create"),
    )))
    registry.register_demo(55, demo.load)
    registry.register_record_type(registry.RecordType(ChangeRequest, _("Changes"), ("title",), order=10))
    for module in (services, risk, collisions, approvals, schedule, reviews):
        if hasattr(module, "wire"):  # search indexers, record panels and links, listeners of each part
            module.wire()
