"""Approval pages: the inbox with its decisions, errors next to the field, delegations, policies and the panel
on the change page; per-role access and pinned query counts."""

import datetime

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.utils import timezone

from opsdesk.changes import approvals
from opsdesk.changes.models import Approval, ApprovalDelegation, ChangeRequest
from opsdesk.core import registry
from tests.accounts.factories import TeamFactory, UserFactory
from tests.changes.approval_factories import change_in, member, to_approval

pytestmark = pytest.mark.django_db


@pytest.fixture
def team():
    return TeamFactory(slug="dba", name="DBA")


@pytest.fixture
def setup(team):
    lead = member(team, "lead")
    requester = member(team, "req", "manager")
    change = to_approval(change_in(team, requester=requester, title="Rotate the TLS certificates"))
    return {"lead": lead, "requester": requester, "change": change}


def test_anonymous_is_sent_to_the_login_page(client, setup):
    for url in ("/changes/approvals/", "/changes/approvals/delegations/", "/changes/approvals/policies/"):
        response = client.get(url)
        assert response.status_code == 302 and "login" in response["Location"]
    response = client.post(f"/changes/{setup['change'].pk}/approval/decide/", {"decision": "approved"})
    assert response.status_code == 302 and "login" in response["Location"]
    assert Approval.objects.get(change=setup["change"]).status == "pending"


def test_the_inbox_lists_my_pending_approvals_not_my_own_changes(client, setup):
    client.force_login(setup["lead"])
    page = client.get("/changes/approvals/").content.decode()
    assert setup["change"].number in page and "Rotate the TLS certificates" in page
    client.force_login(setup["requester"])
    page = client.get("/changes/approvals/").content.decode()
    assert setup["change"].number not in page and 'id="inbox-empty"' in page


def test_approving_from_the_inbox(client, setup):
    client.force_login(setup["lead"])
    response = client.post(f"/changes/{setup['change'].pk}/approval/decide/",
                           {"decision": "approved", "comment": "", "next": "/changes/approvals/"})
    assert response.status_code == 302 and response["Location"] == "/changes/approvals/"
    assert ChangeRequest.objects.get(pk=setup["change"].pk).status == "scheduled"


def test_rejecting_without_a_reason_shows_the_error_next_to_the_field_and_writes_nothing(client, setup):
    client.force_login(setup["lead"])
    response = client.post(f"/changes/{setup['change'].pk}/approval/decide/", {"decision": "rejected",
                                                                               "comment": " "})
    assert response.status_code == 422
    approval = Approval.objects.get(change=setup["change"])
    assert f'id="a{approval.pk}-id_comment-error"' in response.content.decode() or \
        "Say why the change is rejected." in response.content.decode()
    assert approval.status == "pending"
    assert ChangeRequest.objects.get(pk=setup["change"].pk).status == "approval"


@pytest.mark.parametrize("who", ["requester", "viewer", "admin"])
def test_who_may_not_decide_gets_403(client, setup, users, who):
    user = setup["requester"] if who == "requester" else users[who]
    client.force_login(user)
    response = client.post(f"/changes/{setup['change'].pk}/approval/decide/", {"decision": "approved"})
    assert response.status_code == 403
    assert Approval.objects.get(change=setup["change"]).status == "pending"


@pytest.mark.parametrize("count", [1, 10])
def test_inbox_query_count_is_pinned(client, team, count, django_assert_max_num_queries):
    lead = member(team, "lead")
    for n in range(count):
        to_approval(change_in(team, title=f"Change {n}"))
    client.force_login(lead)
    with django_assert_max_num_queries(16):
        response = client.get("/changes/approvals/")
    assert response.content.decode().count('class="approval-row"') == count


def test_delegations_page_create_bad_input_and_end(client, setup):
    deputy = UserFactory(username="deputy")
    client.force_login(setup["lead"])
    assert client.get("/changes/approvals/delegations/").status_code == 200
    now = timezone.localtime()
    fmt = "%Y-%m-%dT%H:%M"
    bad = client.post("/changes/approvals/delegations/", {
        "user": setup["lead"].pk, "delegate": deputy.pk, "starts_at": now.strftime(fmt),
        "ends_at": (now - datetime.timedelta(days=1)).strftime(fmt)})
    assert bad.status_code == 422 and "The end must come after the start." in bad.content.decode()
    assert not ApprovalDelegation.objects.exists()
    ok = client.post("/changes/approvals/delegations/", {
        "user": setup["lead"].pk, "delegate": deputy.pk,
        "starts_at": (now - datetime.timedelta(minutes=5)).strftime(fmt),
        "ends_at": (now + datetime.timedelta(days=2)).strftime(fmt), "reason": "Conference"})
    assert ok.status_code == 302
    delegation = ApprovalDelegation.objects.get()
    assert delegation.user == setup["lead"] and delegation.delegate == deputy
    # The delegate sees the lead's approval in their inbox, marked as delegated.
    client.force_login(deputy)
    page = client.get("/changes/approvals/").content.decode()
    assert setup["change"].number in page and "for lead (delegation)" in page
    client.force_login(setup["lead"])
    assert client.post(f"/changes/approvals/delegations/{delegation.pk}/end/").status_code == 302
    delegation.refresh_from_db()
    assert delegation.ends_at <= timezone.now()


