"""Demo incidents: assignment and escalation rules, a month of resolved incidents (for MTTA/MTTR and the
dashboard trend), an open queue in every state, and a major incident with its roles, communication
log, child incidents and a draft report. Created through the services; only the timestamps of the
past month are moved back afterwards, as they would have been recorded then."""

from __future__ import annotations

import datetime
import random

from django.contrib.auth import get_user_model
from django.utils import timezone

from opsdesk.accounts.models import Team
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.actors import Actor
from opsdesk.services.models import Service

from . import major, reports, services
from .models import AssignmentRule, Category, EscalationRule, Incident

ASSIGNMENT_RULES = [
    ("Network faults to Network Operations", 10, {"category": ["network"]}, "network", "round_robin"),
    ("Database faults to the Data Platform", 20, {"category": ["database"]}, "data", "least_loaded"),
    ("Payments services to Payments", 30, {"service": ["payments-api", "online-shop"]}, "payments", "team"),
    ("Identity and access to Workplace IT", 40, {"category": ["access"]}, "workplace", "team"),
    ("Everything else to Platform Engineering", 1000, {}, "platform", "team"),
]
ESCALATION_RULES = [
    {"name": "P1 not acknowledged in 15 minutes: page the team lead", "order": 10, "trigger": "no_ack",
     "minutes": 15, "conditions": {"priority": ["P1"]}, "kind": "hierarchical", "notify": ["lead"]},
    {"name": "P1 not acknowledged in 30 minutes: page the managers", "order": 20, "trigger": "no_ack",
     "minutes": 30, "conditions": {"priority": ["P1"]}, "kind": "hierarchical", "notify": ["managers"]},
    {"name": "P1/P2 at 75% of the resolution time: tell the managers", "order": 30, "trigger": "sla_percent",
     "metric": "resolve", "percent": 75, "conditions": {"priority": ["P1", "P2"]}, "kind": "hierarchical",
     "notify": ["lead", "managers"]},
    {"name": "Network P2 not acknowledged in 1 hour: hand to Platform", "order": 40, "trigger": "no_ack",
     "minutes": 60, "conditions": {"priority": ["P2"], "category": ["network"]}, "kind": "functional",
     "target": "platform"},
]
# title, category, subcategory, service, impact, urgency, symptoms
CASES = [
    ("Checkout answers HTTP 502 for some customers", "software", "software-application-error", "online-shop", 2, 1,
     "About 5% of /checkout requests fail with 502 from the ingress."),
    ("Payment authorisations time out", "software", "software-performance", "payments-api", 1, 2,
     "p99 latency of /authorise above 8 s; provider timeouts in the logs."),
    ("Replica lag on the PostgreSQL cluster above 10 minutes", "database", "database-replication", "postgres", 2, 2,
     "pg-replica-2 lags; reporting queries read stale data."),
    ("VPN users cannot reach the intranet", "network", "network-connectivity", "network-core", 2, 2,
     "Remote staff connect but get no route to 10.20.0.0/16."),
    ("Internal DNS resolves slowly", "network", "network-dns", "network-core", 3, 2,
     "Lookups take 2-3 s from the office network."),
    ("SSO login loops for some users", "access", "access-login", "identity", 2, 2,
     "After the MFA prompt users land on the login page again."),
    ("Kafka consumer group for orders is rebalancing constantly", "software", "software-performance", "kafka", 2, 3,
     "order-events consumers rebalance every 2 minutes; lag grows."),
    ("Disk full on the data warehouse staging volume", "hardware", "hardware-storage", "data-warehouse", 3, 2,
     "/staging at 100%; the nightly load failed."),
    ("HR portal shows someone else's payslip list", "security", "security-unauthorised-access", "hr-portal", 2, 1,
     "Reported by two employees after the morning deployment."),
    ("Grafana dashboards empty for the eu-2 cluster", "software", "software-application-error", "monitoring", 3, 3,
     "No data since 06:10 UTC; Prometheus targets down."),
    ("Phishing mail reported by several staff", "security", "security-phishing", "email", 3, 2,
     "Mail 'Invoice overdue' with a link to a fake login page."),
    ("Customer portal invoices download slowly", "software", "software-performance", "customer-portal", 3, 3,
     "PDF invoices take 30 s to download."),
]
ROOT_CAUSES = ["A configuration change rolled out without a canary.", "A certificate expired unnoticed.",
               "Connection pool exhaustion after a traffic spike.", "A failed disk in a degraded RAID set.",
               "An upstream provider outage."]
HOLD = ["awaiting_vendor", "awaiting_customer", "awaiting_change", "awaiting_problem"]
CODES = ["fixed", "workaround", "restarted", "config_change", "rolled_back", "vendor_fix"]


def _rules(actor: Actor) -> int:
    created = 0
    teams = {t.slug: t for t in Team.objects.all()}
    for name, order, conditions, team, method in ASSIGNMENT_RULES:
        if team in teams and not AssignmentRule.objects.filter(name=name).exists():
            services.create_rule(AssignmentRule, actor=actor, data={
                "name": name, "order": order, "conditions": conditions, "team": teams[team], "method": method})
            created += 1
    for spec in ESCALATION_RULES:
        if EscalationRule.objects.filter(name=spec["name"]).exists():
            continue
        data = {k: v for k, v in spec.items() if k != "target"}
        if "target" in spec:
            if spec["target"] not in teams:
                continue
            data["target_team"] = teams[spec["target"]]
        services.create_rule(EscalationRule, actor=actor, data=data)
        created += 1
    return created


