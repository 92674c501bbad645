"""The approvals API: a person's own decision only, the requester refused, reasons required, delegations and
policies, per-role permissions and pinned query counts."""

import datetime

import pytest
from django.utils import timezone

from opsdesk.changes.models import Approval, ApprovalDelegation, ChangeRequest
from opsdesk.core.models import AuditEntry
from tests.accounts.factories import TeamFactory, UserFactory
from tests.changes.approval_factories import change_in, member, policy, to_approval

pytestmark = pytest.mark.django_db
BASE = "/api/v1/changes"


@pytest.fixture
def team():
    return TeamFactory(slug="dba", name="DBA")


@pytest.fixture
def setup(team):
    lead = member(team, "lead")
    requester = member(team, "req", "manager")  # a team manager, yet never an approver of their own change
    change = to_approval(change_in(team, requester=requester))
    return {"lead": lead, "requester": requester, "change": change}


def test_the_requester_cannot_approve_their_own_change_and_nothing_is_written(api, setup):
    """Acceptance 3 (first half)."""
    change = setup["change"]
    client = api(setup["requester"])  # making the token writes its own change-log row
    before = AuditEntry.objects.count()
    response = client.post(f"{BASE}/changes/{change.pk}/approve/", {"comment": "mine"}, format="json")
    assert response.status_code == 403
    assert "own change" in response.json()["error"]["message"]
    assert AuditEntry.objects.count() == before
    assert Approval.objects.get(change=change).status == "pending"
    assert ChangeRequest.objects.get(pk=change.pk).status == "approval"


def test_there_is_no_field_to_approve_for_someone_else(api, setup):
    change = setup["change"]
    response = api(setup["requester"]).post(f"{BASE}/changes/{change.pk}/approve/",
                                            {"approver": "lead"}, format="json")
    assert response.status_code == 400
    assert "approver" in response.json()["error"]["fields"]
    assert Approval.objects.get(change=change).status == "pending"


