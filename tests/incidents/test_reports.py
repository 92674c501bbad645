"""Incident reports (post-incident reviews): a required report gates closing, the report starts from the
incident's own data, required sections gate completing, overdue action items are announced once to
their owner, the document renders to Markdown, HTML and PDF, and the pages answer per role."""

import datetime

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse

from opsdesk.accounts.services import set_membership
from opsdesk.core import timers
from opsdesk.core.actors import Actor
from opsdesk.core.audit import history_for
from opsdesk.core.comments import add_comment
from opsdesk.core.models import OutboxEvent
from opsdesk.core.workflow import TransitionNotAllowed
from opsdesk.incidents import report_render, report_views, reports, services
from opsdesk.incidents.models import ActionItem, IncidentReport
from tests.accounts.factories import TeamFactory, UserFactory
from tests.cmdb.factories import CIFactory
from tests.incidents.factories import FACTORY_ACTOR, make_incident
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db
T0 = datetime.datetime(2026, 3, 12, 9, 0, tzinfo=datetime.UTC)
FILLED = {"summary": "Card payments failed for five hours.", "root_cause": "A connection leak on the retry path."}


def at(minutes: float):
    return time_machine.travel(T0 + datetime.timedelta(minutes=minutes), tick=False)


def resolved(impact=1, urgency=1, **fields):
    with at(0):
        incident = make_incident(impact=impact, urgency=urgency, **fields)
    with at(300):
        return services.resolve_incident(incident, actor=FACTORY_ACTOR, code="fixed", notes="Pool size raised")


def close(incident):
    return services.transition_incident(incident, "close", actor=FACTORY_ACTOR)


def final_report(incident):
    report = reports.start_report(incident, actor=FACTORY_ACTOR)
    report = reports.update_report(report, actor=FACTORY_ACTOR, sections=FILLED)
    return reports.complete_report(report, actor=FACTORY_ACTOR)


def events(kind):
    return list(OutboxEvent.objects.filter(event_type=kind))


# --- closing needs the report -----------------------------------------------------------------------------

def test_a_p1_cannot_close_without_its_report_and_closes_with_a_final_one():
    incident = resolved()
    assert incident.priority == "P1"
    with pytest.raises(TransitionNotAllowed, match="needs an incident report"):
        close(incident)
    report = reports.start_report(incident, actor=FACTORY_ACTOR)
    with pytest.raises(TransitionNotAllowed, match="report of INC-.* is still a draft"):
        close(incident)
    incident.refresh_from_db()
    assert incident.status == "resolved"
    report = reports.update_report(report, actor=FACTORY_ACTOR, sections=FILLED)
    reports.complete_report(report, actor=FACTORY_ACTOR)
    assert close(incident).status == "closed"


def test_a_p4_closes_without_a_report_and_auto_close_waits_for_a_required_one():
    low = resolved(impact=2, urgency=3)
    assert low.priority == "P4" and reports.missing_for_close(low) == ""
    assert close(low).status == "closed"
    p2 = resolved(impact=1, urgency=2)
    timers.sweep(now=T0 + datetime.timedelta(days=30))
    p2.refresh_from_db()
    assert p2.status == "resolved"
    assert history_for(p2).filter(action="auto_close_skipped").exists()


def test_a_major_incident_needs_a_report_when_configured():
    incident = resolved(impact=3, urgency=3)
    incident.major_status = "major"
    assert "major incident" in reports.missing_for_close(incident)
    config = services.incident_settings()
    config.report_required_for_major = False
    config.save()
    assert reports.missing_for_close(incident) == ""


# --- starting the report from the incident ------------------------------------------------------------------

