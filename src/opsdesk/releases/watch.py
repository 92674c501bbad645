"""The post-release watch: after a successful production deployment, are there more incidents and alerts
on the release's services and application CIs than before it?

`start_watch` (called by `services.record_deployment` inside its transaction) opens the watch for
`ReleaseSettings.watch_hours` and schedules its end as a database timer (`release_watch`). While the window
is open the release is evaluated again whenever an incident is opened on one of its services or CIs (the
`on_incident` listener enqueues `tasks.check_release_watch` after commit) and by the 15-minute sweep
(`tasks.evaluate_release_watches`, which also catches rises in alerts). A rise is flagged on the release
once: status "rise", `watch_flagged_at`, a timeline comment, the event `release.watch_rise` addressed to the
release manager (else the owner team's managers). At the end of the window the timer (or the sweep, if the
timer was lost) records the final counts; a watch without a rise ends "quiet".

The comparison: incidents (alerts) in the window after the deployment, [since, min(now, until)), against
the same number of hours before it, [since - hours, since). While the window is still open, the count
before is scaled to the elapsed share of the window, so that three incidents in the first two hours are
not compared with a whole day before. A rise: after >= rise_min_count and after >= rise_factor *
max(before, 1).
"""

from __future__ import annotations

import datetime
import logging

from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from opsdesk.core import audit, events, people, timers
from opsdesk.core.actors import Actor

from .models import Release, ReleaseSettings

log = logging.getLogger(__name__)
SYSTEM = Actor.system("post-release watch")
TIMER_KIND = "release_watch"
SWEEP_BATCH = 100
# Whether any release is watched, in the shared cache (as problems.recurrence): most incidents are opened
# while no release is watched, and then the listener costs no query. Cleared when a watch opens.
WATCHING_KEY = "releases:watch:watching"
WATCHING_TTL = 3600


def release_settings() -> ReleaseSettings:
    config, _created = ReleaseSettings.objects.get_or_create(pk=1)
    return config


# --- opening the watch ----------------------------------------------------------------------------------


def deployment_time(deployment) -> datetime.datetime:
    return deployment.finished_at or deployment.started_at


def start_watch(release: Release, deployment) -> None:
    """Open (or restart) the watch of `release` from `deployment`'s time for `watch_hours`. Runs inside the
    caller's transaction; the release's watch fields are saved on the instance given."""
    config = release_settings()
    since = deployment_time(deployment)
    until = since + datetime.timedelta(hours=config.watch_hours)
    before = {"watch_status": release.watch_status, "watch_until": audit.to_json_value(release.watch_until)}
    release.watch_until = until
    release.watch_status = "watching"
    release.watch_flagged_at = None
    release.watch_result = {"since": since.isoformat(), "hours": config.watch_hours, "deployment": deployment.pk,
                            "final": False}
    release.save(update_fields=["watch_until", "watch_status", "watch_flagged_at", "watch_result"])
    timers.cancel(TIMER_KIND, release)
    timers.schedule(TIMER_KIND, due_at=until, obj=release)
    audit.record(release, actor=SYSTEM, action="watch_started",
                 changes=audit.diff(before, {"watch_status": "watching", "watch_until": audit.to_json_value(until)}))
    _watches_changed()


def stop_watch(release: Release, *, reason: str, deployment=None, now: datetime.datetime | None = None) -> bool:
    """End the watch of `release` because it was rolled back in production (inside the caller's transaction):
    the timer is cancelled and the result marked final with the reason, so neither the timer, the sweep nor a
    new incident evaluates it again. A watch still running becomes "" (not watched); a flagged rise stays
    "rise", as the record of why. Returns whether a watch was stopped."""
    now = now or timezone.now()
    release = Release.objects.select_for_update(of=("self",)).get(pk=release.pk)
    timers.cancel(TIMER_KIND, release)
    if release.watch_status not in ("watching", "rise") or (release.watch_result or {}).get("final"):
        return False
    previous = release.watch_status
    release.watch_status = "rise" if previous == "rise" else ""
    release.watch_result = {**(release.watch_result or {}), "final": True, "stopped_at": now.isoformat(),
                            "stopped_reason": _("Rolled back in production: %(reason)s") % {"reason": reason[:500]},
                            "rollback": getattr(deployment, "pk", None)}
    release.save(update_fields=["watch_status", "watch_result"])
    audit.record(release, actor=SYSTEM, action="watch_stopped",
                 changes={"watch_status": [previous, release.watch_status], "reason": [None, reason[:500]]})
    _watches_changed()
    return True


