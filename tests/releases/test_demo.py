"""The releases demo: seven releases through Development -> Test -> Staging -> Production with their
deployments and production changes (through the services and their gates), one rolled back, one under
post-release watch with a flagged rise, and the versions each environment runs now."""

import datetime

import pytest
from django.utils import timezone

from opsdesk.core.demo import load_demo
from opsdesk.releases import demo
from opsdesk.releases.models import DeployedVersion, Deployment, Release
from tests.demo_data import demo_for_module

pytestmark = pytest.mark.django_db

PREREQUISITES = ("accounts", "services", "cmdb", "incidents", "changes")


@pytest.fixture(scope="module")
def demo_data(django_db_setup, django_db_blocker):
    with demo_for_module(django_db_blocker, PREREQUISITES, ("releases",)) as created:
        yield created


def _release(title, version):
    return Release.objects.get(title=title, version=version)


def test_every_release_is_made_in_its_state(demo_data):
    assert demo_data == len(demo.RELEASES) == Release.objects.count()
    states = {(r.title, r.version): r.status for r in Release.objects.all()}
    assert states == {("Online Shop", "5.14.2"): "closed", ("Payments API", "3.8.0"): "closed",
                      ("Online Shop", "5.16.0"): "rolled_back", ("Customer Portal", "2.4.0"): "deployed",
                      ("Payments API", "3.9.0"): "approved", ("Product Search", "1.12.0"): "in_test",
                      ("Data Warehouse ETL", "2.10.0"): "building"}


def test_deployments_cover_every_environment_at_their_historical_times(demo_data):
    now = timezone.now()
    assert set(Deployment.objects.values_list("environment__slug", flat=True)) == {
        "development", "test", "staging", "production"}
    assert Deployment.objects.filter(result="failed").exists()
    shop = _release("Online Shop", "5.14.2")
    production = shop.deployments.get(environment__slug="production")
    assert production.started_at < now - datetime.timedelta(days=18)
    assert shop.deployed_at < now - datetime.timedelta(days=18)
    # Production went through an approved change, closed with its window around the deployment.
    change = shop.production_change
    assert production.change == change and change.status == "closed" and change.approved_at is not None
    assert change.planned_start <= production.started_at <= change.planned_end


def test_the_rolled_back_release_restored_the_previous_version(demo_data):
    release = _release("Online Shop", "5.16.0")
    rollback = release.deployments.get(is_rollback=True)
    assert (rollback.environment.slug, rollback.version, rollback.previous_version) == (
        "production", "5.14.2", "5.16.0")
    assert rollback.rollback_of.version == "5.16.0"
    assert rollback.started_at < timezone.now() - datetime.timedelta(days=5)
    running = DeployedVersion.objects.filter(environment__slug="production", service__slug="online-shop").get()
    assert running.version == "5.14.2"
    change = release.production_change
    assert (change.status, change.outcome) == ("closed", "backed_out") and change.review.objectives == "not_met"


def test_the_release_under_watch_has_a_flagged_rise(demo_data):
    release = _release(*demo.MARKER_VERSION)
    assert release.watch_status == "rise" and release.watch_flagged_at is not None
    assert release.watch_until > timezone.now()
    assert release.watch_result["incidents"]["after"] >= len(demo.WATCH_INCIDENTS)
    assert _release("Payments API", "3.8.0").watch_status == "quiet"


def test_the_board_shows_current_versions_per_environment(demo_data):
    production = dict(DeployedVersion.objects.filter(environment__slug="production", service__isnull=False)
                      .values_list("service__slug", "version"))
    assert production == {"online-shop": "5.14.2", "payments-api": "3.8.0", "customer-portal": "2.4.0"}
    staging = dict(DeployedVersion.objects.filter(environment__slug="staging", service__isnull=False)
                   .values_list("service__slug", "version"))
    assert staging["payments-api"] == "3.9.0"


def test_loading_again_creates_nothing(demo_data):
    releases, deployments = Release.objects.count(), Deployment.objects.count()
    assert load_demo(only=("releases",)) == 0
    assert (Release.objects.count(), Deployment.objects.count()) == (releases, deployments)


def test_the_demo_pages_render(demo_data, client):
    from django.contrib.auth import get_user_model
    from django.urls import reverse

    client.force_login(get_user_model().objects.get(username="erin"))
    watched = _release(*demo.MARKER_VERSION)
    for url in (reverse("releases:board"), reverse("releases:list"), reverse("releases:deployment_list"),
                reverse("releases:detail", args=[watched.pk]),
                reverse("releases:detail", args=[_release("Online Shop", "5.16.0").pk])):
        response = client.get(url)
        assert response.status_code == 200, url
    board = client.get(reverse("releases:board")).content.decode()
    assert "5.14.2" in board and "2.4.0" in board