def test_the_report_starts_with_the_impact_and_a_readable_timeline():
    team = TeamFactory(name="Payments SRE")
    alice = UserFactory(username="alice", role="responder")
    set_membership(team, alice, actor=FACTORY_ACTOR, role="responder")
    service = ServiceFactory(name="Checkout", tier=1)
    ci = CIFactory(name="pg-payments-02")
    as_alice = Actor.for_user(alice)
    with at(0):
        incident = make_incident(impact=2, urgency=1, service=service, cis=[ci], assignment_group=team)
    with at(6):
        services.transition_incident(incident, "acknowledge", actor=as_alice)
    with at(10):
        add_comment(incident, actor=as_alice, body="Pool exhausted\non pg-payments-02")
        services.update_incident(incident, actor=as_alice, data={"priority": "P1", "priority_reason": "all cards"})
    with at(302):
        incident = services.resolve_incident(incident, actor=as_alice, code="config_change", notes="Pool raised")
    with at(24 * 60):
        from opsdesk.sla import services as sla

        sla.sweep()
        report = reports.start_report(incident, actor=as_alice)
    impact = report.sections["impact"]
    assert "5 h 2 min" in impact and "Checkout (tier 1)" in impact and "pg-payments-02" in impact
    assert "Time to resolve breached" in impact  # P1: 4 hours to resolve, took 5
    assert set(report.sections) == {s["key"] for s in reports.template_sections()}
    assert report.sections["summary"] == "" and report.status == "draft"
    lines = [row["text"] for row in report.timeline]
    assert lines[0].startswith("Opened by")
    assert "Acknowledged by alice" in lines
    assert "Comment by alice: Pool exhausted on pg-payments-02" in lines
    assert "Priority P2 -> P1 (all cards), by alice" in lines
    assert "SLA breached: Time to resolve" in lines
    assert lines[-1] == "Resolved by alice (Configuration changed): Pool raised"
    assert [row["at"] for row in report.timeline] == sorted(row["at"] for row in report.timeline)
    # On the incident's timeline, once: a second start returns the same report.
    assert reports.start_report(incident, actor=as_alice).pk == report.pk
    assert history_for(incident).filter(action="report_started").count() == 1
    assert len(events("incident.report_started")) == 1


def test_a_cancelled_incident_gets_no_report():
    incident = make_incident()
    services.transition_incident(incident, "cancel", actor=FACTORY_ACTOR, data={"reason": "duplicate"})
    with pytest.raises(TransitionNotAllowed):
        reports.start_report(incident, actor=FACTORY_ACTOR)


# --- editing and completing ---------------------------------------------------------------------------------

def test_sections_are_checked_against_the_template_and_bounded():
    report = reports.start_report(resolved(), actor=FACTORY_ACTOR)
    with pytest.raises(ValidationError) as exc:
        reports.update_report(report, actor=FACTORY_ACTOR, sections={"summary": "ok", "gossip": "no"})
    assert "gossip" in exc.value.message_dict["sections"][0]
    with pytest.raises(ValidationError) as exc:
        reports.update_report(report, actor=FACTORY_ACTOR, sections={"summary": "x" * 20_001})
    assert "summary" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        reports.update_report(report, actor=FACTORY_ACTOR, timeline=[{"at": "yesterday", "text": "x"}])
    assert "row 1" in exc.value.message_dict["timeline"][0]
    report.refresh_from_db()
    assert report.sections["summary"] == ""


def test_an_edit_keeps_other_sections_sorts_the_timeline_and_is_on_the_incident_timeline():
    incident = resolved()
    report = reports.start_report(incident, actor=FACTORY_ACTOR)
    impact = report.sections["impact"]
    report = reports.update_report(report, actor=FACTORY_ACTOR, sections={"summary": "  Short.  "}, timeline=[
        {"at": "2026-03-12T10:00:00+00:00", "text": "Failover"},
        {"at": "2026-03-12 09:05", "text": "Probe  alarms"},
    ])
    report.refresh_from_db()
    assert report.sections["summary"] == "Short." and report.sections["impact"] == impact
    assert [row["text"] for row in report.timeline] == ["Probe alarms", "Failover"]
    entry = history_for(incident).filter(action="report_updated").first()
    assert entry.changes["summary"] == ["", "Short."]
    assert "timeline" in entry.changes


