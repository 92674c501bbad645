"""Demo changes: "a month of changes" — about forty change requests from three weeks ago to two weeks ahead,
across the teams, services and categories of the earlier demo loaders (accounts, services, cmdb, incidents),
of all three types and in every state: drafts, submitted, in assessment, awaiting approval (with pending
approvals), scheduled, being implemented with steps ticked, in review, closed with every outcome, and a
rejected one. Among them: a change on the main PostgreSQL primary whose CMDB impact reaches tier-1 services
(high risk), two overlapping changes on a Kubernetes node VM and the ESXi host it runs on (the collision
acknowledged at submission), a change inside the month-end freeze window (made here), an emergency change
with its retrospective review, a failed change with its review and the incident it caused, and a CAB
meeting with a generated agenda and decisions.

Everything goes through the services of the changes app (services, risk, approvals, cab, reviews,
freezes), so the change log, the risk factors, the approvals and the KPIs are real. The services stamp
"now"; for the changes of the past weeks the historical times (submitted, approved, actual start and end,
closed, steps ticked, decisions, review) are set afterwards with a queryset `.update(...)` on those rows,
as they would have been recorded then (acceptable for demo data only). Loaded once: safe to run again.

`drive(change, target, ...)` walks a change through its flow and is reused by the releases demo.
"""

from __future__ import annotations

import datetime
import logging

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from opsdesk.core.actors import Actor

from .models import Approval, ChangeCategory, ChangeRequest, ChangeTemplate, FreezeWindow, PlanStep

logger = logging.getLogger(__name__)

MARKER_TITLE = "Fail over the main PostgreSQL primary to pg-main-db-02"  # the demo is loaded when this exists
FREEZE_NAME = "Month-end freeze"
CAB_TITLE = "Weekly CAB"
FAILED_TITLE = "Upgrade the shop backend to 5.15"
CAUSED_INCIDENT_TITLE = "Checkout errors after the shop backend upgrade"

H = datetime.timedelta(hours=1)
D = datetime.timedelta(days=1)

# Steps for normal and emergency changes (the category's plan template is used when there is one).
PLAN = [
    {"kind": "implementation", "who": "Implementer", "action": "Announce the start in the change channel",
     "minutes": 5, "verification": "Message posted"},
    {"kind": "implementation", "who": "Implementer", "action": "Apply the change", "minutes": 45,
     "verification": "The new version or setting is active"},
    {"kind": "implementation", "who": "Implementer", "action": "Run the smoke tests and watch the dashboards",
     "minutes": 20, "verification": "No rise in errors or latency for 15 minutes"},
    {"kind": "implementation", "who": "Implementer", "action": "Announce the end and update the CMDB", "minutes": 5,
     "verification": "CMDB record updated"},
    {"kind": "backout", "who": "Implementer", "action": "Restore the previous version or setting", "minutes": 20,
     "verification": "The previous version answers the health checks"},
    {"kind": "backout", "who": "Implementer", "action": "Announce the backout", "minutes": 5,
     "verification": "Message posted"},
]
ANSWERS_LOW = {"tested": "yes", "backout-tested": "yes", "users-affected": "none", "done-before": "often",
               "complexity": "simple"}
ANSWERS_MEDIUM = {"tested": "partly", "backout-tested": "untested", "users-affected": "some", "done-before": "once",
                  "complexity": "moderate"}
ANSWERS_HIGH = {"tested": "partly", "backout-tested": "untested", "users-affected": "all", "done-before": "once",
                "complexity": "complex"}

