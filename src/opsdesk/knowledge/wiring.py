"""What the knowledge app registers at start-up: navigation, search, config sections and demo data."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _


def register() -> None:
    from opsdesk.core import config_as_code, registry

    from . import config, demo, services, tasks  # noqa: F401  (tasks: registered by being imported)
    from .models import Article

    for section in config.SECTIONS:
        config_as_code.register(section())
    registry.register_area(registry.Area("knowledge", _("Knowledge"), "knowledge:list", icon="book", order=22,
                                         children=(
                                             (_("Articles"), "knowledge:list"),
                                             (_("Search the knowledge base"), "knowledge:search"),
                                             (_("Write an article"), "knowledge:create"),
                                             (_("Categories"), "knowledge:category_list"),
                                         )))
    registry.register_demo(60, demo.load)
    registry.register_record_type(registry.RecordType(Article, _("Knowledge articles"), ("title",), order=10))
    if hasattr(services, "wire"):  # the search indexer
        services.wire()
