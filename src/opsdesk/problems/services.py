"""The one write path of problems: create (by hand, from one incident or from several), edit, the flow
New -> Assessed -> Root cause analysis -> Fix in progress -> Resolved -> Closed (resolution needs a root
cause and a fix), linked incidents, and publishing the workaround or the fix to the incidents that wait
for it. Countermeasures live in countermeasures.py and are re-exported here (the service contract)."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from opsdesk.core import audit, events, people, records, registry, search
from opsdesk.core.actors import Actor
from opsdesk.core.comments import add_comment
from opsdesk.core.workflow import TransitionNotAllowed
from opsdesk.incidents import services as incident_services

from .countermeasures import (  # noqa: F401  (the service contract names them here)
    create_countermeasure,
    notify_overdue_countermeasures,
    transition_countermeasure,
    update_countermeasure,
)
from .models import Problem
from .workflows import PROBLEM_WORKFLOW

AUDITED = ["title", "description", "service", "cis", "category", "impact", "urgency", "priority", "owner_team",
           "owner", "incidents", "change_numbers", "status", "status_reason", "root_cause", "contributing_factors",
           "workaround", "workaround_published_at", "fix_description", "fix_published_at", "impact_summary",
           "resolved_at", "closed_at", "source"]
READ_ONLY_STATES = ("closed", "cancelled")
CHANGE_NUMBER = re.compile(r"^CHG-\d{1,9}$")
MAX_LINKED = 500  # incidents linked in one call
WAITING_HOLD_REASON = "awaiting_problem"


# --- validation -----------------------------------------------------------------------------------------

def _check_levels(data: dict) -> None:
    config = incident_services.incident_settings()
    errors = {}
    for name, levels in (("impact", config.impact_levels), ("urgency", config.urgency_levels)):
        if data.get(name) is None:
            continue
        allowed = incident_services.level_values(levels)
        try:
            value = int(data[name])
        except (TypeError, ValueError):
            value = None
        if value not in allowed:
            errors[name] = _("Choose one of %(values)s.") % {"values": ", ".join(map(str, allowed))}
        else:
            data[name] = value
    if errors:
        raise ValidationError(errors)


def _set_priority(data: dict, problem: Problem | None) -> None:
    """The priority comes from the incidents' impact x urgency matrix; it is never set by hand."""
    data.pop("priority", None)
    if problem is None or {"impact", "urgency"} & set(data):
        impact = data.get("impact", problem.impact if problem else 3)
        urgency = data.get("urgency", problem.urgency if problem else 3)
        data["priority"] = incident_services.priority_for(int(impact), int(urgency))


def normalize_change_numbers(values) -> list[str]:
    if values in (None, ""):
        return []
    if isinstance(values, str):
        values = [v for v in re.split(r"[,\s]+", values) if v]
    found, wrong = [], []
    for value in values:
        number = str(value).strip().upper()
        if not CHANGE_NUMBER.match(number):
            wrong.append(str(value))
        elif number not in found:
            found.append(number)
    if wrong:
        raise ValidationError({"change_numbers": _("Change numbers look like CHG-12; not: %(v)s.")
                               % {"v": ", ".join(wrong)}})
    return found


def _check_owner(data: dict, problem: Problem | None) -> None:
    team = data.get("owner_team", problem.owner_team if problem else None)
    owner = data.get("owner", problem.owner if problem else None)
    if owner is not None and team is not None and not team.memberships.filter(user=owner).exists():
        raise ValidationError({"owner": _("%(user)s is not a member of %(team)s.") % {"user": owner, "team": team}})


def _clean(data: dict, problem: Problem | None) -> dict:
    data = dict(data)
    for name in ("status", "number", "resolved_at", "closed_at", "workaround_published_at", "fix_published_at"):
        if name in data:
            raise ValidationError({name: _("This field is set by the problem's flow, not by editing.")})
    _check_levels(data)
    _set_priority(data, problem)
    if "change_numbers" in data:
        data["change_numbers"] = normalize_change_numbers(data["change_numbers"])
    if "contributing_factors" in data:
        factors = data["contributing_factors"] or []
        if not isinstance(factors, list) or not all(isinstance(f, str) for f in factors):
            raise ValidationError({"contributing_factors": _("A list of short texts.")})
        data["contributing_factors"] = [f.strip()[:500] for f in factors if f.strip()]
    if "title" in data:
        data["title"] = str(data["title"] or "").strip()
    _check_owner(data, problem)
    return data


