"""Demo knowledge base: categories and a dozen articles in every state, some written from resolved demo
incidents (KCS), with several versions, reviews and feedback. Created through the services; matched
by title so a second run creates nothing."""

from __future__ import annotations

import datetime

from django.contrib.auth import get_user_model
from django.utils import timezone

from opsdesk.accounts.models import Team
from opsdesk.core.actors import Actor
from opsdesk.services.models import Service

from . import services
from .models import Article, ArticleCategory

CATEGORIES = [
    ("runbooks", "Runbooks", "Step-by-step procedures for recurring operational tasks.", 10),
    ("troubleshooting", "Troubleshooting", "Symptoms, causes and fixes of known failures.", 20),
    ("how-to", "How-to", "Short answers to common questions.", 30),
    ("reference", "Reference", "Architecture notes and configuration references.", 40),
]

# title, category, team, service, tags, summary, body, final state, author, reviewer
ARTICLES = [
    ("Checkout answers HTTP 502 for some customers", "troubleshooting", "payments", "online-shop",
     ["checkout", "ingress", "502"], "Roll back the ingress change or scale the checkout pods.",
     "## Problem\n\nAbout 5% of `/checkout` requests fail with HTTP 502 from the ingress right after a "
     "deployment.\n\n## Cause\n\nThe new pods pass the readiness probe before their connection pool is warm.\n\n"
     "## Solution\n\n1. Check the ingress error rate in Grafana (*Checkout / Ingress*).\n"
     "2. `kubectl rollout undo deploy/checkout -n shop` if the error rate is above 1%.\n"
     "3. Raise `initialDelaySeconds` of the readiness probe to 20.\n", "published", "alice", "carol"),
    ("Payment authorisations time out", "troubleshooting", "payments", "payments-api",
     ["payments", "timeouts"], "Fail over to the secondary payment provider.",
     "## Symptom\n\np99 latency of `/authorise` above 8 s; provider timeouts in the logs.\n\n## Workaround\n\n"
     "Switch the provider flag `payments.primary` to `secondary` in the feature flag console.\n\n"
     "## Solution\n\nThe circuit breaker (PRB) switches automatically once it is deployed.\n", "published", "dave",
     "bob"),
    ("Replica lag on the PostgreSQL cluster above 10 minutes", "troubleshooting", "data", "postgres",
     ["postgresql", "replication"], "Find the long-running query on the replica and cancel it.",
     "## Problem\n\nReporting reads stale data; `pg_stat_replication` shows replay lag in minutes.\n\n"
     "## Solution\n\n```sql\nSELECT pid, now() - query_start, query FROM pg_stat_activity "
     "WHERE state = 'active' ORDER BY 2 DESC LIMIT 5;\nSELECT pg_cancel_backend(<pid>);\n```\n\n"
     "Set `max_standby_streaming_delay = 30s` so it cannot happen again.\n", "published", "alice", "erin"),
    ("VPN users cannot reach the intranet", "troubleshooting", "network", "network-core",
     ["vpn", "routing"], "Re-announce the 10.20.0.0/16 route on the VPN concentrator.",
     "## Symptom\n\nRemote staff connect but get no route to 10.20.0.0/16.\n\n## Solution\n\n"
     "1. Log in to the concentrator.\n2. `show route 10.20.0.0/16`; if missing, `clear bgp soft in`.\n",
     "in_review", "erin", "carol"),
    ("Restart the checkout service safely", "runbooks", "payments", "online-shop", ["checkout", "kubernetes"],
     "Drain, restart pod by pod, watch the 5xx rate.",
     "1. Drain the node.\n2. Restart the pods one by one.\n3. Check the 5xx rate stays below 0.5%.\n",
     "published", "dave", "bob"),
    ("Rotate the TLS certificate of the API gateway", "runbooks", "platform", None, ["tls", "certificates"],
     "Renew with cert-manager and check the expiry date.",
     "1. `kubectl cert-manager renew api-gateway-tls -n edge`\n2. Check: `openssl s_client -connect "
     "api.example.com:443 | openssl x509 -noout -enddate`\n", "published", "alice", "carol"),
    ("SSO login loops for some users", "troubleshooting", "workplace", "identity", ["sso", "mfa"],
     "Clear the identity provider session cookie; check clock skew.",
     "## Symptom\n\nAfter the MFA prompt users land on the login page again.\n\n## Cause\n\n"
     "Clock skew above 5 minutes between the IdP and the application servers.\n\n## Solution\n\n"
     "Resync NTP on the application servers.\n", "draft", "dave", None),
    ("Free space on the data warehouse staging volume", "runbooks", "data", "data-warehouse",
     ["storage", "warehouse"], "Remove staging files older than 7 days, then rerun the load.",
     "1. `find /staging -mtime +7 -delete`\n2. Rerun the nightly load from the scheduler.\n", "published", "alice",
     "erin"),
    ("How to report a phishing mail", "how-to", "workplace", "email", ["phishing", "security"],
     "Use the Report button in the mail client; never click the link.",
     "Use **Report phishing** in the mail client. The security team receives the original with its headers.\n",
     "published", "dave", "bob"),
    ("Kafka consumer group for orders is rebalancing constantly", "troubleshooting", "data", "kafka", ["kafka"],
     "Raise max.poll.interval.ms; look for slow handlers.",
     "## Cause\n\nA handler takes longer than `max.poll.interval.ms`.\n\n## Solution\n\nRaise it to 600000 and "
     "move slow work out of the handler.\n", "in_review", "alice", "erin"),
    ("Old load balancer failover procedure", "reference", "network", "network-core", ["load-balancer"],
     "Replaced by the managed load balancer in 2025.",
     "Kept for the audit trail.\n", "retired", "erin", None),
    ("Grafana dashboards empty for the eu-2 cluster", "troubleshooting", "platform", "monitoring",
     ["grafana", "prometheus"], "Check the Prometheus targets of the cluster first.",
     "## Solution\n\n1. Open *Status / Targets* in Prometheus.\n2. Restart the node exporter DaemonSet if the "
     "targets are down.\n", "published", "alice", "carol"),
]