# key, title, type, category, team, requester, implementer, services, CIs, day, hour, hours, target, outcome, answers
# target: draft | submitted | assessment | approval | approval_cab | scheduled | implementing | review | closed |
#         rejected | cancelled.  A CI "@vm" / "@host" is the Kubernetes node VM and the ESXi host it runs on.
CHANGES = [
    # --- three weeks ago to yesterday: closed with every outcome, one rejected, one cancelled
    ("dwh-minor", "Upgrade PostgreSQL on the data warehouse to 16.4", "normal", "database", "data", "carol", "dave",
     ["data-warehouse"], ["dwh-db"], -20, 20, 2, "closed", "successful", ANSWERS_LOW),
    ("portal-worker-restart", "Restart the portal worker pods", "standard", "restart-application-pod", "platform",
     "alice", "alice", ["customer-portal"], ["portal-worker"], -19, 9, 1, "closed", "successful", None),
    ("dns-partner", "Add a DNS record for the partner gateway", "standard", "add-dns-record", "network", "erin",
     "erin", ["network-core"], ["internal-dns"], -18, 10, 1, "closed", "successful", None),
    ("esx-batch1", "Patch the ESXi hosts in FRA1 (batch 1)", "normal", "infrastructure", "platform", "alice",
     "alice", ["kubernetes"], ["esx-fra1-01", "esx-fra1-02"], -17, 21, 4, "closed", "successful_with_issues",
     ANSWERS_MEDIUM),
    ("pay-gateway-23", "Deploy pay-gateway 2.3", "normal", "application-deployment", "payments", "dave", "dave",
     ["payments-api"], ["pay-gateway"], -16, 22, 2, "closed", "successful", ANSWERS_LOW),
    ("grafana-cert", "Rotate the TLS certificate of grafana.example.com", "standard", "rotate-tls-certificate",
     "platform", "erin", "erin", ["monitoring"], ["grafana.example.com"], -15, 11, 1, "closed", "successful", None),
    ("ingress-111", "Upgrade ingress-nginx to 1.11 on k8s-eu1", "normal", "application-deployment", "platform",
     "alice", "alice", ["kubernetes"], ["k8s-eu1-ingress-nginx"], -14, 21, 2, "closed", "backed_out",
     ANSWERS_MEDIUM),
    ("shop-515", FAILED_TITLE, "normal", "application-deployment", "payments", "dave", "dave",
     ["online-shop"], ["shop-backend"], -12, 21, 2, "closed", "failed", ANSWERS_MEDIUM),
    ("kafka-emergency", "Emergency: restart the Kafka brokers after the ISR shrink", "emergency", "infrastructure",
     "data", "alice", "alice", ["kafka"], ["kafka-prod"], -11, 3, 1, "closed", "successful", None),
    ("orders-index", "Add an index to the orders table of the shop database", "normal", "database", "payments",
     "dave", "dave", ["online-shop"], ["shop-db-primary"], -10, 22, 1, "closed", "successful", ANSWERS_LOW),
    ("hr-cert", "Rotate the TLS certificate of the HR portal", "standard", "rotate-tls-certificate", "workplace",
     "dave", "dave", ["hr-portal"], ["hr-portal"], -9, 8, 1, "closed", "successful", None),
    ("prom-retention", "Increase the Prometheus retention to 30 days", "normal", "infrastructure", "platform", "alice",
     "alice", ["monitoring"], ["monitoring-prometheus"], -8, 14, 1, "closed", "successful", ANSWERS_LOW),
    ("san-firmware", "Update the SAN controller firmware in FRA1", "normal", "infrastructure", "platform", "alice",
     "alice", [], ["san-fra1-01"], -7, 22, 3, "cancelled", "", ANSWERS_MEDIUM),
    ("dns-status", "Add a DNS record for status.example.com", "standard", "add-dns-record", "network", "erin", "erin",
     ["network-core"], ["internal-dns"], -6, 10, 1, "closed", "successful", None),
    ("dwh-vacuum", "Vacuum and reindex the data warehouse staging tables", "normal", "database", "data", "carol",
     "dave", ["data-warehouse"], ["dwh-db"], -5, 19, 2, "closed", "successful", ANSWERS_LOW),
    ("pay-keys", "Rotate the payment provider API keys", "normal", "security", "payments", "dave", "dave",
     ["payments-api"], ["pay-api"], -4, 9, 1, "closed", "successful_with_issues", ANSWERS_LOW),
    ("gitlab-172", "Upgrade GitLab to 17.2", "normal", "application-deployment", "platform", "alice", "alice", [],
     ["gitlab"], -3, 20, 3, "rejected", "", ANSWERS_MEDIUM),
    ("grafana-restart", "Restart the Grafana pods", "standard", "restart-application-pod", "platform", "alice",
     "alice", ["monitoring"], ["monitoring-grafana"], -2, 10, 1, "closed", "successful", None),
    # --- finished, in review
    ("cert-manager", "Upgrade cert-manager to 1.15 on k8s-eu1", "normal", "application-deployment", "platform",
     "alice", "alice", ["kubernetes"], ["k8s-eu1-cert-manager"], -1, 9, 1, "review", "successful", ANSWERS_LOW),
    ("shop-block-ips", "Emergency: block an abusive IP range at the shop load balancer", "emergency", "network",
     "payments", "dave", "dave", ["online-shop"], ["www.example-shop.com"], -1, 2, 1, "review", "successful", None),
    # --- running now
    ("dwh-airflow", "Move the data warehouse ETL to Airflow 2.9", "normal", "application-deployment", "data", "dave",
     "dave", ["data-warehouse"], ["dwh-etl"], 0, None, 4, "implementing", "", ANSWERS_MEDIUM),
    ("portal-restart", "Restart the customer portal pods", "standard", "restart-application-pod", "platform", "alice",
     "alice", ["customer-portal"], ["portal"], 0, None, 1, "implementing", "", None),
    # --- ahead: scheduled, awaiting approval, in assessment, submitted, drafts
    ("pay-scale", "Scale the payments API to six replicas", "normal", "application-deployment", "payments", "dave",
     "dave", ["payments-api"], ["pay-api"], 1, 21, 1, "scheduled", "", ANSWERS_LOW),
    ("node-kernel", "Drain {vm} and upgrade its kernel", "normal", "infrastructure", "platform", "alice", "alice",
     ["kubernetes"], ["@vm"], 2, 21, 3, "scheduled", "", ANSWERS_LOW),
    ("host-dimm", "Replace a failed memory module in {host}", "normal", "infrastructure", "platform", "erin", "erin",
     [], ["@host"], 2, 22, 2, "scheduled", "", ANSWERS_LOW),
    ("dns-api", "Add a DNS record for api-v2.example.com", "standard", "add-dns-record", "network", "erin", "erin",
     ["network-core"], ["internal-dns"], 3, 10, 1, "scheduled", "", None),
    ("k8s-eu2-130", "Upgrade Kubernetes on k8s-eu2 to 1.30", "normal", "infrastructure", "platform", "alice", "alice",
     ["kubernetes"], ["k8s-eu2"], 4, 20, 4, "scheduled", "", ANSWERS_MEDIUM),
    ("esx-batch2", "Patch the ESXi hosts in FRA1 (batch 2)", "normal", "infrastructure", "platform", "alice", "alice",
     [], ["esx-fra1-03", "esx-fra1-04"], 5, 21, 4, "scheduled", "", ANSWERS_MEDIUM),
    ("shop-redis", "Upgrade Redis on the shop cache to 7.4", "normal", "database", "payments", "dave", "dave",
     ["online-shop"], ["shop-redis"], 6, 22, 2, "scheduled", "", ANSWERS_LOW),
    ("kafka-retention", "Extend the retention of the order events topic", "normal", "infrastructure", "data", "dave",
     "dave", ["kafka"], ["kafka-prod"], 7, 14, 1, "scheduled", "", ANSWERS_LOW),
    ("grant-dwh", "Grant read-only access to the data warehouse for Finance", "standard", "grant-read-only-access",
     "data", "alice", "alice", ["data-warehouse"], ["dwh-db"], 3, 15, 1, "scheduled", "", None),
    ("pg-failover", MARKER_TITLE, "normal", "database", "data", "dave", "dave", ["postgres"],
     ["pg-main-db-primary"], 8, 21, 3, "approval", "", ANSWERS_HIGH),
    ("k8s-eu1-130", "Upgrade Kubernetes on k8s-eu1 to 1.30", "normal", "infrastructure", "platform", "alice", "alice",
     ["kubernetes"], ["k8s-eu1"], 9, 20, 4, "approval_cab", "", ANSWERS_HIGH),
    ("pay-lb", "Move the payment gateway behind the new load balancer pair", "normal", "network", "payments", "dave",
     "dave", ["payments-api"], ["pay-gateway"], 10, 21, 2, "approval", "", ANSWERS_MEDIUM),
    ("month-end-patch", "Patch the reporting replica during the month-end close", "normal", "database", "data",
     "dave", "dave", ["data-warehouse", "postgres"], ["pg-main-db-replica-ams1"], "freeze", 22, 2, "approval", "",
     ANSWERS_MEDIUM),
    ("netpol", "Introduce network policies in k8s-eu1", "normal", "security", "platform", "alice", "alice",
     ["kubernetes"], ["k8s-eu1"], 11, 20, 3, "assessment", "", ANSWERS_MEDIUM),
    ("3ds", "Enable 3-D Secure 2.2 on the payment gateway", "normal", "application-deployment", "payments", "dave",
     "dave", ["payments-api"], ["pay-gateway"], 12, 21, 2, "assessment", "", ANSWERS_MEDIUM),
    ("core-switch", "Replace the core switches in FRA1", "normal", "network", "network", "erin", "erin",
     ["network-core"], ["core-fra1-01"], 12, 23, 5, "submitted", "", ANSWERS_HIGH),
    ("exchange-pilot", "Move ten pilot mailboxes to Exchange Online", "normal", "application-deployment", "workplace",
     "dave", "dave", ["email"], ["exchange"], 13, 18, 3, "submitted", "", ANSWERS_MEDIUM),
    ("pg17", "Upgrade the main PostgreSQL cluster to 17", "normal", "database", "data", "carol", "alice",
     ["postgres"], ["pg-main-db-cluster"], 14, 21, 4, "draft", "", None),
    ("registry-storage", "Move the container registry to the new object storage", "normal", "infrastructure",
     "platform", "alice", "erin", ["kubernetes"], [], 13, 20, 3, "draft", "", None),
    ("bfd-dci", "Enable BFD on the DCI link between FRA1 and AMS1", "normal", "network", "network", "erin", "erin",
     ["network-core"], ["edge-fra1-01", "edge-ams1-01"], 14, 22, 2, "draft", "", None),
]