# --- create and edit ------------------------------------------------------------------------------------

def create_problem(*, actor: Actor, data: dict) -> Problem:
    data = _clean(data, None)
    incidents = list(data.pop("incidents", None) or [])
    with transaction.atomic():
        problem = records.create_record(Problem, actor=actor, fields=data, workflow=PROBLEM_WORKFLOW,
                                        audited=AUDITED)
        if incidents:
            link_incidents(problem, incidents, actor=actor)
    return Problem.objects.get(pk=problem.pk)


def prefill_from_incidents(incidents) -> dict:
    """What several incidents say about their common problem: the title most of them carry (the first
    one's when they all differ), the service and category most of them share, all their CIs, the highest
    impact and urgency (lowest numbers). The incidents come in the order they were chosen."""
    incidents = list(incidents)
    if not incidents:
        return {}

    def most_common(values):
        values = [v for v in values if v is not None]
        return max(values, key=lambda v: (values.count(v), -values.index(v))) if values else None

    cis = {}
    for incident in incidents:
        for ci in incident.cis.all():
            cis[ci.pk] = ci
    first = incidents[0]
    numbers = ", ".join(i.number for i in incidents[:20])
    if len(incidents) == 1:
        description = _("Raised from %(n)s.") % {"n": first.number}
    else:
        description = _("Raised from %(count)s incidents: %(n)s.") % {"count": len(incidents), "n": numbers}
    if first.description:
        description += "\n\n" + first.description
    return {"title": most_common([i.title.strip() for i in incidents]) or first.title,
            "description": description[:20000],
            "service": most_common([i.service for i in incidents]),
            "category": most_common([i.category for i in incidents]),
            "cis": list(cis.values()), "impact": min(i.impact for i in incidents),
            "urgency": min(i.urgency for i in incidents)}


def shared_assignment_group(incidents):
    """The team every one of the incidents is assigned to, or None when they differ or one has none."""
    groups = {i.assignment_group_id for i in incidents}
    if len(groups) != 1 or None in groups:
        return None
    return incidents[0].assignment_group


def create_problem_from_incidents(incidents, *, actor: Actor, data: dict | None = None) -> Problem:
    """A problem prefilled from the incidents (given fields win), linked to them, source "incident"."""
    incidents = list(incidents)
    if not incidents:
        raise ValidationError({"incidents": _("Choose at least one incident.")})
    if len(incidents) > MAX_LINKED:
        raise ValidationError({"incidents": _("At most %(n)s incidents at once.") % {"n": MAX_LINKED}})
    fields = prefill_from_incidents(incidents)
    fields.update({k: v for k, v in (data or {}).items() if v not in (None, "", []) or k not in fields})
    fields.pop("incidents", None)
    fields["source"] = "incident"
    fields["incidents"] = incidents
    return create_problem(actor=actor, data=fields)


def update_problem(problem: Problem, *, actor: Actor, data: dict) -> Problem:
    data = _clean(data, problem)
    incidents = data.pop("incidents", None)

    def check(locked: Problem, fields: dict) -> None:
        if locked.status in READ_ONLY_STATES:
            raise TransitionNotAllowed(_("%(p)s is %(state)s and read-only.")
                                       % {"p": locked, "state": locked.get_status_display().lower()})

    with transaction.atomic():
        problem = records.update_record(problem, actor=actor, fields=data, audited=AUDITED, check=check)
        if incidents is not None:
            current = set(problem.incidents.values_list("pk", flat=True))
            wanted = {i.pk: i for i in incidents}
            for incident in problem.incidents.filter(pk__in=current - set(wanted)):
                unlink_incident(problem, incident, actor=actor)
            added = [i for pk, i in wanted.items() if pk not in current]
            if added:
                link_incidents(problem, added, actor=actor)
    return problem


# --- the flow -------------------------------------------------------------------------------------------

