from opsdesk.accounts.models import Team
from opsdesk.core import weekly_hours
from opsdesk.core.actors import Actor

from . import services
from .models import Service

# slug, name, kind, team, tier, criticality, hours, tz, depends on, tags, description, status
SERVICES = [
    ("network-core", "Corporate Network", "technical", "network", 1, "critical", "24x7", "Europe/Berlin", [],
     ["network"], "WAN, data-centre LAN, firewalls and internal DNS.", "active"),
    ("kubernetes", "Kubernetes Platform", "technical", "platform", 1, "critical", "24x7", "UTC", ["network-core"],
     ["k8s", "runtime"], "Production Kubernetes clusters (eu-1, eu-2) running customer-facing workloads.",
     "active"),
    ("postgres", "PostgreSQL Cluster", "technical", "data", 1, "critical", "24x7", "UTC", ["network-core"],
     ["database"], "Primary OLTP database cluster with streaming replicas.", "active"),
    ("kafka", "Event Streaming (Kafka)", "technical", "data", 2, "high", "24x7", "UTC", ["kubernetes"],
     ["messaging"], "Kafka brokers carrying order and payment events.", "active"),
    ("identity", "Identity & SSO", "technical", "workplace", 1, "critical", "24x7", "Europe/London",
     ["network-core"], ["security"], "Single sign-on (OIDC/SAML) for staff and customers.", "active"),
    ("payments-api", "Payments API", "technical", "payments", 1, "critical", "24x7", "Europe/Berlin",
     ["kubernetes", "postgres", "kafka"], ["payments", "customer-facing", "pci"],
     "Authorises and captures card and wallet payments for the shop.", "active"),
    ("online-shop", "Online Shop", "business", "payments", 1, "critical", "24x7", "Europe/Berlin",
     ["payments-api", "identity", "kubernetes"], ["customer-facing"],
     "The public web shop: catalogue, basket and checkout.", "active"),
    ("customer-portal", "Customer Portal", "business", "platform", 2, "high", "mon-sun 06:00-23:00",
     "Europe/Berlin", ["identity", "postgres"], ["customer-facing"],
     "Self-service portal for orders, invoices and returns.", "active"),
    ("monitoring", "Monitoring (Prometheus & Grafana)", "technical", "platform", 2, "high", "24x7", "UTC",
     ["kubernetes"], ["observability"], "Metrics, dashboards and alerting for every service.", "active"),
    ("email", "Corporate Email", "business", "workplace", 3, "medium", "mon-fri 07:00-19:00", "Europe/London",
     ["identity"], ["collaboration"], "Staff mailboxes and calendars.", "active"),
    ("data-warehouse", "Data Warehouse", "technical", "data", 3, "medium", "mon-fri 08:00-18:00",
     "Europe/Berlin", ["postgres", "kafka"], ["analytics"], "Nightly reporting and BI.", "active"),
    ("hr-portal", "HR Portal", "business", "workplace", 4, "low", "mon-fri 09:00-17:00", "Europe/London",
     ["identity"], ["internal"], "Leave requests and payslips.", "active"),
    ("search", "Product Search", "technical", "platform", 2, "high", "24x7", "UTC", ["kubernetes"],
     ["customer-facing"], "OpenSearch-based product search (migration in progress).", "planned"),
    ("legacy-billing", "Legacy Billing", "technical", "payments", 3, "medium", "mon-fri 09:00-17:00",
     "Europe/Berlin", [], ["legacy"], "Mainframe billing, replaced by the Payments API.", "retired"),
]


def load(actor: Actor) -> int:
    created = 0
    for (slug, name, kind, team, tier, crit, hours, tz, deps, tags, description, status) in SERVICES:
        if Service.objects.filter(slug=slug).exists():
            continue
        service = services.create_service(actor=actor, data={
            "slug": slug, "name": name, "kind": kind, "owner_team": Team.objects.get(slug=team), "tier": tier,
            "criticality": crit, "support_hours": weekly_hours.parse(hours), "support_time_zone": tz,
            "depends_on": list(Service.objects.filter(slug__in=deps)), "tags": tags, "description": description,
            "runbook_url": f"https://wiki.example.com/runbooks/{slug}",
            "dashboard_url": f"https://grafana.example.com/d/{slug}",
            "repository_url": f"https://git.example.com/ops/{slug}" if kind == "technical" else "",
        })
        if status in {"active", "retired"}:
            service = services.activate_service(service, actor=actor)
        if status == "retired":
            services.retire_service(service, actor=actor, reason="Replaced by the Payments API")
        created += 1
    return created
