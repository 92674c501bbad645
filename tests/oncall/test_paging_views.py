"""The pages of escalation and paging: policies (list, editor), an incident's paging, paging settings;
per role, with pinned query counts."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from opsdesk.core.actors import Actor
from opsdesk.oncall import escalation
from opsdesk.oncall.models import ContactMethod, EscalationPolicy, EscalationRun, NotificationRule
from tests.accounts.factories import UserFactory
from tests.incidents.factories import make_incident
from tests.oncall.factories import ScheduleFactory
from tests.oncall.paging_factories import contact, make_policy
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db


def login(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def policy(users, team):
    schedule = ScheduleFactory(name="Primary", slug="primary")
    return make_policy("Web", team=team, repeat_count=1, steps=[
        {"kind": "notify_schedule", "schedule": schedule}, {"kind": "wait", "wait_minutes": 5},
        {"kind": "notify_users", "users": [users["manager"]]}])


# --- policies -----------------------------------------------------------------------------------------------

def test_anonymous_goes_to_login(client, db):
    for name in ("oncall:policy_list", "oncall:paging_settings"):
        response = client.get(reverse(name))
        assert response.status_code == 302 and "login" in response["Location"]


def test_policy_list_and_detail_for_a_viewer(client, users, policy):
    login(client, users["viewer"])
    response = client.get(reverse("oncall:policy_list"))
    assert response.status_code == 200 and b"Web" in response.content
    assert b"New policy" not in response.content
    detail = client.get(policy.get_absolute_url())
    assert detail.status_code == 200
    assert b"Notify the on-call of Primary" in detail.content and b"Wait 5 minutes" in detail.content
    assert b"Add a step" not in detail.content
    assert client.post(policy.get_absolute_url(), {"what": "step_remove", "index": "0"}).status_code == 403
    assert client.get(reverse("oncall:policy_create")).status_code == 403


def test_policy_list_query_count_does_not_grow(client, users, team, django_assert_max_num_queries):
    service = ServiceFactory()
    login(client, users["viewer"])
    make_policy("One", services=[service], steps=[{"kind": "notify_users", "users": [users["admin"]]}])
    with django_assert_max_num_queries(12) as one:
        client.get(reverse("oncall:policy_list"))
    for index in range(6):
        make_policy(f"P{index}", services=[ServiceFactory()], team=team,
                    steps=[{"kind": "notify_users", "users": [users["admin"]]}, {"kind": "wait", "wait_minutes": 1}])
    with django_assert_max_num_queries(len(one.captured_queries)):
        response = client.get(reverse("oncall:policy_list"))
    assert response.content.count(b"/oncall/policies/") >= 7


def test_manager_creates_a_policy_with_its_first_step(client, users):
    login(client, users["manager"])
    response = client.post(reverse("oncall:policy_create"), {
        "name": "Database", "slug": "", "repeat_count": "1", "step-kind": "notify_users",
        "step-users": [users["responder"].pk], "step-urgency": "high"})
    assert response.status_code == 302
    policy = EscalationPolicy.objects.get(name="Database")
    assert policy.slug == "database" and [s.kind for s in policy.steps.all()] == ["notify_users"]


def test_create_with_a_bad_step_shows_the_error_and_saves_nothing(client, users):
    login(client, users["manager"])
    response = client.post(reverse("oncall:policy_create"), {
        "name": "Database", "repeat_count": "0", "step-kind": "notify_schedule", "step-urgency": "high"})
    assert response.status_code == 422
    assert b"Choose the schedule whose on-call is notified." in response.content
    assert not EscalationPolicy.objects.exists()


def test_steps_are_added_moved_and_removed(client, users, policy):
    login(client, users["manager"])
    url = policy.get_absolute_url()
    assert client.post(url, {"what": "step_add", "step-kind": "wait", "step-wait_minutes": "10",
                             "step-urgency": "high"}).status_code == 302
    assert [s.kind for s in policy.steps.order_by("position")] == ["notify_schedule", "wait", "notify_users", "wait"]
    client.post(url, {"what": "step_up", "index": "2"})
    assert [s.kind for s in policy.steps.order_by("position")] == ["notify_schedule", "notify_users", "wait", "wait"]
    client.post(url, {"what": "step_remove", "index": "3"})
    client.post(url, {"what": "step_down", "index": "0"})
    assert [s.kind for s in policy.steps.order_by("position")] == ["notify_users", "notify_schedule", "wait"]


def test_a_wait_step_without_minutes_is_refused_inline(client, users, policy):
    login(client, users["manager"])
    response = client.post(policy.get_absolute_url(), {"what": "step_add", "step-kind": "wait",
                                                        "step-urgency": "high"})
    assert response.status_code == 422 and b"A wait step needs whole minutes" in response.content
    assert policy.steps.count() == 3


def test_team_manager_edits_own_teams_policy_only(client, users, policy):
    login(client, users["team_manager"])
    assert client.get(reverse("oncall:policy_edit", args=[policy.pk])).status_code == 200
    other = make_policy("Other", steps=[{"kind": "notify_users", "users": [users["admin"]]}])
    assert client.get(reverse("oncall:policy_edit", args=[other.pk])).status_code == 403
    response = client.post(reverse("oncall:policy_edit", args=[policy.pk]), {
        "name": "Web renamed", "slug": "web", "repeat_count": "2", "team": policy.team.pk})
    assert response.status_code == 302
    policy.refresh_from_db()
    assert (policy.name, policy.repeat_count) == ("Web renamed", 2)


def test_policy_form_attaches_managed_services_only_and_one_policy_each(client, users, policy, other_team):
    ours, theirs = ServiceFactory(owner_team=policy.team), ServiceFactory(owner_team=other_team, name="Billing")
    login(client, users["team_manager"])
    edit = reverse("oncall:policy_edit", args=[policy.pk])
    form = {"name": "Web", "slug": "web", "repeat_count": "1", "team": policy.team.pk}
    refused = client.post(edit, {**form, "services": [ours.pk, theirs.pk]})
    assert refused.status_code == 422 and b"Only the managers of a service&#x27;s owner team" in refused.content
    assert b"Billing" in refused.content and not policy.services.exists()
    assert client.post(edit, {**form, "services": [ours.pk]}).status_code == 302
    assert list(policy.services.all()) == [ours]
    login(client, users["manager"])
    taken = client.post(reverse("oncall:policy_create"), {
        "name": "Second", "repeat_count": "0", "services": [ours.pk], "step-kind": "notify_users",
        "step-users": [users["responder"].pk], "step-urgency": "high"})
    assert taken.status_code == 422
    assert b"already has the escalation policy Web" in taken.content
    assert not EscalationPolicy.objects.filter(name="Second").exists()


def test_a_policy_that_ran_cannot_be_deleted(client, users, policy):
    escalation.start_for_incident(make_incident(title="x"), policy=policy, actor=Actor.system("test"))
    login(client, users["admin"])
    client.post(policy.get_absolute_url(), {"what": "delete"})
    assert EscalationPolicy.objects.filter(pk=policy.pk).exists()
    unused = make_policy("Unused", steps=[{"kind": "notify_users", "users": [users["admin"]]}])
    assert client.post(unused.get_absolute_url(), {"what": "delete"}).status_code == 302
    assert not EscalationPolicy.objects.filter(pk=unused.pk).exists()


# --- an incident's paging -----------------------------------------------------------------------------------

def test_incident_paging_page_lists_runs_and_pages(client, users, policy, django_assert_max_num_queries):
    incident = make_incident(title="Disk full")
    escalation.start_for_incident(incident, policy=policy, actor=Actor.system("test"))
    escalation.sweep()
    login(client, users["viewer"])
    url = reverse("oncall:incident_paging", args=[incident.pk])
    with django_assert_max_num_queries(14):
        response = client.get(url)
    assert response.status_code == 200
    assert b"Web" in response.content and b"Stop the escalation" not in response.content
    assert client.post(url, {"action": "stop"}).status_code == 403

    login(client, users["responder"])
    assert b"Stop the escalation" in client.get(url).content
    client.post(url, {"action": "stop"})
    assert EscalationRun.objects.get(incident=incident).status == "cancelled"
    assert b"Stop the escalation" not in client.get(url).content  # nothing runs: no stop button
    client.post(url, {"action": "start", "policy": policy.pk})
    assert EscalationRun.objects.filter(incident=incident, status="active").count() == 1


def test_incident_page_links_to_its_paging(client, users):
    incident = make_incident(title="Disk full")
    login(client, users["viewer"])
    response = client.get(incident.get_absolute_url())
    assert reverse("oncall:incident_paging", args=[incident.pk]).encode() in response.content


# --- paging settings ----------------------------------------------------------------------------------------

def test_a_person_manages_own_contact_methods_and_rules(client, users):
    person = users["viewer"]
    login(client, person)
    url = reverse("oncall:paging_settings")
    assert client.get(url).status_code == 200
    response = client.post(url, {"what": "method_add", "kind": "email", "label": "Pager",
                                 "target": "pager@example.com", "enabled": "on"})
    assert response.status_code == 302
    method = ContactMethod.objects.get(user=person)
    assert client.post(url, {"what": "rule_add", "urgency": "high", "contact_method": method.pk,
                             "delay_minutes": "5"}).status_code == 302
    assert NotificationRule.objects.get(user=person).delay_minutes == 5
    page = client.get(url)
    assert b"after 5 min" in page.content and b"Pager" in page.content


def test_a_bad_address_is_shown_inline_and_saves_nothing(client, users):
    login(client, users["responder"])
    response = client.post(reverse("oncall:paging_settings"), {"what": "method_add", "kind": "webhook",
                                                               "target": "ftp://nowhere", "enabled": "on"})
    assert response.status_code == 422 and b"A webhook needs an http or https URL." in response.content
    assert not ContactMethod.objects.exists()


def test_a_viewer_adds_email_addresses_only(client, users):
    login(client, users["viewer"])
    url = reverse("oncall:paging_settings")
    response = client.post(url, {"what": "method_add", "kind": "webhook", "target": "http://127.0.0.1:8080/x",
                                 "enabled": "on"})
    assert response.status_code == 422 and b"Viewers add email addresses only" in response.content
    assert not ContactMethod.objects.exists()
    mine = contact(users["viewer"], "email", "v@example.com")
    edit = reverse("oncall:contact_method_edit", args=[mine.pk])
    response = client.post(edit, {"kind": "webhook", "target": "http://127.0.0.1:8080/x", "enabled": "on"})
    assert response.status_code == 422 and b"Viewers add email addresses only" in response.content
    mine.refresh_from_db()
    assert (mine.kind, mine.target) == ("email", "v@example.com")
    login(client, users["responder"])
    assert client.post(url, {"what": "method_add", "kind": "webhook", "target": "https://hooks.example.com/x",
                             "enabled": "on"}).status_code == 302


def test_a_manager_editing_someones_url_does_not_see_it(client, users):
    secret = "https://hooks.example.com/services/s3cr3t"
    method = contact(users["responder"], "webhook", secret)
    login(client, users["manager"])
    edit = reverse("oncall:contact_method_edit", args=[method.pk])
    form = client.get(edit)
    assert form.status_code == 200 and b"s3cr3t" not in form.content and b"Leave empty to keep it" in form.content
    assert client.post(edit, {"kind": "webhook", "label": "Ops", "target": "", "enabled": "on"}).status_code == 302
    method.refresh_from_db()
    assert (method.label, method.target) == ("Ops", secret)
    changed = client.post(edit, {"kind": "email", "label": "Ops", "target": "", "enabled": "on"})
    assert changed.status_code == 422 and b"s3cr3t" not in changed.content
    login(client, users["responder"])  # the owner sees and edits the full address
    assert secret.encode() in client.get(edit).content


def test_send_test_button_sends_through_the_outbox(client, users, django_capture_on_commit_callbacks):
    person = users["viewer"]
    method = contact(person, "email", "pager@example.com")
    login(client, person)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("oncall:paging_settings"), {"what": "method_test", "method": method.pk})
    assert response.status_code == 302
    assert [m.to for m in mail.outbox] == [["pager@example.com"]]
    assert "Test notification" in mail.outbox[0].subject
    method.refresh_from_db()
    assert method.last_test_at is not None


def test_others_settings_are_for_managers(client, users):
    other = UserFactory(username="other", role="responder")
    method = contact(other, "email", "other@example.com")
    login(client, users["responder"])
    assert client.get(reverse("oncall:paging_settings_for", args=[other.pk])).status_code == 403
    assert client.post(reverse("oncall:paging_settings"), {"what": "method_delete",
                                                           "method": method.pk}).status_code == 404
    assert client.get(reverse("oncall:contact_method_edit", args=[method.pk])).status_code == 403
    login(client, users["manager"])
    response = client.get(reverse("oncall:paging_settings_for", args=[other.pk]))
    assert response.status_code == 200 and b"other@example.com" in response.content
    response = client.post(reverse("oncall:contact_method_edit", args=[method.pk]), {
        "kind": "email", "label": "Mobile mail", "target": "other2@example.com", "enabled": "on"})
    assert response.status_code == 302
    method.refresh_from_db()
    assert method.target == "other2@example.com"


def test_paging_settings_query_count(client, users, django_assert_max_num_queries):
    person = users["viewer"]
    login(client, person)
    contact(person, "email", "a@example.com", rules=[("high", 0)])
    with django_assert_max_num_queries(14) as one:
        client.get(reverse("oncall:paging_settings"))
    for index in range(5):
        contact(person, "email", f"b{index}@example.com", rules=[("high", index), ("low", 1)])
    with django_assert_max_num_queries(len(one.captured_queries)):
        client.get(reverse("oncall:paging_settings"))


def test_policies_are_found_by_the_global_search(client, users, policy):
    login(client, users["viewer"])
    response = client.get(reverse("search"), {"q": "Web"})
    assert response.status_code == 200 and policy.get_absolute_url().encode() in response.content


def test_link_pages_keep_the_token_out_of_referers(client, users):
    from opsdesk.oncall import links

    incident = make_incident(title="Disk full")
    response = client.get(reverse("oncall:page_link", args=[links.make_token(incident, users["responder"],
                                                                              "acknowledge")]))
    assert response["Referrer-Policy"] == "no-referrer" and "no-cache" in response["Cache-Control"]


def test_link_button_works_in_a_browser_that_posts_origin_null(users):
    """The no-referrer policy makes browsers send "Origin: null" with the form: the link must still work."""
    from django.test import Client

    from opsdesk.oncall import links

    incident = make_incident(title="Disk full")
    url = reverse("oncall:page_link", args=[links.make_token(incident, users["responder"], "acknowledge")])
    browser = Client(enforce_csrf_checks=True)
    assert browser.get(url).status_code == 200
    response = browser.post(url, HTTP_ORIGIN="null")
    assert response.status_code == 200, response.content[:300]
    incident.refresh_from_db()
    assert incident.status == "acknowledged"


def test_demo_policies_load_once_and_render(client, users):
    from opsdesk.accounts import demo as accounts_demo
    from opsdesk.oncall import demo, escalation_demo

    accounts_demo.load(Actor.system("demo"))
    demo.load(Actor.system("demo"))
    assert escalation_demo.load(Actor.system("demo")) == 2
    assert escalation_demo.load(Actor.system("demo")) == 0
    policy = EscalationPolicy.objects.get(slug="platform-escalation")
    assert [s.kind for s in policy.steps.order_by("position")][:2] == ["notify_schedule", "wait"]
    login(client, users["viewer"])
    response = client.get(policy.get_absolute_url())
    assert response.status_code == 200 and b"Notify the on-call of Platform primary" in response.content