def _apply_transition_fields(problem: Problem, transition, data: dict) -> None:
    now = timezone.now()
    name = transition.name
    reason = str(data.get("reason") or "").strip()
    if len(reason) > 500:
        raise ValidationError({"reason": _("The reason is limited to 500 characters.")})
    if name == "resolve":
        root_cause = str(data.get("root_cause") or "").strip() or problem.root_cause.strip()
        fix = str(data.get("fix_description") or "").strip() or problem.fix_description.strip()
        missing = {}
        if not root_cause:
            missing["root_cause"] = _("A problem is resolved only with its root cause: write it first.")
        if not fix:
            missing["fix_description"] = _("A problem is resolved only with a description of the fix.")
        if missing:
            raise ValidationError(missing)
        problem.root_cause, problem.fix_description = root_cause, fix
        problem.resolved_at = now
    elif name == "close":
        problem.closed_at = now
    elif name == "reopen":
        problem.resolved_at = None
    if name in ("reopen", "cancel"):
        problem.status_reason = reason
    elif name in ("resolve", "close"):
        problem.status_reason = ""


def transition_problem(problem: Problem, name: str, *, actor: Actor, data: dict | None = None) -> Problem:
    data = data or {}
    with transaction.atomic():
        problem = records.transition_record(problem, name, actor=actor, workflow=PROBLEM_WORKFLOW, data=data,
                                            apply_fields=_apply_transition_fields)
        from . import recurrence

        if name == "resolve" and hasattr(recurrence, "start_watch"):
            recurrence.start_watch(problem, actor=actor)
        elif name in ("reopen", "cancel") and hasattr(recurrence, "cancel_watch"):
            recurrence.cancel_watch(problem, actor=actor)
    return problem


# --- linked incidents -----------------------------------------------------------------------------------

def _lock_writable(problem: Problem) -> Problem:
    locked = Problem.objects.select_for_update().get(pk=problem.pk)
    if locked.status in READ_ONLY_STATES:
        raise TransitionNotAllowed(_("%(p)s is %(state)s and read-only.")
                                   % {"p": locked, "state": locked.get_status_display().lower()})
    return locked


def link_incidents(problem: Problem, incidents, *, actor: Actor) -> list:
    """Link incidents to the problem; each incident's timeline says so. Returns the newly linked ones."""
    incidents = list({i.pk: i for i in incidents}.values())
    if len(incidents) > MAX_LINKED:
        raise ValidationError({"incidents": _("At most %(n)s incidents at once.") % {"n": MAX_LINKED}})
    with transaction.atomic():
        locked = _lock_writable(problem)
        current = set(locked.incidents.values_list("pk", flat=True))
        added = [i for i in incidents if i.pk not in current]
        if not added:
            return []
        before = sorted(locked.incidents.values_list("number", flat=True))
        locked.incidents.add(*added)
        after = sorted(before + [i.number for i in added])
        audit.record(locked, actor=actor, action="link_incidents", changes={"incidents": [before, after]})
        for incident in added:
            audit.record(incident, actor=actor, action="link_problem", changes={"problem": [None, str(locked)]})
        events.emit("problem.incidents_linked", locked, actor=actor,
                    payload={"incidents": [i.number for i in added]})
    return added


def unlink_incident(problem: Problem, incident, *, actor: Actor) -> None:
    with transaction.atomic():
        locked = _lock_writable(problem)
        if not locked.incidents.filter(pk=incident.pk).exists():
            raise ValidationError({"incident": _("%(i)s is not linked to %(p)s.") % {"i": incident.number,
                                                                                    "p": locked.number}})
        before = sorted(locked.incidents.values_list("number", flat=True))
        locked.incidents.remove(incident)
        after = [n for n in before if n != incident.number]
        audit.record(locked, actor=actor, action="unlink_incident", changes={"incidents": [before, after]})
        audit.record(incident, actor=actor, action="unlink_problem", changes={"problem": [str(locked), None]})
        events.emit("problem.incident_unlinked", locked, actor=actor, payload={"incident": incident.number})


# --- publishing the workaround and the fix --------------------------------------------------------------

def _waiting_incidents(problem: Problem):
    return list(problem.incidents.filter(status="on_hold", hold_reason=WAITING_HOLD_REASON)
                .select_related("assignee", "assignment_group"))