# --- lookups (tolerant: a missing name is left out, the change is still made) --------------------------------

def user(username):
    return get_user_model().objects.filter(username=username).first()


def actor_for(username) -> Actor:
    found = user(username)
    return Actor.for_user(found) if found is not None else Actor.system("demo")


def _team(slug):
    from opsdesk.accounts.models import Team

    return Team.objects.filter(slug=slug).first() or Team.objects.order_by("name").first()


def _services(slugs):
    from opsdesk.services.models import Service

    return list(Service.objects.filter(slug__in=slugs))


def _cis(names):
    from opsdesk.cmdb.models import ConfigurationItem

    return list(ConfigurationItem.objects.filter(name__in=names))


def vm_and_host() -> tuple[str, str]:
    """A Kubernetes node VM and the ESXi host it is hosted on (the pair whose changes collide)."""
    from opsdesk.cmdb.models import Relationship

    rel = (Relationship.objects.filter(type__slug="hosted-on", ended_at__isnull=True, source__name__startswith="k8s-")
           .select_related("source", "target").order_by("source__name").first()
           or Relationship.objects.filter(type__slug="hosted-on", ended_at__isnull=True, target__isnull=False)
           .select_related("source", "target").order_by("id").first())
    return (rel.source.name, rel.target.name) if rel else ("", "")


