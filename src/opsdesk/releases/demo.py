"""Demo releases: seven releases of the demo's applications across Development -> Test -> Staging ->
Production over the past three weeks, with their deployments and production changes, so the board shows
the versions each environment runs now:

- Payments API 3.8.0 and Online Shop 5.14.2: through every environment to production, closed, watch quiet;
- Online Shop 5.16.0: deployed to production and rolled back the same evening (its change backed out, with
  the review);
- Customer Portal 2.4.0: deployed to production five hours ago and under post-release watch, where a rise in
  incidents on the portal has been flagged;
- Payments API 3.9.0: succeeded in Staging, approved for production, its change scheduled;
- Product Search 1.12.0: in test (one failed test deployment, then a good one);
- Data Warehouse ETL 2.10.0: being built, on Development only.

Everything goes through the services (releases.services with its gates, changes.services and approvals for
the production changes, watch.evaluate for the post-release watch). The gate lets production deployments
through only inside the approved change's window, i.e. now: so the deployments are recorded with their
historical start and end, and afterwards the production changes' windows and times, the rollback's time and
the versions' times are set back with a queryset `.update(...)` to when they would have been recorded
(acceptable for demo data only). Loaded once: safe to run again.
"""

from __future__ import annotations

import datetime
import logging

from django.db import transaction
from django.utils import timezone

from opsdesk.core.actors import Actor

from .models import DeployedVersion, Deployment, Environment, Release

logger = logging.getLogger(__name__)

H = datetime.timedelta(hours=1)
D = datetime.timedelta(days=1)
MARKER_VERSION = ("Customer Portal", "2.4.0")
ROLLBACK_STEPS = [
    {"who": "Release manager", "action": "Redeploy the previous version from the pipeline", "minutes": 15,
     "verification": "The previous version answers the health checks"},
    {"who": "Release manager", "action": "Announce the rollback in #releases", "minutes": 5,
     "verification": "Message posted"},
]

# title, version, team, manager, deployer, services, application CIs, deployments [(env, days ago, result)],
# production: None | "closed" | "rolled_back" | "watch_rise" | "approved"
RELEASES = [
    ("Online Shop", "5.14.2", "payments", "bob", "dave", ["online-shop"], ["shop-backend", "shop-frontend"],
     [("development", 22, "succeeded"), ("test", 21, "succeeded"), ("staging", 20, "succeeded"),
      ("production", 19, "succeeded")], "closed"),
    ("Payments API", "3.8.0", "payments", "bob", "dave", ["payments-api"], ["pay-api"],
     [("development", 20, "succeeded"), ("test", 19, "succeeded"), ("staging", 18, "succeeded"),
      ("production", 17, "succeeded")], "closed"),
    ("Online Shop", "5.16.0", "payments", "bob", "dave", ["online-shop"], ["shop-backend", "shop-frontend"],
     [("development", 9, "succeeded"), ("test", 8, "succeeded"), ("staging", 7, "succeeded"),
      ("production", 6, "succeeded")], "rolled_back"),
    (*MARKER_VERSION, "platform", "erin", "alice", ["customer-portal"], ["portal"],
     [("development", 4, "succeeded"), ("test", 3, "succeeded"), ("staging", 2, "succeeded"),
      ("production", 5 / 24, "succeeded")], "watch_rise"),
    ("Payments API", "3.9.0", "payments", "bob", "dave", ["payments-api"], ["pay-api"],
     [("development", 3, "succeeded"), ("test", 2, "succeeded"), ("staging", 1, "succeeded")], "approved"),
    ("Product Search", "1.12.0", "platform", "erin", "alice", ["search"], [],
     [("development", 2, "succeeded"), ("test", 1.5, "failed"), ("test", 1, "succeeded")], None),
    ("Data Warehouse ETL", "2.10.0", "data", "alice", "alice", ["data-warehouse"], ["dwh-etl"],
     [("development", 0.5, "succeeded")], None),
]
NOTES = """## {title} {version}

### Changes
- Faster start-up: configuration is read once at boot.
- Dependencies updated (security fixes).
- Better error messages on the health endpoint.

### Upgrade notes
No schema migration. Roll back by redeploying the previous version.
"""
WATCH_INCIDENTS = ["Customer portal: login page times out", "Customer portal answers HTTP 502 for some users",
                   "Customer portal: invoices page is empty", "Customer portal: slow search results"]


