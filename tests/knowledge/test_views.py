"""The knowledge pages: list, detail tabs, form with prefill, review, feedback, views, KB search."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from opsdesk.core.actors import Actor
from opsdesk.core.testing import PageRecordTests
from opsdesk.incidents import services as incidents
from opsdesk.knowledge import services
from opsdesk.knowledge.models import Article
from tests.incidents.factories import make_incident
from tests.knowledge.factories import make_article

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")


def article_factory(**fields):
    fields.setdefault("title", f"Drain a node {uuid.uuid4().hex[:6]}")
    return make_article(**fields)


class TestArticlePages(PageRecordTests):
    list_url = "/knowledge/"
    factory = staticmethod(article_factory)
    team_field = "owner_team"
    # session, user, count, page, tags, memberships (nav), unread notifications, saved filters, and the
    # side panel's category and tag choices.
    list_queries = 10

    def form_data(self, team):
        return {"title": "Rotate TLS", "body": "renew", "owner_team": team.pk, "tags": "tls, edge"}


def test_list_filters_and_query_count(client, users):
    client.force_login(users["viewer"])
    make_article(title="Something", tags=["edge"])
    client.get("/knowledge/?tag=edge")
    with CaptureQueriesContext(connection) as one:
        client.get("/knowledge/?tag=edge&status=draft")
    for n in range(10):
        make_article(title=f"Edge {n}", tags=["edge"])
    with CaptureQueriesContext(connection) as many:
        response = client.get("/knowledge/?tag=edge&status=draft")
    assert response.status_code == 200 and "Edge 9" in response.content.decode()
    assert len(many) == len(one)


def test_detail_renders_markdown_safely_and_counts_one_view_per_session(client, users):
    article = make_article(body="## Steps\n\n<script>alert(1)</script>\n\n**Drain** first")
    client.force_login(users["viewer"])
    page = client.get(article.get_absolute_url()).content.decode()
    assert "<h2>Steps</h2>" in page and "<strong>Drain</strong>" in page
    assert "<script>alert(1)" not in page
    client.get(article.get_absolute_url())
    for tab in ("versions", "reviews"):
        assert client.get(f"{article.get_absolute_url()}?tab={tab}").status_code == 200
    article.refresh_from_db()
    assert article.view_count == 1


def test_versions_tab_shows_the_diff_between_chosen_versions(client, users):
    article = make_article(body="one")
    article = services.update_article(article, actor=ACTOR, data={"body": "two"})
    article = services.update_article(article, actor=ACTOR, data={"body": "three"})
    client.force_login(users["viewer"])
    page = client.get(f"{article.get_absolute_url()}?tab=versions&a=1&b=3").content.decode()
    assert "diff-del" in page and "one" in page and "three" in page


def test_write_an_article_from_a_resolved_incident(client, users):
    incident = make_incident(title="VPN users cannot reach the intranet", symptoms="No route")
    client.force_login(users["responder"])
    assert "/knowledge/new/?incident=" not in client.get(incident.get_absolute_url()).content.decode()
    incident = incidents.transition_incident(incident, "resolve", actor=ACTOR, data={
        "resolution_code": "fixed", "resolution_notes": "Re-announced the route."})
    link = f"/knowledge/new/?incident={incident.pk}"
    assert link in client.get(incident.get_absolute_url()).content.decode()
    form = client.get(link).content.decode()
    assert "VPN users cannot reach the intranet" in form and "Re-announced the route." in form
    response = client.post(link, {"title": incident.title, "body": "## Solution\n\nRe-announce.",
                                  "incidents": incident.number})
    assert response.status_code == 302, response.content.decode()[:2000]
    article = Article.objects.get()
    assert article.source_incident == incident and article.author == users["responder"]


def test_review_and_feedback_pages(client, users):
    article = make_article(Actor.for_user(users["responder"]), reviewers=[users["manager"]])
    article = services.transition_article(article, "submit", actor=ACTOR)
    client.force_login(users["manager"])
    assert "review-form" in client.get(f"{article.get_absolute_url()}?tab=reviews").content.decode()
    response = client.post(f"/knowledge/{article.pk}/review/", {"decision": "approved"})
    assert response.status_code == 302
    article.refresh_from_db()
    assert article.status == "published"
    client.force_login(users["viewer"])
    assert client.post(f"/knowledge/{article.pk}/review/", {"decision": "approved"}).status_code == 403
    client.post(f"/knowledge/{article.pk}/feedback/", {"helpful": "yes"})
    client.post(f"/knowledge/{article.pk}/feedback/", {"helpful": "no"})
    article.refresh_from_db()
    assert (article.helpful_count, article.not_helpful_count) == (0, 1)


def test_preview_is_sanitised_and_for_responders(client, users):
    client.force_login(users["viewer"])
    assert client.post("/knowledge/preview/", {"body": "x"}).status_code == 403
    client.force_login(users["responder"])
    html = client.post("/knowledge/preview/", {"body": "**b** <img src=x onerror=alert(1)>"}).content.decode()
    assert "<strong>b</strong>" in html and "onerror" not in html


def test_kb_search_page(client, users):
    article = services.transition_article(make_article(title="Rotate the gateway certificate"), "publish",
                                          actor=ACTOR)
    client.force_login(users["viewer"])
    page = client.get("/knowledge/search/", {"q": "gateway certificate"}).content.decode()
    assert article.number in page and "kb-hit" in page
    assert "Nothing in the knowledge base" in client.get("/knowledge/search/", {"q": "zebra"}).content.decode()


def test_categories_pages(client, users):
    client.force_login(users["responder"])
    assert client.get("/knowledge/categories/new/").status_code == 403
    client.force_login(users["manager"])
    response = client.post("/knowledge/categories/new/", {"name": "Runbooks", "slug": "runbooks", "order": 10})
    assert response.status_code == 302
    assert client.get("/knowledge/categories/").status_code == 200