def _incident_for(title: str):
    from opsdesk.incidents.models import Incident

    return Incident.objects.filter(title=title, status__in=services.RESOLVED_INCIDENT_STATES).order_by("-id").first()


def load(actor: Actor) -> int:
    created = 0
    for slug, name, description, order in CATEGORIES:
        if not ArticleCategory.objects.filter(slug=slug).exists():
            services.create_category(actor=actor, data={"slug": slug, "name": name, "description": description,
                                                         "order": order})
            created += 1
    users = {u.username: u for u in get_user_model().objects.filter(username__in=["alice", "bob", "carol", "dave",
                                                                                    "erin"])}
    teams = {t.slug: t for t in Team.objects.all()}
    catalogue = {s.slug: s for s in Service.objects.all()}
    categories = {c.slug: c for c in ArticleCategory.objects.all()}
    today = timezone.localdate()
    for index, (title, category, team, service, tags, summary, body, state, author, reviewer) in enumerate(ARTICLES):
        if Article.objects.filter(title=title).exists():
            continue
        writer = Actor.for_user(users[author]) if author in users else actor
        data = {"title": title, "summary": summary, "body": body, "category": categories.get(category),
                "tags": tags, "owner_team": teams.get(team), "author": users.get(author),
                "services": [catalogue[service]] if service in catalogue else [],
                "review_by": today + datetime.timedelta(days=(index * 17) % 120 - 10)}
        if reviewer in users:
            data["reviewers"] = [users[reviewer]]
        incident = _incident_for(title)
        if incident is not None:  # written from a resolved incident, as KCS suggests
            prefill = services.prefill_from_incident(incident)
            data.update(incidents=[incident], source_incident=incident, cis=prefill["cis"])
        article = services.create_article(actor=writer, data=data)
        created += 1
        if index % 3 == 0:  # a second version: the text was improved before the review
            article = services.update_article(article, actor=writer, note="Clearer steps", data={
                "body": body + "\nAsk in the team channel if a step fails.\n"})
        if state == "draft":
            continue
        if state == "retired":
            services.transition_article(article, "retire", actor=writer, data={"reason": "Superseded."})
            continue
        if reviewer not in users:  # no demo people: published by the demo loader, as a manager would
            if state == "published":
                services.transition_article(article, "publish", actor=actor)
            continue
        article = services.transition_article(article, "submit", actor=writer)
        if state == "in_review":
            continue
        services.review_article(article, actor=Actor.for_user(users[reviewer]), decision="approved",
                                comment="Looks right.")
        for voter in users.values():
            if voter.username != author and (index + len(voter.username)) % 3:
                article.refresh_from_db()
                services.record_feedback(article, user=voter, helpful=(index + len(voter.username)) % 4 != 0)
    return created
