"""Escalation runs: a policy's steps fired in order for an incident, stopped by acknowledgement.

A run starts at position 0, due now. The sweeper (`sweep`, Celery beat every 20 s) takes due active runs
one at a time with FOR UPDATE SKIP LOCKED (the run, then its incident, so a run whose incident is being
written right now waits for the next sweep instead of deadlocking against the writer), fires the
consecutive notify steps at once, stops at a wait step (due again after its minutes) and at the end of
the steps starts the next cycle (while cycle < repeat_count) or finishes ("exhausted"). A cycle that
ends on a notify step pauses before the repeat as long as the policy's last wait step, so "page A, wait
5 minutes, page the lead, repeat twice" pages A, the lead, A, the lead... five minutes apart; a cycle
that ends on a wait step has waited already and repeats at once; a policy without wait steps repeats at
once. The last cycle finishes right after its last step.

Each fired step pages its people once (Page is unique per run, cycle, position and user) and writes one
"page" row on the incident's change log, which the incident's timeline shows.
"""

from __future__ import annotations

import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from opsdesk.core import audit, events
from opsdesk.core.actors import Actor
from opsdesk.core.workflow import TransitionNotAllowed

from .models import EscalationPolicy, EscalationRun, Page

SYSTEM_ACTOR = Actor.system("escalation-policy")
SWEEP_BATCH = 100
STOP_STATUSES = ("acknowledged", "resolved", "cancelled")


def _incident_model():
    from opsdesk.incidents.models import Incident

    return Incident


def policy_for_service(service) -> EscalationPolicy | None:
    """The escalation policy attached to a service (a service has at most one: policies.save_policy
    refuses a second; the first by name for rows older than that rule)."""
    if service is None:
        return None
    return EscalationPolicy.objects.filter(services=service).order_by("name", "id").first()


def _lock_incident(incident):
    # A read under a row lock, so two starts (an alert and a person) do not both create the active run.
    Incident = _incident_model()  # noqa: N806
    return Incident.objects.select_for_update(of=("self",)).select_related("service").get(pk=incident.pk)


def start_for_incident(incident, *, policy=None, actor):
    """Start `policy` (None: the policy attached to the incident's service, if any) for the incident,
    replacing a run already active for it. Returns the run, or None when there is no policy."""
    with transaction.atomic():
        incident = _lock_incident(incident)
        if not incident.is_open:
            raise TransitionNotAllowed(_("%(inc)s is %(state)s; only open incidents are escalated.")
                                       % {"inc": incident, "state": incident.get_status_display().lower()})
        if policy is None:
            policy = policy_for_service(incident.service)
        if policy is None:
            return None
        now = timezone.now()
        _stop_active(incident, status="cancelled", actor=actor, now=now,
                     note=_("replaced by %(policy)s") % {"policy": policy.name})
        run = EscalationRun.objects.create(incident=incident, policy=policy, status="active", position=0, cycle=0,
                                           due_at=now, started_at=now)
        audit.record(incident, actor=actor, action="escalation_started",
                     changes={"escalation policy": [None, policy.name]})
        # The first steps are due now: ask a worker to look at once rather than at the next beat tick.
        transaction.on_commit(lambda: events.enqueue("opsdesk.oncall.tasks.sweep_escalations"))
    return run


def stop_for_incident(incident, *, status: str, actor) -> int:
    """Stop the incident's active run (status "acknowledged", "resolved" or "cancelled"), and cancel
    the notifications of its pages not sent yet. Returns the number of runs stopped (0 or 1)."""
    if status not in STOP_STATUSES:
        raise ValueError(f"status must be one of {STOP_STATUSES}")
    with transaction.atomic():
        return _stop_active(incident, status=status, actor=actor, now=timezone.now())


