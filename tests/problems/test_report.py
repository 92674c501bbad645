"""The problem report in Markdown, HTML and PDF: fields, linked incidents, impact, root cause, every
analysis (the PDF shows the 5 Whys and the fishbone: acceptance 2), contributing factors,
countermeasures, known errors and the recurrence evaluation; downloads by role on pages and API."""

import datetime
import shutil
import subprocess

import pytest
import time_machine
from django.urls import reverse

from opsdesk.problems import rca, report, services
from opsdesk.problems.models import RecurrenceCheck
from tests.problems.factories import FACTORY_ACTOR, make_countermeasure, make_incident, make_known_error, make_problem
from tests.problems.test_rca import FISHBONE, FIVE_WHYS, TIMELINE

pytestmark = pytest.mark.django_db
T0 = datetime.datetime(2026, 11, 2, 9, 0, tzinfo=datetime.UTC)


def full_problem(team=None):
    with time_machine.travel(T0, tick=False):
        incidents = [make_incident(title=f"Checkout 502 number {n}", impact=2, urgency=2) for n in (1, 2)]
        problem = make_problem(owner_team=team, description="Checkout fails *after* deploys.",
                               impact_summary="Card payments failed for 40 minutes.")
        services.link_incidents(problem, incidents, actor=FACTORY_ACTOR)
        services.transition_problem(problem, "start_rca", actor=FACTORY_ACTOR)
        rca.add_analysis(problem, actor=FACTORY_ACTOR, method="five_whys", data=FIVE_WHYS, title="Deploy 502s")
        rca.add_analysis(problem, actor=FACTORY_ACTOR, method="fishbone", data=FISHBONE)
        rca.add_analysis(problem, actor=FACTORY_ACTOR, method="timeline", data=TIMELINE)
        rca.set_contributing_factors(problem, ["Deploys at peak time", "No pool alert"], actor=FACTORY_ACTOR)
        make_countermeasure(problem, title="Alert on pool usage above 80%", due_date=datetime.date(2026, 11, 30))
        make_known_error(problem=problem, title="Pool exhausted during deploys")
    with time_machine.travel(T0 + datetime.timedelta(days=1), tick=False):
        rca.use_as_root_cause(problem.analyses.get(method="five_whys"), actor=FACTORY_ACTOR)
        services.transition_problem(problem, "resolve", actor=FACTORY_ACTOR,
                                    data={"fix_description": "Release the connection before sleeping."})
    return problem, incidents


def test_the_markdown_report_holds_every_part():
    problem, incidents = full_problem()
    text = report.report_markdown(problem)
    assert text.startswith(f"# {problem.number}: {problem.title}")
    for expected in ("Card payments failed for 40 minutes.", FIVE_WHYS["root_cause"],
                     "Release the connection before sleeping.", incidents[0].number, "Checkout 502 number 2",
                     "**Why 1:** Why did checkout answer 502?", "→ The pool was exhausted.",
                     "**Effect:** Checkout answers 502 after deploys", "- **Technology**", "  - Pool too small",
                     "    - Default of 10", "Alert fired", "- Deploys at peak time",
                     "Alert on pool usage above 80%", "2026-11-30", "Monitoring", "Pool exhausted during deploys",
                     "## Recurrence check", "Watching"):
        assert expected in text, expected


def test_the_html_report_escapes_and_draws_the_fishbone():
    problem, _incidents = full_problem()
    rca.set_contributing_factors(problem, ["<script>alert(1)</script>"], actor=FACTORY_ACTOR)
    html = report.report_html(problem)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.startswith("<!doctype html>")
    assert "<svg" in html and "Pool too small" in html and "Why did checkout answer 502?" in html
    assert "<em>after</em>" in html  # the description's Markdown
    assert "<script" not in html


