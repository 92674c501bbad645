"""The "Root-cause analysis" tab and its editor pages: who reads, who writes, the row editor's parsing,
inline errors with nothing written, read-only closed problems, and a query count that does not grow."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from opsdesk.problems import rca, services
from opsdesk.problems.models import Problem, RootCauseAnalysis
from tests.problems.factories import FACTORY_ACTOR, make_problem
from tests.problems.test_rca import FISHBONE, FIVE_WHYS, TIMELINE

pytestmark = pytest.mark.django_db


def tab(problem):
    return reverse("problems:detail", args=[problem.pk]) + "?tab=rca"


def add_url(problem, method):
    return reverse("problems:rca_add", args=[problem.pk, method])


WHYS_POST = {"title": "Deploy 502s", "problem": "Checkout 502", "whys-count": "4",
             "whys-0-question": "Why 502?", "whys-0-answer": "No DB connection.",
             "whys-1-question": "", "whys-1-answer": "",  # a blank row: ignored
             "whys-2-question": "Why no connection?", "whys-2-answer": "Pool exhausted.",
             "whys-3-question": "Dropped", "whys-3-answer": "Dropped", "whys-3-remove": "1",
             "root_cause": "Retries hold connections."}


def test_the_tab_renders_every_method_for_a_viewer_without_edit_controls(client, users, team):
    problem = make_problem(owner_team=team)
    for method, data in (("five_whys", FIVE_WHYS), ("fishbone", FISHBONE), ("timeline", TIMELINE)):
        rca.add_analysis(problem, actor=FACTORY_ACTOR, method=method, data=data)
    rca.set_contributing_factors(problem, ["Peak-time deploys"], actor=FACTORY_ACTOR)
    client.force_login(users["viewer"])
    response = client.get(tab(problem))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Why did checkout answer 502?" in page and FIVE_WHYS["root_cause"] in page
    assert "<svg" in page and "Pool too small" in page  # the fishbone drawn in the page
    assert "Alert fired" in page and "Peak-time deploys" in page
    assert 'id="rca-add"' not in page and "rca-factors-form" not in page and "Use as root cause" not in page
    assert reverse("problems:report_pdf", args=[problem.pk]) in page


def test_a_responder_sees_the_editing_controls(client, users):
    problem = make_problem()
    rca.add_analysis(problem, actor=FACTORY_ACTOR, method="five_whys", data=FIVE_WHYS)
    rca.set_contributing_factors(problem, ["Peak-time deploys", "No pool alert"], actor=FACTORY_ACTOR)
    client.force_login(users["responder"])
    page = client.get(tab(problem)).content.decode()
    assert 'id="rca-add"' in page and "rca-factors-form" in page and "Use as root cause" in page
    assert ">Peak-time deploys\nNo pool alert</textarea>" in page


def test_anonymous_users_go_to_the_login_page_and_viewers_cannot_write(client, users):
    problem = make_problem()
    response = client.get(add_url(problem, "five_whys"))
    assert response.status_code == 302 and "login" in response["Location"]
    client.force_login(users["viewer"])
    assert client.get(add_url(problem, "five_whys")).status_code == 403
    assert client.post(add_url(problem, "five_whys"), WHYS_POST).status_code == 403
    assert client.post(reverse("problems:rca_factors", args=[problem.pk]), {"factors": "x"}).status_code == 403
    assert not RootCauseAnalysis.objects.exists()


def test_a_team_manager_edits_the_teams_problems_only(client, users, team, other_team):
    own, other = make_problem(owner_team=team), make_problem(owner_team=other_team)
    client.force_login(users["team_manager"])
    assert client.post(add_url(own, "five_whys"), WHYS_POST).status_code == 302
    assert client.post(add_url(other, "five_whys"), WHYS_POST).status_code == 403
    assert RootCauseAnalysis.objects.filter(problem=own).count() == 1


def test_the_row_editor_adds_a_5_whys_skipping_blank_and_removed_rows(client, users):
    problem = make_problem()
    client.force_login(users["responder"])
    form = client.get(add_url(problem, "five_whys"))
    assert form.status_code == 200 and 'id="rca-row-template"' in form.content.decode()
    response = client.post(add_url(problem, "five_whys"), WHYS_POST)
    assert response.status_code == 302 and response["Location"] == tab(problem)
    analysis = RootCauseAnalysis.objects.get()
    assert analysis.title == "Deploy 502s"
    assert analysis.data["whys"] == [{"question": "Why 502?", "answer": "No DB connection."},
                                     {"question": "Why no connection?", "answer": "Pool exhausted."}]
    assert analysis.data["root_cause"] == "Retries hold connections."


def test_an_invalid_row_is_shown_inline_with_422_and_nothing_is_written(client, users):
    problem = make_problem()
    client.force_login(users["responder"])
    post = {**WHYS_POST, "whys-2-answer": ""}
    response = client.post(add_url(problem, "five_whys"), post)
    assert response.status_code == 422
    page = response.content.decode()
    assert "is-invalid" in page and "This field is required." in page
    assert 'value="Why no connection?"' in page  # what was typed comes back
    assert not RootCauseAnalysis.objects.exists()


def test_the_fishbone_and_timeline_editors(client, users):
    problem = make_problem()
    client.force_login(users["responder"])
    response = client.post(add_url(problem, "fishbone"), {
        "effect": "502s", "causes-count": "2", "causes-0-category": "technology", "causes-0-text": "Pool too small",
        "causes-0-sub": "Default of 10\n\nNo load test", "causes-1-category": "people", "causes-1-text": ""})
    assert response.status_code == 302
    fish = RootCauseAnalysis.objects.get(method="fishbone")
    assert fish.data["causes"] == [{"category": "technology", "text": "Pool too small",
                                    "sub": ["Default of 10", "No load test"]}]
    bad = client.post(add_url(problem, "fishbone"), {"effect": "502s", "causes-count": "1",
                                                     "causes-0-category": "weather", "causes-0-text": "Rain"})
    assert bad.status_code == 422 and "Not an RCA category" in bad.content.decode()
    response = client.post(add_url(problem, "timeline"), {
        "events-count": "2", "events-0-at": "2026-11-20T10:04", "events-0-kind": "detect",
        "events-0-text": "Alert fired", "events-1-at": "", "events-1-text": ""})
    assert response.status_code == 302
    assert RootCauseAnalysis.objects.get(method="timeline").data["events"][0]["text"] == "Alert fired"
    assert client.get(add_url(problem, "horoscope")).status_code == 404


def test_edit_delete_use_as_root_cause_and_factors(client, users):
    problem = make_problem()
    analysis = rca.add_analysis(problem, actor=FACTORY_ACTOR, method="five_whys", data=FIVE_WHYS)
    client.force_login(users["responder"])
    edit = reverse("problems:rca_edit", args=[problem.pk, analysis.pk])
    assert 'value="Why did checkout answer 502?"' in client.get(edit).content.decode()
    post = {"title": "Renamed", "whys-count": "1", "whys-0-question": "Why?", "whys-0-answer": "Because.",
            "root_cause": "The retry path."}
    assert client.post(edit, post).status_code == 302
    analysis.refresh_from_db()
    assert analysis.title == "Renamed" and len(analysis.data["whys"]) == 1
    assert client.post(reverse("problems:rca_use_root_cause", args=[problem.pk, analysis.pk])).status_code == 302
    assert Problem.objects.get(pk=problem.pk).root_cause == "The retry path."
    response = client.post(reverse("problems:rca_factors", args=[problem.pk]), {"factors": "One\n\nTwo\n"})
    assert response.status_code == 302
    assert Problem.objects.get(pk=problem.pk).contributing_factors == ["One", "Two"]
    assert client.post(reverse("problems:rca_delete", args=[problem.pk, analysis.pk])).status_code == 302
    assert not RootCauseAnalysis.objects.exists()
    other = make_problem()
    foreign = rca.add_analysis(other, actor=FACTORY_ACTOR, method="fishbone", data=FISHBONE)
    assert client.post(reverse("problems:rca_delete", args=[problem.pk, foreign.pk])).status_code == 404


def test_a_cancelled_problem_is_read_only_in_the_pages(client, users):
    problem = make_problem()
    analysis = rca.add_analysis(problem, actor=FACTORY_ACTOR, method="five_whys", data=FIVE_WHYS)
    services.transition_problem(problem, "cancel", actor=FACTORY_ACTOR, data={"reason": "Duplicate"})
    client.force_login(users["responder"])
    page = client.get(tab(problem)).content.decode()
    assert 'id="rca-read-only"' in page and 'id="rca-add"' not in page
    assert client.get(add_url(problem, "five_whys")).status_code == 302
    assert client.post(add_url(problem, "five_whys"), WHYS_POST).status_code == 409
    edit = reverse("problems:rca_edit", args=[problem.pk, analysis.pk])
    assert client.post(edit, WHYS_POST).status_code == 409
    assert RootCauseAnalysis.objects.get().data == FIVE_WHYS


def test_the_tab_makes_as_many_queries_for_one_analysis_as_for_nine(client, users):
    problem = make_problem()
    client.force_login(users["viewer"])
    rca.add_analysis(problem, actor=FACTORY_ACTOR, method="fishbone", data=FISHBONE)
    with CaptureQueriesContext(connection) as one:
        assert client.get(tab(problem)).status_code == 200
    for method, data in (("five_whys", FIVE_WHYS), ("fishbone", FISHBONE), ("timeline", TIMELINE)) * 3:
        rca.add_analysis(problem, actor=FACTORY_ACTOR, method=method, data=data)
    with CaptureQueriesContext(connection) as many:
        assert client.get(tab(problem)).status_code == 200
    assert len(many) == len(one)
