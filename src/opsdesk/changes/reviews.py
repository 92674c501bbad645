"""Post-implementation reviews, incidents caused by changes and the change success-rate KPI.

Contract (other parts call these):
- review_required(change) -> bool: emergency changes, outcomes in ChangeSettings.review_outcomes (failed,
  backed out) and risk levels in ChangeSettings.review_risk_levels (high, very high) need a review.
- missing_review(change) -> str: "" when the change may close, else the sentence saying why not.
- record_review(change, *, actor, data) -> PostImplementationReview (only while the change is in review).
- mark_caused(change, incident, *, actor, note="") / unmark_caused(change, incident, *, actor).
- success_rates(months) -> the KPI figures per team and per category, aggregated in the database.
"""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from opsdesk.core import audit, events
from opsdesk.core.actors import Actor
from opsdesk.core.workflow import TransitionNotAllowed

from .models import CausedIncident, ChangeRequest, ChangeSettings, PostImplementationReview

DEFAULT_REVIEW_OUTCOMES = ["failed", "backed_out"]
DEFAULT_REVIEW_RISK_LEVELS = ["high", "very_high"]
REVIEW_ROLE = "responder"
MARK_ROLE = "responder"
MAX_SUMMARY = 20000
# The incident page lists the changes implemented on its service or CIs this long before it opened.
RECENT_HOURS = 72
RECENT_SHOWN = 20
KPI_MONTHS = (3, 6, 12)
SUCCESS_OUTCOMES = ("successful", "successful_with_issues")


def change_settings() -> ChangeSettings:
    found = ChangeSettings.objects.filter(pk=1).first()
    if found is None:
        found, _created = ChangeSettings.objects.get_or_create(pk=1, defaults={
            "review_outcomes": DEFAULT_REVIEW_OUTCOMES, "review_risk_levels": DEFAULT_REVIEW_RISK_LEVELS})
    return found


def review_reasons(change, settings: ChangeSettings | None = None) -> list[str]:
    """Why the change needs a review (empty when it does not)."""
    settings = settings or change_settings()
    reasons = []
    if change.change_type == "emergency":
        reasons.append(_("emergency change"))
    if change.outcome and change.outcome in (settings.review_outcomes or []):
        reasons.append(_("outcome: %(outcome)s") % {"outcome": change.get_outcome_display().lower()})
    if change.risk_level and change.risk_level in (settings.review_risk_levels or []):
        reasons.append(_("%(risk)s risk") % {"risk": change.get_risk_level_display().lower()})
    return reasons


def review_required(change) -> bool:
    # A cancelled change never ran: nothing to review.
    return change.outcome != "cancelled" and bool(review_reasons(change))


def completed_review(change) -> PostImplementationReview | None:
    return PostImplementationReview.objects.filter(change_id=change.pk, completed_at__isnull=False).first()


def missing_review(change) -> str:
    if not review_required(change) or completed_review(change) is not None:
        return ""
    return _("A post-implementation review is required before closing %(number)s (%(reasons)s).") % {
        "number": change.number, "reasons": ", ".join(review_reasons(change))}


def is_retrospective(change) -> bool:
    """An emergency change's review is its mandatory retrospective."""
    return change.change_type == "emergency"


# --- the review ---------------------------------------------------------------------------------------------

def _clean_review(data: dict) -> dict:
    errors = {}
    objectives = str(data.get("objectives") or "").strip()
    if objectives not in dict(PostImplementationReview.OBJECTIVES):
        errors["objectives"] = _("Choose met, partly or not_met.")
    clean = {"objectives": objectives}
    for name, required in (("summary", True), ("lessons", False), ("follow_ups", False)):
        value = data.get(name)
        if value is not None and not isinstance(value, str):
            errors[name] = _("A text.")
            continue
        value = (value or "").strip()
        if required and not value:
            errors[name] = _("This field is required.")
        elif len(value) > MAX_SUMMARY:
            errors[name] = _("At most %(n)s characters.") % {"n": MAX_SUMMARY}
        clean[name] = value
    if errors:
        raise ValidationError(errors)
    return clean


