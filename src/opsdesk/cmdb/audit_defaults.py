"""The audit rules a new installation starts with (loaded by migration 0003 with builtin=True).

Admins can disable them (and change their name, description and severity) but not their definition or
delete them: to check something else, add a rule of your own. The lists use the conditions language of
`audit_conditions`; tests check that every rule here is valid.
"""

from django.utils.translation import gettext_noop as N_

IN_PRODUCTION = {"field": "status", "op": "in", "value": ["in_production", "maintenance"]}

RULES = [
    {
        "slug": "production-server-without-owner",
        "name": N_("Production servers without an owner team"),
        "description": N_("Every server in production needs a team that answers for it."),
        "kind": "filter",
        "severity": "high",
        "scope": [{"field": "ci_class", "op": "eq", "value": "server"}, IN_PRODUCTION,
                  {"field": "environment", "op": "eq", "value": "production"}],
        "conditions": [{"field": "owner_team", "op": "isnull", "value": True}],
    },
    {
        "slug": "warranty-expired-in-production",
        "name": N_("Warranty expired but still in production"),
        "description": N_("Assets in production whose warranty has ended: renew it or plan the replacement."),
        "kind": "filter",
        "severity": "medium",
        "scope": [IN_PRODUCTION, {"field": "warranty_end", "op": "isnull", "value": False}],
        "conditions": [{"field": "warranty_end", "op": "before_today", "value": None}],
    },
    {
        "slug": "licence-or-certificate-expired-in-production",
        "name": N_("Licence or certificate expired but in production"),
        "description": N_("Certificates and licences in use past their expiry date."),
        "kind": "filter",
        "severity": "high",
        "scope": [IN_PRODUCTION, {"field": "expires_on", "op": "isnull", "value": False}],
        "conditions": [{"field": "expires_on", "op": "before_today", "value": None}],
    },
    {
        "slug": "not-seen-by-discovery",
        "name": N_("Not seen by discovery for 30 days"),
        "description": N_("CIs that discovery used to report but has not seen for 30 days: gone, renamed or "
                          "out of the scan's reach?"),
        "kind": "filter",
        "severity": "medium",
        "scope": [{"field": "discovery_source", "op": "isnull", "value": False},
                  {"field": "status", "op": "eq", "value": "in_production"}],
        "conditions": [{"field": "last_seen_at", "op": "older_than_days", "value": 30}],
    },
    {
        "slug": "discovered-not-registered",
        "name": N_("Discovered hosts not registered"),
        "description": N_("Hosts discovery saw in the last 30 days that no CI claims (by address or host name)."),
        "kind": "unregistered",
        "severity": "medium",
        "scope": [],
        "conditions": [{"field": "last_seen_at", "op": "within_last_days", "value": 30}],
    },
    {
        "slug": "drift-from-discovery",
        "name": N_("Drift between discovery and the record"),
        "description": N_("CIs whose recorded addresses, host names or attributes differ from what discovery "
                          "last reported."),
        "kind": "drift",
        "severity": "medium",
        "scope": [{"field": "status", "op": "not_in", "value": ["retired", "disposed"]}],
        "conditions": [],
    },
    {
        "slug": "unauthorised-changes",
        "name": N_("Unauthorised changes"),
        "description": N_("Changes to tracked fields of production CIs in the last 30 days that no change "
                          "request covers."),
        "kind": "unauthorised",
        "severity": "high",
        "scope": [],
        "conditions": [{"field": "detected_at", "op": "within_last_days", "value": 30}],
    },
]


def install(apps=None) -> None:
    """Create the shipped rules that are missing (by key); rules an admin changed are left as they are.
    Used by migration 0003 (with the historical models)."""
    if apps is None:
        from django.apps import apps
    AuditRule = apps.get_model("cmdb", "AuditRule")
    for rule in RULES:
        fields = {key: value for key, value in rule.items() if key != "slug"}
        AuditRule.objects.get_or_create(slug=rule["slug"], defaults={**fields, "enabled": True, "builtin": True})
