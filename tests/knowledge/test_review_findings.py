"""Review findings on the knowledge base: the incident prefill (solution from the resolution and the
last notes, cause from a linked problem, hints instead of "…"), the "similar articles exist" warning,
overdue reviews, the list's dates and plurals, review reminders without a query per article, and the
KB search checking which kinds of record the user may see."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from opsdesk.accounts.services import set_membership
from opsdesk.core.actors import Actor
from opsdesk.core.comments import add_comment
from opsdesk.core.models import OutboxEvent
from opsdesk.incidents import services as incidents
from opsdesk.knowledge import selectors, services
from opsdesk.knowledge.models import Article
from tests.accounts.factories import TeamFactory, UserFactory
from tests.incidents.factories import make_incident
from tests.knowledge.factories import make_article

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")
NOW = datetime.datetime(2030, 3, 20, 9, tzinfo=datetime.UTC)


def _resolve(incident, notes, code="restarted"):
    return incidents.transition_incident(incident, "resolve", actor=ACTOR, data={
        "resolution_code": code, "resolution_notes": notes})


def _publish(article):
    return services.transition_article(article, "publish", actor=ACTOR)


# --- 1. the prefill from an incident ---------------------------------------------------------------------

def test_stub_resolution_notes_bring_the_last_notes_and_the_resolution_code_label():
    incident = make_incident(title="Orders stuck in the payment queue", symptoms="Orders stay pending")
    add_comment(incident, actor=ACTOR, body="Looked at the broker: consumer lag 40k.")
    add_comment(incident, actor=ACTOR, body="Restarted the payment consumers; the lag drains.")
    incident = _resolve(incident, "Service restored; see the timeline.")
    body = services.prefill_from_incident(incident)["body"]
    solution = body.split("## Solution", 1)[1].split("## Cause", 1)[0]
    assert "Restarted / self-healed" in solution  # the resolution code's label
    assert "consumer lag 40k" in solution and "Restarted the payment consumers" in solution
    assert solution.index("consumer lag 40k") < solution.index("Restarted the payment consumers")
    assert "…" not in body


def test_real_resolution_notes_are_not_padded_with_comments():
    incident = make_incident(title="Orders stuck", symptoms="Orders stay pending")
    add_comment(incident, actor=ACTOR, body="Chatter that is not the solution.")
    incident = _resolve(incident, "Raised the consumer count from 2 to 6 and drained the backlog.", code="fixed")
    body = services.prefill_from_incident(incident)["body"]
    assert "Raised the consumer count" in body and "Fixed" in body
    assert "Chatter" not in body


def test_cause_comes_from_a_linked_problem_else_a_hint():
    from opsdesk.problems import services as problems
    from tests.problems.factories import make_problem

    incident = _resolve(make_incident(title="Checkout 502", symptoms="502"), "Rolled back.", code="rolled_back")
    without = services.prefill_from_incident(incident)["body"]
    cause = without.split("## Cause", 1)[1]
    assert cause.strip().startswith("_") and "root cause" in cause and "…" not in without

    problem = make_problem(root_cause="The ingress readiness probe fires before the pods warm up.")
    problems.link_incidents(problem, [incident], actor=ACTOR)
    with_problem = services.prefill_from_incident(incident)["body"]
    assert "readiness probe fires before the pods warm up" in with_problem.split("## Cause", 1)[1]
    assert problem.number in with_problem


def test_new_article_form_warns_of_articles_with_a_similar_title(client, users):
    existing = _publish(make_article(title="VPN users cannot reach the intranet"))
    draft = make_article(title="Intranet unreachable for VPN users")
    make_article(title="Rotate the TLS certificate")  # not similar
    incident = _resolve(make_incident(title="VPN users cannot reach the intranet", symptoms="No route"),
                        "Re-announced the route.", code="fixed")
    client.force_login(users["responder"])
    page = client.get(f"/knowledge/new/?incident={incident.pk}").content.decode()
    assert "similar-articles" in page and "alert-warning" in page
    assert existing.get_absolute_url() in page and draft.get_absolute_url() in page
    assert "Rotate the TLS certificate" not in page
    # As the title is typed (htmx), for responders only (it serves the form).
    part = client.get("/knowledge/similar/", {"title": "rotate tls certificate"}).content.decode()
    assert "Rotate the TLS certificate" in part and "VPN" not in part
    assert "alert-warning" not in client.get("/knowledge/similar/", {"title": "printer jam"}).content.decode()
    client.force_login(users["viewer"])
    assert client.get("/knowledge/similar/", {"title": "vpn"}).status_code == 403


# --- 2. overdue reviews, 4. dates and plurals --------------------------------------------------------------

@pytest.fixture
def overdue():
    with time_machine.travel(NOW, tick=False):
        late = _publish(make_article(title="Late article", review_by=datetime.date(2030, 3, 10)))
        fine = _publish(make_article(title="Fine article", review_by=datetime.date(2030, 9, 1)))
        yield late, fine


def test_detail_says_since_when_the_review_is_overdue(client, users, overdue):
    late, fine = overdue
    client.force_login(users["viewer"])
    page = client.get(late.get_absolute_url()).content.decode()
    assert "Review overdue since 2030-03-10" in page and 'id="review-overdue"' in page
    page = client.get(fine.get_absolute_url()).content.decode()
    assert "Review overdue" not in page and "2030-09-01" in page


def test_list_marks_overdue_rows_writes_iso_dates_and_filters_due_reviews(client, users, overdue):
    late, fine = overdue
    client.force_login(users["viewer"])
    page = client.get("/knowledge/").content.decode()
    assert page.count("review-overdue") == 1 and "2030-03-10" in page and "2030-09-01" in page
    assert "March 10, 2030" not in page and "Sept. 1, 2030" not in page and "Mar. 10, 2030" not in page
    due = client.get("/knowledge/?review_due=true").content.decode()
    assert "Late article" in due and "Fine article" not in due
    csv = b"".join(client.get("/knowledge/?export=csv").streaming_content).decode()
    assert "2030-03-10" in csv and "review-overdue" not in csv


def test_views_and_category_counts_are_pluralised(client, users):
    from opsdesk.knowledge.models import ArticleCategory

    category = services.create_category(actor=ACTOR, data={"name": "Runbooks", "slug": "runbooks"})
    article = _publish(make_article(category=category))
    client.force_login(users["viewer"])
    page = client.get(article.get_absolute_url()).content.decode()  # counts this view
    page = client.get(article.get_absolute_url()).content.decode()
    assert '<span id="view-count">1</span> view<' in page and "1</span> views" not in page
    Article.objects.filter(pk=article.pk).update(view_count=2)
    assert '<span id="view-count">2</span> views' in client.get(article.get_absolute_url()).content.decode()
    assert "1 article<" in client.get(ArticleCategory.objects.get().get_absolute_url()).content.decode()


# --- 6. review reminders: one rule for recipients, no query per article ------------------------------------

def test_reminders_go_to_active_team_managers_with_a_fixed_number_of_queries():
    teams = [TeamFactory(name=f"Team {n}") for n in range(4)]
    managers = []
    for team in teams:
        manager, gone = UserFactory(), UserFactory(is_active=False)
        set_membership(team, manager, actor=ACTOR, role="manager")
        set_membership(team, gone, actor=ACTOR, role="manager")
        set_membership(team, UserFactory(), actor=ACTOR, role="responder")
        managers.append(manager)
    author = UserFactory()
    with time_machine.travel(NOW, tick=False):
        def publish(n, team, **fields):
            return _publish(make_article(title=f"Article {n}", owner_team=team, review_by=datetime.date(2030, 3, 1),
                                         **fields))

        publish(0, teams[0])
        with CaptureQueriesContext(connection) as one:
            assert services.remind_reviews() == 1
        for n, team in enumerate(teams, start=1):
            publish(n, team)
        publish(9, teams[0], author=author)
        with CaptureQueriesContext(connection) as many:
            assert services.remind_reviews() == 5
    assert len(many) == len(one)
    events = {e.object_id: e.payload.get("recipients") for e in OutboxEvent.objects.filter(
        event_type="article.review_due")}
    by_title = {a.title: a.pk for a in Article.objects.all()}
    for n in range(1, len(teams) + 1):
        assert events[by_title[f"Article {n}"]] == [managers[n - 1].pk]
    assert events[by_title["Article 9"]] == [author.pk]


# --- 5. KB search checks what the user may see ----------------------------------------------------------------

def test_kb_search_leaves_out_kinds_the_user_may_not_see(client, users, api, monkeypatch):
    from opsdesk.core.views import UI_BY_MODEL
    from opsdesk.incidents.models import Incident

    _publish(make_article(title="Rotate the gateway certificate"))
    _resolve(make_incident(title="Gateway certificate expired"), "Rotated the certificate.")
    monkeypatch.setattr(UI_BY_MODEL[Incident], "view_role", "manager")
    assert {h.kind for h in selectors.kb_search("gateway certificate", user=users["responder"])} == {"article"}
    assert {h.kind for h in selectors.kb_search("gateway certificate", user=users["manager"])} == \
        {"article", "incident"}
    response = api(users["responder"]).get("/api/v1/knowledge/search/", {"q": "gateway certificate"})
    assert response.status_code == 200
    assert {h["kind"] for h in response.json()["results"]} == {"article"}
    client.force_login(users["responder"])
    page = client.get("/knowledge/search/", {"q": "gateway certificate"}).content.decode()
    assert "kb-kind-article" in page and "kb-kind-incident" not in page and 'id="kind-incident"' not in page