def record_review(change: ChangeRequest, *, actor: Actor, data: dict) -> PostImplementationReview:
    """Write (or rewrite) the post-implementation review of a change in review: objectives met, partly or
    not met, what happened, lessons learned and follow-ups. 409 when the change is not in review."""
    clean = _clean_review(data)
    with transaction.atomic():
        change = ChangeRequest.objects.select_for_update().get(pk=change.pk)
        if change.status != "review":
            raise TransitionNotAllowed(
                _("%(number)s is %(status)s: a review is written while the change is in review.")
                % {"number": change.number, "status": change.get_status_display().lower()})
        review = PostImplementationReview.objects.filter(change=change).first()
        before = audit.snapshot(review, list(clean)) if review else {}
        if review is None:
            review = PostImplementationReview(change=change, created_by=actor.user)
        for name, value in clean.items():
            setattr(review, name, value)
        review.reviewer = actor.user
        review.updated_by = actor.user
        review.completed_at = timezone.now()
        review.full_clean()
        review.save()
        changes = audit.diff(before, audit.snapshot(review, list(clean)))
        audit.record(change, actor=actor, action="review", changes={f"review.{k}": v for k, v in changes.items()})
        events.emit("changerequest.reviewed", change, actor=actor,
                    payload={"objectives": review.objectives, "retrospective": is_retrospective(change)})
    return review


# --- incidents caused by a change ---------------------------------------------------------------------------

def mark_caused(change: ChangeRequest, incident, *, actor: Actor, note: str = "") -> CausedIncident:
    """Mark `incident` as caused by `change` (and link them); audited on both records, and the incident's
    timeline says so. Marking again changes nothing."""
    from opsdesk.core.comments import add_comment

    note = (note or "").strip()
    if len(note) > 500:
        raise ValidationError({"note": _("At most %(n)s characters.") % {"n": 500}})
    with transaction.atomic():
        change = ChangeRequest.objects.select_for_update().get(pk=change.pk)
        found = CausedIncident.objects.filter(change=change, incident=incident).first()
        if found is not None:
            return found
        caused = CausedIncident.objects.create(change=change, incident=incident, note=note, marked_by=actor.user)
        change.incidents.add(incident)
        audit.record(change, actor=actor, action="mark_caused", changes={"caused_incidents": [None, incident.number]})
        audit.record(incident, actor=actor, action="caused_by_change", changes={"caused_by": [None, change.number]})
        body = _("Marked as caused by %(number)s") % {"number": change.number}
        add_comment(incident, actor=actor, body=f"{body}: {note}" if note else body)
        events.emit("changerequest.caused_incident", change, actor=actor, payload={"incident": incident.number})
    return caused


def unmark_caused(change: ChangeRequest, incident, *, actor: Actor) -> bool:
    """Take the mark away (the incident stays linked to the change). False when it was not marked."""
    from opsdesk.core.comments import add_comment

    with transaction.atomic():
        change = ChangeRequest.objects.select_for_update().get(pk=change.pk)
        deleted, _rows = CausedIncident.objects.filter(change=change, incident=incident).delete()
        if not deleted:
            return False
        audit.record(change, actor=actor, action="unmark_caused", changes={"caused_incidents": [incident.number, None]})
        audit.record(incident, actor=actor, action="not_caused_by_change", changes={"caused_by": [change.number, None]})
        add_comment(incident, actor=actor,
                    body=_("No longer marked as caused by %(number)s") % {"number": change.number})
        events.emit("changerequest.caused_incident_removed", change, actor=actor, payload={"incident": incident.number})
    return True


def caused_incidents(change) -> list[CausedIncident]:
    return list(CausedIncident.objects.filter(change=change).select_related("incident", "marked_by")
                .order_by("-marked_at", "-id")[:200])


def incident_opened_at(incident) -> datetime.datetime:
    return incident.detected_at or incident.created_at


def recent_changes(incident, hours: int = RECENT_HOURS, limit: int = RECENT_SHOWN) -> list[ChangeRequest]:
    """The changes on the incident's service or CIs implemented in the `hours` before it opened: started
    (actually, or as planned) before it opened and ended (or still running) no earlier than `hours` before."""
    opened = incident_opened_at(incident)
    since = opened - datetime.timedelta(hours=hours)
    ci_ids = list(incident.cis.values_list("pk", flat=True))
    if incident.service_id is None and not ci_ids:
        return []
    on_service = Exists(ChangeRequest.services.through.objects.filter(changerequest_id=OuterRef("pk"),
                                                                      service_id=incident.service_id)) \
        if incident.service_id else Q(pk__in=[])
    on_cis = Exists(ChangeRequest.cis.through.objects.filter(
        changerequest_id=OuterRef("pk"), configurationitem_id__in=ci_ids)) if ci_ids else Q(pk__in=[])
    return list(ChangeRequest.objects
                .annotate(started=Coalesce("actual_start", "planned_start"),
                          ended=Coalesce("actual_end", "planned_end", "actual_start", "planned_start"))
                .filter(on_service | on_cis, status__in=("implementing", "review", "closed"), started__lte=opened)
                .filter(Q(ended__gte=since) | Q(status="implementing"))
                .exclude(outcome="cancelled")
                .select_related("owner_team").order_by("-started", "-id")[:limit])


# --- the success-rate KPI -----------------------------------------------------------------------------------

