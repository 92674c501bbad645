"""The one write path for releases and deployments.

Contract:
- create_release(*, actor, data) -> Release; update_release(release, *, actor, data); transition_release(...)
- record_deployment(release, environment, *, actor, data) -> Deployment   (checks the gate; 409 with the reason)
- rollback(release, environment, *, actor, data) -> Deployment
- ensure_production_change(release, *, actor) -> ChangeRequest
"""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from opsdesk.core import audit, events, records, search
from opsdesk.core.actors import Actor
from opsdesk.core.comments import add_comment
from opsdesk.core.permissions import has_role
from opsdesk.core.workflow import TransitionNotAllowed

from . import gates
from .models import DeployedVersion, Deployment, Environment, Release, ReleaseSettings
from .workflows import RELEASE_WORKFLOW

AUDITED = ["title", "version", "description", "notes", "owner_team", "manager", "services", "cis", "changes",
           "work_items", "planned_dates", "rollback_steps", "production_change", "status", "status_reason",
           "deployed_at"]
READ_ONLY_STATES = ("closed", "cancelled")
SET_BY_FLOW = ("status", "number", "deployed_at", "watch_until", "watch_status", "watch_result", "watch_flagged_at")
MAX_WORK_ITEMS = 100
MAX_STEPS = 100
# Services, application CIs, changes and planned dates of one release: at most this many each.
MAX_LINKS = 100
LINK_FIELDS = ("services", "cis", "changes")
# A deployment time from CI/CD may run ahead of ours by clock skew, not more.
FUTURE_TOLERANCE = datetime.timedelta(minutes=5)
RESULTS = {value for value, _label in Deployment.RESULTS}
# Reasons that do not stop approving for production: the deployment happens later, inside the window.
NOT_FOR_APPROVAL = ("window",)


class GateDenied(TransitionNotAllowed):
    """A promotion gate refused the deployment; `reasons` lists every condition that is not met."""

    def __init__(self, reasons: list[str]):
        self.reasons = list(reasons)
        super().__init__(" ".join(self.reasons))


def release_settings() -> ReleaseSettings:
    return ReleaseSettings.objects.get_or_create(pk=1)[0]


# --- validation -----------------------------------------------------------------------------------------

_url = URLValidator(schemes=["http", "https"])


def _text(value, limit: int) -> str:
    return str(value if value is not None else "").strip()[:limit]


def clean_work_items(items) -> list[dict]:
    if items in (None, ""):
        return []
    if not isinstance(items, list) or len(items) > MAX_WORK_ITEMS:
        raise ValidationError({"work_items": _("A list of at most %(n)s items {key, title, url}.")
                               % {"n": MAX_WORK_ITEMS}})
    cleaned, errors = [], []
    for index, item in enumerate(items, start=1):
        if not isinstance(item, dict) or set(item) - {"key", "title", "url"}:
            errors.append(_("Item %(i)s: an object with key, title and url.") % {"i": index})
            continue
        key, title, url = _text(item.get("key"), 64), _text(item.get("title"), 300), _text(item.get("url"), 500)
        if not key:
            errors.append(_("Item %(i)s: the key is required (e.g. OPS-12).") % {"i": index})
        if url:
            try:
                _url(url)
            except ValidationError:
                errors.append(_("Item %(i)s: “%(url)s” is not an http(s) address.") % {"i": index, "url": url})
        cleaned.append({"key": key, "title": title, "url": url})
    if errors:
        raise ValidationError({"work_items": errors})
    return cleaned


def clean_planned_dates(value) -> dict:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise ValidationError({"planned_dates": _("An object {environment key: date}.")})
    if len(value) > MAX_LINKS:
        raise ValidationError({"planned_dates": _("At most %(n)s planned dates.") % {"n": MAX_LINKS}})
    known = set(Environment.objects.values_list("slug", flat=True))
    cleaned, errors = {}, []
    for slug, day in value.items():
        if slug not in known:
            errors.append(_("There is no environment “%(slug)s”.") % {"slug": slug})
            continue
        if day in (None, ""):
            continue
        parsed = day if isinstance(day, datetime.date) else parse_date(str(day)) if isinstance(day, str) else None
        if isinstance(parsed, datetime.datetime):
            parsed = parsed.date()
        if parsed is None:
            errors.append(_("%(slug)s: “%(day)s” is not a date (YYYY-MM-DD).") % {"slug": slug, "day": day})
            continue
        cleaned[slug] = parsed.isoformat()
    if errors:
        raise ValidationError({"planned_dates": errors})
    return cleaned