def _watches_changed() -> None:
    cache.delete(WATCHING_KEY)
    transaction.on_commit(lambda: cache.delete(WATCHING_KEY))


def _anything_watched() -> bool:
    watched = cache.get(WATCHING_KEY)
    if watched is None:
        watched = Release.objects.filter(watch_status="watching").exists()
        cache.set(WATCHING_KEY, watched, WATCHING_TTL)
    return watched


# --- counting ---------------------------------------------------------------------------------------------


def _window(release: Release) -> tuple[datetime.datetime, datetime.datetime]:
    since = parse_datetime((release.watch_result or {}).get("since") or "") or release.deployed_at
    if since is None:
        raise ValueError(f"{release.number} has no production deployment to watch from")
    return since, release.watch_until or since


def _targets(release: Release) -> tuple[list[int], list[int]]:
    return (list(release.services.values_list("pk", flat=True)), list(release.cis.values_list("pk", flat=True)))


def _in(field: str, start, end, closed: bool) -> Q:
    return Q(**{f"{field}__gte": start, f"{field}__lte" if closed else f"{field}__lt": end})


def count_incidents(service_ids, ci_ids, windows: dict[str, tuple]) -> dict[str, int]:
    """Incidents opened on the services or CIs in each named window (start, end, closed): [start, end] when
    closed, else [start, end); one query."""
    from opsdesk.incidents.models import Incident

    if not service_ids and not ci_ids:
        return {name: 0 for name in windows}
    touching = Q(service_id__in=service_ids) | Q(cis__in=ci_ids)
    return Incident.objects.filter(touching).aggregate(**{
        name: Count("pk", distinct=True, filter=_in("created_at", start, end, closed))
        for name, (start, end, closed) in windows.items()})


def count_alerts(service_ids, ci_ids, windows: dict[str, tuple]) -> dict[str, int]:
    """Alerts first seen on the CIs, or routed to the services (by their integration's default service, their
    group's route or their group's incident), in each named window: one query."""
    from opsdesk.alerts.models import Alert

    if not service_ids and not ci_ids:
        return {name: 0 for name in windows}
    touching = (Q(ci_id__in=ci_ids) | Q(integration__service_id__in=service_ids)
                | Q(group__route__service_id__in=service_ids) | Q(group__incident__service_id__in=service_ids))
    return Alert.objects.filter(touching).aggregate(**{
        name: Count("pk", distinct=True, filter=_in("first_seen_at", start, end, closed))
        for name, (start, end, closed) in windows.items()})


def is_rise(after: int, before: float, config: ReleaseSettings) -> bool:
    return after >= config.rise_min_count and after >= config.rise_factor * max(before, 1)


def measure(release: Release, *, now: datetime.datetime | None = None) -> dict:
    """The counts before and after the deployment, read-only: the result `evaluate` stores."""
    now = now or timezone.now()
    config = release_settings()
    since, until = _window(release)
    length = until - since
    end = max(since, min(now, until))
    elapsed = end - since
    scale = 1.0 if length.total_seconds() <= 0 else min(1.0, elapsed.total_seconds() / length.total_seconds())
    # The window after holds its last instant: an incident opened now is counted by the evaluation it causes.
    windows = {"before": (since - length, since, False), "after": (since, end, True)}
    service_ids, ci_ids = _targets(release)
    result = {"since": since.isoformat(), "until": until.isoformat(), "evaluated_at": now.isoformat(),
              "hours": round(length.total_seconds() / 3600, 2),
              "elapsed_hours": round(elapsed.total_seconds() / 3600, 2),
              "scale": round(scale, 4), "final": now >= until,
              "rise_factor": config.rise_factor, "rise_min_count": config.rise_min_count}
    risen = []
    for kind, counts in (("incidents", count_incidents(service_ids, ci_ids, windows)),
                         ("alerts", count_alerts(service_ids, ci_ids, windows))):
        before_scaled = round(counts["before"] * scale, 2)
        rise = is_rise(counts["after"], before_scaled, config)
        result[kind] = {"before": counts["before"], "before_scaled": before_scaled, "after": counts["after"],
                        "rise": rise}
        if rise:
            risen.append(kind)
    result["rise"] = bool(risen)
    result["explanation"] = explain(result)
    if "deployment" in (release.watch_result or {}):
        result["deployment"] = release.watch_result["deployment"]
    return result