def test_a_stranger_cannot_end_someone_elses_delegation(client, setup, users):
    delegation = approvals.create_delegation(actor=approvals.Actor.for_user(setup["lead"]), user=setup["lead"],
                                             delegate=users["viewer"], starts_at=timezone.now(),
                                             ends_at=timezone.now() + datetime.timedelta(days=1))
    client.force_login(users["responder"])
    assert client.post(f"/changes/approvals/delegations/{delegation.pk}/end/").status_code == 403


def test_the_policies_page_lists_the_stages(client, users):
    client.force_login(users["viewer"])
    page = client.get("/changes/approvals/policies/").content.decode()
    assert 'id="policy-high"' in page and "CAB" in page and "2 of them must approve" in page


def test_the_approval_panel_on_the_change_page(setup, users):
    change = setup["change"]
    panels = dict((p.key, p) for p in registry.RECORD_PANELS[ChangeRequest])
    panel = panels["approvals"]
    assert panel.order == 20
    request = RequestFactory().get("/")
    request.user = setup["lead"]
    context = panel.context(change, setup["lead"])
    assert context["can_decide"] is True
    html = render_to_string(panel.template, {"panel": context, "request": request})
    assert 'id="approval-decide"' in html and 'data-approver="lead"' in html and "Team lead" in html
    assert panel.context(change, setup["requester"])["can_decide"] is False
    assert panel.context(change, users["admin"])["can_decide"] is False
    approvals.decide_for_change(change, actor=approvals.Actor.for_user(setup["lead"]), decision="approved",
                                comment="ok")
    context = panel.context(ChangeRequest.objects.get(pk=change.pk), users["viewer"])
    html = render_to_string(panel.template, {"panel": context, "request": request})
    assert "by lead" in html and 'id="approval-decide"' not in html


def test_the_change_page_shows_the_panel_and_approving_from_it_comes_back(client, setup):
    change = setup["change"]
    client.force_login(setup["lead"])
    page = client.get(f"/changes/{change.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="approvals-panel"' in html and 'id="approval-decide"' in html
    response = client.post(f"/changes/{change.pk}/approval/decide/", {"decision": "approved",
                                                                      "next": f"/changes/{change.pk}/"})
    assert response.status_code == 302 and response["Location"] == f"/changes/{change.pk}/"
    assert ChangeRequest.objects.get(pk=change.pk).status == "scheduled"
    client.force_login(setup["requester"])
    assert 'id="approval-decide"' not in client.get(f"/changes/{change.pk}/").content.decode()


@pytest.mark.parametrize("target,expected", [
    ("/changes/approvals/", "/changes/approvals/"), ("https://evil.example/x", "/back/"),
    ("//evil.example/x", "/back/"), ("javascript:alert(1)", "/back/"), ("", "/back/")])
def test_one_safe_next_for_the_change_pages_keeps_redirects_on_this_site(rf, target, expected):
    from opsdesk.changes import approval_views, review_views
    from opsdesk.core import views as core_views

    assert review_views.safe_next is approval_views.safe_next is core_views.safe_next  # one copy, in core
    request = rf.post("/changes/1/approval/decide/", {"next": target})
    assert core_views.safe_next(request, "/back/") == expected


def test_the_inbox_names_people_by_full_name_and_links_recent_decisions(client, setup, team):
    """Walk-through c31: "for erin (delegation)" next to "Erin Costa" elsewhere, and recently decided rows
    without a link to their change."""
    lead = setup["lead"]
    lead.first_name, lead.last_name = "Lena", "Lead"
    lead.save(update_fields=["first_name", "last_name"])
    deputy = member(team, "deputy")
    now = timezone.now()
    ApprovalDelegation.objects.create(user=lead, delegate=deputy, starts_at=now - datetime.timedelta(hours=1),
                                      ends_at=now + datetime.timedelta(days=1))
    client.force_login(deputy)
    page = client.get("/changes/approvals/").content.decode()
    assert "for Lena Lead (delegation)" in page and "for lead (delegation)" not in page
    client.post(f"/changes/{setup['change'].pk}/approval/decide/", {"decision": "approved", "comment": ""})
    page = client.get("/changes/approvals/").content.decode()
    decided = page[page.index('id="decided-by-me"'):]
    assert f'<a href="{setup["change"].get_absolute_url()}" class="fw-semibold">{setup["change"].number}</a>' in decided
    assert "for Lena Lead (delegation)" in decided