def clean_steps(steps) -> list[dict]:
    if steps in (None, ""):
        return []
    if not isinstance(steps, list) or len(steps) > MAX_STEPS:
        raise ValidationError({"rollback_steps": _("A list of at most %(n)s steps {who, action, minutes, "
                                                   "verification}.") % {"n": MAX_STEPS}})
    cleaned, errors = [], []
    for index, step in enumerate(steps, start=1):
        if not isinstance(step, dict) or set(step) - {"who", "action", "minutes", "verification"}:
            errors.append(_("Step %(i)s: an object with who, action, minutes and verification.") % {"i": index})
            continue
        action = _text(step.get("action"), 2000)
        if not action:
            errors.append(_("Step %(i)s: say what is done.") % {"i": index})
        minutes = step.get("minutes")
        if minutes in (None, ""):
            minutes = None
        else:
            try:
                minutes = int(minutes)
                if minutes < 0 or minutes > 100000:
                    raise ValueError
            except (TypeError, ValueError):
                errors.append(_("Step %(i)s: minutes must be a whole number, 0 or more.") % {"i": index})
                minutes = None
        cleaned.append({"who": _text(step.get("who"), 200), "action": action, "minutes": minutes,
                        "verification": _text(step.get("verification"), 2000)})
    if errors:
        raise ValidationError({"rollback_steps": errors})
    return cleaned


def _clean(data: dict, release: Release | None) -> dict:
    data = dict(data)
    refused = [name for name in SET_BY_FLOW if name in data]
    if refused:
        raise ValidationError({name: _("This field is set by the release's flow, not by editing.") for name in refused})
    for name in ("title", "version"):
        if name in data:
            data[name] = str(data[name] or "").strip()
    too_long = {name: _("At most %(n)s items.") % {"n": MAX_LINKS} for name in LINK_FIELDS
                if data.get(name) is not None and len(data[name]) > MAX_LINKS}
    if too_long:
        raise ValidationError(too_long)
    if "work_items" in data:
        data["work_items"] = clean_work_items(data["work_items"])
    if "planned_dates" in data:
        data["planned_dates"] = clean_planned_dates(data["planned_dates"])
    if "rollback_steps" in data:
        data["rollback_steps"] = clean_steps(data["rollback_steps"])
    return data


# --- create, edit, transitions -------------------------------------------------------------------------

def may_link_change(user, change, owner_team_id) -> bool:
    """A change may be linked to a release of `owner_team_id` when it belongs to that team, or when the user
    has responder rights on the change's team. System jobs (no user) link what they are given."""
    if user is None or change.owner_team_id == owner_team_id:
        return True
    return has_role(user, "responder", change.owner_team_id)


def _check_links(data: dict, release: Release | None, *, actor: Actor) -> None:
    """Refuse (400, nothing written) changes the caller may not link: every change newly given in `changes` or
    as `production_change` must belong to the release's owner team or to a team the caller responds for."""
    owner = data.get("owner_team") if "owner_team" in data else getattr(release, "owner_team", None)
    owner_id = getattr(owner, "pk", owner)
    linked = set()
    if release is not None:
        linked = set(release.changes.values_list("pk", flat=True)) | {release.production_change_id}
    errors = {}
    for name in ("changes", "production_change"):
        value = data.get(name)
        given = [c for c in (value if isinstance(value, (list, tuple, set)) else [value]) if c is not None]
        refused = [c.number for c in given if getattr(c, "pk", None) not in linked
                   and not may_link_change(actor.user, c, owner_id)]
        if refused:
            errors[name] = _("%(changes)s belong to another team than the release's owner team, and you are not a "
                             "responder there.") % {"changes": ", ".join(refused)}
    if errors:
        raise ValidationError(errors)


def create_release(*, actor: Actor, data: dict) -> Release:
    data = _clean(data, None)
    _check_links(data, None, actor=actor)
    release = records.create_record(Release, actor=actor, fields=data, workflow=RELEASE_WORKFLOW, audited=AUDITED)
    return Release.objects.get(pk=release.pk)


