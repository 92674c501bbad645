"""The release write path: create/edit with validated work items, planned dates and rollback procedure;
deployments through the gate (denied: nothing written), previous versions, DeployedVersion, the release
moving to In test and Deployed, idempotent external ids, the production change made from the release,
approving for production, and rollback."""

import pytest
from django.core.exceptions import ValidationError

from opsdesk.core.models import AuditEntry, Comment, OutboxEvent
from opsdesk.core.workflow import TransitionNotAllowed
from opsdesk.releases import services
from opsdesk.releases.models import DeployedVersion, Deployment, Environment
from tests.releases.factories import (
    FACTORY_ACTOR,
    approved_change,
    deploy,
    environment,
    make_release,
    manual_settings,
)
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def no_auto_change():
    manual_settings(auto_create_change=False)


@pytest.fixture
def short_chain():
    """Test -> Production only."""
    Environment.objects.filter(slug__in=["development", "staging"]).update(active=False)


def _counts():
    return (Deployment.objects.count(), DeployedVersion.objects.count(), AuditEntry.objects.count(),
            OutboxEvent.objects.count(), Comment.objects.count())


# --- create and edit -----------------------------------------------------------------------------------

def test_create_validates_and_normalises_lists():
    release = make_release(work_items=[{"key": "OPS-12", "title": "Basket fix", "url": "https://git.example.com/1"}],
                           planned_dates={"test": "2026-12-01", "production": "2026-12-08"},
                           rollback_steps=[{"who": "SRE", "action": "Redeploy 2.3.9", "minutes": "10"}])
    assert release.number.startswith("REL-")
    assert release.status == "planned"
    assert release.planned_dates == {"test": "2026-12-01", "production": "2026-12-08"}
    assert release.rollback_steps == [{"who": "SRE", "action": "Redeploy 2.3.9", "minutes": 10, "verification": ""}]


@pytest.mark.parametrize("field,value", [
    ("work_items", [{"title": "no key"}]),
    ("work_items", [{"key": "A-1", "url": "javascript:alert(1)"}]),
    ("work_items", "OPS-1"),
    ("planned_dates", {"moon": "2026-12-01"}),
    ("planned_dates", {"test": "next tuesday"}),
    ("rollback_steps", [{"who": "x"}]),
    ("rollback_steps", [{"action": "x", "minutes": -1}]),
])
def test_bad_lists_are_refused_with_the_field_and_nothing_written(field, value):
    from opsdesk.releases.models import Release

    before = Release.objects.count()
    with pytest.raises(ValidationError) as exc:
        make_release(**{field: value})
    assert field in exc.value.message_dict
    assert Release.objects.count() == before


def test_status_is_not_edited():
    release = make_release()
    with pytest.raises(ValidationError):
        services.update_release(release, actor=FACTORY_ACTOR, data={"status": "deployed"})


# --- deployments and gates (acceptance 4) ----------------------------------------------------------------

def test_production_before_test_is_denied_and_nothing_written(no_auto_change, short_chain):
    release = make_release(version="2.4.0")
    before = _counts()
    with pytest.raises(services.GateDenied) as exc:
        deploy(release, "production")
    assert f"{release.number} 2.4.0 has not succeeded in Test yet." in exc.value.reasons
    assert any("No change is linked" in r for r in exc.value.reasons)
    assert isinstance(exc.value, TransitionNotAllowed)
    assert _counts() == before
    release.refresh_from_db()
    assert release.status == "planned"


def test_after_test_success_and_approved_change_production_is_recorded(no_auto_change, short_chain):
    service = ServiceFactory()
    release = make_release(version="2.4.0", services=[service])
    old = make_release(version="2.3.9", services=[service], owner_team=release.owner_team)
    deploy(old, "test")

    test_run = deploy(release, "test", pipeline_url="https://ci.example.com/run/1")
    release.refresh_from_db()
    assert test_run.previous_version == "2.3.9"
    assert release.status == "in_test"
    change = approved_change(release)

    run = deploy(release, "production")
    release.refresh_from_db()
    assert run.result == "succeeded" and run.change == change
    assert release.status == "deployed" and release.deployed_at is not None
    row = DeployedVersion.objects.get(environment__slug="production", service=service)
    assert row.version == "2.4.0" and row.release == release and row.deployment == run
    assert OutboxEvent.objects.filter(event_type="release.deployed", object_id=release.pk).count() == 2
    assert AuditEntry.objects.filter(object_id=release.pk, action="deploy").count() == 2
    assert Comment.objects.filter(object_id=release.pk, body__contains="Deployed 2.4.0 to Production").exists()


def test_failed_deployment_emits_its_event_and_keeps_versions(no_auto_change):
    service = ServiceFactory()
    release = make_release(services=[service])
    deploy(release, "development", result="failed")
    assert not DeployedVersion.objects.exists()
    assert OutboxEvent.objects.filter(event_type="release.deployment_failed").exists()


