"""What the releases app registers at start-up: navigation, record types, config sections, demo data,
the post-release watch's listeners and the Celery tasks."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _


def register() -> None:
    from opsdesk.core import config_as_code, registry

    from . import config, demo, services, tasks, watch  # noqa: F401
    from .models import Release

    for section in config.SECTIONS:
        config_as_code.register(section())
    registry.register_area(registry.Area("releases", _("Releases"), "releases:board", icon="rocket-takeoff", order=26,
                                         children=(
        (_("Release board"), "releases:board"),
        (_("Releases"), "releases:list"),
        (_("Deployments"), "releases:deployment_list"),
        (_("DORA metrics"), "releases:dora"),
        (_("Environments"), "releases:environment_list"),
        (_("New release"), "releases:create"),
    )))
    registry.register_demo(60, demo.load)
    registry.register_record_type(registry.RecordType(Release, _("Releases"), ("title", "version"), order=11))
    for module in (services, watch):
        if hasattr(module, "wire"):
            module.wire()