def test_the_pdf_shows_the_5_whys_and_the_fishbone(tmp_path):
    """Acceptance 2: the problem report PDF shows the 5 Whys and the fishbone."""
    if shutil.which("pdftotext") is None:  # pragma: no cover  (poppler-utils is on CI's machines)
        pytest.skip("pdftotext (poppler-utils) is not installed")
    problem, _incidents = full_problem()
    pdf = report.report_pdf(problem)
    assert pdf.startswith(b"%PDF")
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout
    flat = " ".join(text.split())
    for why in FIVE_WHYS["whys"]:
        assert why["question"] in flat and why["answer"] in flat
    assert FIVE_WHYS["root_cause"] in flat
    for label in ("Technology", "Process", "People"):  # the fishbone's category labels, drawn in the SVG
        assert label in flat
    for cause in ("Pool too small", "Default of 10", "Deploys at peak time", "On-call not told"):
        assert cause in flat
    assert problem.number in flat and "Alert on pool usage above 80%" in flat


def test_the_recurrence_evaluation_is_in_the_report():
    problem, incidents = full_problem()
    # The figures as the recurrence check stores them when it evaluates (recurrence.evaluate, tested there).
    check = RecurrenceCheck.objects.get(problem=problem)
    RecurrenceCheck.objects.filter(pk=check.pk).update(
        status="evaluated", verdict="not_effective", count_before=4, count_after=2, mtbi_before_hours=42.0,
        mtbi_after_hours=84.5, explanation="2 incident(s) matching after its resolution against 4 before.",
        evaluated_at=check.ends_at)
    check.recurrences.add(incidents[1])
    text = report.report_markdown(problem)
    assert "| Verdict | Not effective |" in text
    assert "| Incidents before / after | 4 / 2 |" in text and "42.0 h / 84.5 h" in text
    assert f"| Recurrences | {incidents[1].number} |" in text
    html = report.report_html(problem)
    assert 'class="verdict-not_effective">Not effective' in html


def test_page_downloads_by_role(client, users, team, other_team):
    problem, _incidents = full_problem(team)
    assert client.get(reverse("problems:report_md", args=[problem.pk])).status_code == 302  # to the login page
    client.force_login(users["viewer"])
    for fmt, content_type in (("md", "text/markdown"), ("html", "text/html"), ("pdf", "application/pdf")):
        response = client.get(reverse(f"problems:report_{fmt}", args=[problem.pk]))
        assert response.status_code == 200
        assert response["Content-Type"].startswith(content_type)
        assert f'{problem.number}-problem-report-' in response["Content-Disposition"]
    assert client.get(reverse("problems:report_md", args=[999999])).status_code == 404


@pytest.mark.parametrize("role", ["viewer", "responder", "manager", "admin"])
def test_api_downloads_for_every_role(api, users, role):
    problem = make_problem()
    rca.add_analysis(problem, actor=FACTORY_ACTOR, method="five_whys", data=FIVE_WHYS)
    client = api(users[role])
    base = f"/api/v1/problems/problems/{problem.pk}/report/"
    markdown = client.get(base + "markdown/")
    assert markdown.status_code == 200 and "Why did checkout answer 502?" in markdown.content.decode()
    assert client.get(base + "html/").status_code == 200
    pdf = client.get(base + "pdf/")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_api_downloads_need_a_login(api):
    problem = make_problem()
    response = api().get(f"/api/v1/problems/problems/{problem.pk}/report/markdown/")
    assert response.status_code == 401


def test_a_report_over_the_size_limit_is_a_413_not_a_crash(client, api, users, monkeypatch):
    problem = make_problem()
    rca.add_analysis(problem, actor=FACTORY_ACTOR, method="five_whys", data=FIVE_WHYS)
    monkeypatch.setattr(report, "MAX_HTML_BYTES", 1000)
    client.force_login(users["viewer"])
    assert client.get(reverse("problems:report_pdf", args=[problem.pk])).status_code == 413
    response = api(users["viewer"]).get(f"/api/v1/problems/problems/{problem.pk}/report/html/")
    assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"
