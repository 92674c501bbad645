"""Risk assessment of a change: the weighted questionnaire plus factors computed from the CMDB impact,
the lead time, the maintenance windows, the owner team's history, open incidents and the expected outage.

Contract:
- assess(change, *, answers=None, now=None) -> Assessment   (reads only; answers default to change.risk_answers)
- apply_assessment(change, assessment) -> None               (sets risk_score, risk_level, risk_factors,
                                                              risk_assessed_at on the instance; the caller saves)
- answer_questionnaire(change, answers, *, actor) -> ChangeRequest   (stores the answers and re-assesses)
- reassess(change, *, actor) -> ChangeRequest                         (runs assess and saves the result)

Every factor is {"key", "label", "points", "explanation"}; the explanation is a sentence a change
manager reads on the change (which CIs, services, teams and numbers were involved). The CMDB impact factor
may also carry "paths": the impact paths to the services reached, one string each (shown as a list).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from dateutil.relativedelta import relativedelta
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from opsdesk.core.actors import Actor
from opsdesk.core.workflow import TransitionNotAllowed

# The points each computed factor adds (the questionnaire's come from its answers' weights).
TIER_POINTS = {1: 30, 2: 15, 3: 5, 4: 2}
SERVICE_COUNT_POINTS_MAX = 10  # one point per further service reached, at most this many
# A redundant CI that loses members but stays up: less than any service really reached (tier 4 gives 2).
DEGRADED_POINTS, DEGRADED_POINTS_MAX = 1, 3
LEAD_TIME_POINTS = 15
LEAD_TIME_PAST_POINTS = 20  # the planned start has already passed
OUTSIDE_MAINTENANCE_POINTS = 10
HISTORY_POINTS_MAX = 25  # at a 50% failure rate or more
OPEN_INCIDENT_POINTS, OPEN_INCIDENT_POINTS_MAX = 5, 20
OUTAGE_POINTS = 10
# The impact reaching a service of tier 1 makes a change at least this risky, whatever its points.
TIER_1_FLOOR = "high"

# A questionnaire is answered (and changed) until the change leaves assessment.
ANSWERABLE_STATES = ("draft", "submitted", "assessment")
FAILED_OUTCOMES = ("failed", "backed_out")

LABELS = {
    "questionnaire": gettext_lazy("Risk questionnaire"),
    "cmdb_impact": gettext_lazy("CMDB impact"),
    "lead_time": gettext_lazy("Lead time"),
    "maintenance_window": gettext_lazy("Maintenance window"),
    "history": gettext_lazy("Team history"),
    "open_incidents": gettext_lazy("Open incidents"),
    "expected_outage": gettext_lazy("Expected outage"),
    "standard": gettext_lazy("Standard change"),
}


@dataclass
class Assessment:
    score: int
    level: str  # low | medium | high | very_high
    # [{"key": "cmdb_impact", "label": "...", "points": 30, "explanation": "..."}]
    factors: list[dict] = field(default_factory=list)


def change_settings():
    """The settings row (read only here; a fresh database without the row reads the defaults)."""
    from .models import ChangeSettings

    return ChangeSettings.objects.filter(pk=1).first() or ChangeSettings(pk=1)


def level_for(score: int, settings) -> str:
    if score >= settings.risk_very_high_from:
        return "very_high"
    if score >= settings.risk_high_from:
        return "high"
    if score >= settings.risk_medium_from:
        return "medium"
    return "low"


def _factor(key: str, points: int, explanation: str) -> dict:
    return {"key": key, "label": str(LABELS[key]), "points": int(points), "explanation": str(explanation)}


def _when(value: datetime.datetime) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")


def _names(items: list[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    if len(items) > limit:
        shown += " " + _("and %(count)s more") % {"count": len(items) - limit}
    return shown


# --- the factors -------------------------------------------------------------------------------------------

def questionnaire_factor(answers: dict) -> dict:
    from .models import RiskQuestion

    points, unanswered, chosen = 0, [], []
    for question in RiskQuestion.objects.filter(active=True).order_by("order", "id"):
        key = answers.get(question.slug)
        answer = next((a for a in question.answers or [] if a.get("key") == key), None) if key else None
        if answer is None:
            unanswered.append(question.text)
            continue
        weight = int(answer.get("weight") or 0)
        points += weight
        if weight:
            chosen.append(f"“{question.text}” {answer.get('label', key)} (+{weight})")
    if not chosen and not unanswered:
        text = _("The answers add no risk points.")
    elif chosen:
        text = _("The answers add %(points)s points: %(answers)s.") % {"points": points, "answers": "; ".join(chosen)}
    else:
        text = _("No answer adds risk points so far.")
    if unanswered:
        listed = "; ".join(unanswered)
        text += " " + _("Not answered yet: %(questions)s") % {"questions": listed} + (
            "" if listed.endswith((".", "?", "!")) else ".")
    return _factor("questionnaire", points, text)


def _path_text(result, key) -> str:
    steps = result.path(key)
    parts = [steps[0]["name"] or steps[0]["number"]]
    for step in steps[1:]:
        parts.extend([step["via"] or "", step["name"] or step["number"]])
    return " -> ".join(p for p in parts if p)


def _degraded_text(result) -> tuple[int, str]:
    """(points, sentence) for the redundant CIs that lose members but stay up, or (0, "")."""
    if not result.degraded:
        return 0, ""
    root_names = [result.details.get(k, {}).get("name") or result.details.get(k, {}).get("number") or str(k[1])
                  for k in result.roots]
    parts = []
    for key, info in sorted(result.degraded.items(), key=lambda item: item[0][1]):
        d = result.details.get(key, {})
        parts.append(_("%(ci)s loses %(down)s of %(members)s members") % {
            "ci": d.get("name") or d.get("number") or key[1], "down": info.get("down"),
            "members": info.get("members")})
    if len(root_names) == 1:
        text = _("%(root)s's failure is absorbed by redundancy: %(cis)s.") % {"root": root_names[0],
                                                                              "cis": _names(parts)}
    else:
        text = _("The failure of %(roots)s is absorbed by redundancy: %(cis)s.") % {"roots": _names(root_names),
                                                                                    "cis": _names(parts)}
    return min(DEGRADED_POINTS_MAX, DEGRADED_POINTS * len(parts)), text


def cmdb_impact_factor(ci_ids: list[int], service_ids: list[int]) -> tuple[dict, bool]:
    """(factor, reaches tier 1). The factor carries "paths": one line per service reached (shown as a list)."""
    from opsdesk.cmdb.impact import SERVICE, analyse

    if not ci_ids and not service_ids:
        return _factor("cmdb_impact", 0, _("The change names no CIs or services, so no impact was analysed.")), False
    result = analyse(ci_ids, services=service_ids, direction="downstream")
    own = [result.details[(SERVICE, pk)] for pk in service_ids if (SERVICE, pk) in result.details]
    reached = result.impacted_services_by_criticality()
    entries = []  # (tier, service name, path text)
    for service in own:
        entries.append((service.get("tier", 9), service["name"], _("%(service)s (tier %(tier)s) is an affected "
                                                                   "service of this change")
                        % {"service": service["name"], "tier": service.get("tier")}))
    for service in reached:
        if service["id"] in service_ids:
            continue
        text = _path_text(result, (SERVICE, service["id"]))
        entries.append((service.get("tier", 9), service["name"],
                        f"{text} (" + _("tier %(tier)s") % {"tier": service.get("tier")} + ")"))
    degraded_points, degraded_text = _degraded_text(result)
    if not entries:
        if degraded_text:
            text = _("The impact of the affected CIs reaches no service in the CMDB, but redundancy is reduced.")
            return _factor("cmdb_impact", degraded_points, f"{text} {degraded_text}"), False
        return _factor("cmdb_impact", 0, _("The impact of the affected CIs reaches no service in the CMDB.")), False
    entries.sort(key=lambda e: e[0])
    best = entries[0][0]
    points = TIER_POINTS.get(best, 0) + min(SERVICE_COUNT_POINTS_MAX, len(entries) - 1) + degraded_points
    text = _("The impact reaches %(count)s service(s), the most critical of tier %(tier)s: %(services)s.") % {
        "count": len(entries), "tier": best, "services": _names([name for _tier, name, _path in entries])}
    if best == 1:
        text += " " + _("A change reaching a tier-1 service is at least high risk.")
    if degraded_text:
        text += " " + degraded_text
    paths = [path for _tier, _name, path in entries[:10]]
    if len(entries) > 10:
        paths.append(_("And %(count)s more.") % {"count": len(entries) - 10})
    return {**_factor("cmdb_impact", points, text), "paths": paths}, best == 1


def lead_time_factor(change, settings, now) -> dict:
    if change.change_type == "emergency":
        return _factor("lead_time", 0, _("Lead time is waived for an emergency change."))
    if change.change_type == "standard":
        return _factor("lead_time", 0, _("A pre-approved standard change needs no lead time."))
    if change.planned_start is None:
        return _factor("lead_time", 0, _("No planned start yet, so the lead time cannot be checked."))
    since = change.submitted_at or now
    hours = (change.planned_start - since).total_seconds() / 3600
    if hours < 0:
        return _factor("lead_time", LEAD_TIME_PAST_POINTS,
                       _("The planned start (%(start)s) is already past at submission.") % {
                           "start": _when(change.planned_start)})
    if hours < settings.min_lead_hours:
        return _factor("lead_time", LEAD_TIME_POINTS,
                       _("The change starts %(hours)s hours after %(since)s, less than the %(min)s hours of "
                         "lead time a normal change needs.") % {
                           "hours": int(hours), "min": settings.min_lead_hours,
                           "since": _("submission") if change.submitted_at else _("now")})
    return _factor("lead_time", 0, _("The change starts %(hours)s hours after %(since)s (at least %(min)s needed).")
                   % {"hours": int(hours), "min": settings.min_lead_hours,
                      "since": _("submission") if change.submitted_at else _("now")})


def maintenance_factor(change, ci_ids: list[int], service_ids: list[int]) -> dict:
    from opsdesk.alerts.models import MaintenanceWindow

    start, end = change.planned_start, change.planned_end
    if start is None or end is None:
        return _factor("maintenance_window", 0, _("No planned window yet."))
    if not ci_ids and not service_ids:
        return _factor("maintenance_window", 0, _("The change names no CIs or services to check against "
                                                  "maintenance windows."))
    # A window covers the change when it holds the whole planned window and is not cancelled before its end.
    covering = (MaintenanceWindow.objects
                .filter(starts_at__lte=start, ends_at__gte=end)
                .filter(Q(cancelled_at__isnull=True) | Q(cancelled_at__gte=end))
                .filter(Q(services__in=service_ids) | Q(cis__in=ci_ids))
                .order_by("starts_at", "pk").values("title", "starts_at", "ends_at").first())
    if covering:
        return _factor("maintenance_window", 0, _("The planned window lies inside the maintenance window "
                                                  "“%(title)s” (%(start)s to %(end)s).") % {
            "title": covering["title"], "start": _when(covering["starts_at"]), "end": _when(covering["ends_at"])})
    return _factor("maintenance_window", OUTSIDE_MAINTENANCE_POINTS,
                   _("The planned window (%(start)s to %(end)s) is not covered by a maintenance window of the "
                     "affected services or CIs.") % {"start": _when(start), "end": _when(end)})


def history_factor(change, settings, now) -> dict:
    from .models import ChangeRequest

    months = settings.history_months
    since = now - relativedelta(months=months)
    closed = ChangeRequest.objects.filter(owner_team_id=change.owner_team_id, status="closed",
                                          closed_at__gte=since, closed_at__lte=now).exclude(
        outcome__in=("", "cancelled"))
    closed = closed.filter(category_id=change.category_id) if change.category_id else closed.filter(
        category__isnull=True)
    if change.pk:
        closed = closed.exclude(pk=change.pk)
    figures = closed.aggregate(total=Count("id"), failed=Count("id", filter=Q(outcome__in=FAILED_OUTCOMES)))
    total, failed = figures["total"], figures["failed"]
    category = change.category.name.lower() if change.category_id else _("uncategorised")
    team = change.owner_team.name if change.owner_team_id else _("the owner team")
    if not total:
        return _factor("history", 0, _("%(team)s closed no %(category)s changes in the last %(months)s months.")
                       % {"team": team, "category": category, "months": months})
    rate = failed / total
    points = min(HISTORY_POINTS_MAX, round(rate * 2 * HISTORY_POINTS_MAX))
    return _factor("history", points, _("%(failed)s of %(total)s %(category)s changes by %(team)s failed in the last "
                                        "%(months)s months (%(rate)s%%).") % {
        "failed": failed, "total": total, "category": category, "team": team, "months": months,
        "rate": round(rate * 100)})


def open_incidents_factor(ci_ids: list[int], service_ids: list[int]) -> dict:
    from opsdesk.incidents.models import Incident
    from opsdesk.incidents.workflows import OPEN_STATES

    if not ci_ids and not service_ids:
        return _factor("open_incidents", 0, _("The change names no CIs or services."))
    ids = Incident.objects.filter(status__in=OPEN_STATES).filter(
        Q(service_id__in=service_ids) | Q(cis__in=ci_ids)).values("id")
    found = Incident.objects.filter(id__in=ids).order_by("-created_at", "-id")
    count = found.count()
    if not count:
        return _factor("open_incidents", 0, _("No open incident on the affected services or CIs."))
    numbers = list(found.values_list("number", flat=True)[:5])
    return _factor("open_incidents", min(OPEN_INCIDENT_POINTS_MAX, OPEN_INCIDENT_POINTS * count),
                   _("%(count)s open incident(s) on the affected services or CIs: %(numbers)s.") % {
                       "count": count, "numbers": _names(numbers) + (" …" if count > len(numbers) else "")})


def outage_factor(change) -> dict:
    if not change.expected_outage:
        return _factor("expected_outage", 0, _("No outage is expected."))
    if change.outage_minutes:
        return _factor("expected_outage", OUTAGE_POINTS, _("An outage of about %(minutes)s minutes is expected.")
                       % {"minutes": change.outage_minutes})
    return _factor("expected_outage", OUTAGE_POINTS, _("An outage is expected."))


# --- the assessment ---------------------------------------------------------------------------------------

def _related_ids(change) -> tuple[list[int], list[int]]:
    if not change.pk:
        return [], []
    return (sorted(change.cis.values_list("pk", flat=True)), sorted(change.services.values_list("pk", flat=True)))


def assess(change, *, answers: dict | None = None, now=None) -> Assessment:
    from .models import RISK_RANK

    now = now or timezone.now()
    settings = change_settings()
    answers = change.risk_answers if answers is None else answers
    ci_ids, service_ids = _related_ids(change)
    impact, tier_1 = cmdb_impact_factor(ci_ids, service_ids)
    factors = [
        questionnaire_factor(answers or {}),
        impact,
        lead_time_factor(change, settings, now),
        maintenance_factor(change, ci_ids, service_ids),
        history_factor(change, settings, now),
        open_incidents_factor(ci_ids, service_ids),
        outage_factor(change),
    ]
    score = sum(f["points"] for f in factors)
    level = level_for(score, settings)
    if tier_1 and RISK_RANK[level] < RISK_RANK[TIER_1_FLOOR]:
        level = TIER_1_FLOOR
    if change.change_type == "standard" and change.template_id:
        level = change.template.risk_level or "low"
        factors.insert(0, _factor("standard", 0, _("A pre-approved standard change keeps the risk level of its "
                                                   "template “%(template)s”; the factors below are for "
                                                   "information.") % {"template": change.template.name}))
    return Assessment(score=score, level=level, factors=factors)


def apply_assessment(change, assessment: Assessment) -> None:
    change.risk_score = assessment.score
    change.risk_level = assessment.level
    change.risk_factors = assessment.factors
    change.risk_assessed_at = timezone.now()


def _assessment_fields(assessment: Assessment) -> dict:
    return {"risk_score": assessment.score, "risk_level": assessment.level, "risk_factors": assessment.factors,
            "risk_assessed_at": timezone.now()}


def validate_answers(answers) -> dict:
    """{question slug: answer key} of active questions; "" or None clears an answer. ValidationError by slug."""
    from .models import RiskQuestion

    if not isinstance(answers, dict):
        raise ValidationError({"answers": _("A mapping of question key to answer key.")})
    questions = {q.slug: q for q in RiskQuestion.objects.filter(active=True)}
    errors, clean = {}, {}
    for slug, key in answers.items():
        question = questions.get(slug)
        if question is None:
            errors[str(slug)] = [_("No active risk question has this key.")]
        elif key in (None, ""):
            clean[slug] = None
        elif not isinstance(key, str) or key not in {a.get("key") for a in question.answers or []}:
            errors[slug] = [_("Not one of the answers of this question: %(keys)s.") % {
                "keys": ", ".join(a.get("key", "") for a in question.answers or [])}]
        else:
            clean[slug] = key
    if errors:
        raise ValidationError(errors)
    return clean


def answer_questionnaire(change, answers: dict, *, actor: Actor):
    """Store the answers (merged over the earlier ones) and the new assessment; 409 after assessment."""
    from opsdesk.core import records

    clean = validate_answers(answers)

    def check(locked, fields):
        if locked.status not in ANSWERABLE_STATES:
            raise TransitionNotAllowed(_("%(number)s is %(status)s: the risk questionnaire is answered only "
                                         "until the assessment ends.") % {
                "number": locked.number, "status": locked.get_status_display().lower()})

    merged = {**(change.risk_answers or {}), **clean}
    merged = {k: v for k, v in merged.items() if v}
    assessment = assess(change, answers=merged)
    return records.update_record(change, actor=actor, check=check,
                                 fields={"risk_answers": merged, **_assessment_fields(assessment)})


def reassess(change, *, actor: Actor):
    """Run the assessment again (the CMDB, history and incidents may have moved) and save it."""
    from opsdesk.core import records

    from .workflows import CHANGE_OPEN_STATES

    def check(locked, fields):
        if locked.status not in CHANGE_OPEN_STATES:
            raise TransitionNotAllowed(_("%(number)s is closed: its risk assessment stays as it was.")
                                       % {"number": locked.number})

    assessment = assess(change)
    return records.update_record(change, actor=actor, check=check, fields=_assessment_fields(assessment))


# --- the panel on the change page ---------------------------------------------------------------------------

LEVEL_STYLES = {"low": "success", "medium": "warning", "high": "danger", "very_high": "dark"}


def panel_context(change, user):
    from django.urls import reverse

    from opsdesk.core.permissions import can

    return {
        "change": change,
        "assessed": change.risk_assessed_at is not None,
        "level_style": LEVEL_STYLES.get(change.risk_level, "secondary"),
        "factors": change.risk_factors or [],
        "can_answer": change.status in ANSWERABLE_STATES and can(user, "responder", change),
        "can_reassess": change.is_open and can(user, "responder", change),
        "questionnaire_url": reverse("changes:risk_questionnaire", args=[change.pk]),
        "reassess_url": reverse("changes:risk_reassess", args=[change.pk]),
    }


def wire() -> None:
    from opsdesk.core import registry

    from .models import ChangeRequest

    registry.register_record_panel(ChangeRequest, registry.RecordPanel("risk", "changes/risk_panel.html",
                                                                       panel_context, order=10))