def _environment(slug):
    return Environment.objects.filter(slug=slug, active=True).first()


def _approve_change(change, *, actor: Actor, now) -> object:
    """Give the release's production change a window around now (the gate's condition), a risk answer
    sheet, and take it through submission and approval with the changes demo's driver."""
    from opsdesk.changes import demo as change_demo
    from opsdesk.changes import services as change_services

    if change.status == "draft":
        change = change_services.update_change(change, actor=actor, data={
            "planned_start": now - H, "planned_end": now + 2 * H, "implementer": actor.user,
            "risk_answers": change_demo.ANSWERS_LOW})
        change = change_demo.drive(change, "scheduled", actor=actor)
    return change


def _backdate_change(change, deployed_at, *, closed: bool) -> None:
    """The production change as recorded then: window around the deployment (demo data only)."""
    from opsdesk.changes.models import Approval, ChangeRequest, PlanStep, PostImplementationReview

    start = deployed_at - 30 * datetime.timedelta(minutes=1)
    fields = {"planned_start": start, "planned_end": start + 2 * H, "created_at": start - 4 * D,
              "submitted_at": start - 3 * D, "approved_at": start - 2 * D, "risk_assessed_at": start - 3 * D}
    change = ChangeRequest.objects.get(pk=change.pk)
    if change.actual_start:
        fields["actual_start"] = start
    if change.actual_end:
        fields["actual_end"] = deployed_at + 20 * datetime.timedelta(minutes=1)
    if closed and change.closed_at:
        fields["closed_at"] = deployed_at + D
    ChangeRequest.objects.filter(pk=change.pk).update(**fields)
    Approval.objects.filter(change=change, decided_at__isnull=False).update(decided_at=start - 2 * D)
    Approval.objects.filter(change=change).update(created_at=start - 3 * D)
    PlanStep.objects.filter(change=change, done_at__isnull=False).update(done_at=deployed_at)
    PostImplementationReview.objects.filter(change=change).update(completed_at=deployed_at + D - H)


def _deploy(release, env_slug, when, result, *, actor: Actor):
    from . import services

    environment = _environment(env_slug)
    if environment is None:
        return None
    finished = when + 12 * datetime.timedelta(minutes=1)
    return services.record_deployment(release, environment, actor=actor, data={
        "result": result, "started_at": when, "finished_at": finished,
        "pipeline_url": f"https://ci.example.com/{release.title.lower().replace(' ', '-')}/pipelines/"
                        f"{int(when.timestamp()) % 100000}",
        "external_id": f"{env_slug}-{int(when.timestamp())}",
        "notes": "" if result == "succeeded" else "Integration tests failed: 3 of 412 (search ranking)."})


def _watch_rise(release, deployed_at, now) -> None:
    """Incidents on the portal after the deployment; the watch compares them with the hours before."""
    from opsdesk.incidents import services as incident_services
    from opsdesk.incidents.models import Incident

    from . import watch

    service = release.services.first()
    for n, title in enumerate(WATCH_INCIDENTS):
        when = deployed_at + (40 + 55 * n) * datetime.timedelta(minutes=1)
        data = {"title": title, "impact": 3, "urgency": 2, "source": "manual"}
        if service is not None:
            data["service"] = service
        incident = incident_services.create_incident(actor=Actor.system("demo"), data=data)
        Incident.objects.filter(pk=incident.pk).update(created_at=when, detected_at=when)  # as recorded then (demo)
    watch.evaluate(release, now=now)


