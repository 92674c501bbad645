"""The change success-rate KPI on a crafted history: per team and per category, over the chosen period,
cancelled and open changes left out, incident-causing changes counted; the page, the JSON and their
permissions and query counts."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from opsdesk.changes import reviews
from opsdesk.changes.models import ChangeCategory
from opsdesk.core.actors import Actor
from tests.accounts.factories import TeamFactory
from tests.changes.factories import make_change, put_in_state
from tests.incidents.factories import make_incident

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")


def closed(team, outcome, *, days_ago=10, category=None):
    change = make_change(owner_team=team, category=category)
    return put_in_state(change, "closed", outcome=outcome,
                        closed_at=timezone.now() - datetime.timedelta(days=days_ago))


@pytest.fixture
def history():
    network = TeamFactory(name="Network", slug="network")
    database = TeamFactory(name="Database", slug="database")
    firewall = ChangeCategory.objects.create(slug="kpi-firewall", name="KPI firewall")
    patching = ChangeCategory.objects.create(slug="kpi-patching", name="KPI patching")
    # Network: 4 counted (2 successful, 1 with issues, 1 failed) -> 75 %; one cancelled, one too old.
    closed(network, "successful", category=firewall)
    closed(network, "successful", category=firewall)
    closed(network, "successful_with_issues", category=patching)
    failed = closed(network, "failed", category=firewall)
    closed(network, "cancelled", category=firewall)
    closed(network, "failed", days_ago=300, category=firewall)  # outside 6 months, inside 12
    # Database: 2 counted (1 successful, 1 backed out) -> 50 %; one still open.
    closed(database, "successful", category=patching)
    closed(database, "backed_out", category=patching)
    put_in_state(make_change(owner_team=database), "implementing")
    reviews.mark_caused(failed, make_incident(), actor=ACTOR)
    reviews.mark_caused(failed, make_incident(), actor=ACTOR)  # two incidents, one change
    return {"network": network, "database": database}


def by(rows, key, value):
    return next(row for row in rows if row[key] == value)


def test_success_rates_per_team_and_category(history):
    figures = reviews.success_rates(6)
    network, database = by(figures["teams"], "team", "network"), by(figures["teams"], "team", "database")
    assert (network["total"], network["successful"], network["failed"], network["backed_out"],
            network["caused_incidents"], network["success_rate"]) == (4, 3, 1, 0, 1, 75.0)
    assert (database["total"], database["successful"], database["backed_out"], database["success_rate"]) == \
        (2, 1, 1, 50.0)
    firewall = by(figures["categories"], "category", "kpi-firewall")
    patching = by(figures["categories"], "category", "kpi-patching")
    assert (firewall["total"], firewall["successful"], firewall["failed"], firewall["success_rate"]) == \
        (3, 2, 1, 66.7)
    assert (patching["total"], patching["successful"], patching["success_rate"]) == (3, 2, 66.7)
    assert figures["overall"] == {"total": 6, "successful": 4, "failed": 1, "backed_out": 1,
                                  "caused_incidents": 1, "success_rate": 66.7}


def test_the_period_counts(history):
    network = by(reviews.success_rates(12)["teams"], "team", "network")
    assert (network["total"], network["failed"], network["success_rate"]) == (5, 2, 60.0)
    assert reviews.success_rates(3)["overall"]["total"] == 6


def test_success_rates_aggregate_in_the_database(history, django_assert_max_num_queries):
    with django_assert_max_num_queries(2):
        reviews.success_rates(6)


def test_kpi_page(client, users, history):
    client.force_login(users["viewer"])
    response = client.get("/changes/kpis/", {"months": "6"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="kpi-success-rate">66.7 %' in html
    assert 'data-key="network"' in html and "75.0 %" in html and 'data-key="kpi-firewall"' in html
    assert client.get("/changes/kpis/", {"months": "7"}).status_code == 400


def test_kpi_page_permissions(client, users):
    assert client.get("/changes/kpis/").status_code == 302
    for role in ("viewer", "responder", "manager", "admin"):
        client.force_login(users[role])
        assert client.get("/changes/kpis/").status_code == 200


def test_kpi_page_queries_do_not_grow(client, users, django_assert_max_num_queries):
    client.force_login(users["viewer"])
    team = TeamFactory()
    closed(team, "successful")
    client.get("/changes/kpis/")
    with django_assert_max_num_queries(10) as one:
        client.get("/changes/kpis/")
    for _n in range(20):
        closed(TeamFactory(), "failed")
    with django_assert_max_num_queries(len(one.captured_queries)):
        client.get("/changes/kpis/")


def test_kpi_json(api, users, history):
    client = api(users["viewer"], scope="read")
    body = client.get("/api/v1/changes/kpis/", {"months": "6"}).json()
    assert body["months"] == 6 and body["overall"]["success_rate"] == 66.7
    assert by(body["teams"], "team", "database")["success_rate"] == 50.0
    bad = client.get("/api/v1/changes/kpis/", {"months": "5"})
    assert bad.status_code == 400 and "months" in bad.json()["error"]["fields"]
