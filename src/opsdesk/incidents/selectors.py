"""Reads of the incident pages that are more than a filter: similar incidents."""

from __future__ import annotations

import datetime
import re

from django.db.models import Case, Exists, F, IntegerField, OuterRef, Q, Value, When
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import Incident

SIMILAR_STATES = ("resolved", "closed")
SIMILAR_WINDOW_DAYS = 365  # an old resolution is rarely the answer, and the window bounds the scan
WORD = re.compile(r"\w+", re.UNICODE)
MIN_WORD = 4  # shorter words ("the", "app", "is") match everything
TITLE_WORDS = 3
# How much each kind of likeness counts: the same CI says most about the cause.
WEIGHTS = {"ci": 4, "service": 3, "subcategory": 2, "category": 1, "word": 1}
REASONS = {"ci": _("same CI"), "service": _("same service"), "subcategory": _("same subcategory"),
           "category": _("same category"), "word": _("similar title")}


def title_words(title: str, count: int = TITLE_WORDS) -> list[str]:
    """The longest distinct words of a title (the rarest, as a rule), longest first."""
    words = {w.lower() for w in WORD.findall(title or "") if len(w) >= MIN_WORD and not w.isdigit()}
    return sorted(words, key=lambda w: (-len(w), w))[:count]


def similar_incidents(incident: Incident, limit: int = 5) -> list[Incident]:
    """Resolved incidents like this one (same CI, service, category, or title words in common), the most
    alike first, then the most recent; each with `similarity` (the score) and `reasons` (what matched).

    At most two queries: the incident's CIs (none when prefetched) and one scored query, computed in the
    database over the resolved incidents of the last year."""
    ci_ids = [ci.pk for ci in incident.cis.all()]
    words = title_words(incident.title)
    whens = []
    if ci_ids:
        links = Incident.cis.through.objects.filter(incident_id=OuterRef("pk"), configurationitem_id__in=ci_ids)
        whens.append(("ci", Exists(links)))
    if incident.service_id:
        whens.append(("service", Q(service_id=incident.service_id)))
    if incident.subcategory_id:
        whens.append(("subcategory", Q(subcategory_id=incident.subcategory_id)))
    if incident.category_id:
        whens.append(("category", Q(category_id=incident.category_id)))
    for index, word in enumerate(words):
        whens.append((f"word{index}", Q(title__icontains=word)))
    if not whens:
        return []
    annotations = {f"sim_{key}": Case(When(condition, then=Value(WEIGHTS[key.rstrip("0123456789")])),
                                      default=Value(0), output_field=IntegerField())
                   for key, condition in whens}
    any_match = Q()
    for _key, condition in whens:
        any_match |= condition if isinstance(condition, Q) else Q(condition)
    since = timezone.now() - datetime.timedelta(days=SIMILAR_WINDOW_DAYS)
    names = list(annotations)
    queryset = (Incident.objects.filter(status__in=SIMILAR_STATES, resolved_at__gte=since)
                .exclude(pk=incident.pk).filter(any_match)
                .annotate(**annotations)
                .select_related("service", "category", "subcategory"))
    score = sum((F(name) for name in names[1:]), F(names[0]))
    found = list(queryset.annotate(similarity=score).order_by("-similarity", "-resolved_at", "-id")[:limit])
    for other in found:
        matched = [key.rstrip("0123456789") for key, _condition in whens if getattr(other, f"sim_{key}")]
        if "subcategory" in matched and "category" in matched:
            matched.remove("category")  # "same subcategory" says it already
        other.reasons = [REASONS[key] for key in dict.fromkeys(matched)]
    return found