def _make(spec, now) -> Release:
    from opsdesk.accounts.models import Team
    from opsdesk.changes import demo as change_demo
    from opsdesk.cmdb.models import ConfigurationItem
    from opsdesk.services.models import Service

    from . import services, watch

    title, version, team, manager, deployer, service_slugs, ci_names, deployments, production = spec
    actor = change_demo.actor_for(deployer)
    first_day = max(days for _env, days, _result in deployments)
    release = services.create_release(actor=change_demo.actor_for(manager), data={
        "title": title, "version": version, "owner_team": Team.objects.filter(slug=team).first(),
        "manager": change_demo.user(manager), "description": f"{title} {version}: the regular release of the team.",
        "notes": NOTES.format(title=title, version=version),
        "services": list(Service.objects.filter(slug__in=service_slugs)),
        "cis": list(ConfigurationItem.objects.filter(name__in=ci_names)),
        "work_items": [{"key": f"OPS-{100 + len(title) * 7 + i}", "title": f"{title}: item {i + 1}",
                        "url": f"https://git.example.com/issues/{100 + i}"} for i in range(3)],
        "planned_dates": {env: (now - days * D).date().isoformat() for env, days, _result in deployments},
        "rollback_steps": ROLLBACK_STEPS})
    release = services.transition_release(release, "start_build", actor=actor)
    release_created = now - (first_day + 2) * D
    deployed_at = None
    for env_slug, days, result in deployments:
        when = now - days * D
        if env_slug == "production":
            release.refresh_from_db()
            change = release.production_change or services.ensure_production_change(release, actor=actor)
            _approve_change(change, actor=actor, now=now)
            deployed_at = when
        _deploy(release, env_slug, when, result, actor=actor)
        release.refresh_from_db()
    if production == "approved":
        change = release.production_change or services.ensure_production_change(release, actor=actor)
        # Scheduled for the coming days: the gate opens in its window.
        from opsdesk.changes import services as change_services

        if change.status == "draft":
            start = (now + 3 * D).replace(hour=20, minute=0, second=0, microsecond=0)
            change = change_services.update_change(change, actor=actor, data={
                "planned_start": start, "planned_end": start + 2 * H, "implementer": actor.user,
                "risk_answers": change_demo.ANSWERS_LOW})
            change_demo.drive(change, "scheduled", actor=actor)
        services.transition_release(release, "approve_for_production", actor=change_demo.actor_for(manager))
    if deployed_at is not None:
        change = release.production_change
        if production == "rolled_back":
            prod = _environment("production")
            rollback = services.rollback(release, prod, actor=actor, data={
                "reason": "Checkout latency doubled after the deployment; rolled back to 5.14.2."})
            if change is not None:
                change_demo.finish_change(change, actor=actor, outcome="backed_out", review={
                    "objectives": "not_met", "summary": "5.16.0 doubled checkout latency (N+1 queries in the "
                    "basket); rolled back to 5.14.2 after 35 minutes.", "lessons": "Load-test the basket with "
                    "production-sized carts.", "follow_ups": "Fix the basket query; add a latency check to the "
                    "staging gate."})
            back = deployed_at + 35 * datetime.timedelta(minutes=1)
            Deployment.objects.filter(pk=rollback.pk).update(started_at=back, finished_at=back + 5 * datetime.timedelta(
                minutes=1))  # when it happened (demo)
            DeployedVersion.objects.filter(deployment=rollback).update(deployed_at=back)
        elif change is not None:
            change_demo.finish_change(change, actor=actor, close=production == "closed")
        if change is not None:
            _backdate_change(change, deployed_at, closed=True)
        if production in ("closed", "rolled_back"):
            watch.evaluate(release, now=now)  # the watch window ended days ago
        if production == "closed":
            services.transition_release(release, "close", actor=change_demo.actor_for(manager))
        elif production == "watch_rise":
            _watch_rise(release, deployed_at, now)
    Release.objects.filter(pk=release.pk).update(created_at=release_created)  # as recorded then (demo)
    return release


def load(actor: Actor) -> int:
    from opsdesk.accounts.models import User

    if Release.objects.filter(title=MARKER_VERSION[0], version=MARKER_VERSION[1]).exists() or \
            not User.objects.filter(username="alice").exists() or _environment("production") is None:
        return 0
    now = timezone.now()
    created = 0
    for spec in RELEASES:
        try:
            with transaction.atomic():
                _make(spec, now)
            created += 1
        except Exception:  # noqa: BLE001  (one release that does not fit this installation leaves the rest)
            logger.exception("demo release %s %s could not be made", spec[0], spec[1])
    return created
