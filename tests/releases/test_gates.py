"""Promotion gates: the previous active environment must have succeeded, production (and environments that
require one) needs an approved change inside its window, closed releases do not deploy, and every reason
is listed."""

import datetime

import pytest
from django.utils import timezone

from opsdesk.releases import gates
from opsdesk.releases.models import Environment
from tests.releases.factories import approved_change, deploy, environment, make_release, manual_settings

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_auto_change():
    manual_settings(auto_create_change=False)


def test_first_environment_is_open_to_a_new_release():
    release = make_release()
    assert gates.check(release, environment("development")).allowed


def test_previous_stage_must_have_succeeded_with_the_reason_naming_it():
    release = make_release(version="2.4.0")
    answer = gates.check(release, environment("test"))
    assert not answer.allowed
    assert answer.reasons == [f"{release.number} 2.4.0 has not succeeded in Development yet."]
    deploy(release, "development", result="failed")
    assert not gates.check(release, environment("test")).allowed
    deploy(release, "development")
    assert gates.check(release, environment("test")).allowed


def test_deactivated_environment_is_skipped_in_the_chain():
    release = make_release()
    Environment.objects.filter(slug__in=["development", "staging"]).update(active=False)
    assert gates.check(release, environment("test")).allowed
    answer = gates.check(release, environment("production"))
    assert any("has not succeeded in Test yet" in r for r in answer.reasons)


def test_production_lists_all_reasons():
    release = make_release()
    answer = gates.check(release, environment("production"))
    assert not answer.allowed
    assert len(answer.reasons) == 2
    assert "has not succeeded in Staging yet" in answer.reasons[0]
    assert f"No change is linked to {release.number}" in answer.reasons[1]


def test_unapproved_change_is_named_with_its_state():
    from tests.changes.factories import make_change

    release = make_release()
    change = make_change(owner_team=release.owner_team)
    release.changes.add(change)
    reasons = gates.check(release, environment("production")).reasons
    assert any(change.number in r and "is in Draft" in r for r in reasons)


def test_approved_change_and_staging_success_open_production():
    release = make_release()
    Environment.objects.filter(slug__in=["development", "staging"]).update(active=False)
    deploy(release, "test")
    approved_change(release)
    assert gates.check(release, environment("production")) == gates.GateAnswer(True, [])


def test_outside_the_change_window_is_denied_for_production():
    release = make_release()
    Environment.objects.filter(slug__in=["development", "staging"]).update(active=False)
    deploy(release, "test")
    start = timezone.now() + datetime.timedelta(days=2)
    change = approved_change(release, window=(start, start + datetime.timedelta(hours=2)))
    answer = gates.check(release, environment("production"))
    assert not answer.allowed
    assert answer.reasons and "outside the planned window" in answer.reasons[0] and change.number in answer.reasons[0]


def test_requires_change_applies_to_non_production_environments():
    release = make_release()
    Environment.objects.filter(slug="development").update(requires_change=True)
    reasons = gates.check(release, environment("development")).reasons
    assert reasons and "No change is linked" in reasons[0]


def test_closed_states_never_deploy():
    from opsdesk.releases.services import transition_release
    from tests.releases.factories import FACTORY_ACTOR

    release = make_release()
    release = transition_release(release, "cancel", actor=FACTORY_ACTOR, data={"reason": "dropped"})
    answer = gates.check(release, environment("development"))
    assert not answer.allowed
    assert "cancelled" in answer.reasons[0]
