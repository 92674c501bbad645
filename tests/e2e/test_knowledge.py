"""KCS in a real browser (Chromium): a responder writes an article from a resolved incident (the form is
prefilled), submits it for review, a reviewer approves it, and the knowledge base search finds it first
for the words of a similar incident. No console errors or CSP violations on the way."""

import re

import pytest

from opsdesk.core.actors import Actor
from opsdesk.incidents import services as incidents
from opsdesk.knowledge.models import Article
from tests.accounts.factories import UserFactory
from tests.e2e.screenshots import shot
from tests.incidents.factories import make_incident

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips, with the reason
    expect = None

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]



def test_write_an_article_from_a_resolved_incident_review_it_and_find_it(new_page, log_in, console):
    author = UserFactory(username="rita", role="responder", first_name="Rita", last_name="Rossi")
    UserFactory(username="max", role="responder", first_name="Max", last_name="Meier")
    incident = make_incident(title="Checkout answers HTTP 502 for some customers",
                             symptoms="About 5% of checkout requests fail with 502 from the ingress.")
    incident = incidents.transition_incident(incident, "resolve", actor=Actor.system("test"), data={
        "resolution_code": "config_change", "resolution_notes": "Rolled back the ingress configuration."})

    page = log_in(new_page(), author)
    page.goto(incident.get_absolute_url())
    page.locator(".record-actions").get_by_role("link", name="Write an article").click()
    expect(page.get_by_label("Title")).to_have_value(incident.title)
    expect(page.locator("#id_body")).to_have_value(re.compile("Rolled back the ingress"))
    expect(page.locator("#body-preview h2").first).to_be_visible()  # the live Markdown preview
    page.get_by_label("Reviewers").fill("max")
    shot(page, "knowledge-form")
    page.get_by_role("button", name="Create").click()
    expect(page.locator("#record-status")).to_have_text("Draft")
    article = Article.objects.get()
    assert article.source_incident_id == incident.pk
    page.get_by_role("button", name="Submit for review").click()
    expect(page.locator("#record-status")).to_have_text("In review")

    reviewer = log_in(new_page(), UserFactory._meta.model.objects.get(username="max"))
    reviewer.goto(article.get_absolute_url())
    reviewer.locator("#review-button").click()
    reviewer.get_by_label("Approved").check()
    reviewer.get_by_label("Comment (required when asking for changes)").fill("Clear, thanks.")
    reviewer.get_by_role("button", name="Send the review").click()
    expect(reviewer.locator("#record-status")).to_have_text("Published")
    reviewer.locator("#vote-helpful").click()
    expect(reviewer.locator("#helpful-count")).to_have_text("1")

    reviewer.goto("/knowledge/search/")
    reviewer.locator("#kb-q").fill("Checkout returning HTTP 502 errors to customers")
    reviewer.locator("#kb-search-submit").click()
    first = reviewer.locator(".kb-hit").first
    expect(first).to_contain_text(article.number)
    expect(first).to_contain_text("Articles")
    shot(reviewer, "knowledge-search")
    first.click()
    expect(reviewer.locator("#article-text")).to_contain_text("Rolled back the ingress configuration.")
    console.assert_clean()