def update_release(release: Release, *, actor: Actor, data: dict) -> Release:
    data = _clean(data, release)
    _check_links(data, release, actor=actor)

    def check(locked: Release, fields: dict) -> None:
        if locked.status in READ_ONLY_STATES:
            raise TransitionNotAllowed(_("%(r)s is %(state)s and read-only.")
                                       % {"r": locked.number, "state": locked.get_status_display().lower()})

    return records.update_record(release, actor=actor, fields=data, audited=AUDITED, check=check)


def _apply_transition_fields(release: Release, transition, data: dict) -> None:
    if "reason" in transition.requires or data.get("reason"):
        release.status_reason = _text(data.get("reason"), 500)


def transition_release(release: Release, name: str, *, actor: Actor, data: dict | None = None) -> Release:
    data = data or {}
    with transaction.atomic():
        if name == "approve_for_production":
            locked = Release.objects.select_for_update().get(pk=release.pk)
            RELEASE_WORKFLOW.check(locked, name, data)
            production = production_environment()
            if production is None:
                raise TransitionNotAllowed(_("There is no active production environment."))
            reasons = [r.message for r in gates.evaluate(locked, production) if r.code not in NOT_FOR_APPROVAL]
            if reasons:
                raise GateDenied(reasons)
        release = records.transition_record(release, name, actor=actor, workflow=RELEASE_WORKFLOW, data=data,
                                            apply_fields=_apply_transition_fields)
        if release.status == "in_test" and not release.production_change_id and release_settings().auto_create_change:
            ensure_production_change(release, actor=actor)
            release.refresh_from_db()
    return release


def production_environment() -> Environment | None:
    return Environment.objects.filter(active=True, is_production=True).order_by("order", "id").first()


# --- the production change -----------------------------------------------------------------------------

def ensure_production_change(release: Release, *, actor: Actor):
    """The release's production change: the linked one, or a new one made from the release (its services,
    CIs and owner team; a deploy step and the rollback procedure as backout steps; the configured
    standard template when there is one)."""
    from opsdesk.changes import services as change_services
    from opsdesk.changes.models import ChangeTemplate

    with transaction.atomic():
        release = Release.objects.select_for_update().get(pk=release.pk)
        if release.status in READ_ONLY_STATES or release.status == "rolled_back":
            raise TransitionNotAllowed(_("%(r)s is %(state)s; no change is created for it.")
                                       % {"r": release.number, "state": release.get_status_display().lower()})
        if release.production_change_id:
            return release.production_change
        steps = [{"kind": "implementation", "who": release.manager.display_name if release.manager_id else "",
                  "action": _("Deploy %(r)s %(v)s to production") % {"r": release.number, "v": release.version},
                  "minutes": None, "verification": _("The deployment is recorded as succeeded on %(r)s.")
                  % {"r": release.number}}]
        steps += [{"kind": "backout", **step} for step in release.rollback_steps or []]
        data = {"title": (_("Deploy %(r)s %(title)s %(v)s to production")
                          % {"r": release.number, "title": release.title, "v": release.version})[:300],
                "description": release.description or release.title,
                "owner_team": release.owner_team, "services": list(release.services.all()),
                "cis": list(release.cis.all()), "steps": steps}
        slug = release_settings().change_template
        template = ChangeTemplate.objects.filter(slug=slug, active=True).first() if slug else None
        if template is not None:
            data.update(template=template, change_type="standard")
        else:
            data["change_type"] = "normal"
        if actor.user is not None:
            data["requester"] = actor.user
        change = change_services.create_change(actor=actor, data=data)
        release.production_change = change
        release.save(update_fields=["production_change", "updated_at"])
        release.changes.add(change)
        audit.record(release, actor=actor, action="production_change",
                     changes={"production_change": [None, str(change)]})
        events.emit("release.change_created", release, actor=actor, payload={"change": change.number})
        add_comment(release, actor=actor, body=_("Production change %(c)s was created from this release.")
                    % {"c": change.number})
    return change


# --- deployments ---------------------------------------------------------------------------------------