def test_completing_needs_summary_and_root_cause_and_a_final_report_is_read_only():
    incident = resolved()
    report = reports.start_report(incident, actor=FACTORY_ACTOR)
    with pytest.raises(ValidationError) as exc:
        reports.complete_report(report, actor=FACTORY_ACTOR)
    errors = exc.value.message_dict
    assert {"summary", "root_cause"} <= set(errors)
    assert "Summary, Root cause" in errors["non_field_errors"][0]
    report.refresh_from_db()
    assert report.status == "draft"
    report = final_report(incident)
    assert report.status == "final" and report.completed_at is not None
    assert len(events("incident.report_completed")) == 1
    with pytest.raises(TransitionNotAllowed):
        reports.update_report(report, actor=FACTORY_ACTOR, sections={"summary": "changed"})
    with pytest.raises(TransitionNotAllowed):
        reports.complete_report(report, actor=FACTORY_ACTOR)
    report = reports.reopen_report(report, actor=FACTORY_ACTOR)
    assert report.status == "draft" and report.completed_at is None
    assert reports.missing_for_close(incident)


def test_a_section_marked_required_in_the_template_is_required():
    config = services.incident_settings()
    config.report_sections = [*config.report_sections, {"key": "customers", "title": "Customer impact",
                                                        "required": True}]
    config.save()
    report = reports.start_report(resolved(), actor=FACTORY_ACTOR)
    report = reports.update_report(report, actor=FACTORY_ACTOR, sections=FILLED)
    with pytest.raises(ValidationError) as exc:
        reports.complete_report(report, actor=FACTORY_ACTOR)
    assert set(exc.value.message_dict) == {"customers", "non_field_errors"}


# --- action items -------------------------------------------------------------------------------------------

def test_an_overdue_action_item_is_announced_once_to_its_owner():
    owner = UserFactory(username="owner", role="responder")
    report = reports.start_report(resolved(), actor=FACTORY_ACTOR)
    due = datetime.date(2026, 3, 20)
    item = reports.add_action_item(report, actor=FACTORY_ACTOR, data={"title": "Fix the leak", "owner": owner,
                                                                       "due_date": due})
    assert events("incident.action_item_added")[0].payload["recipients"] == [owner.pk]
    end_of_due_day = datetime.datetime(2026, 3, 20, 23, 59, tzinfo=datetime.UTC)
    with time_machine.travel(end_of_due_day, tick=False):
        timers.sweep()
    assert events("incident.action_item_overdue") == []
    with time_machine.travel(end_of_due_day + datetime.timedelta(minutes=2), tick=False):
        assert timers.sweep() == 1
    overdue = events("incident.action_item_overdue")
    assert len(overdue) == 1
    assert overdue[0].payload["recipients"] == [owner.pk]
    assert overdue[0].payload["title"] == "Fix the leak"
    item.refresh_from_db()
    assert item.overdue_notified_at is not None
    with time_machine.travel(end_of_due_day + datetime.timedelta(days=5), tick=False):
        assert timers.sweep() == 0
    assert len(events("incident.action_item_overdue")) == 1
    assert history_for(report.incident).filter(action="action_item_overdue").count() == 1


def test_a_done_item_is_not_announced_and_a_new_due_date_is_announced_again():
    owner = UserFactory(username="owner", role="responder")
    report = reports.start_report(resolved(), actor=FACTORY_ACTOR)
    done = reports.add_action_item(report, actor=FACTORY_ACTOR, data={"title": "Alarm at 80 %", "owner": owner,
                                                                       "due_date": datetime.date(2026, 3, 20)})
    moved = reports.add_action_item(report, actor=FACTORY_ACTOR, data={"title": "Canary by day", "owner": owner,
                                                                        "due_date": datetime.date(2026, 3, 20)})
    reports.update_action_item(done, actor=FACTORY_ACTOR, data={"status": "done"})
    reports.update_action_item(moved, actor=FACTORY_ACTOR, data={"due_date": datetime.date(2026, 4, 1)})
    with time_machine.travel(datetime.datetime(2026, 3, 25, tzinfo=datetime.UTC), tick=False):
        timers.sweep()
    assert events("incident.action_item_overdue") == []
    with time_machine.travel(datetime.datetime(2026, 4, 2, 8, tzinfo=datetime.UTC), tick=False):
        timers.sweep()
    assert [e.payload["action_item"] for e in events("incident.action_item_overdue")] == [moved.pk]
    # Given a later date again, the item will be announced once more when that one passes.
    moved = reports.update_action_item(moved, actor=FACTORY_ACTOR, data={"due_date": datetime.date(2026, 4, 10)})
    assert moved.overdue_notified_at is None