def _category_and_template(change_type, key):
    """(category, template): a standard change's template by slug; a normal change's category by slug."""
    if change_type == "standard":
        template = (ChangeTemplate.objects.filter(slug=key, change_type="standard", active=True).first()
                    or ChangeTemplate.objects.filter(change_type="standard", active=True).order_by("id").first())
        return (template.category if template else None), template
    return ChangeCategory.objects.filter(slug=key).first(), None


def month_end_freeze_window(now):
    """The coming month-end: two days before the first of next month to the end of that first day."""
    first = (now.replace(day=1) + 32 * D).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return first - 2 * D, first + D


# --- the flow ------------------------------------------------------------------------------------------------

def _decide_pending(change, *, stages=None, reject_by=None, reason="") -> ChangeRequest:
    """Decide the pending approvals of the current stage, each by its own approver (signed by their own
    action), until the change leaves approval, or only the stages listed in `stages`."""
    from . import approvals

    change.refresh_from_db()
    for _round in range(10):
        if change.status != "approval" or (stages is not None and change.approval_stage not in stages):
            break
        pending = list(Approval.objects.filter(change=change, status="pending", stage_order=change.approval_stage)
                       .select_related("approver").order_by("id"))
        if not pending:
            break
        approval = pending[0]
        if reject_by is not None:
            approval = next((a for a in pending if a.approver.username == reject_by), approval)
            approvals.decide(approval, actor=Actor.for_user(approval.approver), decision="rejected", comment=reason)
        else:
            approvals.decide(approval, actor=Actor.for_user(approval.approver), decision="approved",
                             comment="Plan and backout look fine.")
        change.refresh_from_db()
    return change