def explain(result: dict) -> str:
    inc, alr = result["incidents"], result["alerts"]
    values = {"hours": result["hours"], "elapsed": result["elapsed_hours"], "ib": inc["before"], "ia": inc["after"],
              "ibs": inc["before_scaled"], "ab": alr["before"], "aa": alr["after"], "abs": alr["before_scaled"],
              "factor": result["rise_factor"], "min": result["rise_min_count"]}
    if result["scale"] < 1:
        text = _("%(elapsed)s of %(hours)s hours after the deployment: %(ia)s incidents and %(aa)s alerts, against "
                 "%(ib)s incidents and %(ab)s alerts in the %(hours)s hours before, which is %(ibs)s and %(abs)s "
                 "scaled to the hours elapsed.") % values
    else:
        text = _("%(hours)s hours after the deployment: %(ia)s incidents and %(aa)s alerts, against %(ib)s incidents "
                 "and %(ab)s alerts in the %(hours)s hours before.") % values
    rule = _("A rise is at least %(min)s after and at least %(factor)s times the count before.") % values
    return f"{text} {rule}"


# --- evaluating -------------------------------------------------------------------------------------------


def recipients(release: Release) -> list[int]:
    """The release manager when active, else the owner team's active managers."""
    return people.responsible(release.manager, release.owner_team_id)


def evaluate(release: Release, *, now: datetime.datetime | None = None, actor: Actor = SYSTEM) -> dict:
    """Evaluate the watch of `release` (locked here) and store the result: a rise is flagged and notified once;
    an ended window without a rise becomes "quiet". Returns the result (empty when the release is not watched)."""
    from opsdesk.core.comments import add_comment

    now = now or timezone.now()
    with transaction.atomic():
        release = Release.objects.select_for_update(of=("self",)).select_related("manager").get(pk=release.pk)
        if release.watch_status not in ("watching", "rise") or (release.watch_result or {}).get("final"):
            return {}
        result = measure(release, now=now)
        previous = release.watch_status
        if result["rise"] and previous != "rise":
            release.watch_status, release.watch_flagged_at = "rise", now
        elif result["final"] and previous == "watching":
            release.watch_status = "quiet"
        release.watch_result = result
        release.save(update_fields=["watch_status", "watch_flagged_at", "watch_result"])
        if release.watch_status != previous:
            audit.record(release, actor=actor, action="watch_evaluated", changes={
                "watch_status": [previous, release.watch_status],
                "incidents": [None, f"{result['incidents']['before']} -> {result['incidents']['after']}"],
                "alerts": [None, f"{result['alerts']['before']} -> {result['alerts']['after']}"]})
            _watches_changed()
        if release.watch_status == "rise" and previous != "rise":
            add_comment(release, actor=actor, body=_("Post-release watch: a rise was flagged. %(why)s")
                        % {"why": result["explanation"]})
            events.emit("release.watch_rise", release, actor=actor, recipients=recipients(release), payload={
                "version": release.version, "incidents": result["incidents"], "alerts": result["alerts"],
                "message": result["explanation"]})
        elif release.watch_status == "quiet" and previous == "watching":
            events.emit("release.watch_quiet", release, actor=actor, payload={"message": result["explanation"]})
    return result