def test_action_items_are_validated_and_logged_on_the_incident():
    report = reports.start_report(resolved(), actor=FACTORY_ACTOR)
    with pytest.raises(ValidationError) as exc:
        reports.add_action_item(report, actor=FACTORY_ACTOR, data={"title": " ", "status": "someday"})
    assert {"title", "status"} <= set(exc.value.message_dict)
    item = reports.add_action_item(report, actor=FACTORY_ACTOR, data={"title": "Write the runbook"})
    reports.update_action_item(item, actor=FACTORY_ACTOR, data={"status": "in_progress"})
    actions = list(history_for(report.incident).values_list("action", flat=True))
    assert "action_item_added" in actions and "action_item_updated" in actions
    assert ActionItem.objects.get(pk=item.pk).status == "in_progress"


# --- the document -------------------------------------------------------------------------------------------

def report_with_items():
    incident = resolved(title="Checkout answers 502 | cards")
    owner = UserFactory(username="bob", role="responder")
    report = reports.start_report(incident, actor=FACTORY_ACTOR)
    report = reports.update_report(report, actor=FACTORY_ACTOR, sections={
        **FILLED, "went_well": "- Probe alarmed in **4 minutes**\n\n![x](http://example.invalid/t.png)"})
    reports.add_action_item(report, actor=FACTORY_ACTOR, data={"title": "Fix the retry path", "owner": owner,
                                                               "due_date": datetime.date(2026, 3, 20)})
    return IncidentReport.objects.get(pk=report.pk)


def test_markdown_has_the_sections_timeline_and_action_items():
    report = report_with_items()
    text = report_render.to_markdown(report)
    number = report.incident.number
    assert text.startswith(f"# {number}: Checkout answers 502 | cards")
    for title in ("## Summary", "## Impact", "## Root cause", "## Timeline", "## Action items"):
        assert title in text
    assert FILLED["root_cause"] in text
    assert "| Fix the retry path | bob | 2026-03-20" in text
    assert "| P1 Critical |" in text
    assert "Resolved by Opsdesk (factory) (Fixed): Pool size raised" in text


def test_html_is_sanitised_and_fetches_nothing():
    report = report_with_items()
    html = report_render.to_html(report)
    assert "<strong>4 minutes</strong>" in html
    assert "example.invalid" not in html  # images are dropped by the sanitiser
    with pytest.raises(ValueError):
        report_render.url_fetcher().fetch("http://127.0.0.1:9/tracker.png")


def page_text(document) -> str:
    texts = []
    for page in document.pages:
        for box in page._page_box.descendants():
            if hasattr(box, "text"):
                texts.append(box.text)
    return " ".join(texts)


def test_the_pdf_renders_on_a4_with_the_incident_number_and_page_numbers():
    report = report_with_items()
    document = report_render.pdf_document(report)
    assert len(document.pages) >= 1
    width_mm = document.pages[0].width * 25.4 / 96
    assert round(width_mm) == 210
    text = page_text(document)
    assert report.incident.number in text
    assert "Root cause" in text and "Fix the retry path" in text
    assert f"Page 1 of {len(document.pages)}" in text
    assert report_render.to_pdf(report).startswith(b"%PDF")