def drive(change, target: str, *, actor: Actor, outcome: str = "successful", notes: str = "",
          ticked: int | None = None) -> ChangeRequest:
    """Walk `change` (a draft) through its type's flow to `target` with the services, as people would."""
    from . import services

    def step(name, data=None):
        nonlocal change
        change = services.transition_change(change, name, actor=actor, data=data or {})

    if target == "draft":
        return change
    step("submit", {"acknowledge_collisions": True})
    if target == "submitted":
        return change
    if change.change_type == "normal":
        step("start_assessment")
        if target == "assessment":
            return change
        step("request_approval")
    if target == "approval":
        return change
    if target == "approval_cab":
        return _decide_pending(change, stages={1})
    if target == "rejected":
        return _decide_pending(change, reject_by="carol", reason="Not during the release freeze of the platform "
                                                                 "team; plan it after the Kubernetes upgrade.")
    if change.status == "approval":
        change = _decide_pending(change)
    if target == "cancelled" and change.status == "scheduled":
        step("cancel", {"reason": "Superseded: the vendor withdrew the firmware release."})
    if target in ("scheduled", "cancelled") or change.status != "scheduled":
        return change
    step("start_implementation")
    implementation = list(change.steps.filter(kind="implementation").order_by("order"))
    count = len(implementation) if ticked is None else ticked
    for plan_step in implementation[:count]:
        services.tick_step(plan_step, actor=actor, note="Done" if plan_step.order > 1 else "")
    if target == "implementing":
        return change
    step("complete", {"outcome": outcome, "outcome_notes": notes or OUTCOME_NOTES.get(outcome, "")})
    return change


def finish_change(change, *, actor: Actor, outcome: str = "successful", notes: str = "", review: dict | None = None,
                  close: bool = True) -> ChangeRequest:
    """Implement a scheduled change (every step ticked), record the outcome, write the review when one is
    required (or given) and close it: what the releases demo does with a release's production change."""
    from . import reviews, services

    if change.status == "scheduled":
        change = services.transition_change(change, "start_implementation", actor=actor, data={})
    if change.status == "implementing":
        for plan_step in change.steps.filter(kind="implementation", done_at__isnull=True).order_by("order"):
            services.tick_step(plan_step, actor=actor)
        change = services.transition_change(change, "complete", actor=actor, data={
            "outcome": outcome, "outcome_notes": notes or OUTCOME_NOTES.get(outcome, "")})
    if change.status == "review" and (review is not None or reviews.review_required(change)):
        reviews.record_review(change, actor=actor, data=review or {
            "objectives": "met", "summary": "Deployed as planned.", "lessons": "", "follow_ups": ""})
    if change.status == "review" and close:
        change = services.transition_change(change, "close", actor=actor, data={})
    return change


OUTCOME_NOTES = {
    "successful": "Done as planned; the checks stayed green.",
    "successful_with_issues": "Done, but one step took twice as long as planned; no user impact.",
    "failed": "Checkout answered HTTP 500 for 12% of requests after the upgrade; rolled forward with a hotfix "
              "after 40 minutes.",
    "backed_out": "The new ingress controller dropped long-lived WebSocket connections; backed out after 25 minutes.",
}

REVIEWS = {
    "shop-515": {"objectives": "not_met", "summary": "The upgrade changed the default connection pool size; under the "
                 "evening load checkout ran out of database connections and answered HTTP 500.",
                 "lessons": "Read the upgrade notes for changed defaults; load-test with production traffic levels.",
                 "follow_ups": "Pin the pool size in the deployment; add a 5xx alert during rollouts."},
    "ingress-111": {"objectives": "not_met", "summary": "ingress-nginx 1.11 closed WebSocket connections after 60 s; "
                    "the customer portal's live updates broke, so the change was backed out.",
                    "lessons": "Test long-lived connections in staging.",
                    "follow_ups": "Set proxy-read-timeout explicitly and retry next sprint."},
    "kafka-emergency": {"objectives": "met", "summary": "Broker 3 had fallen out of the ISR after a disk stall; the "
                        "rolling restart brought all partitions back in sync within 20 minutes.",
                        "lessons": "The emergency path worked; the ECAB approved within 10 minutes.",
                        "follow_ups": "Replace the broker's disk (normal change); alert on ISR shrink earlier."},
}


# --- loading -------------------------------------------------------------------------------------------------

