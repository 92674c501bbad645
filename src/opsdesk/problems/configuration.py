"""The problem settings row (trend thresholds, RCA categories, recurrence watch), created with the
shipped defaults on first use."""

from __future__ import annotations

from django.utils.translation import gettext_noop

from .models import ProblemSettings

# The fishbone's bones by default (the 6 Ms adapted to IT operations); config-as-code can change them.
DEFAULT_RCA_CATEGORIES = [
    {"key": "people", "label": gettext_noop("People")},
    {"key": "process", "label": gettext_noop("Process")},
    {"key": "technology", "label": gettext_noop("Technology")},
    {"key": "environment", "label": gettext_noop("Environment")},
    {"key": "suppliers", "label": gettext_noop("Suppliers")},
    {"key": "measurement", "label": gettext_noop("Measurement and monitoring")},
]


def problem_settings() -> ProblemSettings:
    config = ProblemSettings.objects.order_by("pk").first()
    if config is None:
        config, _created = ProblemSettings.objects.get_or_create(pk=1, defaults={
            "rca_categories": [dict(c) for c in DEFAULT_RCA_CATEGORIES]})
    return config


def rca_categories() -> list[dict]:
    return problem_settings().rca_categories or [dict(c) for c in DEFAULT_RCA_CATEGORIES]
