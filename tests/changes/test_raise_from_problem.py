"""“Raise a change” on a problem opens the change form filled from the problem, and the change saved from
it is linked to the problem."""

import pytest

from opsdesk.changes.models import ChangeRequest
from tests.cmdb.factories import CIFactory
from tests.problems.factories import make_problem

pytestmark = pytest.mark.django_db


def test_the_form_opened_from_a_problem_names_it_and_carries_its_cis(client, users, team):
    ci = CIFactory(name="db-orders-1")
    problem = make_problem(title="Orders DB runs out of connections", cis=[ci], owner_team=team,
                           fix_description="Raise max_connections and add pgbouncer.")
    client.force_login(users["responder"])
    html = client.get(f"/changes/new/?problem={problem.pk}").content.decode()
    assert f"Fix for {problem.number}: Orders DB runs out of connections" in html
    assert problem.number in html
    assert ci.number in html or "db-orders-1" in html
    assert "Raise max_connections and add pgbouncer." in html


def test_an_unknown_problem_is_ignored_and_the_form_still_opens(client, users):
    client.force_login(users["responder"])
    response = client.get("/changes/new/?problem=999999")
    assert response.status_code == 200
    assert "Fix for" not in response.content.decode()
    assert client.get("/changes/new/?problem=abc").status_code == 200
    assert ChangeRequest.objects.count() == 0
