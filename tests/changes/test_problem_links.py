"""Links from problems and countermeasures to change requests: shown on the problem page and on the
countermeasure rows, read-only `changes` in both serializers, the "Raise a change" link, and the legacy
free-text change references kept as they were."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.changes.factories import make_change
from tests.problems.factories import make_countermeasure, make_problem

pytestmark = pytest.mark.django_db


def test_problem_page_shows_linked_changes_and_legacy_references(client, users):
    problem = make_problem(change_numbers=["CHG-9001"])
    change = make_change(title="Raise the pool size", problems=[problem])
    client.force_login(users["viewer"])
    html = client.get(problem.get_absolute_url()).content.decode()
    assert f'<a href="{change.get_absolute_url()}" class="linked-change" data-change="{change.number}">' in html
    assert "Raise the pool size" in html and "Draft" in html
    assert "CHG-9001" in html  # the external reference is still shown


def test_problem_without_changes_has_no_changes_row(client, users):
    problem = make_problem()
    client.force_login(users["viewer"])
    assert "linked-change" not in client.get(problem.get_absolute_url()).content.decode()


def test_countermeasure_rows_show_linked_changes(client, users):
    problem = make_problem()
    cm = make_countermeasure(problem, change_number="CHG-77")
    other = make_countermeasure(problem, title="Runbook for pool exhaustion")
    change = make_change(title="Alert rule for the pool", countermeasures=[cm], problems=[problem])
    client.force_login(users["viewer"])
    html = client.get(problem.get_absolute_url() + "?tab=countermeasures").content.decode()
    row = html.split(f'id="countermeasure-{cm.pk}"')[1].split("</tr>")[0]
    assert f'data-change="{change.number}"' in row and "CHG-77" in row
    other_row = html.split(f'id="countermeasure-{other.pk}"')[1].split("</tr>")[0]
    assert "linked-change" not in other_row


def test_countermeasure_tab_queries_do_not_grow_with_changes(client, users):
    problem = make_problem()
    cms = [make_countermeasure(problem, title=f"Measure {n}") for n in range(3)]
    make_change(countermeasures=[cms[0]])
    client.force_login(users["viewer"])
    url = problem.get_absolute_url() + "?tab=countermeasures"
    client.get(url)
    with CaptureQueriesContext(connection) as one:
        client.get(url)
    for cm in cms:
        for _n in range(3):
            make_change(countermeasures=[cm])
    with CaptureQueriesContext(connection) as many:
        client.get(url)
    assert len(many) == len(one)


def test_serializers_carry_change_numbers(api, users):
    problem = make_problem(change_numbers=["CHG-9001"])
    cm = make_countermeasure(problem)
    first = make_change(problems=[problem], countermeasures=[cm])
    second = make_change(problems=[problem])
    client = api(users["viewer"], scope="read")
    body = client.get(f"/api/v1/problems/problems/{problem.pk}/").json()
    assert sorted(body["changes"]) == sorted([first.number, second.number])
    assert body["change_numbers"] == ["CHG-9001"]
    assert client.get(f"/api/v1/problems/countermeasures/{cm.pk}/").json()["changes"] == [first.number]


def test_changes_are_read_only_in_the_problem_api(api, users):
    problem = make_problem()
    response = api(users["responder"]).patch(f"/api/v1/problems/problems/{problem.pk}/",
                                              {"changes": ["CHG-1"], "description": "x"}, format="json")
    assert response.status_code == 200 and response.json()["changes"] == []


def test_problem_api_list_queries_do_not_grow_with_changes(api, users):
    client = api(users["viewer"])
    problem = make_problem()
    make_change(problems=[problem])
    client.get("/api/v1/problems/problems/")
    with CaptureQueriesContext(connection) as one:
        client.get("/api/v1/problems/problems/")
    for _n in range(4):
        other = make_problem()
        make_change(problems=[other, problem])
    with CaptureQueriesContext(connection) as many:
        client.get("/api/v1/problems/problems/")
    assert len(many) == len(one)


def test_raise_a_change_link(client, users):
    problem = make_problem()
    client.force_login(users["responder"])
    html = client.get(problem.get_absolute_url()).content.decode()
    assert f'/changes/new/?problem={problem.pk}' in html and "Raise a change" in html
    client.force_login(users["viewer"])
    assert "Raise a change" not in client.get(problem.get_absolute_url()).content.decode()
