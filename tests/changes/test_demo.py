"""The changes demo ("a month of changes"): loaded once for this module on top of the demo data it builds on
(accounts, services, CMDB, incidents), through the services; every type, state and outcome, the high-risk
change on a CI whose impact reaches tier 1, the VM/host collision, the freeze window, the emergency change's
retrospective, the failed change with its review and caused incident, and the CAB meeting."""

import datetime

import pytest
from django.utils import timezone

from opsdesk.changes import demo
from opsdesk.changes.models import (
    Approval,
    CABAgendaItem,
    CABMeeting,
    CausedIncident,
    ChangeRequest,
    FreezeWindow,
    PostImplementationReview,
)
from opsdesk.core.demo import load_demo
from tests.demo_data import demo_for_module

pytestmark = pytest.mark.django_db

PREREQUISITES = ("accounts", "services", "cmdb", "incidents")


@pytest.fixture(scope="module")
def demo_data(django_db_setup, django_db_blocker):
    with demo_for_module(django_db_blocker, PREREQUISITES, ("changes",)) as created:
        yield created


def _change(title_start):
    return ChangeRequest.objects.get(title__startswith=title_start)


def test_every_change_is_made_with_every_type_state_and_outcome(demo_data):
    assert ChangeRequest.objects.count() == len(demo.CHANGES) >= 38
    assert demo_data == len(demo.CHANGES) + 2  # the changes, the freeze window and the CAB meeting
    assert set(ChangeRequest.objects.values_list("change_type", flat=True)) == {"standard", "normal", "emergency"}
    states = set(ChangeRequest.objects.values_list("status", flat=True))
    assert states == {"draft", "submitted", "assessment", "approval", "scheduled", "implementing", "review",
                      "closed", "rejected"}
    outcomes = set(ChangeRequest.objects.filter(status="closed").values_list("outcome", flat=True))
    assert outcomes == {"successful", "successful_with_issues", "failed", "backed_out", "cancelled"}
    assert ChangeRequest.objects.values("owner_team").distinct().count() >= 4
    assert ChangeRequest.objects.values("category").distinct().count() >= 5


def test_changes_span_three_weeks_back_and_two_ahead(demo_data):
    now = timezone.now()
    starts = list(ChangeRequest.objects.exclude(planned_start=None).values_list("planned_start", flat=True))
    assert min(starts) < now - datetime.timedelta(days=19)
    assert max(starts) > now + datetime.timedelta(days=12)
    # Past changes carry the times they would have been recorded with, not the loading time.
    closed = ChangeRequest.objects.filter(status="closed", planned_end__lt=now - datetime.timedelta(days=2))
    assert closed.exists()
    for change in closed:
        assert change.closed_at < now - datetime.timedelta(days=1), change.number
        assert change.submitted_at < change.planned_start, change.number


def test_approval_changes_wait_on_pending_approvals_and_running_ones_have_ticked_steps(demo_data):
    for change in ChangeRequest.objects.filter(status="approval"):
        assert Approval.objects.filter(change=change, status="pending").exists(), change.number
    for change in ChangeRequest.objects.filter(status="implementing"):
        ticked = change.steps.filter(kind="implementation", done_at__isnull=False).count()
        assert 0 < ticked, change.number
    airflow = _change("Move the data warehouse ETL")
    assert airflow.steps.filter(kind="implementation", done_at__isnull=True).exists()  # some, not all
    rejected = ChangeRequest.objects.get(status="rejected")
    assert Approval.objects.filter(change=rejected, status="rejected").exclude(comment="").exists()


def test_the_change_on_a_ci_reaching_tier_1_is_high_risk_and_says_why(demo_data):
    change = ChangeRequest.objects.get(title=demo.MARKER_TITLE)
    assert change.risk_level in ("high", "very_high")
    impact = next(f for f in change.risk_factors if f["key"] == "cmdb_impact")
    assert "tier 1" in impact["explanation"]


