"""Acceptance 5, on SQLite (FTS5) and PostgreSQL (tsvector): with many articles and incidents present,
searching for an incident's title returns the article written from a similar incident first."""

from __future__ import annotations

import random

import pytest

from opsdesk.core.actors import Actor
from opsdesk.incidents import services as incidents
from opsdesk.knowledge import selectors, services
from tests.incidents.factories import make_incident
from tests.knowledge.factories import make_article

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")
NOISE_TITLES = [
    "Payment authorisations time out", "Replica lag on the PostgreSQL cluster", "VPN users cannot reach the intranet",
    "Internal DNS resolves slowly", "SSO login loops for some users", "Kafka consumer group rebalancing",
    "Disk full on the staging volume", "Grafana dashboards empty for eu-2", "Phishing mail reported by staff",
    "Customer portal invoices download slowly", "Checkout page images load slowly", "Customers see an old price",
]


def _resolve(incident, notes):
    return incidents.transition_incident(incident, "resolve", actor=ACTOR, data={
        "resolution_code": "fixed", "resolution_notes": notes})


def _publish(article):
    return services.transition_article(article, "publish", actor=ACTOR)


@pytest.fixture
def knowledge_base():
    """Dozens of resolved incidents and published articles about other things (some sharing words)."""
    rng = random.Random(6)
    for n in range(40):
        title = rng.choice(NOISE_TITLES)
        _resolve(make_incident(title=f"{title} ({n})", symptoms=f"{title}; reported by customers."),
                 "Restarted the service.")
    for n, title in enumerate(NOISE_TITLES * 3):
        _publish(make_article(title=f"{title}: runbook {n}", body=f"## Problem\n\n{title}.\n\n## Solution\n\nRestart."))


def test_acceptance_5_the_article_written_from_a_similar_incident_comes_first(knowledge_base):
    source = _resolve(make_incident(title="Checkout answers HTTP 502 for some customers",
                                    symptoms="About 5% of checkout requests fail with 502 from the ingress."),
                      "Rolled back the ingress configuration; raised the readiness probe delay.")
    article = _publish(services.create_article(actor=ACTOR, data=services.prefill_from_incident(source)))
    new = make_incident(title="Checkout returning HTTP 502 errors to customers")

    hits = selectors.kb_search(new.title)
    assert hits, "the search finds something"
    assert (hits[0].kind, hits[0].number) == ("article", article.number)
    # Only what the KB shows: published articles, resolved incidents (not the open one searched from).
    assert new.number not in [h.number for h in hits]
    assert {h.state for h in hits if h.kind == "incident"} <= {"resolved", "closed"}


def test_drafts_and_open_incidents_are_not_found():
    make_article(title="Certificate rotation for the gateway")
    make_incident(title="Certificate rotation for the gateway failed")
    assert selectors.kb_search("certificate rotation gateway") == []


def test_kind_filter():
    _publish(make_article(title="Rotate the gateway certificate"))
    _resolve(make_incident(title="Gateway certificate expired"), "Rotated the certificate.")
    assert {h.kind for h in selectors.kb_search("gateway certificate")} == {"article", "incident"}
    assert {h.kind for h in selectors.kb_search("gateway certificate", kinds=["incident"])} == {"incident"}


def test_acceptance_5_in_the_global_search_box_the_article_comes_first(knowledge_base, client, users):
    """The navbar's search shows knowledge that answers the question (published articles, active known
    errors) above every other match: the article written from a similar incident is the page's first
    result, above the open incident whose title was searched for."""
    import re

    from django.urls import reverse

    source = _resolve(make_incident(title="Checkout answers HTTP 502 for some customers",
                                    symptoms="About 5% of checkout requests fail with 502 from the ingress."),
                      "Rolled back the ingress configuration; raised the readiness probe delay.")
    article = _publish(services.create_article(actor=ACTOR, data=services.prefill_from_incident(source)))
    new = make_incident(title="Checkout returning HTTP 502 errors to customers")
    client.force_login(users["viewer"])
    html = client.get(reverse("search"), {"q": new.title}).content.decode()
    numbers = re.findall(r'<span class="font-monospace me-1">([A-Z]+-\d+)</span>', html)
    assert numbers[0] == article.number
    assert "From the knowledge base" in html
    assert new.number in numbers[1:]  # the incident itself is still found, below the knowledge
    assert numbers.count(article.number) == 1  # shown once, not again among the ranked matches