def _window(now, day, hour, hours, freeze):
    if day == "freeze":
        start = freeze[0] + D + hour * H  # the freeze starts at midnight
    elif hour is None:  # running now
        start = now.replace(minute=0, second=0, microsecond=0) - H
    else:
        start = (now + day * D).replace(hour=hour, minute=0, second=0, microsecond=0)
    return start, start + hours * H


def _make(spec, now, freeze, pair) -> ChangeRequest:
    from . import services

    (key, title, change_type, cat_key, team, requester, implementer, service_slugs, ci_names, day, hour, hours,
     target, outcome, answers) = spec
    vm, host = pair
    ci_names = [{"@vm": vm, "@host": host}.get(name, name) for name in ci_names]
    title = title.format(vm=vm or "a Kubernetes node", host=host or "an ESXi host")
    category, template = _category_and_template(change_type, cat_key)
    if change_type == "standard" and template is None:
        change_type = "normal"  # no standard catalog in this installation
    start, end = _window(now, day, hour, hours, freeze)
    data = {"title": title, "change_type": change_type, "category": category, "template": template,
            "owner_team": _team(team), "requester": user(requester), "implementer": user(implementer),
            "services": _services(service_slugs), "cis": _cis(ci_names), "planned_start": start, "planned_end": end,
            "description": f"{title}. Requested by {requester} for the {team} team.",
            "reason": "Keep the platform supported and secure." if change_type != "emergency"
            else "Production is degraded now; this restores it.",
            "test_plan": "Smoke tests and the service dashboards for 15 minutes after the change.",
            "communication_plan": "Announce in #changes before and after; status page note when users notice."}
    if change_type != "standard":
        data["steps"] = [dict(s, who=(user(implementer) and user(implementer).get_full_name()) or s["who"])
                         for s in PLAN]
        data["risk_answers"] = answers or {}
    if key in ("dwh-airflow", "pg-failover", "k8s-eu1-130"):
        data["expected_outage"], data["outage_minutes"] = True, 15
    actor = actor_for(requester)
    change = services.create_change(actor=actor, data=data)
    ticked = (2 if change_type != "standard" else 1) if target == "implementing" else None
    return drive(change, target, actor=actor_for(implementer), outcome=outcome, ticked=ticked)


def _finish(change, key, target, *, actor) -> ChangeRequest:
    """Review (when required or asked for) and close a change that reached review."""
    from . import reviews, services

    if change.status != "review":
        return change
    review = REVIEWS.get(key)
    if review is None and reviews.review_required(change):
        review = {"objectives": "met", "summary": "Done as planned.", "lessons": "", "follow_ups": ""}
    if key == "shop-515":
        incident = _caused_incident(change)
        if incident is not None:
            reviews.mark_caused(change, incident, actor=actor, note="Started 5 minutes after the upgrade.")
    if review is not None and target == "closed":
        reviews.record_review(change, actor=actor, data=review)
    if target == "closed":
        change = services.transition_change(change, "close", actor=actor, data={})
    return change


def _caused_incident(change):
    from opsdesk.incidents import services as incident_services
    from opsdesk.incidents.models import Incident

    found = Incident.objects.filter(title=CAUSED_INCIDENT_TITLE).first()
    if found is not None:
        return found
    data = {"title": CAUSED_INCIDENT_TITLE, "impact": 2, "urgency": 1, "source": "manual",
            "description": "Checkout answers HTTP 500 for about 12% of requests since the evening deployment."}
    service = change.services.first()
    if service is not None:
        data["service"] = service
    cis = list(change.cis.all())
    if cis:
        data["cis"] = cis
    incident = incident_services.create_incident(actor=Actor.system("demo"), data=data)
    when = change.planned_start + 25 * datetime.timedelta(minutes=1)
    Incident.objects.filter(pk=incident.pk).update(created_at=when, detected_at=when)  # as recorded then (demo)
    return incident