def _moment(value, name: str, errors: dict):
    if value in (None, ""):
        return None
    if isinstance(value, datetime.datetime):
        parsed = value
    else:
        parsed = parse_datetime(str(value))
        if parsed is None:
            errors[name] = _("A date and time, e.g. 2026-12-01T14:30:00Z.")
            return None
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


def clean_deployment_data(data: dict, release: Release) -> dict:
    data = dict(data or {})
    errors = {}
    result = data.get("result") or "succeeded"
    if result not in RESULTS:
        errors["result"] = _("One of %(values)s.") % {"values": ", ".join(sorted(RESULTS))}
    url = _text(data.get("pipeline_url"), 1000)
    if url:
        if len(url) > 500:
            errors["pipeline_url"] = _("At most 500 characters.")
        else:
            try:
                _url(url)
            except ValidationError:
                errors["pipeline_url"] = _("An http(s) address of the pipeline run.")
    version = _text(data.get("version"), 1000) or release.version
    if len(version) > 100:
        errors["version"] = _("At most 100 characters.")
    external_id = _text(data.get("external_id"), 1000)
    if len(external_id) > 200:
        errors["external_id"] = _("At most 200 characters.")
    started = _moment(data.get("started_at"), "started_at", errors)
    finished = _moment(data.get("finished_at"), "finished_at", errors)
    now = timezone.now()
    for name, value in (("started_at", started), ("finished_at", finished)):
        if value is not None and value > now + FUTURE_TOLERANCE:
            errors[name] = _("%(field)s is in the future (%(value)s); a deployment is recorded when it has started "
                             "or finished.") % {"field": name, "value": value.isoformat()}
    if started and finished and finished < started and "finished_at" not in errors:
        errors["finished_at"] = _("The deployment cannot finish before it started.")
    if errors:
        raise ValidationError(errors)
    if started is None and finished is not None and finished < now:
        started = finished  # only the end was given: the run did not start after it ended
    return {"result": result, "pipeline_url": url, "version": version, "external_id": external_id,
            "started_at": started or now, "finished_at": finished or (None if result == "in_progress" else now),
            "notes": _text(data.get("notes"), 5000), "services": data.get("services"), "cis": data.get("cis")}


def _targets(release: Release, data: dict) -> tuple[list, list]:
    services = data.get("services")
    cis = data.get("cis")
    return (list(services) if services is not None else list(release.services.all()),
            list(cis) if cis is not None else list(release.cis.all()))


def _current_version(environment: Environment, services: list, cis: list) -> str:
    rows = DeployedVersion.objects.filter(environment=environment)
    for service in services:
        row = rows.filter(service=service, ci__isnull=True).first()
        if row:
            return row.version
    for ci in cis:
        row = rows.filter(ci=ci).first()
        if row:
            return row.version
    return ""


def _set_versions(environment, services, cis, *, version, release, deployment, at) -> None:
    for service in services:
        DeployedVersion.objects.update_or_create(
            environment=environment, service=service, ci=None,
            defaults={"version": version, "release": release, "deployment": deployment, "deployed_at": at})
    for ci in cis:
        DeployedVersion.objects.update_or_create(
            environment=environment, ci=ci,
            defaults={"version": version, "release": release, "deployment": deployment, "deployed_at": at,
                      "service": None})


def _is_test_stage(environment: Environment) -> bool:
    """A testing stage: a non-production environment after the first active one (Test, Staging), or the one
    keyed "test"."""
    if environment.is_production:
        return False
    first = Environment.objects.filter(active=True).order_by("order", "id").first()
    return environment.slug == "test" or (first is not None and (environment.order, environment.pk)
                                          > (first.order, first.pk))


def _after_success(release: Release, deployment: Deployment, environment: Environment, *, actor: Actor,
                   services: list, cis: list) -> None:
    _set_versions(environment, services, cis, version=deployment.version, release=release, deployment=deployment,
                  at=deployment.finished_at or deployment.started_at)
    if environment.is_production:
        if release.status in RELEASE_WORKFLOW.get("mark_deployed").sources:
            transition_release(release, "mark_deployed", actor=actor)
        Release.objects.filter(pk=release.pk).update(deployed_at=deployment.finished_at or deployment.started_at)
        release.refresh_from_db()
        from . import watch

        watch.start_watch(release, deployment)
    elif _is_test_stage(environment) and release.status in ("planned", "building"):
        transition_release(release, "start_test", actor=actor)