def test_a_title_with_control_characters_keeps_the_running_head_and_page_numbers():
    """A carriage return in a CSS string ended it early and dropped the page header and footer rules."""
    incident = resolved(title="Payments <down>\r} body{color:red\f")
    report = reports.start_report(incident, actor=FACTORY_ACTOR)
    document = report_render.pdf_document(IncidentReport.objects.get(pk=report.pk))
    assert f"Page 1 of {len(document.pages)}" in page_text(document)
    assert "\r" not in report_render.css_string("a\rb") and "\f" not in report_render.css_string("a\fb")


# --- the pages ----------------------------------------------------------------------------------------------

@pytest.fixture
def team_responder(team):
    user = UserFactory(username="team_responder", role="viewer")
    set_membership(team, user, actor=FACTORY_ACTOR, role="responder")
    return user


def test_pages_viewer_reads_responder_of_the_team_edits(client, users, team, team_responder, other_team):
    incident = resolved(assignment_group=team)
    page = reverse("incidents:report", args=[incident.pk])
    start = reverse("incidents:report_start", args=[incident.pk])
    client.force_login(users["viewer"])
    assert client.get(page).status_code == 200
    assert client.post(start).status_code == 403
    assert not IncidentReport.objects.exists()
    client.force_login(team_responder)
    assert client.post(start).status_code == 302
    response = client.get(page)
    assert response.status_code == 200 and b'id="report-form"' in response.content
    client.force_login(users["viewer"])
    response = client.get(page)
    assert b'id="report-form"' not in response.content and b"Timeline" in response.content
    assert client.post(page, {"section-summary": "no"}).status_code == 403
    other = resolved(assignment_group=other_team)
    reports.start_report(other, actor=FACTORY_ACTOR)
    client.force_login(team_responder)
    assert client.post(reverse("incidents:report", args=[other.pk]), {"section-summary": "x"}).status_code == 403


def test_saving_the_form_with_timeline_rows_added_and_removed(client, users):
    incident = resolved()
    report = reports.start_report(incident, actor=FACTORY_ACTOR)
    rows = len(report.timeline)
    client.force_login(users["responder"])
    form = {"section-summary": "Checkout failed.", "section-root_cause": "Leak.", "timeline-count": rows + 3}
    for index, row in enumerate(report.timeline):
        local = reports.parse_moment(row["at"]).strftime("%Y-%m-%dT%H:%M")
        form.update({f"timeline-{index}-at": local, f"timeline-{index}-text": row["text"]})
    form["timeline-0-remove"] = "1"
    form.update({f"timeline-{rows}-at": "2026-03-12T09:03", f"timeline-{rows}-text": "Probe alarmed"})
    response = client.post(reverse("incidents:report", args=[incident.pk]), form)
    assert response.status_code == 302
    report.refresh_from_db()
    assert report.sections["summary"] == "Checkout failed."
    assert len(report.timeline) == rows  # one removed, one added
    assert "Probe alarmed" in [row["text"] for row in report.timeline]
    bad = {**form, f"timeline-{rows}-at": ""}
    response = client.post(reverse("incidents:report", args=[incident.pk]), bad)
    assert response.status_code == 422 and b"row" in response.content


def test_completing_from_the_page_names_missing_sections_then_closes(client, users):
    incident = resolved()
    client.force_login(users["responder"])
    client.post(reverse("incidents:report_start", args=[incident.pk]))
    response = client.post(reverse("incidents:report_complete", args=[incident.pk]), follow=True)
    assert "Summary, Root cause" in response.content.decode()
    page = reverse("incidents:report", args=[incident.pk])
    # "Save and complete" keeps what was typed even when completing is refused.
    response = client.post(page, {"section-summary": FILLED["summary"], "then": "complete"})
    assert response.status_code == 422 and "Root cause" in response.content.decode()
    report = IncidentReport.objects.get(incident=incident)
    assert (report.sections["summary"], report.status) == (FILLED["summary"], "draft")
    response = client.post(page, {"section-root_cause": FILLED["root_cause"], "then": "complete"})
    assert response.status_code == 302
    report.refresh_from_db()
    assert report.status == "final"
    response = client.get(page)
    assert b'id="report-form"' not in response.content and b"Back to draft" in response.content
    assert FILLED["root_cause"] in response.content.decode() and b"<table>" in response.content  # impact
    assert close(incident).status == "closed"


