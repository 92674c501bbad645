"""Reads of the knowledge base: what the article page shows, the version history with its diff, the
prefill of a new article, and the KB search across articles, known errors and resolved incidents."""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from opsdesk.core import search
from opsdesk.core.markup import render_safe
from opsdesk.core.permissions import can

from . import diff, services
from .models import Article, ArticleFeedback
from .workflows import ARTICLE_WORKFLOW

# What the KB search finds, and in which states: kind -> (label, states).
SEARCH_SCOPE = {
    "article": (_("Articles"), ("published",)),
    "knownerror": (_("Known errors"), ("active",)),
    "incident": (_("Resolved incidents"), ("resolved", "closed")),
}
SEARCH_KINDS = tuple(SEARCH_SCOPE)
SEARCH_LIMIT = 50
# Among hits of about the same relevance, curated knowledge comes before raw tickets: an article written
# from an incident says what the incident says, and more, so it should be read first.
KIND_WEIGHTS = {"article": 1.5, "knownerror": 1.25, "incident": 1.0}


def kind_labels(user=None) -> list[tuple[str, str]]:
    """The kinds the KB search offers (to `user`: those whose records the user may see)."""
    return [(kind, str(label)) for kind, (label, _states) in SEARCH_SCOPE.items() if _registered(kind, user)]


def _registered(kind: str, user=None) -> bool:
    return any(indexer.kind == kind and (user is None or search.may_view(user, indexer.model))
               for indexer in search.indexers())


def kb_search(text: str, *, user=None, kinds=None, limit: int = SEARCH_LIMIT) -> list[search.Hit]:
    """Ranked hits for `text`: published articles, active known errors, resolved or closed incidents,
    of the kinds `user` may see (core.search drops a kind whose list page the user may not open)."""
    kinds = [k for k in (kinds or SEARCH_KINDS) if k in SEARCH_SCOPE and _registered(k)]
    if not kinds:
        return []
    hits = search.query(text, kinds=kinds, states={k: SEARCH_SCOPE[k][1] for k in kinds},
                        limit=max(1, min(int(limit), 200)), user=user)
    return sorted(hits, key=lambda hit: -hit.score * KIND_WEIGHTS.get(hit.kind, 1.0))


SIMILAR_STATES = ("draft", "in_review", "published")
SIMILAR_LIMIT = 5
SIMILAR_OVERLAP = 0.5  # the share of the title's words an existing title must hold to count as similar


def similar_articles(title: str, *, user, exclude: int | None = None) -> list[search.Hit]:
    """Articles (draft, in review or published) whose title holds at least half the words of `title`,
    best first: shown on the new article form so people reuse or improve before they write (KCS)."""
    wanted = set(search.words(title))
    if not wanted or not _registered("article"):
        return []
    hits = search.query(title, kinds=["article"], states={"article": SIMILAR_STATES}, limit=20, user=user)
    similar = [hit for hit in hits if hit.object_id != exclude
               and len(wanted & set(search.words(hit.title))) >= SIMILAR_OVERLAP * len(wanted)]
    labels = dict(ARTICLE_WORKFLOW.choices)
    for hit in similar:
        hit.extra["state_label"] = str(labels.get(hit.state, hit.state))
    return similar[:SIMILAR_LIMIT]


def prefill_for(request) -> dict:
    """The values of a new article written from `?incident=<id>` (resolved or closed) or
    `?known_error=<id>`; empty otherwise."""
    from opsdesk.incidents.models import Incident
    from opsdesk.problems.models import KnownError

    incident_id, known_error_id = request.GET.get("incident", ""), request.GET.get("known_error", "")
    if incident_id.isdigit():
        incident = Incident.objects.select_related("service").filter(
            pk=incident_id, status__in=services.RESOLVED_INCIDENT_STATES).first()
        if incident is not None and can(request.user, "viewer", incident):
            return services.prefill_from_incident(incident)
    if known_error_id.isdigit():
        known_error = KnownError.objects.filter(pk=known_error_id).first()
        if known_error is not None:
            return services.prefill_from_known_error(known_error)
    return {}


def review_overdue(article: Article, today=None) -> bool:
    """A published article whose review date has passed (the day itself is "due", the day after
    "overdue"; the reminder goes out on the day: services.remind_reviews)."""
    today = today or timezone.localdate()
    return article.status == "published" and article.review_by is not None and article.review_by < today


def may_review(user, article: Article) -> bool:
    return (article.status == "in_review" and article.author_id != user.pk
            and article.reviewers.filter(pk=user.pk).exists())


def article_context(article: Article, user) -> dict:
    """The detail page's extra context: the rendered text, related records, the reader's own vote."""
    return {
        "body_html": render_safe(article.body),
        "related": [
            (_("Services"), list(article.services.all())),
            (_("Configuration items"), list(article.cis.all())),
            (_("Known errors"), list(article.known_errors.all())),
            (_("Incidents"), list(article.incidents.all())),
        ],
        "reviewers": list(article.reviewers.all()),
        "tags": list(article.tags.all()),
        "my_feedback": ArticleFeedback.objects.filter(article=article, user=user).first(),
        "can_review": may_review(user, article),
        "can_vote": article.status == "published",
        "review_overdue": review_overdue(article),
    }


def versions_context(article: Article, params) -> dict:
    """The version list and the diff between two of them (`?a=&b=`; by default the last two)."""
    versions = list(article.versions.select_related("author").order_by("-number"))
    numbers = [v.number for v in versions]

    def chosen(name, default):
        value = params.get(name, "")
        return int(value) if value.isdigit() and int(value) in numbers else default

    newest = numbers[0] if numbers else None
    b = chosen("b", newest)
    a = chosen("a", numbers[1] if len(numbers) > 1 else newest)
    by_number = {v.number: v for v in versions}
    result = diff.diff_versions(by_number[a], by_number[b]) if a is not None and b is not None else None
    return {"versions": versions, "a": a, "b": b, "diff_html": diff.diff_html(result) if result else ""}