def _stop_active(incident, *, status: str, actor, now, note: str = "") -> int:
    from . import paging

    runs = list(EscalationRun.objects.select_for_update(of=("self",))
                .filter(incident_id=incident.pk, status="active").select_related("policy"))
    for run in runs:
        run.status, run.stopped_at, run.due_at = status, now, None
        run.stopped_by = actor.label[:200]
        run.save(update_fields=["status", "stopped_at", "due_at", "stopped_by"])
        cancelled = paging.cancel_pending(run)
        if status == "acknowledged":
            run.pages.filter(acknowledged_at__isnull=True).update(acknowledged_at=now)
        changes = {"escalation policy": [run.policy.name, None],
                   "escalation": [_("running"), str(dict(EscalationRun.STATUSES)[status])]}
        if note:
            changes["note"] = [None, note]
        if cancelled:
            changes["notifications cancelled"] = [None, cancelled]
        audit.record(incident, actor=actor, action="escalation_stopped", changes=changes)
    return len(runs)


def on_incident_event(incident, verb: str, *, actor) -> None:
    """The listener on the incident's create and transitions (registered by escalation_wiring)."""
    if verb in ("acknowledge", "start"):
        stop_for_incident(incident, status="acknowledged", actor=actor)
    elif verb == "resolve":
        stop_for_incident(incident, status="resolved", actor=actor)
    elif verb == "cancel":
        stop_for_incident(incident, status="cancelled", actor=actor)
    elif verb == "created" and incident.source != "alert" and incident.service_id:
        # Alerts start their route's policy themselves (falling back to the service's).
        policy = policy_for_service(incident.service)
        if policy is not None:
            start_for_incident(incident, policy=policy, actor=actor)


# --- the sweeper --------------------------------------------------------------------------------------------

def sweep(now=None, limit: int = 1000) -> int:
    """Advance every due active run, exactly once whoever else sweeps at the same time. Returns the
    number of steps fired."""
    now = now or timezone.now()
    fired = taken = 0
    seen: set[int] = set()
    while taken < limit:
        ids = list(EscalationRun.objects.filter(status="active", due_at__lte=now).exclude(pk__in=seen)
                   .order_by("due_at", "id").values_list("pk", flat=True)[:min(SWEEP_BATCH, limit - taken)])
        if not ids:
            break
        seen.update(ids)
        taken += len(ids)
        for run_id in ids:
            fired += advance(run_id, now=now)
    return fired


def advance(run_id: int, *, now: datetime.datetime | None = None) -> int:
    """Fire what is due of one run in one transaction; 0 when another sweeper holds it or it is not due."""
    Incident = _incident_model()  # noqa: N806
    now = now or timezone.now()
    with transaction.atomic():
        run = (EscalationRun.objects.select_for_update(skip_locked=True, of=("self",))
               .filter(pk=run_id, status="active", due_at__lte=now).select_related("policy").first())
        if run is None:
            return 0
        incident = (Incident.objects.select_for_update(skip_locked=True, of=("self",))
                    .filter(pk=run.incident_id).select_related("service").first())
        if incident is None:
            return 0  # being written right now (an acknowledgement?): the next sweep decides
        if not incident.is_open:
            # Closed without the listener hearing it (a run started by hand on a closed incident).
            status = "resolved" if incident.status in ("resolved", "closed") else "cancelled"
            _stop_active(incident, status=status, actor=SYSTEM_ACTOR, now=now)
            return 0
        return _advance_locked(run, incident, now)


def _advance_locked(run: EscalationRun, incident, now) -> int:
    steps = list(run.policy.steps.order_by("position", "id").select_related("schedule", "team")
                 .prefetch_related("users"))
    fired = 0
    while True:
        if run.position >= len(steps):
            if steps and run.cycle < run.policy.repeat_count:
                run.cycle += 1
                run.position = 0
                pause = repeat_pause(steps)
                if pause:
                    run.due_at = now + pause
                    break
                continue
            run.status, run.due_at, run.stopped_at = "exhausted", None, now
            audit.record(incident, actor=SYSTEM_ACTOR, action="escalation_finished",
                         changes={"escalation policy": [run.policy.name, None],
                                  "escalation": [_("running"), _("finished: every step and repeat was done")]})
            break
        step = steps[run.position]
        run.position += 1
        if step.kind == "wait":
            if step.wait_minutes:
                run.due_at = now + datetime.timedelta(minutes=step.wait_minutes)
                break
            continue
        _fire_step(run, step, run.position - 1, incident, now)
        fired += 1
    run.save(update_fields=["status", "position", "cycle", "due_at", "stopped_at"])
    return fired