def success_rates(months: int = 6, *, now: datetime.datetime | None = None) -> dict:
    """The change success rate (successful + successful with issues over changes closed with an outcome
    other than cancelled) in the last `months` months, per owner team and per category, with the failed,
    backed-out and incident-causing counts: two GROUP BY queries."""
    now = now or timezone.now()
    since = now - datetime.timedelta(days=round(months * 30.4375))
    closed = ChangeRequest.objects.filter(status="closed", closed_at__gte=since, closed_at__lt=now) \
        .exclude(outcome__in=("", "cancelled")).order_by()
    caused = Exists(CausedIncident.objects.filter(change_id=OuterRef("pk")))
    figures = {"total": Count("id"), "successful": Count("id", filter=Q(outcome__in=SUCCESS_OUTCOMES)),
               "failed": Count("id", filter=Q(outcome="failed")),
               "backed_out": Count("id", filter=Q(outcome="backed_out")),
               "caused_incidents": Count("id", filter=Q(caused))}

    def rows(key_fields):
        found = []
        for row in closed.values(*key_fields).annotate(**figures).order_by(*key_fields):
            row["success_rate"] = round(100 * row["successful"] / row["total"], 1) if row["total"] else None
            found.append(row)
        return found

    teams = [{"key": r["owner_team__slug"], "team": r["owner_team__slug"], "name": r["owner_team__name"],
              **_figures(r)}
             for r in rows(("owner_team__name", "owner_team__slug"))]
    categories = [{"key": r["category__slug"] or "", "category": r["category__slug"],
                   "name": r["category__name"] or str(_("No category")), **_figures(r)}
                  for r in rows(("category__name", "category__slug"))]
    overall = {k: sum(t[k] for t in teams) for k in ("total", "successful", "failed", "backed_out", "caused_incidents")}
    overall["success_rate"] = round(100 * overall["successful"] / overall["total"], 1) if overall["total"] else None
    return {"months": months, "since": since, "until": now, "overall": overall, "teams": teams,
            "categories": categories}


def _figures(row) -> dict:
    return {k: row[k] for k in ("total", "successful", "failed", "backed_out", "caused_incidents", "success_rate")}


# --- panels on the change page and on the incident page ----------------------------------------------------

def change_panel_context(change, user) -> dict | None:
    from opsdesk.core.permissions import can

    if not can(user, "viewer", change):
        return None
    review = PostImplementationReview.objects.filter(change_id=change.pk).select_related("reviewer").first()
    responder = can(user, REVIEW_ROLE, change)
    return {
        "change": change, "required": bool(change.review_required) or review_required(change),
        "reasons": review_reasons(change),
        "retrospective": is_retrospective(change), "review": review,
        "can_review": responder and change.status == "review",
        "review_url": reverse("changes:review", args=[change.pk]),
        "caused": caused_incidents(change), "can_mark": responder,
        "mark_url": reverse("changes:mark_caused", args=[change.pk]),
    }


def incident_panel_context(incident, user) -> dict | None:
    from opsdesk.core.permissions import can

    if not can(user, "viewer", incident):
        return None
    marked = list(CausedIncident.objects.filter(incident=incident).select_related("change")
                  .order_by("-marked_at", "-id")[:50])
    marked_ids = {m.change_id for m in marked}
    recent = recent_changes(incident)
    return {
        "incident": incident, "hours": RECENT_HOURS, "marked": marked,
        "recent": [{"change": c, "marked": c.pk in marked_ids,
                    "mark_url": reverse("changes:mark_caused", args=[c.pk])} for c in recent],
        "can_mark": can(user, MARK_ROLE, incident),
    }


def _raise_change_url(problem) -> str:
    if problem.status in ("closed", "cancelled"):
        return ""
    return reverse("changes:create") + f"?problem={problem.pk}"


def wire() -> None:
    from opsdesk.core import registry
    from opsdesk.incidents.models import Incident
    from opsdesk.problems.models import Problem

    registry.register_record_panel(ChangeRequest, registry.RecordPanel(
        "review", "changes/review_panel.html", change_panel_context, order=30))
    registry.register_record_panel(Incident, registry.RecordPanel(
        "recent_changes", "changes/review_incident_panel.html", incident_panel_context, order=40))
    registry.register_record_link(Problem, registry.RecordLink(
        gettext_lazy("Raise a change"), _raise_change_url, icon="arrow-repeat", role="responder"))
    audit.register_action_labels({"review": gettext_lazy("Post-implementation review"),
                                  "mark_caused": gettext_lazy("Incident marked as caused"),
                                  "unmark_caused": gettext_lazy("Caused-by mark removed"),
                                  "caused_by_change": gettext_lazy("Marked as caused by a change"),
                                  "not_caused_by_change": gettext_lazy("Caused-by mark removed")})
