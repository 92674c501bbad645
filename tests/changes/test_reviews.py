"""Post-implementation reviews and incidents caused by changes: when a review is required, close refused
until it is written, writing it (only in review), the change's review panel and the incident's "Recent
changes" panel with its "Caused by this change" button, each with its permissions."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from opsdesk.changes import reviews, services
from opsdesk.changes.models import CausedIncident, ChangeSettings, PostImplementationReview
from opsdesk.core.actors import Actor
from opsdesk.core.comments import comments_for
from opsdesk.core.models import AuditEntry
from opsdesk.core.workflow import TransitionNotAllowed
from tests.changes.factories import make_change, put_in_state
from tests.cmdb.factories import CIFactory
from tests.incidents.factories import make_incident
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")
REVIEW = {"objectives": "partly", "summary": "The migration ran 40 minutes over; replicas lagged.",
          "lessons": "Pre-warm the replicas.", "follow_ups": "Add a lag alert."}


def in_review(team=None, **fields):
    change = make_change(owner_team=team, **fields) if team else make_change(**fields)
    return put_in_state(change, "review", outcome=fields.pop("outcome", "failed"))


def actions(record) -> list[str]:
    from django.contrib.contenttypes.models import ContentType

    ct = ContentType.objects.get_for_model(record)
    return list(AuditEntry.objects.filter(content_type=ct, object_id=record.pk).values_list("action", flat=True))


# --- when a review is required -----------------------------------------------------------------------------

@pytest.mark.parametrize(("fields", "required", "reason"), [
    ({"outcome": "failed"}, True, "outcome: failed"),
    ({"outcome": "backed_out"}, True, "outcome: backed out"),
    ({"outcome": "successful", "change_type": "emergency"}, True, "emergency change"),
    ({"outcome": "successful", "risk_level": "high"}, True, "high risk"),
    ({"outcome": "successful", "risk_level": "very_high"}, True, "very high risk"),
    ({"outcome": "successful", "risk_level": "medium"}, False, ""),
    ({"outcome": "successful_with_issues", "risk_level": "low"}, False, ""),
])
def test_review_required(fields, required, reason):
    change_type = fields.pop("change_type", "normal")
    change = put_in_state(make_change(change_type=change_type), "review", **fields)
    assert reviews.review_required(change) is required
    missing = reviews.missing_review(change)
    if required:
        assert missing == f"A post-implementation review is required before closing {change.number} ({reason})."
    else:
        assert missing == ""


def test_the_settings_decide_outcomes_and_risk_levels():
    ChangeSettings.objects.update_or_create(pk=1, defaults={"review_outcomes": ["successful_with_issues"],
                                                            "review_risk_levels": []})
    issues = put_in_state(make_change(), "review", outcome="successful_with_issues")
    failed_high = put_in_state(make_change(), "review", outcome="failed", risk_level="high")
    assert reviews.review_required(issues) and not reviews.review_required(failed_high)


def test_a_written_review_lets_the_change_close_and_close_is_refused_before(users):
    change = in_review()
    with pytest.raises(TransitionNotAllowed, match="post-implementation review is required"):
        services.transition_change(change, "close", actor=ACTOR)
    change.refresh_from_db()
    assert change.status == "review"
    reviews.record_review(change, actor=Actor.for_user(users["responder"]), data=REVIEW)
    assert reviews.missing_review(change) == ""
    services.transition_change(change, "close", actor=ACTOR)
    change.refresh_from_db()
    assert change.status == "closed"


def test_a_change_that_needs_no_review_closes():
    change = put_in_state(make_change(), "review", outcome="successful", risk_level="low")
    services.transition_change(change, "close", actor=ACTOR)
    change.refresh_from_db()
    assert change.status == "closed"


# --- writing the review -----------------------------------------------------------------------------------

def test_record_review_creates_then_updates_and_is_audited(users):
    change = in_review()
    review = reviews.record_review(change, actor=Actor.for_user(users["responder"]), data=REVIEW)
    assert review.objectives == "partly" and review.completed_at is not None
    assert review.reviewer == users["responder"]
    again = reviews.record_review(change, actor=ACTOR, data={**REVIEW, "objectives": "not_met"})
    assert again.pk == review.pk and again.objectives == "not_met"
    assert PostImplementationReview.objects.filter(change=change).count() == 1
    assert actions(change).count("review") == 2


def test_record_review_only_in_review():
    change = put_in_state(make_change(), "implementing")
    with pytest.raises(TransitionNotAllowed, match="in review"):
        reviews.record_review(change, actor=ACTOR, data=REVIEW)
    assert not PostImplementationReview.objects.exists()


def test_record_review_validates():
    from django.core.exceptions import ValidationError

    change = in_review()
    with pytest.raises(ValidationError) as caught:
        reviews.record_review(change, actor=ACTOR, data={"objectives": "maybe", "summary": " "})
    assert set(caught.value.message_dict) == {"objectives", "summary"}
    assert not PostImplementationReview.objects.exists()


def test_review_page_writes_the_review(client, users):
    change = in_review()
    client.force_login(users["responder"])
    url = f"/changes/{change.pk}/review/"
    page = client.get(url)
    assert page.status_code == 200 and 'id="review-form"' in page.content.decode()
    assert "outcome: failed" in page.content.decode()
    response = client.post(url, REVIEW)
    assert response.status_code == 302
    assert PostImplementationReview.objects.get(change=change).summary == REVIEW["summary"]


def test_review_page_bad_input_400_next_to_the_field(client, users):
    change = in_review()
    client.force_login(users["responder"])
    response = client.post(f"/changes/{change.pk}/review/", {"objectives": "", "summary": ""})
    assert response.status_code == 400
    assert response.content.decode().count("field-error") == 2
    assert not PostImplementationReview.objects.exists()


def test_review_page_409_when_not_in_review(client, users):
    change = put_in_state(make_change(), "scheduled")
    client.force_login(users["responder"])
    assert client.post(f"/changes/{change.pk}/review/", REVIEW).status_code == 409
    assert not PostImplementationReview.objects.exists()


def test_review_page_permissions(client, users):
    change = in_review()
    url = f"/changes/{change.pk}/review/"
    assert client.get(url).status_code == 302
    client.force_login(users["viewer"])
    assert client.get(url).status_code == 200
    assert 'id="review-form"' not in client.get(url).content.decode()
    assert client.post(url, REVIEW).status_code == 403
    assert not PostImplementationReview.objects.exists()
    for role in ("responder", "manager", "admin"):
        client.force_login(users[role])
        assert client.post(url, REVIEW).status_code == 302


def test_emergency_review_is_a_retrospective(client, users):
    change = put_in_state(make_change(change_type="emergency"), "review", outcome="successful")
    client.force_login(users["responder"])
    assert "Retrospective" in client.get(f"/changes/{change.pk}/review/").content.decode()
    context = reviews.change_panel_context(change, users["responder"])
    assert context["retrospective"] and context["required"] and context["can_review"]


def test_change_panel_context(users):
    change = in_review()
    context = reviews.change_panel_context(change, users["viewer"])
    assert context["required"] and context["reasons"] == ["outcome: failed"]
    assert not context["can_review"] and not context["can_mark"]
    assert reviews.change_panel_context(change, users["responder"])["can_mark"]


# --- caused by a change ----------------------------------------------------------------------------------------

def test_mark_caused_links_audits_and_comments():
    change = put_in_state(make_change(), "closed", outcome="failed")
    incident = make_incident()
    caused = reviews.mark_caused(change, incident, actor=ACTOR, note="Pool exhausted after the upgrade")
    assert caused.incident == incident and list(change.incidents.all()) == [incident]
    assert "mark_caused" in actions(change) and "caused_by_change" in actions(incident)
    assert [c.body for c in comments_for(incident)] == [
        f"Marked as caused by {change.number}: Pool exhausted after the upgrade"]
    assert reviews.mark_caused(change, incident, actor=ACTOR).pk == caused.pk  # again: nothing new
    assert CausedIncident.objects.count() == 1 and len(comments_for(incident)) == 1
    assert reviews.unmark_caused(change, incident, actor=ACTOR) is True
    assert not CausedIncident.objects.exists() and list(change.incidents.all()) == [incident]
    assert "unmark_caused" in actions(change)
    assert reviews.unmark_caused(change, incident, actor=ACTOR) is False


def _incident_with_recent_change():
    service = ServiceFactory()
    ci = CIFactory()
    opened = timezone.now()
    recent = put_in_state(make_change(title="Recent on the service", services=[service]), "closed",
                          outcome="successful", actual_start=opened - datetime.timedelta(hours=5),
                          actual_end=opened - datetime.timedelta(hours=4))
    on_ci = put_in_state(make_change(title="Running on the CI", cis=[ci]), "implementing",
                         actual_start=opened - datetime.timedelta(hours=1))
    old = put_in_state(make_change(title="Last week", services=[service]), "closed", outcome="successful",
                       actual_start=opened - datetime.timedelta(days=7),
                       actual_end=opened - datetime.timedelta(days=7) + datetime.timedelta(hours=1))
    elsewhere = put_in_state(make_change(title="Other service", services=[ServiceFactory()]), "closed",
                             outcome="successful", actual_start=opened - datetime.timedelta(hours=2),
                             actual_end=opened - datetime.timedelta(hours=1))
    cancelled = put_in_state(make_change(title="Cancelled", services=[service]), "closed", outcome="cancelled",
                             actual_start=opened - datetime.timedelta(hours=2))
    incident = make_incident(service=service, cis=[ci], detected_at=opened)
    return incident, recent, on_ci, (old, elsewhere, cancelled)


def test_recent_changes_of_an_incident():
    incident, recent, on_ci, others = _incident_with_recent_change()
    found = [c.pk for c in reviews.recent_changes(incident)]
    assert set(found) == {recent.pk, on_ci.pk}
    assert not set(found) & {c.pk for c in others}


def test_incident_panel_marks_a_change_as_cause(client, users):
    incident, recent, _on_ci, _others = _incident_with_recent_change()
    client.force_login(users["responder"])
    page = client.get(incident.get_absolute_url()).content.decode()
    assert 'id="recent-changes-panel"' in page and f'data-change="{recent.number}"' in page
    assert "Caused by this change" in page
    response = client.post(f"/changes/{recent.pk}/caused/", {"incident": incident.number,
                                                              "next": incident.get_absolute_url()})
    assert response.status_code == 302 and response["Location"] == incident.get_absolute_url()
    assert CausedIncident.objects.filter(change=recent, incident=incident).exists()
    after = client.get(incident.get_absolute_url()).content.decode()
    assert 'id="caused-by-changes"' in after and "Marked as the cause" in after
    assert f"Marked as caused by {recent.number}" in [c.body for c in comments_for(incident)]


def test_viewer_sees_the_panel_without_the_button_and_cannot_mark(client, users):
    incident, recent, _on_ci, _others = _incident_with_recent_change()
    client.force_login(users["viewer"])
    page = client.get(incident.get_absolute_url()).content.decode()
    assert f'data-change="{recent.number}"' in page and "Caused by this change" not in page
    assert client.post(f"/changes/{recent.pk}/caused/", {"incident": incident.number}).status_code == 403
    reviews.mark_caused(recent, incident, actor=ACTOR)
    assert client.post(f"/changes/{recent.pk}/caused/{incident.pk}/remove/").status_code == 403
    assert CausedIncident.objects.count() == 1


def test_mark_by_number_from_the_change_panel(client, users):
    change = in_review()
    incident = make_incident()
    client.force_login(users["responder"])
    bad = client.post(f"/changes/{change.pk}/caused/", {"incident": "INC-999999"})
    assert bad.status_code == 302 and not CausedIncident.objects.exists()
    client.post(f"/changes/{change.pk}/caused/", {"incident": incident.number.lower()})
    assert CausedIncident.objects.filter(change=change, incident=incident).exists()
    client.post(f"/changes/{change.pk}/caused/{incident.pk}/remove/")
    assert not CausedIncident.objects.exists()


def test_mark_views_need_sign_in(client):
    change = in_review()
    incident = make_incident()
    assert client.post(f"/changes/{change.pk}/caused/", {"incident": incident.number}).status_code == 302
    assert not CausedIncident.objects.exists()


def test_change_page_has_the_review_panel(client, users):
    change = in_review()
    incident = make_incident()
    reviews.mark_caused(change, incident, actor=ACTOR)
    client.force_login(users["responder"])
    html = client.get(change.get_absolute_url()).content.decode()
    assert 'id="review-panel"' in html and 'id="review-required"' in html and 'id="write-review"' in html
    assert f'data-incident="{incident.number}"' in html and 'id="mark-caused-form"' in html
    reviews.record_review(change, actor=ACTOR, data=REVIEW)
    client.force_login(users["viewer"])
    html = client.get(change.get_absolute_url()).content.decode()
    assert 'id="review-summary"' in html and "Partly met" in html
    assert 'id="write-review"' not in html and 'id="mark-caused-form"' not in html
