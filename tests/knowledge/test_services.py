"""The rules of the knowledge base: versions, the review flow, feedback and views, review reminders,
the prefills from incidents and known errors."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.core.exceptions import ValidationError

from opsdesk.core import events
from opsdesk.core.actors import Actor
from opsdesk.core.audit import history_for
from opsdesk.core.models import Notification, OutboxEvent
from opsdesk.core.workflow import TransitionNotAllowed
from opsdesk.knowledge import services
from opsdesk.knowledge.diff import diff_html, diff_versions
from opsdesk.knowledge.models import Article, ArticleFeedback
from tests.accounts.factories import UserFactory
from tests.knowledge.factories import make_article

pytestmark = pytest.mark.django_db


@pytest.fixture
def author():
    return UserFactory(username="author", role="responder")


@pytest.fixture
def reviewer():
    return UserFactory(username="reviewer", role="responder")


def _published(author, reviewer, **fields):
    article = make_article(Actor.for_user(author), reviewers=[reviewer], **fields)
    article = services.transition_article(article, "submit", actor=Actor.for_user(author))
    services.review_article(article, actor=Actor.for_user(reviewer), decision="approved")
    article.refresh_from_db()
    return article


def test_create_numbers_the_article_and_keeps_version_1(author):
    article = make_article(Actor.for_user(author), tags=["Checkout", "k8s"])
    assert article.number.startswith("KB-")
    assert article.status == "draft" and article.version == 1 and article.author == author
    assert list(article.versions.values_list("number", flat=True)) == [1]
    assert sorted(t.name for t in article.tags.all()) == ["checkout", "k8s"]
    assert history_for(article).first().action == "create"


def test_an_article_needs_a_text():
    with pytest.raises(ValidationError) as error:
        make_article(body="  ")
    assert "body" in error.value.message_dict
    assert not Article.objects.exists()


def test_a_text_change_makes_a_version_and_a_metadata_change_does_not(author):
    article = make_article(Actor.for_user(author))
    actor = Actor.for_user(author)
    article = services.update_article(article, actor=actor, data={"body": "1. Drain.\n2. Restart.\n"}, note="Shorter")
    assert article.version == 2
    assert article.versions.get(number=2).note == "Shorter"
    article = services.update_article(article, actor=actor, data={"review_by": datetime.date(2030, 1, 1)})
    assert article.version == 2 and article.versions.count() == 2
    result = diff_versions(article.versions.get(number=1), article.versions.get(number=2))
    ops = [line["op"] for line in result["fields"]["body"]]
    assert "+" in ops and "-" in ops
    assert "title" not in result["fields"]


def test_the_diff_is_escaped():
    article = make_article(body="safe")
    article = services.update_article(article, actor=Actor.system("t"), data={"body": "<script>alert(1)</script>"})
    html = str(diff_html(diff_versions(article.versions.get(number=1), article.versions.get(number=2))))
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_submit_needs_a_reviewer_other_than_the_author(author):
    article = make_article(Actor.for_user(author), reviewers=[author])
    with pytest.raises(ValidationError):
        services.transition_article(article, "submit", actor=Actor.for_user(author))
    article.refresh_from_db()
    assert article.status == "draft"


def test_approval_by_a_reviewer_publishes_and_notifies_the_author(author, reviewer):
    article = _published(author, reviewer)
    assert article.status == "published" and article.published_at is not None
    review = article.reviews.get()
    assert review.decision == "approved" and review.version == 1 and review.reviewer == reviewer
    event = OutboxEvent.objects.filter(event_type="article.reviewed").get()
    assert event.payload["recipients"] == [author.pk]
    events.dispatch(event.pk)  # what the worker does after the commit
    assert Notification.objects.filter(user=author, event=event).exists()


def test_changes_requested_sends_it_back_to_draft_with_a_comment(author, reviewer):
    article = make_article(Actor.for_user(author), reviewers=[reviewer])
    article = services.transition_article(article, "submit", actor=Actor.for_user(author))
    with pytest.raises(ValidationError):
        services.review_article(article, actor=Actor.for_user(reviewer), decision="changes_requested")
    services.review_article(article, actor=Actor.for_user(reviewer), decision="changes_requested",
                            comment="Add the rollback step.")
    article.refresh_from_db()
    assert article.status == "draft"
    assert article.reviews.get().comment == "Add the rollback step."


def test_only_a_named_reviewer_who_is_not_the_author_reviews(author, reviewer):
    other = UserFactory(username="other", role="manager")
    article = make_article(Actor.for_user(author), reviewers=[reviewer])
    with pytest.raises(TransitionNotAllowed):  # not in review yet
        services.review_article(article, actor=Actor.for_user(reviewer), decision="approved")
    article = services.transition_article(article, "submit", actor=Actor.for_user(author))
    with pytest.raises(ValidationError):
        services.review_article(article, actor=Actor.for_user(other), decision="approved")
    article.refresh_from_db()
    assert article.status == "in_review" and not article.reviews.exists()


def test_a_published_text_changes_only_after_revise(author, reviewer):
    article = _published(author, reviewer)
    with pytest.raises(TransitionNotAllowed):
        services.update_article(article, actor=Actor.for_user(author), data={"title": "New title"})
    services.update_article(article, actor=Actor.for_user(author), data={"review_by": datetime.date(2031, 1, 1)})
    article = services.transition_article(article, "revise", actor=Actor.for_user(author))
    article = services.update_article(article, actor=Actor.for_user(author), data={"title": "New title"})
    assert article.status == "draft" and article.version == 2


def test_retire_needs_a_reason_and_makes_it_read_only(author):
    article = make_article(Actor.for_user(author))
    with pytest.raises(ValidationError):
        services.transition_article(article, "retire", actor=Actor.for_user(author), data={})
    article = services.transition_article(article, "retire", actor=Actor.for_user(author), data={"reason": "Old"})
    assert article.status_reason == "Old"
    with pytest.raises(TransitionNotAllowed):
        services.update_article(article, actor=Actor.for_user(author), data={"review_by": datetime.date(2031, 1, 1)})


def test_manager_publishes_directly():
    article = make_article()
    article = services.transition_article(article, "publish", actor=Actor.system("t"))
    assert article.status == "published" and article.published_at


def test_feedback_is_one_vote_per_person_and_a_new_vote_moves_the_counters(author, reviewer):
    article = _published(author, reviewer)
    voter = UserFactory(username="voter")
    services.record_feedback(article, user=voter, helpful=True)
    services.record_feedback(article, user=reviewer, helpful=True, comment="Saved me an hour")
    article.refresh_from_db()
    assert (article.helpful_count, article.not_helpful_count) == (2, 0)
    services.record_feedback(article, user=voter, helpful=False)
    services.record_feedback(article, user=voter, helpful=False)
    article.refresh_from_db()
    assert (article.helpful_count, article.not_helpful_count) == (1, 1)
    assert ArticleFeedback.objects.filter(article=article).count() == 2


def test_feedback_only_on_published_articles():
    article = make_article()
    with pytest.raises(TransitionNotAllowed):
        services.record_feedback(article, user=UserFactory(), helpful=True)


def test_views_count_but_not_the_authors_own(author):
    article = make_article(Actor.for_user(author))
    assert services.record_view(article, user=author) is False
    assert services.record_view(article, user=UserFactory()) is True
    article.refresh_from_db()
    assert article.view_count == 1


def test_review_reminder_once_per_review_period(author, reviewer):
    with time_machine.travel(datetime.datetime(2030, 3, 1, 9, tzinfo=datetime.UTC), tick=False) as clock:
        article = _published(author, reviewer, review_by=datetime.date(2030, 3, 10))
        assert services.remind_reviews() == 0
        clock.move_to(datetime.datetime(2030, 3, 10, 9, tzinfo=datetime.UTC))
        assert services.remind_reviews() == 1
        assert services.remind_reviews() == 0  # once per period
        event = OutboxEvent.objects.filter(event_type="article.review_due").get()
        assert event.payload["recipients"] == [author.pk]
        article.refresh_from_db()
        services.update_article(article, actor=Actor.for_user(author), data={"review_by": datetime.date(2030, 9, 1)})
        assert services.remind_reviews() == 0
        clock.move_to(datetime.datetime(2030, 9, 2, 9, tzinfo=datetime.UTC))
        assert services.remind_reviews() == 1


def test_prefill_from_a_resolved_incident_links_it():
    from opsdesk.incidents import services as incidents
    from tests.incidents.factories import make_incident

    incident = make_incident(title="VPN users cannot reach the intranet", symptoms="No route to 10.20.0.0/16")
    incident = incidents.transition_incident(incident, "resolve", actor=Actor.system("t"), data={
        "resolution_code": "fixed", "resolution_notes": "Re-announced the route on the concentrator."})
    data = services.prefill_from_incident(incident)
    assert data["title"] == incident.title and data["source_incident"] == incident
    assert "No route to 10.20.0.0/16" in data["body"] and "Re-announced the route" in data["body"]
    article = services.create_article(actor=Actor.system("t"), data=data)
    assert article.source_incident == incident and list(article.incidents.all()) == [incident]


def test_prefill_from_a_known_error_links_it():
    from tests.problems.factories import make_known_error

    known_error = make_known_error()
    data = services.prefill_from_known_error(known_error)
    assert "Restart the checkout pods" in data["body"] and data["source_known_error"] == known_error
    article = services.create_article(actor=Actor.system("t"), data=data)
    assert list(article.known_errors.all()) == [known_error]
