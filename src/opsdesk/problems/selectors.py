"""Reads of the problem pages that are more than a filter: the linked incidents of a problem, the
problems an incident belongs to, the open countermeasures."""

from __future__ import annotations

from django.db.models import Count, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce

from opsdesk.incidents.models import Incident

from .models import Countermeasure, Problem
from .workflows import PROBLEM_OPEN_STATES

LINKED_SHOWN = 200


def linked_incidents(problem: Problem, limit: int = LINKED_SHOWN) -> list[Incident]:
    return list(problem.incidents.select_related("service", "assignment_group", "assignee")
                .order_by("-detected_at", "-id")[:limit])


def countermeasures(problem: Problem) -> list[Countermeasure]:
    return list(problem.countermeasures.select_related("owner").order_by("due_date", "id"))


def problems_of_incident(incident: Incident) -> list[Problem]:
    return list(Problem.objects.filter(incidents=incident).order_by("-id")[:20])


def incidents_by_ids(ids) -> list[Incident]:
    """The incidents a create page was asked to start from (query string), in the order they were given
    (the order ticked on the list: the first one first), bounded."""
    clean = list(dict.fromkeys(int(v) for v in ids if str(v).isdigit()))[:500]
    found = {i.pk: i for i in Incident.objects.filter(pk__in=clean).prefetch_related("cis").select_related(
        "service", "category", "assignment_group")}
    return [found[pk] for pk in clean if pk in found]


def open_problems_of_incidents(ids) -> dict[str, list[Problem]]:
    """{incident number: [open problems it is linked to]} for the given incident ids (one query)."""
    clean = list(dict.fromkeys(int(v) for v in ids if str(v).isdigit()))[:500]
    links = (Problem.incidents.through.objects.filter(incident_id__in=clean, problem__status__in=PROBLEM_OPEN_STATES)
             .select_related("incident", "problem").order_by("incident_id", "problem_id"))
    found: dict[str, list[Problem]] = {}
    for link in links:
        found.setdefault(link.incident.number, []).append(link.problem)
    return found


def incident_count_subquery():
    """How many incidents a problem explains, for `annotate()`: no GROUP BY over the problem list."""
    links = (Problem.incidents.through.objects.filter(problem_id=OuterRef("pk")).order_by()
             .values("problem_id").annotate(n=Count("id")).values("n"))
    return Coalesce(Subquery(links, output_field=IntegerField()), 0)


def open_problem_count() -> int:
    return Problem.objects.filter(Q(status__in=PROBLEM_OPEN_STATES)).count()