def test_same_external_id_is_idempotent_and_moves_on_to_its_result(no_auto_change):
    service = ServiceFactory()
    release = make_release(services=[service])
    first = deploy(release, "development", external_id="run-7", result="in_progress")
    assert not DeployedVersion.objects.exists()
    again = deploy(release, "development", external_id="run-7", result="in_progress")
    assert again.pk == first.pk
    done = deploy(release, "development", external_id="run-7", result="succeeded")
    assert done.pk == first.pk and done.result == "succeeded" and done.finished_at
    assert Deployment.objects.count() == 1
    assert DeployedVersion.objects.get(service=service).version == release.version
    with pytest.raises(TransitionNotAllowed):
        deploy(release, "development", external_id="run-7", result="failed")


@pytest.mark.parametrize("data,field", [({"result": "maybe"}, "result"), ({"pipeline_url": "ftp://x"}, "pipeline_url"),
                                        ({"started_at": "yesterday"}, "started_at")])
def test_bad_deployment_input_is_refused(no_auto_change, data, field):
    release = make_release()
    with pytest.raises(ValidationError) as exc:
        deploy(release, "development", **data)
    assert field in exc.value.message_dict
    assert not Deployment.objects.exists()


# --- the production change ----------------------------------------------------------------------------

def test_entering_in_test_creates_the_production_change_from_the_release():
    service = ServiceFactory()
    release = make_release(version="3.0.0", services=[service],
                           rollback_steps=[{"who": "SRE", "action": "Redeploy 2.9", "minutes": 5}])
    release = services.transition_release(release, "start_test", actor=FACTORY_ACTOR)
    change = release.production_change
    assert change is not None
    assert change.title == f"Deploy {release.number} {release.title} 3.0.0 to production"
    assert list(change.services.all()) == [service]
    assert change.owner_team == release.owner_team
    assert list(release.changes.all()) == [change]
    kinds = list(change.steps.values_list("kind", "action"))
    assert ("backout", "Redeploy 2.9") in kinds
    assert any(kind == "implementation" for kind, _ in kinds)
    assert services.ensure_production_change(release, actor=FACTORY_ACTOR) == change


def test_without_auto_create_nothing_is_made_until_asked(no_auto_change):
    release = make_release()
    release = services.transition_release(release, "start_test", actor=FACTORY_ACTOR)
    assert release.production_change is None
    change = services.ensure_production_change(release, actor=FACTORY_ACTOR)
    release.refresh_from_db()
    assert release.production_change == change


def test_approve_for_production_needs_the_gate_short_of_the_deployment(no_auto_change, short_chain):
    release = make_release()
    deploy(release, "test")
    release.refresh_from_db()
    with pytest.raises(services.GateDenied) as exc:
        services.transition_release(release, "approve_for_production", actor=FACTORY_ACTOR)
    assert any("No change is linked" in r for r in exc.value.reasons)
    approved_change(release)
    release = services.transition_release(release, "approve_for_production", actor=FACTORY_ACTOR)
    assert release.status == "approved"


# --- rollback ------------------------------------------------------------------------------------------

def test_rollback_restores_the_previous_version_and_marks_the_release(no_auto_change, short_chain):
    service = ServiceFactory()
    old = make_release(version="2.3.9", services=[service])
    release = make_release(version="2.4.0", services=[service], owner_team=old.owner_team)
    for r in (old, release):
        deploy(r, "test")
        approved_change(r)
        deploy(r, "production")
    assert DeployedVersion.objects.get(environment__slug="production", service=service).version == "2.4.0"

    with pytest.raises(ValidationError):
        services.rollback(release, environment("production"), actor=FACTORY_ACTOR, data={"reason": " "})
    back = services.rollback(release, environment("production"), actor=FACTORY_ACTOR,
                             data={"reason": "Checkout errors"})
    assert back.is_rollback and back.version == "2.3.9" and back.previous_version == "2.4.0"
    assert back.rollback_of.version == "2.4.0"
    assert DeployedVersion.objects.get(environment__slug="production", service=service).version == "2.3.9"
    release.refresh_from_db()
    assert release.status == "rolled_back"
    assert OutboxEvent.objects.filter(event_type="release.rolled_back", object_id=release.pk).exists()
    with pytest.raises(TransitionNotAllowed):
        services.rollback(release, environment("production"), actor=FACTORY_ACTOR, data={"reason": "again"})


def test_rollback_needs_a_succeeded_deployment_and_a_previous_version(no_auto_change):
    release = make_release(services=[ServiceFactory()])
    with pytest.raises(TransitionNotAllowed):
        services.rollback(release, environment("development"), actor=FACTORY_ACTOR, data={"reason": "x"})
    deploy(release, "development")
    with pytest.raises(TransitionNotAllowed, match="nothing to roll back"):
        services.rollback(release, environment("development"), actor=FACTORY_ACTOR, data={"reason": "x"})
    assert Deployment.objects.count() == 1
