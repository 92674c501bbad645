"""Promotion gates: may this release deploy to that environment now? Answered to people (the release
page) and to CI/CD (the gate API) as allowed / denied with every reason, not just the first.

Contract:
- check(release, environment, changes=None) -> GateAnswer(allowed: bool, reasons: list[str])
- evaluate(release, environment, now=None, changes=None) -> list[GateReason] (each with a `code`, for callers that must
  leave one condition out, as approving for production does with the change window).
- approved_change(release, changes=None) -> the change that opens the gate, or None.

A change opens the gate when it is the release's production change, or one of `release.changes` that belongs
to the release's owner team, AND it is approved (`approved_at` set) and scheduled or implementing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils import timezone
from django.utils.translation import gettext as _

# A change opens a gate when it carries its approval time and is in one of these states: approved and not yet
# implemented ("review" and "closed" mean it was carried out, or failed, already).
APPROVED_CHANGE_STATES = ("scheduled", "implementing")
BLOCKED_RELEASE_STATES = ("closed", "cancelled", "rolled_back")


@dataclass
class GateAnswer:
    allowed: bool
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class GateReason:
    code: str  # release_state | inactive | previous_stage | change | window
    message: str


def previous_environment(environment, active=None):
    """The active environment just before `environment` in order (None for the first)."""
    from .models import Environment

    active = list(active if active is not None else Environment.objects.filter(active=True))
    before = [e for e in active if (e.order, e.pk) < (environment.order, environment.pk)]
    return before[-1] if before else None


def succeeded_in(release, environment) -> bool:
    """A succeeded deployment of the release in `environment` that was not rolled back later."""
    from django.db.models import Exists, OuterRef

    from .models import Deployment

    rolled_back = Deployment.objects.filter(rollback_of=OuterRef("pk"), result="succeeded")
    return (release.deployments.filter(environment=environment, result="succeeded", is_rollback=False)
            .filter(~Exists(rolled_back)).exists())


def rolled_back_in(release, environment) -> bool:
    """The release's last succeeded deployment in `environment` was rolled back."""
    from .models import Deployment

    return Deployment.objects.filter(release=release, environment=environment, result="succeeded",
                                     is_rollback=True).exists()


def linked_changes(release) -> list:
    """The production change first, then the release's other changes (each once)."""
    found = {}
    if release.production_change_id:
        found[release.production_change_id] = release.production_change
    for change in release.changes.all():
        found.setdefault(change.pk, change)
    return list(found.values())


def lock_changes(release) -> list:
    """`linked_changes` read again from the database with their rows locked (SELECT ... FOR UPDATE), in pk
    order; called inside the transaction that writes the deployment, so a change cancelled at the same moment
    is either seen cancelled or waits until the deployment is recorded."""
    from opsdesk.changes.models import ChangeRequest

    ids = set(release.changes.values_list("pk", flat=True))
    if release.production_change_id:
        ids.add(release.production_change_id)
    rows = {c.pk: c for c in ChangeRequest.objects.select_for_update().filter(pk__in=ids).order_by("pk")}
    ordered = [release.production_change_id] if release.production_change_id in rows else []
    ordered += sorted(pk for pk in rows if pk != release.production_change_id)
    return [rows[pk] for pk in ordered]


def is_approved(change) -> bool:
    return change.approved_at is not None and change.status in APPROVED_CHANGE_STATES


def may_open_gate(release, change) -> bool:
    """The release's own production change, or one of its changes that belongs to its owner team."""
    return change.pk == release.production_change_id or change.owner_team_id == release.owner_team_id


def approved_change(release, changes=None):
    """The change that opens the gate: the first of `changes` (default: the linked ones) that may open it
    and is approved."""
    changes = linked_changes(release) if changes is None else changes
    return next((c for c in changes if may_open_gate(release, c) and is_approved(c)), None)


def _label(release) -> str:
    return f"{release.number} {release.version}"


def _not_approved(change, environment) -> str:
    # The state's label as the change pages show it ("CHG-46 is in Review"), not its key.
    values = {"change": change.number, "state": change.get_status_display(), "env": environment.name}
    if change.status in APPROVED_CHANGE_STATES:  # scheduled without its approval time
        return _("%(change)s is in %(state)s but was never approved; %(env)s needs an approved change.") % values
    if change.status in ("review", "closed"):
        return _("%(change)s is in %(state)s: it was carried out or ended already; %(env)s needs an approved change "
                 "that is scheduled or implementing.") % values
    return _("%(change)s is in %(state)s, not approved; %(env)s needs an approved change.") % values


def evaluate(release, environment, now=None, changes=None) -> list[GateReason]:
    """Every reason the gate is closed. `changes`: the linked changes as already read (locked) by the caller."""
    now = now or timezone.now()
    reasons: list[GateReason] = []
    if release.status in BLOCKED_RELEASE_STATES:
        reasons.append(GateReason("release_state", _("%(release)s is %(state)s and cannot be deployed.")
                                  % {"release": release.number, "state": release.get_status_display().lower()}))
    if not environment.active:
        reasons.append(GateReason("inactive", _("%(env)s is not an active environment.") % {"env": environment.name}))
    previous = previous_environment(environment)
    if previous is not None and not succeeded_in(release, previous):
        if rolled_back_in(release, previous):
            message = _("%(release)s: its deployment to %(env)s was rolled back.")
        else:
            message = _("%(release)s has not succeeded in %(env)s yet.")
        reasons.append(GateReason("previous_stage", message % {"release": _label(release), "env": previous.name}))
    if environment.requires_change or environment.is_production:
        changes = linked_changes(release) if changes is None else list(changes)
        approved = approved_change(release, changes)
        if not changes:
            reasons.append(GateReason("change", _("No change is linked to %(release)s; %(env)s needs an approved "
                                                  "change.") % {"release": release.number, "env": environment.name}))
        elif approved is None:
            for change in changes:
                if not may_open_gate(release, change):
                    message = _("%(change)s belongs to another team than %(release)s and is not its production "
                                "change; it does not open %(env)s.") % {
                        "change": change.number, "release": release.number, "env": environment.name}
                else:
                    message = _not_approved(change, environment)
                reasons.append(GateReason("change", message))
        elif environment.is_production and approved.planned_start and approved.planned_end and not (
                approved.planned_start <= now <= approved.planned_end):
            reasons.append(GateReason("window", _("Now is outside the planned window of %(change)s (%(start)s to "
                                                  "%(end)s).")
                                      % {"change": approved.number,
                                         "start": timezone.localtime(approved.planned_start).strftime("%Y-%m-%d %H:%M"),
                                         "end": timezone.localtime(approved.planned_end).strftime("%Y-%m-%d %H:%M")}))
    return reasons


def check(release, environment, changes=None) -> GateAnswer:
    reasons = evaluate(release, environment, changes=changes)
    return GateAnswer(allowed=not reasons, reasons=[r.message for r in reasons])
