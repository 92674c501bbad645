"""What a new installation starts with: three impact and urgency levels, the priority matrix, a
category taxonomy and the incident report template. Installed by migration; config-as-code changes it."""

from __future__ import annotations

IMPACT_LEVELS = [
    {"value": 1, "label": "Extensive / widespread"},
    {"value": 2, "label": "Significant / large"},
    {"value": 3, "label": "Moderate / limited"},
]
URGENCY_LEVELS = [
    {"value": 1, "label": "Critical"},
    {"value": 2, "label": "High"},
    {"value": 3, "label": "Medium"},
]
# impact -> urgency -> priority (the ITIL 3x3 matrix)
MATRIX = {
    "1": {"1": "P1", "2": "P2", "3": "P3"},
    "2": {"1": "P2", "2": "P3", "3": "P4"},
    "3": {"1": "P3", "2": "P4", "3": "P5"},
}
REPORT_SECTIONS = [
    {"key": "summary", "title": "Summary", "hint": "What happened, in two or three sentences a manager can forward."},
    {"key": "impact", "title": "Impact", "hint": "Who and what was affected, for how long; SLA breaches."},
    {"key": "root_cause", "title": "Root cause", "hint": "Why it happened (the cause, not the trigger)."},
    {"key": "contributing_factors", "title": "Contributing factors", "hint": "What made it worse or slower."},
    {"key": "went_well", "title": "What went well", "hint": ""},
    {"key": "went_badly", "title": "What did not go well", "hint": ""},
    {"key": "lessons", "title": "Lessons learned", "hint": ""},
]
CATEGORIES = [
    ("hardware", "Hardware", ["server", "storage", "network-device"]),
    ("software", "Software", ["application-error", "performance", "license"]),
    ("network", "Network", ["connectivity", "dns", "firewall"]),
    ("database", "Database", ["availability", "replication", "slow-query"]),
    ("security", "Security", ["malware", "unauthorised-access", "phishing"]),
    ("access", "Access", ["login", "permissions"]),
    ("service-request", "Service request", []),
]


def install(apps=None) -> None:
    """Create the settings row and the shipped categories if missing (idempotent)."""
    if apps is None:
        from django.apps import apps as _apps

        apps = _apps
    settings_model = apps.get_model("incidents", "IncidentSettings")
    category_model = apps.get_model("incidents", "Category")
    settings_model.objects.get_or_create(pk=1, defaults={
        "impact_levels": IMPACT_LEVELS, "urgency_levels": URGENCY_LEVELS, "matrix": MATRIX,
        "report_required_priorities": ["P1", "P2"], "report_sections": REPORT_SECTIONS})
    for order, (slug, name, children) in enumerate(CATEGORIES):
        parent, _ = category_model.objects.get_or_create(slug=slug, defaults={"name": name, "order": order * 10})
        for child_order, child in enumerate(children):
            child_name = child.replace("-", " ").capitalize()
            category_model.objects.get_or_create(slug=f"{slug}-{child}", defaults={
                "name": child_name, "parent": parent, "order": child_order * 10})
