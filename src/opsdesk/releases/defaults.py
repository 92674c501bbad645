"""What a new installation starts with for releases: the settings row and the environments
Development -> Test -> Staging -> Production. Installed by migration 0002; config-as-code changes them."""

from __future__ import annotations

ENVIRONMENTS = [
    ("development", "Development", 10, False, False),
    ("test", "Test", 20, False, False),
    ("staging", "Staging", 30, False, False),
    ("production", "Production", 40, True, True),
]


def install(apps=None) -> None:
    if apps is None:
        from django.apps import apps as _global

        apps = _global
    apps.get_model("releases", "ReleaseSettings").objects.get_or_create(pk=1)
    environment = apps.get_model("releases", "Environment")
    for slug, name, order, production, requires_change in ENVIRONMENTS:
        environment.objects.get_or_create(slug=slug, defaults={
            "name": name, "order": order, "is_production": production, "requires_change": requires_change})
