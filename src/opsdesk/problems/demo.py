"""Demo problems: recurring incidents (one database CI, the Kafka service, expiring certificates) that trend
detection turns into candidates; a problem in root-cause analysis with a 5 Whys, a fishbone,
contributing factors, countermeasures and a known error; and a resolved problem under its recurrence
watch, with one recurrence. Created through the services, once (safe to run again); only the
timestamps of past incidents are moved back, as they would have been recorded then."""

from __future__ import annotations

import datetime

from django.contrib.auth import get_user_model
from django.utils import timezone

from opsdesk.accounts.models import Team
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.actors import Actor
from opsdesk.incidents import services as incident_services
from opsdesk.incidents.models import Category, Incident
from opsdesk.services.models import Service

from . import recurrence
from .models import Problem

RCA_TITLE = "Checkout answers HTTP 502 after deployments"
WATCHED_TITLE = "Data warehouse staging volume fills up"
REPLICA_TITLES = ["Replica lag above 10 minutes", "Reporting reads stale data from the replica",
                  "Replication slot WAL retention alarm", "Replica apply process restarted",
                  "Read queries time out on the AMS replica", "Replica lag alarm again after the nightly load"]
KAFKA_TITLES = ["Order events consumer lag growing", "Kafka broker under-replicated partitions",
                "Connect worker task failed for the CRM sink", "Producer send timeouts from checkout",
                "Topic retention alarm on order-events", "Rebalance storm in the billing consumer group",
                "Schema registry unreachable from the stream jobs", "Kafka controller failover",
                "Consumer offsets reset for analytics", "ISR shrink on broker 3", "Disk pressure on a Kafka broker"]
CERT_TITLES = ["TLS certificate expired on partner-gw-01", "TLS certificate expired on hr-portal-02",
               "TLS certificate expired on status-web-01", "Expired TLS certificate on smtp-relay-03"]


def _ci(*names):
    for name in names:
        ci = ConfigurationItem.objects.filter(name=name).first()
        if ci is not None:
            return ci
    return ConfigurationItem.objects.filter(status="in_production").order_by("name").first()


def _incident(actor, title, when, **data) -> Incident:
    data = {k: v for k, v in data.items() if v not in (None, [])}
    incident = incident_services.create_incident(actor=actor, data={"title": title, "impact": 3, "urgency": 2,
                                                                      "source": "manual", **data})
    Incident.objects.filter(pk=incident.pk).update(created_at=when, detected_at=when)
    incident.created_at = incident.detected_at = when
    return incident


def _recurring(actor, now) -> list[Incident]:
    """The history trend detection finds: 6 incidents on one replica in 5 days, 11 on Kafka in 6 days, 4
    expired certificates on different systems in 10 days."""
    made = []
    replica = _ci("pg-main-db-replica-ams1", "pg-main-db-cluster")
    database = Category.objects.filter(slug="database").first()
    for n, title in enumerate(REPLICA_TITLES):
        made.append(_incident(actor, title, now - datetime.timedelta(days=5, hours=-n * 18),
                              cis=[replica] if replica else [], category=database))
    kafka = Service.objects.filter(slug="kafka").first()
    for n, title in enumerate(KAFKA_TITLES):
        made.append(_incident(actor, title, now - datetime.timedelta(days=6, hours=-n * 12), service=kafka))
    for n, title in enumerate(CERT_TITLES):
        made.append(_incident(actor, title, now - datetime.timedelta(days=10, hours=-n * 50)))
    return made


def _owner():
    """A demo responder and a team they belong to (the owner must be a member of the owner team)."""
    team = Team.objects.filter(slug="payments").first() or Team.objects.order_by("name").first()
    member = team.memberships.select_related("user").order_by("user__username").first() if team else None
    return team, (member.user if member else None)