def test_the_approver_approves_and_the_change_is_scheduled(api, setup):
    change = setup["change"]
    response = api(setup["lead"]).post(f"{BASE}/changes/{change.pk}/approve/", {"comment": "Fine"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["change_status"] == "scheduled"
    assert body["approval"]["decided_by"] == "lead" and body["approval"]["status"] == "approved"
    # Deciding again: the change is no longer awaiting approval.
    again = api(setup["lead"]).post(f"{BASE}/changes/{change.pk}/approve/", {}, format="json")
    assert again.status_code == 409


def test_reject_needs_a_reason(api, setup):
    change = setup["change"]
    response = api(setup["lead"]).post(f"{BASE}/changes/{change.pk}/reject/", {}, format="json")
    assert response.status_code == 400
    assert "reason" in response.json()["error"]["fields"]
    assert Approval.objects.get(change=change).status == "pending"
    response = api(setup["lead"]).post(f"{BASE}/changes/{change.pk}/reject/", {"reason": "No test plan"},
                                       format="json")
    assert response.status_code == 200
    assert response.json()["change_status"] == "rejected"


def test_n_of_m_through_the_api(api, team):
    policy("two-of-three", [{"name": "Board", "min_role": "manager", "quorum": "n_of_m", "required": 2}])
    a, b, _c = member(team, "ann"), member(team, "bob"), member(team, "cid")
    change = to_approval(change_in(team))
    first = api(a).post(f"{BASE}/changes/{change.pk}/approve/", {}, format="json")
    assert first.json()["change_status"] == "approval"
    second = api(b).post(f"{BASE}/changes/{change.pk}/approve/", {}, format="json")
    assert second.json()["change_status"] == "scheduled"


@pytest.mark.parametrize("role", ["viewer", "responder", "manager", "admin"])
def test_who_is_not_an_approver_is_refused_whatever_the_role(api, setup, users, role):
    response = api(users[role]).post(f"{BASE}/changes/{setup['change'].pk}/approve/", {}, format="json")
    assert response.status_code == 403
    assert Approval.objects.get(change=setup["change"]).status == "pending"


def test_anonymous_and_read_only_tokens_are_refused(api, setup):
    change = setup["change"]
    assert api().post(f"{BASE}/changes/{change.pk}/approve/", {}, format="json").status_code in (401, 403)
    assert api().get(f"{BASE}/changes/{change.pk}/approvals/").status_code in (401, 403)
    response = api(setup["lead"], scope="read").post(f"{BASE}/changes/{change.pk}/approve/", {}, format="json")
    assert response.status_code == 403
    assert Approval.objects.get(change=change).status == "pending"


def test_the_change_approvals_list(api, setup, users):
    response = api(users["viewer"]).get(f"{BASE}/changes/{setup['change'].pk}/approvals/")
    assert response.status_code == 200
    body = response.json()
    assert body["policy"] == "low-medium" and body["current_stage"] == 1
    assert [(a["approver"], a["status"], a["stage_name"]) for a in body["approvals"]] == [
        ("lead", "pending", "Team lead")]
    assert api(users["viewer"]).get(f"{BASE}/changes/999999/approvals/").status_code == 404


@pytest.mark.parametrize("count", [1, 8])
def test_my_approvals_with_a_pinned_query_count(api, team, count, django_assert_max_num_queries):
    lead = member(team, "lead")
    for n in range(count):
        to_approval(change_in(team, title=f"C{n}"))
    client = api(lead)
    with django_assert_max_num_queries(9):
        response = client.get(f"{BASE}/approvals/mine/")
    assert response.status_code == 200
    assert response.json()["count"] == count


def test_delegation_through_the_api(api, team, setup):
    deputy = UserFactory(username="deputy", role="viewer")
    now = timezone.now()
    response = api(setup["lead"]).post(f"{BASE}/delegations/", {
        "delegate": "deputy", "starts_at": now.isoformat(), "ends_at": (now + datetime.timedelta(days=3)).isoformat(),
        "reason": "Holiday"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["user"] == "lead" and response.json()["active"] is True
    mine = api(deputy).get(f"{BASE}/approvals/mine/").json()
    assert [row["change"] for row in mine["results"]] == [setup["change"].number]
    decided = api(deputy).post(f"{BASE}/changes/{setup['change'].pk}/approve/", {}, format="json").json()
    assert decided["approval"]["decided_by_label"] == "deputy for lead (delegation)"
    assert decided["approval"]["delegated"] is True
    # End it: the deputy can no longer decide for the lead.
    delegation_id = response.json()["id"]
    ended = api(setup["lead"]).post(f"{BASE}/delegations/{delegation_id}/end/", format="json")
    assert ended.status_code == 200 and ended.json()["active"] is False


def test_delegation_bad_input_and_someone_elses_delegation(api, team, users):
    lead = member(team, "lead")
    now = timezone.now()
    bad = api(lead).post(f"{BASE}/delegations/", {"delegate": "lead", "starts_at": now.isoformat(),
                                                  "ends_at": (now + datetime.timedelta(days=1)).isoformat()},
                         format="json")
    assert bad.status_code == 400 and "delegate" in bad.json()["error"]["fields"]
    other = api(users["responder"]).post(f"{BASE}/delegations/", {
        "user": "lead", "delegate": "viewer", "starts_at": now.isoformat(),
        "ends_at": (now + datetime.timedelta(days=1)).isoformat()}, format="json")
    assert other.status_code == 403
    assert not ApprovalDelegation.objects.exists()
    assert api(users["viewer"], scope="read").post(f"{BASE}/delegations/", {}, format="json").status_code == 403


def test_policies_are_read_only(api, users):
    client = api(users["admin"])
    response = client.get(f"{BASE}/approval-policies/")
    assert response.status_code == 200
    high = next(p for p in response.json()["results"] if p["slug"] == "high")
    assert [(s["name"], s["quorum"], s["required"], s["cab"]) for s in high["stages"]] == [
        ("Team lead", "any", 1, False), ("CAB", "n_of_m", 2, True)]
    assert client.post(f"{BASE}/approval-policies/", {"slug": "x"}, format="json").status_code == 405


def test_policies_list_query_count_is_pinned(api, users, django_assert_max_num_queries):
    policy("extra-one", [{"name": "A"}, {"name": "B"}], order=90)
    client = api(users["viewer"])
    with django_assert_max_num_queries(7):
        assert client.get(f"{BASE}/approval-policies/").status_code == 200


def test_a_manager_may_not_name_themselves_delegate_nor_set_delegations_outside_their_teams(api, team, users):
    worker = member(team, "worker", "responder")
    lead = member(team, "lead")
    now = timezone.now()
    period = {"starts_at": now.isoformat(), "ends_at": (now + datetime.timedelta(days=1)).isoformat()}
    themselves = api(lead).post(f"{BASE}/delegations/", {"user": "worker", "delegate": "lead", **period},
                                format="json")
    assert themselves.status_code == 403
    outside = api(users["manager"]).post(f"{BASE}/delegations/", {"user": "worker", "delegate": "viewer", **period},
                                         format="json")  # a global manager, not a manager of the worker's team
    assert outside.status_code == 403
    assert not ApprovalDelegation.objects.exists()
    own = api(worker).post(f"{BASE}/delegations/", {"delegate": "lead", **period}, format="json")
    assert own.status_code == 201 and own.json()["user"] == "worker" and own.json()["delegate"] == "lead"