@timers.handler(TIMER_KIND)
def _end_of_window(timer) -> None:
    release = Release.objects.filter(pk=timer.object_id).first()
    if release is not None and release.watch_until is not None:
        evaluate(release, now=max(timezone.now(), release.watch_until))


def sweep(now: datetime.datetime | None = None) -> int:
    """Evaluate every watched release (an open window: an interim evaluation that catches a rise in alerts;
    an ended one: the final evaluation, should its timer have been lost). Safe on several workers: the rows
    are taken with skip_locked. Returns how many were evaluated."""
    now = now or timezone.now()
    done, failed, last = 0, [], 0
    while True:
        with transaction.atomic():
            ids = list(Release.objects.select_for_update(skip_locked=True)
                       .filter(watch_status__in=("watching", "rise"), pk__gt=last, watch_until__isnull=False)
                       .filter(watch_result__final=False).order_by("pk").values_list("pk", flat=True)[:SWEEP_BATCH])
            for release_id in ids:
                last = release_id
                try:
                    with transaction.atomic():
                        evaluate(Release(pk=release_id), now=now)
                    done += 1
                except Exception:  # one release that fails must not stop the others
                    failed.append(release_id)
                    log.exception("evaluating the watch of release %s failed", release_id)
        if len(ids) < SWEEP_BATCH:
            return done


# --- a new incident ---------------------------------------------------------------------------------------


def on_incident(incident, verb: str, *, actor: Actor) -> None:
    """Listener of core.records on incidents: a created incident, once committed, is matched against the
    watched releases by the worker, so opening an incident costs no evaluation and a failing evaluation
    cannot roll the incident back."""
    if verb != "created" or not _anything_watched():
        return
    pk = incident.pk
    transaction.on_commit(lambda: events.enqueue("opsdesk.releases.tasks.check_release_watch", pk))


def releases_touching(incident) -> list[int]:
    """Ids of the watched releases whose window holds the incident and whose services or CIs it touches."""
    at = incident.created_at or timezone.now()
    ci_ids = list(incident.cis.values_list("pk", flat=True))
    touching = Q(cis__in=ci_ids) if ci_ids else Q(pk__in=[])
    if incident.service_id:
        touching |= Q(services=incident.service_id)
    return list(Release.objects.filter(touching, watch_status="watching", watch_until__gt=at)
                .values_list("pk", flat=True).distinct())


def check_incident(incident, *, now: datetime.datetime | None = None) -> int:
    """Evaluate the watched releases the incident touches; returns how many were flagged with a rise."""
    flagged = 0
    for release_id in releases_touching(incident):
        result = evaluate(Release(pk=release_id), now=now)
        flagged += bool(result.get("rise"))
    return flagged


# --- the panel on the release page ------------------------------------------------------------------------

STATUS_STYLES = {"watching": "info", "quiet": "success", "rise": "danger"}


def panel_context(release: Release, user) -> dict | None:
    if not release.watch_status:
        return None
    result = release.watch_result or {}
    return {"release": release, "status": release.get_watch_status_display(),
            "style": STATUS_STYLES.get(release.watch_status, "secondary"), "result": result,
            "since": parse_datetime(result.get("since") or ""), "until": release.watch_until,
            "evaluated_at": parse_datetime(result.get("evaluated_at") or ""),
            "incidents": result.get("incidents"), "alerts": result.get("alerts"),
            "flagged_at": release.watch_flagged_at, "explanation": result.get("explanation", ""),
            "stopped_reason": result.get("stopped_reason", "")}


def wire() -> None:
    from django.utils.translation import gettext_lazy

    from opsdesk.core import records, registry
    from opsdesk.incidents.models import Incident

    records.listen(Incident, on_incident)
    registry.register_record_panel(Release, registry.RecordPanel("watch", "releases/watch_panel.html", panel_context,
                                                                 order=20))
    audit.register_action_labels({"watch_started": gettext_lazy("Post-release watch started"),
                                  "watch_evaluated": gettext_lazy("Post-release watch evaluated"),
                                  "watch_stopped": gettext_lazy("Post-release watch stopped")})
