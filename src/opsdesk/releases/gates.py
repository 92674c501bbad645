"""Promotion gates: may this release deploy to that environment now? Answered to people (the release
page) and to CI/CD (the gate API) as allowed / denied with every reason, not just the first.

Contract:
- check(release, environment) -> GateAnswer(allowed: bool, reasons: list[str])
- evaluate(release, environment, now=None) -> list[GateReason] (each with a `code`, for callers that must
  leave one condition out, as approving for production does with the change window).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils import timezone
from django.utils.translation import gettext as _

# A change counts as approved when it carries its approval time and is in one of these states.
APPROVED_CHANGE_STATES = ("scheduled", "implementing", "review")
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
    return release.deployments.filter(environment=environment, result="succeeded", is_rollback=False).exists()


def linked_changes(release) -> list:
    """The production change first, then the release's other changes (each once)."""
    found = {}
    if release.production_change_id:
        found[release.production_change_id] = release.production_change
    for change in release.changes.all():
        found.setdefault(change.pk, change)
    return list(found.values())


def is_approved(change) -> bool:
    return change.approved_at is not None and change.status in APPROVED_CHANGE_STATES


def approved_change(release):
    return next((c for c in linked_changes(release) if is_approved(c)), None)


def _label(release) -> str:
    return f"{release.number} {release.version}"


def evaluate(release, environment, now=None) -> list[GateReason]:
    now = now or timezone.now()
    reasons: list[GateReason] = []
    if release.status in BLOCKED_RELEASE_STATES:
        reasons.append(GateReason("release_state", _("%(release)s is %(state)s and cannot be deployed.")
                                  % {"release": release.number, "state": release.get_status_display().lower()}))
    if not environment.active:
        reasons.append(GateReason("inactive", _("%(env)s is not an active environment.") % {"env": environment.name}))
    previous = previous_environment(environment)
    if previous is not None and not succeeded_in(release, previous):
        reasons.append(GateReason("previous_stage", _("%(release)s has not succeeded in %(env)s yet.")
                                  % {"release": _label(release), "env": previous.name}))
    if environment.requires_change or environment.is_production:
        changes = linked_changes(release)
        approved = next((c for c in changes if is_approved(c)), None)
        if not changes:
            reasons.append(GateReason("change", _("No change is linked to %(release)s; %(env)s needs an approved "
                                                  "change.") % {"release": release.number, "env": environment.name}))
        elif approved is None:
            for change in changes:
                reasons.append(GateReason("change", _("%(change)s is %(state)s, not approved; %(env)s needs an "
                                                      "approved change.")
                                          % {"change": change.number, "state": change.get_status_display().lower(),
                                             "env": environment.name}))
        elif environment.is_production and approved.planned_start and approved.planned_end and not (
                approved.planned_start <= now <= approved.planned_end):
            reasons.append(GateReason("window", _("Now is outside the planned window of %(change)s (%(start)s to "
                                                  "%(end)s).")
                                      % {"change": approved.number,
                                         "start": timezone.localtime(approved.planned_start).strftime("%Y-%m-%d %H:%M"),
                                         "end": timezone.localtime(approved.planned_end).strftime("%Y-%m-%d %H:%M")}))
    return reasons


def check(release, environment) -> GateAnswer:
    reasons = evaluate(release, environment)
    return GateAnswer(allowed=not reasons, reasons=[r.message for r in reasons])