def test_the_vm_and_host_changes_collide_and_the_warning_was_acknowledged(demo_data):
    vm, host = demo.vm_and_host()
    assert vm and host
    host_change = _change("Replace a failed memory module")
    vm_change = _change("Drain ")
    assert list(host_change.cis.values_list("name", flat=True)) == [host]
    assert list(vm_change.cis.values_list("name", flat=True)) == [vm]
    related = [c for c in host_change.collisions if c["kind"] == "related_ci"]
    assert related and related[0]["change_number"] == vm_change.number
    assert host_change.collisions_acknowledged_by is not None and host_change.status == "scheduled"


def test_a_change_inside_the_month_end_freeze_has_the_warning(demo_data):
    freeze = FreezeWindow.objects.get(name=demo.FREEZE_NAME)
    assert freeze.starts_at > timezone.now() - datetime.timedelta(days=3)
    change = _change("Patch the reporting replica")
    assert freeze.starts_at <= change.planned_start and change.planned_end <= freeze.ends_at
    assert any(c["kind"] == "freeze" and c["freeze_id"] == freeze.pk for c in change.collisions)


def test_emergency_change_has_its_retrospective_and_failed_change_its_review_and_incident(demo_data):
    emergency = ChangeRequest.objects.get(change_type="emergency", status="closed")
    assert emergency.review_required and PostImplementationReview.objects.get(change=emergency).completed_at
    failed = ChangeRequest.objects.get(title=demo.FAILED_TITLE)
    assert (failed.status, failed.outcome) == ("closed", "failed")
    assert PostImplementationReview.objects.get(change=failed).objectives == "not_met"
    caused = CausedIncident.objects.get(change=failed)
    assert caused.incident.title == demo.CAUSED_INCIDENT_TITLE
    assert failed.incidents.filter(pk=caused.incident_id).exists()
    backed_out = ChangeRequest.objects.get(outcome="backed_out", status="closed")
    assert PostImplementationReview.objects.filter(change=backed_out).exists()


def test_the_cab_meeting_has_a_generated_agenda_and_decisions(demo_data):
    meeting = CABMeeting.objects.get(title=demo.CAB_TITLE)
    items = list(CABAgendaItem.objects.filter(meeting=meeting).select_related("change"))
    assert len(items) >= 2
    assert all(item.summary.get("number") == item.change.number for item in items)
    marker = next(item for item in items if item.change.title == demo.MARKER_TITLE)
    assert marker.decision == "deferred" and marker.notes
    assert any("Approved by" in item.notes for item in items)


def test_the_change_log_is_written_by_the_services(demo_data):
    from opsdesk.core.models import AuditEntry

    change = _change("Upgrade the shop backend")
    entries = AuditEntry.objects.filter(object_id=change.pk, content_type__model="changerequest")
    actions = set(entries.values_list("action", flat=True))
    assert {"submit", "complete", "close", "mark_caused", "review"} <= actions, actions
    assert entries.filter(actor_user__username="dave").exists()  # people's own actions, not one system job


def test_loading_again_creates_nothing(demo_data):
    changes = ChangeRequest.objects.count()
    assert load_demo(only=("changes",)) == 0
    assert ChangeRequest.objects.count() == changes
    assert FreezeWindow.objects.filter(name=demo.FREEZE_NAME).count() == 1
    assert CABMeeting.objects.filter(title=demo.CAB_TITLE).count() == 1


def test_the_demo_pages_render(demo_data, client):
    from django.contrib.auth import get_user_model
    from django.urls import reverse

    client.force_login(get_user_model().objects.get(username="carol"))
    marker = ChangeRequest.objects.get(title=demo.MARKER_TITLE)
    meeting = CABMeeting.objects.get(title=demo.CAB_TITLE)
    for url in (reverse("changes:list"), reverse("changes:calendar") + "?view=month",
                reverse("changes:calendar") + "?view=list", reverse("changes:detail", args=[marker.pk]),
                reverse("changes:detail", args=[_change("Replace a failed memory module").pk]),
                reverse("changes:detail", args=[ChangeRequest.objects.get(title=demo.FAILED_TITLE).pk]),
                reverse("changes:cab_detail", args=[meeting.pk]), reverse("changes:kpis")):
        response = client.get(url)
        assert response.status_code == 200, url
    page = client.get(reverse("changes:detail", args=[marker.pk])).content.decode()
    assert "tier 1" in page