def _data(case, categories, catalogue, cis_by_service) -> dict:
    title, cat, sub, service, impact, urgency, symptoms = case
    svc = catalogue.get(service)
    data = {"title": title, "category": categories.get(cat), "subcategory": categories.get(sub), "service": svc,
            "impact": impact, "urgency": urgency, "symptoms": symptoms, "source": "manual",
            "description": f"{symptoms}\n\nReported through the service desk."}
    if svc is not None and cis_by_service.get(svc.pk):
        data["cis"] = cis_by_service[svc.pk][:2]
    return data


def _backdate(incident: Incident, created: datetime.datetime, ack_minutes: int, resolve_minutes: int | None) -> None:
    fields = {"created_at": created, "detected_at": created,
              "acknowledged_at": created + datetime.timedelta(minutes=ack_minutes)}
    if resolve_minutes is not None:
        fields["resolved_at"] = created + datetime.timedelta(minutes=resolve_minutes)
        if incident.status == "closed":
            fields["closed_at"] = fields["resolved_at"] + datetime.timedelta(days=3)
    Incident.objects.filter(pk=incident.pk).update(**fields)


def load(actor: Actor) -> int:
    if Incident.objects.exists():
        return _rules(actor)
    created = _rules(actor)
    rng = random.Random(4)
    users = {u.username: u for u in get_user_model().objects.filter(is_active=True)}
    people = [Actor.for_user(u) for name, u in sorted(users.items()) if u.role in ("responder", "manager")] or [actor]
    categories = {c.slug: c for c in Category.objects.all()}
    catalogue = {s.slug: s for s in Service.objects.exclude(status="retired")}
    cis_by_service: dict[int, list] = {}
    for ci in ConfigurationItem.objects.filter(status="in_production").prefetch_related("services").order_by("name"):
        for svc in ci.services.all():
            cis_by_service.setdefault(svc.pk, []).append(ci)
    now = timezone.now()
    # A month of history: resolved and closed incidents with realistic times to acknowledge and resolve.
    for day in range(30, 0, -1):
        for _ in range(rng.choice([0, 1, 1, 2])):
            case = rng.choice(CASES)
            who = rng.choice(people)
            incident = services.create_incident(actor=who, data=_data(case, categories, catalogue, cis_by_service))
            incident = services.transition_incident(incident, "start", actor=who)
            incident = services.transition_incident(incident, "resolve", actor=who, data={
                "resolution_code": rng.choice(CODES), "resolution_notes": "Service restored; see the timeline."})
            if day > 7:
                if reports.is_required(incident):
                    report = reports.start_report(incident, actor=who)
                    reports.update_report(report, actor=who, sections={
                        "summary": f"{case[0]}. Service was restored by the on-call responder.",
                        "root_cause": rng.choice(ROOT_CAUSES)})
                    reports.complete_report(report, actor=who)
                incident = services.transition_incident(incident, "close", actor=actor, data={})
            started = now - datetime.timedelta(days=day, hours=rng.randint(0, 12))
            ack = rng.randint(2, 40 if incident.priority in ("P1", "P2") else 240)
            _backdate(incident, started, ack, ack + rng.randint(30, 60 * 20))
            created += 1
    # Today's queue: one incident per case in a spread of states.
    states = ["new", "new", "acknowledged", "in_progress", "in_progress", "on_hold", "new", "acknowledged",
              "in_progress", "new", "on_hold", "in_progress"]
    open_incidents = []
    for case, state in zip(CASES, states, strict=True):
        who = rng.choice(people)
        incident = services.create_incident(actor=who, data=_data(case, categories, catalogue, cis_by_service))
        if state != "new":
            incident = services.transition_incident(incident, "acknowledge", actor=who)
        if state in ("in_progress", "on_hold"):
            incident = services.transition_incident(incident, "start", actor=who)
        if state == "on_hold":
            incident = services.transition_incident(incident, "hold", actor=who, data={"hold_reason": rng.choice(HOLD)})
        open_incidents.append(incident)
        created += 1
    # The major incident: payments time out; checkout errors are its children.
    payments, checkout = open_incidents[1], open_incidents[0]
    manager = next((Actor.for_user(u) for u in users.values() if u.role == "manager"), actor)
    major.propose_major(payments, actor=people[0], reason="Customers cannot pay; revenue impact.")
    major.promote_major(payments, actor=manager, commander=users.get("carol"), communications_lead=users.get("bob"),
                        scribe=users.get("alice"), update_cadence_minutes=30)
    major.link_child(payments, checkout, actor=manager)
    major.post_update(payments, actor=manager, body="We are investigating payment timeouts. Card payments fail for "
                      "about a third of customers. Next update in 30 minutes.")
    major.post_update(payments, actor=manager, audience="internal",
                      body="Provider status page reports degraded service in EU.")
    report = reports.start_report(payments, actor=manager)
    reports.update_report(report, actor=manager, sections={
        "summary": "Card payments timed out for about a third of customers while the payment provider's EU "
                   "region was degraded.",
        "root_cause": "To be confirmed with the provider."})
    if users.get("alice"):
        reports.add_action_item(report, actor=manager, data={
            "title": "Add a circuit breaker with fallback to the secondary provider", "owner": users["alice"],
            "due_date": timezone.localdate() + datetime.timedelta(days=14)})
    return created