def repeat_pause(steps) -> datetime.timedelta | None:
    """How long the next cycle waits after one that ended on a notify step: as long as the policy's
    last wait step (None, at once, when it has no wait step or ends with one: that wait was waited)."""
    if not steps or steps[-1].kind == "wait":
        return None
    waits = [step.wait_minutes for step in steps if step.kind == "wait" and step.wait_minutes]
    return datetime.timedelta(minutes=waits[-1]) if waits else None


def step_description(step) -> str:
    if step.kind == "notify_users":
        return _("notify %(names)s") % {"names": ", ".join(u.username for u in step.users.all()) or "—"}
    if step.kind == "notify_schedule":
        return _("notify the on-call of %(schedule)s") % {"schedule": step.schedule}
    if step.kind == "notify_team":
        if step.team_role == "manager":
            return _("notify the managers of %(team)s") % {"team": step.team}
        return _("notify the members of %(team)s") % {"team": step.team}
    return _("wait %(n)s minutes") % {"n": step.wait_minutes}


def targets(step, now) -> tuple[list[tuple[object, str]], str]:
    """Whom a notify step pages now, as (user, reason) in a stable order, each once and active; and
    what to say when that is nobody."""
    from opsdesk.accounts.models import Membership

    from . import selectors

    found: list[tuple[object, str]] = []
    empty = ""
    if step.kind == "notify_users":
        found = [(user, _("named in the policy")) for user in sorted(step.users.all(), key=lambda u: u.username)]
        empty = _("nobody named in the step")
    elif step.kind == "notify_schedule" and step.schedule is not None:
        reason = _("on call in %(schedule)s") % {"schedule": step.schedule.name}
        found = [(user, reason) for user in selectors.on_call_at(step.schedule, now)]
        empty = _("nobody on call in %(schedule)s") % {"schedule": step.schedule.name}
    elif step.kind == "notify_team" and step.team is not None:
        memberships = Membership.objects.filter(team=step.team).select_related("user").order_by("user__username")
        if step.team_role == "manager":
            memberships = memberships.filter(role="manager")
            reason = _("manager of %(team)s") % {"team": step.team.name}
            empty = _("%(team)s has no manager") % {"team": step.team.name}
        else:
            reason = _("member of %(team)s") % {"team": step.team.name}
            empty = _("%(team)s has no members") % {"team": step.team.name}
        found = [(m.user, reason) for m in memberships]
    unique: dict[int, tuple[object, str]] = {}
    for user, reason in found:
        if user.is_active:
            unique.setdefault(user.pk, (user, reason))
    return list(unique.values()), empty


def _fire_step(run: EscalationRun, step, index: int, incident, now) -> list[Page]:
    from . import paging

    people, empty = targets(step, now)
    pages = []
    for user, reason in people:
        page, created = Page.objects.get_or_create(
            run=run, cycle=run.cycle, position=index, user=user,
            defaults={"reason": str(reason)[:300], "urgency": step.urgency, "paged_at": now})
        if created:
            paging.send_page(page, incident=incident, actor=SYSTEM_ACTOR)
            pages.append(page)
    changes = {"escalation policy": [None, run.policy.name],
               "step": [None, _("%(n)s of %(total)s: %(what)s") % {
                   "n": index + 1, "total": run.policy.steps.count(), "what": step_description(step)}]}
    if run.cycle:
        changes["repeat"] = [None, _("%(n)s of %(total)s") % {"n": run.cycle, "total": run.policy.repeat_count}]
    if pages:
        changes["paged"] = [None, "; ".join(f"{p.user.username} ({paging.methods_text(p)})" for p in pages)]
    elif not people:
        changes["paged"] = [None, empty]
    else:
        return pages  # everyone was paged by this step already (a retry): nothing new to log
    audit.record(incident, actor=SYSTEM_ACTOR, action="page", changes=changes)
    return pages