def _rca_problem(actor, team, owner) -> Problem:
    from . import kedb, rca, services

    incidents = list(Incident.objects.filter(title__startswith="Checkout answers").order_by("created_at")[:5])
    data = {"title": RCA_TITLE, "owner_team": team, "owner": owner, "impact": 2, "urgency": 2,
            "impact_summary": "About 5% of checkouts fail for up to 10 minutes after each deployment."}
    if incidents:
        problem = services.create_problem_from_incidents(incidents, actor=actor, data=data)
    else:
        problem = services.create_problem(actor=actor, data=data)
    problem = services.transition_problem(problem, "start_rca", actor=actor)
    rca.add_analysis(problem, actor=actor, method="five_whys", title="Why do checkouts fail after deployments?",
                     data={"problem": "Checkout answers 502 for some customers after each deployment.", "whys": [
                         {"question": "Why do customers get 502?", "answer": "The ingress sends requests to pods "
                          "that are shutting down."},
                         {"question": "Why does it route to pods shutting down?", "answer": "Pods stop before the "
                          "ingress has removed them from its endpoints."},
                         {"question": "Why do pods stop that early?", "answer": "They have no preStop delay and exit "
                          "on SIGTERM at once."},
                         {"question": "Why is there no preStop delay?", "answer": "The service template predates "
                          "graceful shutdown guidance."},
                         {"question": "Why was the template not updated?", "answer": "Nobody owns the deployment "
                          "templates."}],
                           "root_cause": "Pods exit on SIGTERM before the ingress drains them; the deployment "
                                         "template has no preStop hook and no owner."})
    rca.add_analysis(problem, actor=actor, method="fishbone", title="Causes of 502 after deployments", data={
        "effect": "HTTP 502 on checkout after deployments", "causes": [
            {"category": "technology", "text": "No preStop hook", "sub": ["Immediate exit on SIGTERM"]},
            {"category": "technology", "text": "Ingress endpoint updates lag", "sub": ["Sync period 10 s"]},
            {"category": "process", "text": "Deployments at peak hours", "sub": []},
            {"category": "people", "text": "Templates without an owner", "sub": ["Team reorganised in spring"]},
            {"category": "measurement", "text": "No alert on 5xx during rollouts", "sub": []}]})
    rca.set_contributing_factors(problem, ["Deployments during peak hours", "No 5xx alert during rollouts"],
                                 actor=actor)
    today = timezone.localdate()
    for title, kind, days in (("Add a preStop hook and terminationGracePeriod to the template", "permanent_fix", 7),
                              ("Alert on checkout 5xx above 1% during rollouts", "monitoring", 14),
                              ("Name an owner for the deployment templates", "process", 21)):
        services.create_countermeasure(problem, actor=actor, data={
            "title": title, "kind": kind, "owner": owner, "due_date": today + datetime.timedelta(days=days)})
    checkout = Service.objects.filter(slug="online-shop").first()
    kedb.create_known_error(actor=actor, data={
        "title": "Checkout 502 while pods roll", "problem": problem,
        "symptom": "Checkout answers HTTP 502 for a few minutes after a deployment; the ingress logs say "
                   "'upstream connect error or disconnect/reset before headers'.",
        "root_cause": "Pods exit before the ingress stops routing to them.",
        "workaround": "Pause the rollout and scale the previous ReplicaSet back up; retry the deployment outside "
                      "peak hours.",
        "error_pattern": "upstream connect error", "services": [checkout] if checkout else [],
        "cis": list(problem.cis.all()[:3])})
    return problem


def _watched_problem(actor, team, owner, now) -> Problem:
    from . import services

    volume = _ci("dwh-db", "dwh-srv-01")
    earlier = [_incident(actor, "Disk full on the data warehouse staging volume", now - datetime.timedelta(days=d),
                         cis=[volume] if volume else []) for d in (25, 16, 9)]
    problem = services.create_problem_from_incidents(earlier, actor=actor, data={
        "title": WATCHED_TITLE, "owner_team": team, "owner": owner})
    problem = services.transition_problem(problem, "start_rca", actor=actor)
    problem = services.transition_problem(problem, "resolve", actor=actor, data={
        "root_cause": "The nightly load keeps every staging file; nothing cleans the volume.",
        "fix_description": "A retention job deletes staging files older than 3 days; the volume alerts at 80%."})
    # One recurrence during the watch: the check records it and tells the owner (the worker does this
    # after the incident's commit; the demo asks at once, so the page shows it without a worker).
    again = _incident(actor, "Staging volume of the data warehouse full again", timezone.now(),
                      cis=[volume] if volume else [])
    recurrence.check_incident(again)
    return problem


def load(actor: Actor) -> int:
    from . import trends

    if Problem.objects.filter(title=RCA_TITLE).exists() or not get_user_model().objects.exists():
        return 0
    now = timezone.now()
    created = len(_recurring(actor, now))
    team, owner = _owner()
    _rca_problem(actor, team, owner)
    _watched_problem(actor, team, owner, now)
    created += 2 + len(trends.detect())
    return created