def _report(release: Release, deployment: Deployment, environment: Environment, *, actor: Actor) -> None:
    """Change log, event and timeline line for a deployment that reached its result."""
    values = {"environment": environment.slug, "version": deployment.version,
              "previous_version": deployment.previous_version, "result": deployment.result,
              "deployment": deployment.pk}
    if deployment.is_rollback:
        action, event = "rollback", "release.rolled_back"
        body = _("Rolled back %(env)s from %(from)s to %(to)s: %(reason)s") % {
            "env": environment.name, "from": deployment.previous_version, "to": deployment.version,
            "reason": deployment.notes}
    elif deployment.result == "succeeded":
        action, event = "deploy", "release.deployed"
        body = _("Deployed %(v)s to %(env)s (was %(prev)s).") % {
            "v": deployment.version, "env": environment.name, "prev": deployment.previous_version or "—"}
    elif deployment.result == "failed":
        action, event = "deployment_failed", "release.deployment_failed"
        body = _("Deployment of %(v)s to %(env)s failed.") % {"v": deployment.version, "env": environment.name}
    else:
        action, event = "deployment_started", None
        body = _("Deployment of %(v)s to %(env)s started.") % {"v": deployment.version, "env": environment.name}
    if deployment.pipeline_url:
        body += f" {deployment.pipeline_url}"
    audit.record(release, actor=actor, action=action, changes={k: [None, v] for k, v in values.items()})
    if event:
        events.emit(event, release, actor=actor, payload=values)
    add_comment(release, actor=actor, body=body)


def record_deployment(release: Release, environment: Environment, *, actor: Actor, data: dict) -> Deployment:
    """Record a deployment of `release` to `environment`. The gate is asked first: denied, nothing is written
    (GateDenied, 409). The same `external_id` again for the same release and environment answers the row
    recorded before, moving it on from in progress to its result."""
    data = clean_deployment_data(data, release)
    services, cis = _targets(release, data)
    with transaction.atomic():
        release = Release.objects.select_for_update().get(pk=release.pk)
        if data["external_id"]:
            existing = (Deployment.objects.select_for_update()
                        .filter(release=release, environment=environment, external_id=data["external_id"]).first())
            if existing is not None:
                return _repeat(existing, release, environment, data, actor=actor, services=services, cis=cis)
        # The linked changes are read again with their rows locked: a change cancelled (or finished) at the same
        # moment is either seen in its new state here or waits until this deployment is recorded.
        changes = gates.lock_changes(release)
        answer = gates.check(release, environment, changes=changes)
        if not answer.allowed:
            raise GateDenied(answer.reasons)
        change = None
        if environment.is_production or environment.requires_change:
            change = gates.approved_change(release, changes)  # the change that passed the gate
        deployment = Deployment.objects.create(
            release=release, environment=environment, version=data["version"],
            previous_version=_current_version(environment, services, cis), result=data["result"],
            started_at=data["started_at"], finished_at=data["finished_at"], deployed_by=actor.user,
            actor_label=actor.label[:200], pipeline_url=data["pipeline_url"], external_id=data["external_id"],
            change=change, notes=data["notes"], created_by=actor.user, updated_by=actor.user)
        _report(release, deployment, environment, actor=actor)
        if deployment.result == "succeeded":
            _after_success(release, deployment, environment, actor=actor, services=services, cis=cis)
    return deployment


def _repeat(deployment: Deployment, release, environment, data: dict, *, actor, services, cis) -> Deployment:
    if data["result"] == deployment.result:
        return deployment
    if data["finished_at"] and data["finished_at"] < deployment.started_at:
        raise ValidationError({"finished_at": _("The deployment cannot finish before it started (%(at)s).")
                               % {"at": deployment.started_at.isoformat()}})
    if deployment.result != "in_progress":
        raise TransitionNotAllowed(_("Run %(id)s was recorded as %(result)s already; it cannot become %(new)s.")
                                   % {"id": deployment.external_id, "result": deployment.get_result_display().lower(),
                                      "new": data["result"].replace("_", " ")})
    deployment.result = data["result"]
    deployment.finished_at = data["finished_at"]
    deployment.pipeline_url = data["pipeline_url"] or deployment.pipeline_url
    if data["notes"]:
        deployment.notes = data["notes"]
    deployment.updated_by = actor.user
    deployment.save()
    _report(release, deployment, environment, actor=actor)
    if deployment.result == "succeeded":
        _after_success(release, deployment, environment, actor=actor, services=services, cis=cis)
    return deployment


