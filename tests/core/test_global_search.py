"""The navbar's search page (/search/?q=): ranked full-text "Best matches" over the indexed record types,
field matches for the others, a number opens its record, and nothing the user may not see is listed."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from opsdesk.incidents.models import Incident
from tests.incidents.factories import make_incident
from tests.knowledge.factories import make_article
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db


def best_numbers(html: str) -> list[str]:
    best = html.split('class="card mb-3 search-best"', 1)
    if len(best) < 2:
        return []
    return re.findall(r'<span class="font-monospace me-1">([A-Z]+-\d+)</span>', best[1].split("</ul>", 1)[0])


@pytest.mark.parametrize("role", ["viewer", "responder", "manager", "admin"])
def test_every_role_gets_ranked_matches_across_kinds(client, users, team, role):
    article = make_article(title="Checkout answers 502 after a deploy: what to do")
    incident = make_incident(title="Checkout answers 502", description="Customers cannot pay.")
    ServiceFactory(owner_team=team, name="Checkout frontend")
    client.force_login(users[role])
    response = client.get(reverse("search"), {"q": "checkout 502"})
    html = response.content.decode()
    assert response.status_code == 200
    assert best_numbers(html) == [incident.number, article.number]  # the shorter title holds every word
    assert "Best matches" in html and "Customers cannot pay." in html
    assert ">Incident</span>" in html and ">New</span>" in html  # kind badge and state label
    html = client.get(reverse("search"), {"q": "checkout"}).content.decode()
    assert "Checkout frontend" in html  # services are not indexed: matched on their fields, a group of their own


def test_anonymous_users_are_sent_to_the_login_page(client):
    response = client.get(reverse("search"), {"q": "checkout"})
    assert response.status_code == 302 and "/login" in response["Location"]


def test_a_record_type_the_user_may_not_see_is_not_listed(client, users, monkeypatch):
    from opsdesk.core.views import UI_BY_MODEL

    client.get(reverse("search"))  # the URLconf is loaded: every RecordUI registered
    incident = make_incident(title="Ledger replication lag")
    article = make_article(title="Ledger replication lag explained")
    monkeypatch.setattr(UI_BY_MODEL[Incident], "view_role", "manager")
    client.force_login(users["responder"])
    html = client.get(reverse("search"), {"q": "ledger replication"}).content.decode()
    assert best_numbers(html) == [article.number] and incident.number not in html
    assert client.get(reverse("search"), {"q": incident.number}).status_code == 200  # no redirect to it either
    client.force_login(users["manager"])
    html = client.get(reverse("search"), {"q": "ledger replication"}).content.decode()
    assert set(best_numbers(html)) == {incident.number, article.number}
    assert client.get(reverse("search"), {"q": incident.number})["Location"] == incident.get_absolute_url()


def test_a_number_opens_the_record(client, users):
    incident = make_incident(title="Jobs stuck")
    article = make_article(title="Jobs stuck: the runbook")
    client.force_login(users["viewer"])
    for record in (incident, article):
        response = client.get(reverse("search"), {"q": record.number.lower()})
        assert response.status_code == 302 and response["Location"] == record.get_absolute_url()


@pytest.mark.parametrize("q", ['"unbalanced', "NEAR(a b)", "title:*", "-", "x" * 500, "<script>alert(1)</script>"])
def test_hostile_queries_answer_a_page(client, users, q):
    make_incident(title="Certificate expired")
    client.force_login(users["viewer"])
    response = client.get(reverse("search"), {"q": q})
    assert response.status_code == 200
    assert "<script>alert(1)</script>" not in response.content.decode()


def test_nothing_found_says_so(client, users):
    client.force_login(users["viewer"])
    html = client.get(reverse("search"), {"q": "zanzibar"}).content.decode()
    assert "Nothing matches" in html and "Best matches" not in html
    assert "Type a word" in client.get(reverse("search")).content.decode()


def test_query_count_does_not_grow_with_the_matches(client, users, team, django_assert_max_num_queries):
    client.force_login(users["viewer"])
    make_incident(title="Disk almost full on db-1")
    make_article(title="Disk almost full: clean up")
    ServiceFactory(owner_team=team, name="Disk archive")
    client.get(reverse("search"), {"q": "disk full"})  # warm the content type and session caches
    with django_assert_max_num_queries(40) as one:
        client.get(reverse("search"), {"q": "disk full"})
    for n in range(12):
        make_incident(title=f"Disk almost full on db-{n + 2}")
        make_article(title=f"Disk almost full on db-{n + 2}: clean up")
        ServiceFactory(owner_team=team, name=f"Disk archive {n}")
    with django_assert_max_num_queries(len(one.captured_queries)):
        html = client.get(reverse("search"), {"q": "disk full"}).content.decode()
    assert len(best_numbers(html)) == 20
