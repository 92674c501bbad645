"""The candidates queue, a candidate's page (accept with the form or at once, dismiss with a reason), the
problem settings page and the problem's Recurrence tab."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from opsdesk.core.actors import Actor
from opsdesk.problems import services, trends
from opsdesk.problems.configuration import problem_settings
from opsdesk.problems.models import Problem, ProblemCandidate, RecurrenceCheck
from tests.cmdb.factories import CIFactory
from tests.problems.factories import make_incident, make_problem

pytestmark = pytest.mark.django_db
LIST = reverse("problems:candidate_list")
SETTINGS = reverse("problems:settings")


def candidate(n=5, name=None):
    ci = CIFactory(**({"name": name} if name else {}))
    incidents = [make_incident(title=f"Trouble {i} on {ci.name}", cis=[ci]) for i in range(n)]
    found = next(c for c in trends.detect() if c.ci_id == ci.pk)
    return found, incidents


def plain_candidate(n=6):
    ci = CIFactory()
    now = timezone.now()
    row = ProblemCandidate.objects.create(kind="ci", key=f"ci:{ci.pk}", title=f"Incidents on {ci.name}", reason="r",
                                          incident_count=n, ci=ci, window_start=now - datetime.timedelta(days=7),
                                          window_end=now)
    row.incidents.set([make_incident(title=f"Case {i}", cis=[ci]) for i in range(n)])
    return row


def test_anonymous_is_sent_to_login(client):
    assert client.get(LIST).status_code == 302
    assert client.get(SETTINGS).status_code == 302


def test_queue_lists_candidates_with_their_incidents(client, users):
    found, incidents = candidate(name="db-09")
    client.force_login(users["viewer"])
    page = client.get(LIST).content.decode()
    assert found.title in page and "db-09" in page
    assert all(i.number in page for i in incidents)
    assert "Accept: create the problem" not in page  # viewers read only
    assert "Run detection now" not in page
    client.force_login(users["responder"])
    page = client.get(LIST).content.decode()
    assert "Accept: create the problem" in page and "Run detection now" not in page
    detail = client.get(found.get_absolute_url()).content.decode()
    assert all(i.number in detail for i in incidents)
    assert 'id="accept"' in detail and "db-09" in detail
    assert client.get(LIST, {"status": "dismissed"}).content.decode().count('class="card candidate"') == 0


def test_queue_query_count_does_not_grow_with_rows(client, users):
    client.force_login(users["viewer"])
    plain_candidate()
    client.get(LIST)
    with CaptureQueriesContext(connection) as one:
        client.get(LIST)
    for _ in range(8):
        plain_candidate()
    with CaptureQueriesContext(connection) as many:
        response = client.get(LIST)
    assert response.status_code == 200 and response.content.decode().count('class="card candidate"') == 9
    assert len(many) == len(one), [q["sql"] for q in many.captured_queries]


def test_accept_at_once_creates_the_problem_and_goes_there(client, users):
    found, incidents = candidate()
    client.force_login(users["viewer"])
    assert client.post(reverse("problems:candidate_accept", args=[found.pk]), {"direct": "1"}).status_code == 403
    client.force_login(users["responder"])
    response = client.post(reverse("problems:candidate_accept", args=[found.pk]), {"direct": "1"})
    problem = Problem.objects.get()
    assert response.status_code == 302 and response["Location"] == problem.get_absolute_url()
    assert set(problem.incidents.all()) == set(incidents) and problem.source == "trend"
    found.refresh_from_db()
    assert found.status == "accepted" and found.decided_by == users["responder"]
    # A second accept is refused with a message, nothing more is created.
    again = client.post(reverse("problems:candidate_accept", args=[found.pk]), {"direct": "1"}, follow=True)
    assert "already accepted" in again.content.decode()
    assert Problem.objects.count() == 1


def test_accept_with_the_form_shows_errors_inline_and_writes_nothing(client, users, team):
    found, _incidents = candidate()
    client.force_login(users["responder"])
    url = reverse("problems:candidate_accept", args=[found.pk])
    bad = client.post(url, {"title": "", "impact": "3", "urgency": "3"})
    assert bad.status_code == 422 and "Nothing was saved" in bad.content.decode()
    assert not Problem.objects.exists()
    found.refresh_from_db()
    assert found.status == "open"
    good = client.post(url, {"title": "Recurring disk trouble", "impact": "2", "urgency": "2",
                             "owner_team": team.pk})
    assert good.status_code == 302
    problem = Problem.objects.get()
    assert (problem.title, problem.owner_team, problem.impact) == ("Recurring disk trouble", team, 2)


def test_dismiss_needs_a_reason(client, users):
    found, _incidents = candidate()
    client.force_login(users["responder"])
    url = reverse("problems:candidate_dismiss", args=[found.pk])
    missing = client.post(url, {"reason": ""})
    assert missing.status_code == 422 and 'id="dismiss-error"' in missing.content.decode()
    found.refresh_from_db()
    assert found.status == "open"
    done = client.post(url, {"reason": "Load test week", "next": "list"})
    assert done.status_code == 302 and done["Location"] == LIST
    found.refresh_from_db()
    assert (found.status, found.dismiss_reason) == ("dismissed", "Load test week")
    assert "Load test week" in client.get(LIST, {"status": "dismissed"}).content.decode()


def test_run_detection_is_for_managers(client, users, queued_tasks):
    ci = CIFactory()
    for i in range(5):
        make_incident(title=f"Case {i}", cis=[ci])
    client.force_login(users["responder"])
    assert client.post(reverse("problems:candidate_detect")).status_code == 403
    assert not ProblemCandidate.objects.exists()
    client.force_login(users["manager"])
    response = client.post(reverse("problems:candidate_detect"), follow=True)
    assert "Trend detection was started" in response.content.decode()
    assert not ProblemCandidate.objects.exists()  # queued for the worker, not run in the request


def test_run_detection_runs_the_detection_task(client, users):
    ci = CIFactory()
    for i in range(5):
        make_incident(title=f"Case {i}", cis=[ci])
    client.force_login(users["manager"])
    response = client.post(reverse("problems:candidate_detect"))
    assert response.status_code == 302 and response["Location"] == LIST
    assert ProblemCandidate.objects.get().ci == ci


def settings_form(**changes):
    values = {"trend_ci_count": 5, "trend_ci_days": 7, "trend_service_count": 10, "trend_service_days": 7,
              "trend_category_count": 15, "trend_category_days": 7, "trend_text_count": 4, "trend_text_days": 14,
              "trend_text_similarity": 0.6, "dismiss_days": 30, "watch_days": 30, "partial_reduction": 0.5,
              "rca_categories": "people: People\nprocess: Process\ntechnology: Technology"}
    values.update(changes)
    return values


def test_settings_page_managers_edit_others_read(client, users):
    client.force_login(users["viewer"])
    page = client.get(SETTINGS)
    assert page.status_code == 200 and "<fieldset disabled>" in page.content.decode()
    assert client.post(SETTINGS, settings_form(trend_ci_count=3)).status_code == 403
    assert problem_settings().trend_ci_count == 5
    client.force_login(users["manager"])
    saved = client.post(SETTINGS, settings_form(trend_ci_count=3, watch_days=45))
    assert saved.status_code == 302
    config = problem_settings()
    assert (config.trend_ci_count, config.watch_days) == (3, 45)
    assert [c["key"] for c in config.rca_categories] == ["people", "process", "technology"]


def test_settings_page_refuses_bad_values_with_the_config_validation(client, users):
    client.force_login(users["manager"])
    bad = client.post(SETTINGS, settings_form(trend_ci_count=0, trend_text_similarity=2,
                                              rca_categories="people: People\npeople: Again"))
    assert bad.status_code == 422
    text = bad.content.decode()
    assert "Nothing was saved" in text and "more than once" in text
    assert problem_settings().trend_ci_count == 5
    no_label = client.post(SETTINGS, settings_form(rca_categories="people"))
    assert no_label.status_code == 422 and "key: Label" in no_label.content.decode()


def test_recurrence_tab_shows_the_watch_and_the_verdict(client, users, django_capture_on_commit_callbacks):
    actor = Actor.system("test")
    ci = CIFactory()
    problem = make_problem(title="Pool exhausted", cis=[ci], incidents=[make_incident(title="Pool", cis=[ci])])
    url = problem.get_absolute_url() + "?tab=recurrence"
    client.force_login(users["viewer"])
    assert 'id="no-watch"' in client.get(url).content.decode()
    problem = services.transition_problem(problem, "start_rca", actor=actor)
    services.transition_problem(problem, "resolve", actor=actor, data={"root_cause": "x", "fix_description": "y"})
    with django_capture_on_commit_callbacks(execute=True):  # the recurrence check runs after the commit
        again = make_incident(title="Pool again", cis=[ci])
    page = client.get(url).content.decode()
    assert again.number in page and "Not effective" in page and "days left" in page
    from opsdesk.problems import recurrence

    recurrence.evaluate(RecurrenceCheck.objects.get(problem=problem))
    page = client.get(url).content.decode()
    assert "incidents before" in page and "Evaluated" in page