def _backdate(change, start, end) -> None:
    """Set the times a past change would have been recorded with (demo data only: the services stamp now)."""
    from . import risk

    created = start - 6 * D
    submitted = start - 5 * D
    fields = {"created_at": created, "submitted_at": submitted if change.submitted_at else None}
    if change.approved_at:
        fields["approved_at"] = start - 2 * D
    if change.actual_start:
        fields["actual_start"] = start + 5 * datetime.timedelta(minutes=1)
    if change.actual_end:
        fields["actual_end"] = end - 10 * datetime.timedelta(minutes=1)
    if change.closed_at:
        fields["closed_at"] = end + (D if change.outcome != "cancelled" else -D)
    if change.collisions_acknowledged_at:
        fields["collisions_acknowledged_at"] = submitted
    if change.risk_assessed_at:
        fields["risk_assessed_at"] = submitted
    ChangeRequest.objects.filter(pk=change.pk).update(**fields)
    if change.submitted_at:
        # The assessment as it was made at submission, days before the window (not "already past" today).
        change = ChangeRequest.objects.get(pk=change.pk)
        risk.apply_assessment(change, risk.assess(change, now=submitted))
        ChangeRequest.objects.filter(pk=change.pk).update(
            risk_score=change.risk_score, risk_level=change.risk_level, risk_factors=change.risk_factors,
            risk_assessed_at=submitted)
    Approval.objects.filter(change=change).update(created_at=submitted)
    Approval.objects.filter(change=change, decided_at__isnull=False).update(decided_at=start - 2 * D)
    Approval.objects.filter(change=change, due_at__isnull=False).update(due_at=submitted + 2 * D)
    PlanStep.objects.filter(change=change, done_at__isnull=False).update(done_at=start + 20 * datetime.timedelta(
        minutes=1))
    from .models import PostImplementationReview

    PostImplementationReview.objects.filter(change=change).update(completed_at=end + D - H)


def _freeze(now):
    from . import freezes

    start, end = month_end_freeze_window(now)
    found = FreezeWindow.objects.filter(name=FREEZE_NAME, starts_at=start).first()
    if found is not None:
        return found
    return freezes.create_freeze_window(actor=actor_for("carol"), data={
        "name": FREEZE_NAME, "reason": "Finance closes the books: no changes on the reporting and payment systems.",
        "starts_at": start, "ends_at": end, "active": True})


def _cab(now) -> None:
    """A CAB meeting tomorrow morning with the agenda generated from the changes awaiting the CAB; the board
    defers the PostgreSQL fail-over and carol records her approval of the Kubernetes upgrade."""
    from . import cab
    from .models import CABMeeting

    if CABMeeting.objects.filter(title=CAB_TITLE).exists():
        return
    start = (now + D).replace(hour=10, minute=0, second=0, microsecond=0)
    attendees = [u for u in (user("carol"), user("erin"), user("alice"), user("bob")) if u is not None]
    meeting = cab.create_meeting(actor=actor_for("carol"), data={
        "title": CAB_TITLE, "starts_at": start, "ends_at": start + H, "location": "Room Rhine / video link",
        "attendees": attendees})
    items = cab.generate_agenda(meeting, actor=actor_for("carol"))
    for item in items:
        if item.change.title == MARKER_TITLE:
            cab.record_decision(item, actor=actor_for("carol"), decision="deferred",
                                notes="Rehearse the fail-over on the staging cluster first; back next week.")
        elif "k8s-eu1" in item.change.title and item.change.status == "approval":
            pending = Approval.objects.filter(change=item.change, status="pending",
                                              stage_order=item.change.approval_stage).select_related("approver")
            voter = next((a.approver for a in pending if a.approver.username == "carol"), None) or \
                next((a.approver for a in pending), None)
            if voter is not None:
                cab.record_decision(item, actor=Actor.for_user(voter), decision="approved",
                                    notes="Rehearsed on k8s-eu2; backout tested.")


def load(actor: Actor) -> int:
    if ChangeRequest.objects.filter(title=MARKER_TITLE).exists() or not get_user_model().objects.filter(
            username="alice").exists():
        return 0
    now = timezone.now()
    freeze = _freeze(now)
    freeze_window = (freeze.starts_at, freeze.ends_at)
    pair = vm_and_host()
    created = 1
    for spec in CHANGES:
        key, target = spec[0], spec[12]
        try:
            with transaction.atomic():
                change = _make(spec, now, freeze_window, pair)
                change = _finish(change, key, target, actor=actor_for(spec[6]))
                start, end = change.planned_start, change.planned_end
                if end is not None and end < now:
                    _backdate(change, start, end)
            created += 1
        except Exception:  # noqa: BLE001  (one change that does not fit this installation leaves the rest)
            logger.exception("demo change %s could not be made", key)
    try:
        with transaction.atomic():
            _cab(now)
        created += 1
    except Exception:  # noqa: BLE001
        logger.exception("demo CAB meeting could not be made")
    return created
