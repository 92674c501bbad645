"""What a new installation starts with for changes: the settings row, categories and change templates
with their plans, the risk questionnaire and the approval policies. Installed by migration 0002;
config-as-code changes them. Each part owns one function; all are idempotent (get_or_create)."""

from __future__ import annotations


def _apps(apps):
    if apps is None:
        from django.apps import apps as _global

        return _global
    return apps


def install_settings(apps) -> None:
    apps.get_model("changes", "ChangeSettings").objects.get_or_create(pk=1, defaults={
        "review_outcomes": ["failed", "backed_out"], "review_risk_levels": ["high", "very_high"]})


def install_catalog(apps) -> None:
    """Categories and change templates (owner: the catalog part)."""


def install_risk(apps) -> None:
    """The risk questionnaire (owner: the risk part)."""


def install_approvals(apps) -> None:
    """The approval policies and their stages (owner: the approvals part)."""


def install(apps=None) -> None:
    apps = _apps(apps)
    install_settings(apps)
    install_catalog(apps)
    install_risk(apps)
    install_approvals(apps)
