"""What the problems app registers at start-up: navigation, search, config sections, demo data, the
known-error panel on incidents, the recurrence watch on new incidents and the Celery tasks."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _


def register() -> None:
    from opsdesk.core import config_as_code, registry

    # tasks: the Celery tasks register by being imported (the worker autodiscovers them; eager runs
    # and the web process that enqueues them need them imported too).
    from . import config, demo, kedb, recurrence, services, tasks  # noqa: F401
    from .models import KnownError, Problem

    for section in config.SECTIONS:
        config_as_code.register(section())
    registry.register_area(registry.Area("problems", _("Problems"), "problems:list", icon="bug", order=20, children=(
        (_("Problems"), "problems:list"),
        (_("Problem candidates"), "problems:candidate_list"),
        (_("Known errors"), "problems:knownerror_list"),
        (_("New problem"), "problems:create"),
        (_("Problem settings"), "problems:settings"),
    )))
    registry.register_demo(50, demo.load)
    registry.register_record_type(registry.RecordType(Problem, _("Problems"), ("title",), order=8))
    registry.register_record_type(registry.RecordType(KnownError, _("Known errors"), ("title", "symptom"), order=9))
    for module in (services, kedb, recurrence):
        if hasattr(module, "wire"):  # search indexers, record panels, listeners of each part
            module.wire()
