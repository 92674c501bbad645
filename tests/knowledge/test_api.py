"""The knowledge API: articles (CRUD, transitions, review, feedback, versions, diff), categories and the
KB search, with permissions per role and pinned query counts."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from opsdesk.core.actors import Actor
from opsdesk.core.testing import ROLES, APIRecordTests, TeamScopedAPITests, WorkflowAPITests
from opsdesk.knowledge import services
from opsdesk.knowledge.models import Article, ArticleCategory, ArticleFeedback
from tests.knowledge.factories import make_article

ENDPOINT = "/api/v1/knowledge/articles/"
SEARCH = "/api/v1/knowledge/search/"


def article_factory(**fields):
    fields.setdefault("title", f"Restart the checkout service {uuid.uuid4().hex[:6]}")
    return make_article(**fields)


class TestArticleAPI(APIRecordTests, TeamScopedAPITests, WorkflowAPITests):
    endpoint = ENDPOINT
    factory = staticmethod(article_factory)
    team_field = "owner_team"
    transition = ("retire", {"reason": "Superseded"})
    create_status = {"viewer": 403, "responder": 201, "manager": 201, "admin": 201}
    update_status = {"viewer": 403, "responder": 200, "manager": 200, "admin": 200}
    writer_role = "responder"
    # token, token user memberships (the team role), count, page, then one prefetch each: tags, services,
    # CIs, known errors, incidents, reviewers (source incident / known error: none set, no query).
    list_queries = 10

    def create_payload(self, team):
        return {"title": f"Drain a node {uuid.uuid4().hex[:6]}", "body": "1. cordon\n2. drain",
                "owner_team": team.slug, "tags": ["kubernetes"]}

    def update_payload(self):
        return {"summary": "Cordon, then drain"}


# APIRecordTests reads `factory._meta.model` for the "nothing written" check.
article_factory._meta = type("Meta", (), {"model": Article})()


@pytest.fixture
def in_review(users):
    article = make_article(Actor.for_user(users["responder"]), reviewers=[users["manager"]])
    return services.transition_article(article, "submit", actor=Actor.for_user(users["responder"]))


def test_create_makes_version_1_and_an_edit_version_2_with_its_note(api, users):
    client = api(users["responder"])
    created = client.post(ENDPOINT, {"title": "Rotate TLS", "body": "renew", "note": "ignored"}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["status"] == "draft" and body["version"] == 1 and body["author"] == "responder"
    url = f"{ENDPOINT}{body['id']}/"
    edited = client.patch(url, {"body": "renew with cert-manager", "note": "Name the tool"}, format="json")
    assert edited.status_code == 200 and edited.json()["version"] == 2
    versions = client.get(f"{url}versions/").json()["results"]
    assert [v["number"] for v in versions] == [2, 1] and versions[0]["note"] == "Name the tool"
    diff = client.get(f"{url}diff/", {"from": 1, "to": 2}).json()
    assert {"op": "+", "text": "renew with cert-manager"} in diff["fields"]["body"]


def test_diff_of_a_missing_version_is_400(api, users):
    article = make_article()
    response = api(users["viewer"]).get(f"{ENDPOINT}{article.pk}/diff/", {"from": 1, "to": 7})
    assert response.status_code == 400 and "to" in response.json()["error"]["fields"]
    assert api(users["viewer"]).get(f"{ENDPOINT}{article.pk}/diff/").status_code == 400


def test_empty_body_is_400_and_writes_nothing(api, users):
    response = api(users["responder"]).post(ENDPOINT, {"title": "x", "body": " "}, format="json")
    assert response.status_code == 400
    assert not Article.objects.exists()


def test_submit_without_reviewer_is_400(api, users):
    article = make_article()
    response = api(users["responder"]).post(f"{ENDPOINT}{article.pk}/submit/", {}, format="json")
    assert response.status_code == 400 and "reviewers" in response.json()["error"]["fields"]
    article.refresh_from_db()
    assert article.status == "draft"


def test_review_by_the_named_reviewer_publishes(api, users, in_review):
    url = f"{ENDPOINT}{in_review.pk}/review/"
    assert api(users["viewer"]).post(url, {"decision": "approved"}, format="json").status_code == 403
    assert api(users["admin"]).post(url, {"decision": "approved"}, format="json").status_code == 400  # not named
    assert api(users["manager"]).post(url, {"decision": "maybe"}, format="json").status_code == 400
    response = api(users["manager"]).post(url, {"decision": "approved", "comment": "Good"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["reviewer"] == "manager"
    article = api(users["viewer"]).get(f"{ENDPOINT}{in_review.pk}/").json()
    assert article["status"] == "published" and article["published_at"]
    assert api(users["manager"]).post(url, {"decision": "approved"}, format="json").status_code == 409
    reviews = api(users["viewer"]).get(f"{ENDPOINT}{in_review.pk}/reviews/").json()["results"]
    assert [r["decision"] for r in reviews] == ["approved"]


def test_publish_directly_is_for_managers(api, users):
    article = make_article()
    url = f"{ENDPOINT}{article.pk}/publish/"
    assert api(users["responder"]).post(url, {}, format="json").status_code == 403
    assert api(users["manager"]).post(url, {}, format="json").status_code == 200


def test_feedback_per_role_and_one_vote_each(api, users):
    article = services.transition_article(make_article(), "publish", actor=Actor.system("t"))
    url = f"{ENDPOINT}{article.pk}/feedback/"
    for role in ROLES:
        assert api(users[role]).post(url, {"helpful": True}, format="json").status_code == 200, role
    assert api(users["viewer"]).post(url, {"helpful": False, "comment": "Step 2 fails"},
                                     format="json").status_code == 200
    assert api(users["viewer"]).post(url, {"comment": "no vote"}, format="json").status_code == 400
    article.refresh_from_db()
    assert (article.helpful_count, article.not_helpful_count) == (3, 1)
    assert ArticleFeedback.objects.get(article=article, user=users["viewer"]).comment == "Step 2 fails"
    assert api(users["viewer"], scope="read").post(url, {"helpful": True}, format="json").status_code == 403


def test_feedback_on_a_draft_is_409(api, users):
    article = make_article()
    response = api(users["viewer"]).post(f"{ENDPOINT}{article.pk}/feedback/", {"helpful": True}, format="json")
    assert response.status_code == 409


def test_editing_a_published_text_is_409(api, users):
    article = services.transition_article(make_article(), "publish", actor=Actor.system("t"))
    response = api(users["manager"]).patch(f"{ENDPOINT}{article.pk}/", {"body": "new"}, format="json")
    assert response.status_code == 409
    article.refresh_from_db()
    assert article.body != "new" and article.version == 1


def test_filters(api, users):
    category = services.create_category(actor=Actor.system("t"), data={"slug": "runbooks", "name": "Runbooks"})
    wanted = make_article(title="Drain a node", category=category, tags=["kubernetes"])
    make_article(title="Other")
    client = api(users["viewer"])
    for query in ({"category": "runbooks"}, {"tag": "kubernetes"}, {"status": "draft", "tag": "kubernetes"}):
        assert [a["id"] for a in client.get(ENDPOINT, query).json()["results"]] == [wanted.pk], query
    assert client.get(ENDPOINT, {"status": "nonsense"}).status_code == 400


def test_categories_per_role(api, users):
    for role, expected in (("viewer", 403), ("responder", 403), ("manager", 201), ("admin", 201)):
        response = api(users[role]).post("/api/v1/knowledge/categories/", {"slug": f"c-{role}", "name": role},
                                         format="json")
        assert response.status_code == expected, (role, response.content)
    assert api(users["viewer"]).get("/api/v1/knowledge/categories/").json()["count"] == 2
    assert api(users["admin"]).post("/api/v1/knowledge/categories/", {"slug": "bad slug!", "name": "x"},
                                    format="json").status_code == 400
    assert ArticleCategory.objects.count() == 2


def test_search_finds_published_articles_only_and_checks_input(api, users):
    published = services.transition_article(make_article(title="Rotate the gateway certificate"), "publish",
                                            actor=Actor.system("t"))
    make_article(title="Rotate the gateway certificate draft")
    client = api(users["viewer"])
    response = client.get(SEARCH, {"q": "gateway certificate"})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["number"] for r in results] == [published.number]
    assert results[0]["kind"] == "article" and results[0]["url"] == published.get_absolute_url()
    assert client.get(SEARCH, {"q": "gateway", "kind": "article"}).json()["results"]
    assert client.get(SEARCH, {"q": ""}).status_code == 400
    assert client.get(SEARCH, {"q": "x", "kind": "spaceship"}).status_code == 400
    assert client.get(SEARCH, {"q": "x", "limit": "0"}).status_code == 400
    assert api().get(SEARCH, {"q": "gateway"}).status_code == 401


def test_search_query_count_does_not_grow_with_hits(api, users):
    client = api(users["viewer"])
    services.transition_article(make_article(title="Checkout 502 runbook"), "publish", actor=Actor.system("t"))
    client.get(SEARCH, {"q": "checkout"})
    with CaptureQueriesContext(connection) as one:
        client.get(SEARCH, {"q": "checkout"})
    for n in range(10):
        services.transition_article(make_article(title=f"Checkout runbook {n}"), "publish", actor=Actor.system("t"))
    with CaptureQueriesContext(connection) as many:
        response = client.get(SEARCH, {"q": "checkout"})
    assert len(response.json()["results"]) == 11
    assert len(many) == len(one), [q["sql"] for q in many.captured_queries]
