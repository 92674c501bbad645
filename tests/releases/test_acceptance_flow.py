"""Acceptance 4 with the SHIPPED release settings (auto_create_change on) and the real change flow: the
release's production change is created when the release enters testing, submitted, assessed and approved
through the approvals engine by the owner team's lead (not the requester); production is denied with the
reason before that and allowed after Test and Staging succeeded. A configured standard template gives a
pre-approved change that is scheduled on submit and opens production."""

import datetime

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from opsdesk.changes import approvals
from opsdesk.changes import services as change_services
from opsdesk.core.actors import Actor
from opsdesk.releases import gates, services
from opsdesk.releases.models import Deployment, ReleaseSettings
from tests.accounts.factories import TeamFactory
from tests.changes.approval_factories import member
from tests.changes.factories import window
from tests.releases.factories import deploy, environment, make_release
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db


def _gate(release):
    """The production gate as the release page and the gate API ask it: on the release read afresh."""
    release.refresh_from_db()
    return gates.check(release, environment("production"))


def _release(team, manager):
    return make_release(owner_team=team, manager=manager, version="2.4.0", services=[ServiceFactory()],
                        rollback_steps=[{"who": "SRE", "action": "Redeploy 2.3.9", "minutes": 10}])


def test_shipped_settings_and_the_real_approval_flow_open_production():
    settings_row = ReleaseSettings.objects.get(pk=1)
    assert settings_row.auto_create_change is True and settings_row.change_template == ""  # as shipped
    team = TeamFactory()
    release_manager = member(team, "release_manager", role="manager")
    lead = member(team, "team_lead", role="manager")
    release = _release(team, release_manager)
    actor = Actor.for_user(release_manager)

    deploy(release, "development", actor)
    deploy(release, "test", actor)  # the release enters testing: its production change is made from it
    release.refresh_from_db()
    assert release.status == "in_test"
    change = release.production_change
    assert change is not None and change.owner_team == team and change.requester == release_manager
    assert change.change_type == "normal" and change.status == "draft"
    deploy(release, "staging", actor)

    answer = _gate(release)
    assert answer.reasons == [f"{change.number} is in Draft, not approved; Production needs an approved change."]
    with pytest.raises(services.GateDenied):
        deploy(release, "production", actor)

    start, end = window()  # four days ahead: the lead time a normal change needs
    change = change_services.update_change(change, actor=actor, data={"planned_start": start, "planned_end": end})
    change = change_services.transition_change(change, "submit", actor=actor, data={"acknowledge_collisions": True})
    change = change_services.transition_change(change, "start_assessment", actor=actor)
    change = change_services.transition_change(change, "request_approval", actor=actor)
    assert change.status == "approval"
    assert any(change.number in r and "is in Approval" in r for r in _gate(release).reasons)

    with pytest.raises(PermissionDenied):  # nobody approves their own change
        approvals.decide_for_change(change, actor=actor, decision="approved")
    approvals.decide_for_change(change, actor=Actor.for_user(lead), decision="approved")
    change.refresh_from_db()
    assert change.status == "scheduled" and change.approved_at is not None

    answer = _gate(release)
    assert len(answer.reasons) == 1 and "outside the planned window" in answer.reasons[0]
    with time_machine.travel(start + datetime.timedelta(minutes=30), tick=False):
        assert _gate(release).allowed
        deployment = deploy(release, "production", actor)
    assert deployment.result == "succeeded" and deployment.change == change
    release.refresh_from_db()
    assert release.status == "deployed"


def test_a_configured_standard_template_gives_a_scheduled_change_that_opens_production():
    ReleaseSettings.objects.filter(pk=1).update(change_template="add-dns-record")
    team = TeamFactory()
    release_manager = member(team, "release_manager", role="manager")
    release = _release(team, release_manager)
    actor = Actor.for_user(release_manager)
    for slug in ("development", "test", "staging"):
        deploy(release, slug, actor)
    release.refresh_from_db()
    change = release.production_change
    assert change.change_type == "standard" and change.template.slug == "add-dns-record"
    assert not _gate(release).allowed

    now = timezone.now()
    change = change_services.update_change(change, actor=actor, data={
        "planned_start": now - datetime.timedelta(minutes=30), "planned_end": now + datetime.timedelta(hours=2)})
    change = change_services.transition_change(change, "submit", actor=actor, data={"acknowledge_collisions": True})
    assert change.status == "scheduled" and change.approved_at is not None  # pre-approved

    assert _gate(release).allowed
    deployment = deploy(release, "production", actor)
    assert deployment.change == change
    assert Deployment.objects.filter(release=release, environment__slug="production", result="succeeded").exists()