# --- rollback ------------------------------------------------------------------------------------------

def rollback(release: Release, environment: Environment, *, actor: Actor, data: dict) -> Deployment:
    """Put `environment` back on the version it ran before the release's last succeeded deployment there."""
    data = dict(data or {})
    reason = _text(data.get("reason"), 2000)
    if not reason:
        raise ValidationError({"reason": _("Say why the release is rolled back.")})
    url = _text(data.get("pipeline_url"), 500)
    if url:
        try:
            _url(url)
        except ValidationError:
            raise ValidationError({"pipeline_url": _("An http(s) address of the pipeline run.")}) from None
    with transaction.atomic():
        release = Release.objects.select_for_update().get(pk=release.pk)
        last = (release.deployments.filter(environment=environment, result="succeeded")
                .order_by("-started_at", "-id").first())
        if last is None:
            raise TransitionNotAllowed(_("%(r)s has no succeeded deployment in %(env)s to roll back.")
                                       % {"r": release.number, "env": environment.name})
        if last.is_rollback:
            raise TransitionNotAllowed(_("%(r)s was rolled back in %(env)s already.")
                                       % {"r": release.number, "env": environment.name})
        if not last.previous_version:
            raise TransitionNotAllowed(_("%(env)s ran no earlier version before %(r)s %(v)s; there is nothing to "
                                         "roll back to.") % {"env": environment.name, "r": release.number,
                                                             "v": last.version})
        now = timezone.now()
        deployment = Deployment.objects.create(
            release=release, environment=environment, version=last.previous_version, previous_version=last.version,
            result="succeeded", started_at=now, finished_at=now, deployed_by=actor.user,
            actor_label=actor.label[:200], pipeline_url=url, is_rollback=True, rollback_of=last,
            change=last.change, notes=reason, created_by=actor.user, updated_by=actor.user)
        rows = list(DeployedVersion.objects.filter(environment=environment, deployment=last))
        if rows:
            for row in rows:
                row.version, row.deployment, row.deployed_at = last.previous_version, deployment, now
                row.save(update_fields=["version", "deployment", "deployed_at"])
        else:
            # No row points to the deployment rolled back: only services / CIs that have no current version in
            # the environment get the old one. A row pointing to another (newer) deployment stays as it is.
            services, cis = _targets(release, {})
            taken = DeployedVersion.objects.filter(environment=environment)
            has_service = set(taken.filter(ci__isnull=True).values_list("service_id", flat=True))
            has_ci = set(taken.filter(ci__isnull=False).values_list("ci_id", flat=True))
            _set_versions(environment, [s for s in services if s.pk not in has_service],
                          [c for c in cis if c.pk not in has_ci], version=last.previous_version, release=release,
                          deployment=deployment, at=now)
        _report(release, deployment, environment, actor=actor)
        if environment.is_production:
            from . import watch

            watch.stop_watch(release, reason=reason, deployment=deployment)
            if release.status in RELEASE_WORKFLOW.get("mark_rolled_back").sources:
                transition_release(release, "mark_rolled_back", actor=actor, data={"reason": reason[:500]})
    return deployment


# --- wiring --------------------------------------------------------------------------------------------

def release_document(release: Release):
    return search.Document(title=f"{release.title} {release.version}", body=release.notes or "",
                           state=release.status, number=release.number)


ACTION_LABELS = {
    "deploy": gettext_lazy("deployed"), "deployment_failed": gettext_lazy("deployment failed"),
    "deployment_started": gettext_lazy("deployment started"), "rollback": gettext_lazy("rolled back"),
    "production_change": gettext_lazy("production change created"),
}


def wire() -> None:
    audit.register_action_labels(ACTION_LABELS)
    search.register(Release, kind="release", label=gettext_lazy("Release"), document=release_document)