def _tell_waiting_incidents(problem: Problem, *, actor: Actor, what: str, text: str) -> int:
    """Incidents On hold "awaiting problem" get a comment on their timeline and their assignee (or their
    team) a notification: the workaround or the fix they wait for is out."""
    waiting = _waiting_incidents(problem)
    # Who is told (core.people): the assignee, else every active member of the group; one query for all.
    members = people.team_members([i.assignment_group_id for i in waiting], roles=None)
    for incident in waiting:
        if what == "workaround":
            body = _("%(p)s published a workaround:\n\n%(text)s") % {"p": problem, "text": text}
        else:
            body = _("%(p)s published the fix:\n\n%(text)s") % {"p": problem, "text": text}
        add_comment(incident, actor=actor, body=body[:20000])
        events.emit(f"incident.problem_{what}_published", incident, actor=actor,
                    payload={"problem": problem.number, "problem_url": problem.get_absolute_url(),
                             "text": text[:1000]},
                    recipients=people.responsible(incident.assignee, incident.assignment_group_id, roles=None,
                                                  members=members))
    return len(waiting)


def _publish(problem: Problem, *, actor: Actor, what: str, text: str) -> Problem:
    field, stamp = ("workaround", "workaround_published_at") if what == "workaround" else \
        ("fix_description", "fix_published_at")
    text = str(text or "").strip()
    if not text:
        raise ValidationError({"text": _("Write the %(what)s before publishing it.")
                               % {"what": _("workaround") if what == "workaround" else _("fix")}})
    if len(text) > 20000:
        raise ValidationError({"text": _("The text is limited to 20000 characters.")})

    def check(locked: Problem, fields: dict) -> None:
        if locked.status in READ_ONLY_STATES:
            raise TransitionNotAllowed(_("%(p)s is %(state)s and read-only.")
                                       % {"p": locked, "state": locked.get_status_display().lower()})

    with transaction.atomic():
        problem = records.update_record(problem, actor=actor, fields={field: text, stamp: timezone.now()},
                                        audited=AUDITED, protected=("status", "number"), check=check)
        told = _tell_waiting_incidents(problem, actor=actor, what=what, text=text)
        events.emit(f"problem.{what}_published", problem, actor=actor, payload={"incidents_told": told})
    return problem


def publish_workaround(problem: Problem, *, actor: Actor, text: str) -> Problem:
    return _publish(problem, actor=actor, what="workaround", text=text)


def publish_fix(problem: Problem, *, actor: Actor, text: str | None = None) -> Problem:
    return _publish(problem, actor=actor, what="fix", text=text if text else problem.fix_description)


# --- start-up registrations -----------------------------------------------------------------------------

def problem_document(problem: Problem) -> search.Document:
    body = "\n".join(part for part in (problem.description, problem.root_cause, problem.workaround,
                                       problem.fix_description) if part)
    return search.Document(title=problem.title, body=body, state=problem.status, number=problem.number)


def _create_problem_link(incident) -> str:
    from django.urls import reverse

    return f"{reverse('problems:create')}?incident={incident.pk}"


def incident_problems_panel(incident, user) -> dict | None:
    """The problems an incident is linked to, on its page (no panel when there are none)."""
    from .selectors import problems_of_incident

    problems = problems_of_incident(incident)
    return {"problems": problems} if problems else None


ACTION_LABELS = {
    "rca_add": gettext_lazy("analysis added"), "rca_update": gettext_lazy("analysis changed"),
    "rca_delete": gettext_lazy("analysis removed"), "add_countermeasure": gettext_lazy("countermeasure added"),
    "link_incidents": gettext_lazy("incidents linked"), "unlink_incident": gettext_lazy("incident unlinked"),
    "link_problem": gettext_lazy("linked to a problem"), "unlink_problem": gettext_lazy("unlinked from a problem"),
    "start_rca": gettext_lazy("root cause analysis started"), "start_fix": gettext_lazy("fix started"),
    "apply_workaround": gettext_lazy("workaround applied"),
    "recurrence_watch": gettext_lazy("recurrence watch started"),
    "recurrence_watch_cancelled": gettext_lazy("recurrence watch cancelled"),
    "recurrence": gettext_lazy("recurrence detected"), "recurrence_evaluated": gettext_lazy("recurrence evaluated"),
}


def wire() -> None:
    from opsdesk.incidents.models import Incident

    audit.register_action_labels(ACTION_LABELS)

    search.register(Problem, kind="problem", label=gettext_lazy("Problem"), document=problem_document)
    registry.register_record_panel(Incident, registry.RecordPanel(
        "problems", "problems/_panel_incident_problems.html", incident_problems_panel, order=20))
    registry.register_record_link(Incident, registry.RecordLink(gettext_lazy("Create problem"), _create_problem_link,
                                                                icon="bug", role="responder"))