def test_action_items_from_the_page(client, users):
    incident = resolved()
    report = reports.start_report(incident, actor=FACTORY_ACTOR)
    client.force_login(users["responder"])
    add = reverse("incidents:report_item_add", args=[incident.pk])
    response = client.post(add, {"title": "Runbook", "owner": "nobody-here", "due_date": "2026-04-01"})
    assert response.status_code == 422 and b"nobody-here" in response.content
    client.post(add, {"title": "Runbook", "owner": "responder", "due_date": "2026-04-01"})
    item = report.action_items.get()
    assert (item.owner, item.due_date) == (users["responder"], datetime.date(2026, 4, 1))
    edit = reverse("incidents:report_item_edit", args=[incident.pk, item.pk])
    client.post(edit, {"title": "Runbook", "owner": "", "due_date": "", "status": "done"})
    item.refresh_from_db()
    assert (item.owner, item.due_date, item.status) == (None, None, "done")
    client.force_login(users["viewer"])
    assert client.post(edit, {"status": "open"}).status_code == 403


def test_downloads(client, users):
    report = report_with_items()
    client.force_login(users["viewer"])
    pk = report.incident_id
    pdf = client.get(reverse("incidents:report_pdf", args=[pk]))
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert "attachment" in pdf["Content-Disposition"]
    md = client.get(reverse("incidents:report_md", args=[pk]))
    assert md["Content-Type"].startswith("text/markdown") and b"## Root cause" in md.content
    html = client.get(reverse("incidents:report_html", args=[pk]))
    assert b"<!doctype html>" in html.content and report.incident.number.encode() in html.content


def test_the_detail_tab_context(rf, users):
    incident = resolved()
    request = rf.get("/")
    request.user = users["viewer"]
    context = report_views.tab_context(incident, request)
    assert context["report"] is None and context["report_required"] and not context["report_can_edit"]
    assert "needs an incident report" in context["report_close_blocker"]
    report_with_items()
    request.user = users["responder"]
    reports.start_report(incident, actor=FACTORY_ACTOR)
    context = report_views.tab_context(incident, request)
    assert context["report_can_edit"] and context["report_missing"] == ["Summary", "Root cause"]
    from django.template.loader import render_to_string

    html = render_to_string("incidents/_tab_report.html", context, request=request)
    assert "Still to fill in" in html and context["report_urls"]["pdf"] in html


@pytest.mark.parametrize(("action", "changes", "line"), [
    ("escalate", {"escalation": [None, "P1 not acknowledged"], "kind": [None, "functional"],
                  "team": ["Service desk", "Payments SRE"], "notified": [None, "lead1"]},
     "Escalated by rule P1 not acknowledged; team Service desk -> Payments SRE; notified lead1"),
    ("promote_major", {"major_status": ["proposed", "major"]}, "Declared a major incident by alice"),
    ("reject_major", {"major_status": ["proposed", "rejected"], "reason": [None, "one user"]},
     "Major incident proposal rejected by alice: one user"),
    ("post_update", {"update": [None, "Failover\nin progress"], "audience": [None, "stakeholders"]},
     "Stakeholder update by alice: Failover in progress"),
    ("hold", {"status": ["in_progress", "on_hold"], "hold_reason": ["", "awaiting_vendor"]},
     "Put on hold by alice: Awaiting vendor"),
    ("reopen", {"status": ["resolved", "in_progress"], "status_reason": ["", "Back again"]},
     "Reopened by alice: Back again"),
    ("sla_started", {"acknowledge": [None, "P1 incidents"]}, ""),
    ("report_updated", {"summary": ["", "x"]}, ""),
])
def test_change_log_rows_read_as_sentences(action, changes, line):
    from types import SimpleNamespace

    entry = SimpleNamespace(action=action, changes=changes, actor_label="alice")
    assert reports._describe(entry) == line
