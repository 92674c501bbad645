"""Review findings on releases: which change opens the production gate and who may link changes (1), the
linked change rows locked at the gate (2), rollback that leaves a newer release's version alone and a rolled
back success that no longer opens the next stage (3), the post-release watch stopped by a production rollback
(4), deployment times from CI/CD in the future (5), list sizes in the API and the service (6)."""

import datetime
import time

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from opsdesk.accounts.services import set_membership
from opsdesk.changes.models import ChangeRequest
from opsdesk.core.actors import Actor
from opsdesk.core.models import AuditEntry, Timer
from opsdesk.releases import gates, services, watch
from opsdesk.releases.models import DeployedVersion, Deployment, Environment, Release
from tests.accounts.factories import TeamFactory, UserFactory
from tests.changes.factories import make_change, put_in_state
from tests.releases.factories import FACTORY_ACTOR, approved_change, deploy, environment, make_release, manual_settings
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db
ENDPOINT = "/api/v1/releases/releases/"
ACTOR = Actor.system("test")


@pytest.fixture(autouse=True)
def _setup():
    manual_settings(auto_create_change=False)
    Environment.objects.filter(slug__in=["development", "staging"]).update(active=False)


@pytest.fixture
def team_responder(team):
    user = UserFactory(username="team_responder", role="viewer")
    set_membership(team, user, actor=ACTOR, role="responder")
    return user


def _approved(team, **fields):
    """An approved change of `team` inside its window (scheduled, approved_at set), not linked to anything."""
    now = timezone.now()
    change = make_change(owner_team=team, planned_start=now - datetime.timedelta(hours=1),
                         planned_end=now + datetime.timedelta(hours=3), **fields)
    return put_in_state(change, "scheduled", approved_at=now)


def _counts():
    return (Release.objects.count(), Deployment.objects.count(), DeployedVersion.objects.count(),
            AuditEntry.objects.count())


# --- 1. which change opens the gate ----------------------------------------------------------------------

def test_an_approved_change_of_another_team_does_not_open_production(team):
    release = make_release(owner_team=team)
    deploy(release, "test")
    foreign = _approved(TeamFactory())
    release.changes.add(foreign)  # linked behind the service's back (or by an admin of both teams)
    answer = gates.check(release, environment("production"))
    assert not answer.allowed
    assert any(foreign.number in r and "another team" in r for r in answer.reasons)
    with pytest.raises(services.GateDenied):
        deploy(release, "production")
    # The same change as the release's own production change does open it.
    Release.objects.filter(pk=release.pk).update(production_change=foreign)
    release.refresh_from_db()
    assert gates.check(release, environment("production")).allowed


@pytest.mark.parametrize("state", ["review", "closed", "approval"])
def test_a_change_implemented_already_or_not_approved_does_not_open_production(team, state):
    release = make_release(owner_team=team)
    deploy(release, "test")
    change = put_in_state(_approved(team), state)
    release.changes.add(change)
    answer = gates.check(release, environment("production"))
    assert not answer.allowed
    assert any(change.number in r for r in answer.reasons)


def test_the_deployment_records_the_change_that_passed_the_gate(team):
    release = make_release(owner_team=team)
    deploy(release, "test")
    draft = make_change(owner_team=team)
    Release.objects.filter(pk=release.pk).update(production_change=draft)
    ours = _approved(team)
    release.changes.add(draft, ours)
    release.refresh_from_db()
    deployment = deploy(release, "production")
    assert deployment.change_id == ours.pk  # not the unapproved production change


def test_the_api_refuses_linking_another_teams_change_without_rights_there(api, team, team_responder):
    foreign = make_change(owner_team=TeamFactory())
    own = make_change(owner_team=team)
    client = api(team_responder)
    before = _counts()
    for body in ({"changes": [foreign.number]}, {"production_change": foreign.number}):
        response = client.post(ENDPOINT, {"title": "Checkout", "version": "2.0", "owner_team": team.slug, **body},
                               format="json")
        assert response.status_code == 400, response.content
        assert set(response.json()["error"]["fields"]) == set(body)
    assert _counts() == before
    response = client.post(ENDPOINT, {"title": "Checkout", "version": "2.0", "owner_team": team.slug,
                                      "changes": [own.number]}, format="json")
    assert response.status_code == 201, response.content
    release = Release.objects.get(pk=response.json()["id"])
    response = client.patch(f"{ENDPOINT}{release.pk}/", {"changes": [own.number, foreign.number]}, format="json")
    assert response.status_code == 400
    assert list(release.changes.all()) == [own]
    # A responder of the change's team may link it.
    set_membership(foreign.owner_team, team_responder, actor=ACTOR, role="responder")
    client = api(team_responder)
    response = client.patch(f"{ENDPOINT}{release.pk}/", {"changes": [own.number, foreign.number]}, format="json")
    assert response.status_code == 200, response.content
    assert set(release.changes.all()) == {own, foreign}


def test_an_already_linked_change_does_not_block_another_editor(team, team_responder):
    foreign = make_change(owner_team=TeamFactory())
    release = make_release(owner_team=team, changes=[foreign])  # a system job links what it is given
    updated = services.update_release(release, actor=Actor.for_user(team_responder),
                                      data={"title": "Renamed", "changes": [foreign]})
    assert updated.title == "Renamed"


def test_the_form_refuses_linking_another_teams_change_next_to_the_field(client, team, team_responder):
    foreign = make_change(owner_team=TeamFactory())
    client.force_login(team_responder)
    response = client.post(reverse("releases:create"), {"title": "Checkout", "version": "2.0", "owner_team": team.pk,
                                                         "changes": foreign.number})
    assert response.status_code == 422
    assert "belong to another team" in response.content.decode()
    assert not Release.objects.exists()


# --- 2. the linked change rows are locked and read fresh at the gate ------------------------------------

def test_the_gate_reads_the_change_rows_again_inside_the_deployment(team):
    release = make_release(owner_team=team)
    deploy(release, "test")
    change = approved_change(release)
    stale = Release.objects.select_related("production_change").get(pk=release.pk)
    assert stale.production_change.status == "scheduled"
    # Cancelled meanwhile: the instance the caller holds still says "scheduled".
    ChangeRequest.objects.filter(pk=change.pk).update(status="closed", outcome="cancelled")
    before = _counts()
    with CaptureQueriesContext(connection) as queries:
        with pytest.raises(services.GateDenied) as denied:
            services.record_deployment(stale, environment("production"), actor=FACTORY_ACTOR, data={})
    assert any(change.number in r and "is in Closed" in r for r in denied.value.reasons)
    assert _counts() == before
    if connection.vendor == "postgresql":
        assert any("changes_changerequest" in q["sql"] and "FOR UPDATE" in q["sql"] for q in queries.captured_queries)


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_a_change_cancelled_at_the_same_moment_stops_the_deployment():
    import threading

    from django.db import connections

    from tests.releases.factories import shipped

    shipped()
    manual_settings(auto_create_change=False)
    Environment.objects.filter(slug__in=["development", "staging"]).update(active=False)
    release = make_release()
    deploy(release, "test")
    change = approved_change(release)
    outcome = {}

    def deploying():
        try:
            outcome["value"] = services.record_deployment(Release.objects.get(pk=release.pk),
                                                          Environment.objects.get(slug="production"),
                                                          actor=FACTORY_ACTOR, data={})
        except Exception as exc:  # noqa: BLE001  (asserted below)
            outcome["error"] = exc
        finally:
            connections.close_all()

    with transaction.atomic():
        ChangeRequest.objects.select_for_update().get(pk=change.pk)
        ChangeRequest.objects.filter(pk=change.pk).update(status="closed", outcome="cancelled")
        thread = threading.Thread(target=deploying)
        thread.start()
        time.sleep(1.5)
        assert thread.is_alive()  # waiting for the change row
    thread.join(30)
    assert isinstance(outcome.get("error"), services.GateDenied), outcome
    assert not Deployment.objects.filter(release=release, environment__slug="production").exists()


# --- 3. rollback and the previous stage -----------------------------------------------------------------

def test_rollback_leaves_a_newer_releases_version_alone(team):
    shop, api_service = ServiceFactory(), ServiceFactory()
    old = make_release(owner_team=team, version="2.3.9", services=[shop, api_service])
    release = make_release(owner_team=team, version="2.4.0", services=[shop, api_service])
    newer = make_release(owner_team=team, version="2.5.0", services=[shop])
    deploy(old, "test")
    deploy(release, "test")
    newest = deploy(newer, "test")
    DeployedVersion.objects.filter(service=api_service).delete()  # e.g. the service's row was removed
    back = services.rollback(release, environment("test"), actor=FACTORY_ACTOR, data={"reason": "broken"})
    shop_row = DeployedVersion.objects.get(environment__slug="test", service=shop)
    assert (shop_row.version, shop_row.deployment_id, shop_row.release_id) == ("2.5.0", newest.pk, newer.pk)
    api_row = DeployedVersion.objects.get(environment__slug="test", service=api_service)
    assert (api_row.version, api_row.deployment_id) == ("2.3.9", back.pk)


def test_a_rolled_back_success_does_not_open_the_next_stage(team):
    service = ServiceFactory()
    old = make_release(owner_team=team, version="2.3.9", services=[service])
    release = make_release(owner_team=team, version="2.4.0", services=[service])
    deploy(old, "test")
    deploy(release, "test")
    approved_change(release)
    assert gates.check(release, environment("production")).allowed
    services.rollback(release, environment("test"), actor=FACTORY_ACTOR, data={"reason": "tests failed"})
    answer = gates.check(release, environment("production"))
    assert answer.reasons == [f"{release.number} 2.4.0: its deployment to Test was rolled back."]
    deploy(release, "test")  # deployed again: the new success counts
    assert gates.check(release, environment("production")).allowed


# --- 4. a production rollback stops the post-release watch ------------------------------------------------

def test_a_production_rollback_stops_the_watch(team):
    service = ServiceFactory()
    old = make_release(owner_team=team, version="2.3.9", services=[service])
    release = make_release(owner_team=team, version="2.4.0", services=[service])
    for r in (old, release):
        deploy(r, "test")
        approved_change(r)
        deploy(r, "production")
    release.refresh_from_db()
    assert release.watch_status == "watching"
    assert Timer.objects.filter(kind=watch.TIMER_KIND, object_id=release.pk, status="pending").exists()
    services.rollback(release, environment("production"), actor=FACTORY_ACTOR, data={"reason": "Checkout errors"})
    release.refresh_from_db()
    assert release.status == "rolled_back"
    assert release.watch_status == ""
    assert release.watch_result["final"] is True
    assert "Checkout errors" in release.watch_result["stopped_reason"]
    assert not Timer.objects.filter(kind=watch.TIMER_KIND, object_id=release.pk, status="pending").exists()
    assert AuditEntry.objects.filter(object_id=str(release.pk), action="watch_stopped").exists()
    later = timezone.now() + datetime.timedelta(hours=30)
    assert watch.evaluate(release, now=later) == {}
    watch.sweep(now=later)
    release.refresh_from_db()
    assert release.watch_status == "" and "stopped_reason" in release.watch_result


def test_a_flagged_rise_stays_visible_after_the_rollback(team):
    service = ServiceFactory()
    old = make_release(owner_team=team, version="2.3.9", services=[service])
    release = make_release(owner_team=team, version="2.4.0", services=[service])
    for r in (old, release):
        deploy(r, "test")
        approved_change(r)
        deploy(r, "production")
    Release.objects.filter(pk=release.pk).update(watch_status="rise")
    services.rollback(release, environment("production"), actor=FACTORY_ACTOR, data={"reason": "Errors"})
    release.refresh_from_db()
    assert release.watch_status == "rise" and release.watch_result["final"] is True
    context = watch.panel_context(release, None)
    assert "Errors" in context["stopped_reason"]


# --- 5. deployment times from CI/CD ------------------------------------------------------------------------

@pytest.mark.parametrize("field", ["started_at", "finished_at"])
def test_a_time_in_the_future_is_refused_naming_the_field(api, team, team_responder, field):
    release = make_release(owner_team=team)
    future = (timezone.now() + datetime.timedelta(minutes=10)).isoformat()
    client = api(team_responder)
    before = _counts()
    response = client.post(f"{ENDPOINT}{release.pk}/deployments/",
                           {"environment": "test", field: future}, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()["error"]["fields"]) == [field]
    assert _counts() == before


def test_clock_skew_is_tolerated_and_finishing_before_starting_is_refused(api, team, team_responder):
    release = make_release(owner_team=team)
    client = api(team_responder)
    url = f"{ENDPOINT}{release.pk}/deployments/"
    now = timezone.now()
    response = client.post(url, {"environment": "test", "started_at": now.isoformat(),
                                 "finished_at": (now - datetime.timedelta(minutes=1)).isoformat()}, format="json")
    assert response.status_code == 400 and "finished_at" in response.json()["error"]["fields"]
    response = client.post(url, {"environment": "test", "result": "in_progress", "external_id": "run-1",
                                 "started_at": now.isoformat()}, format="json")
    assert response.status_code == 201
    response = client.post(url, {"environment": "test", "result": "succeeded", "external_id": "run-1",
                                 "finished_at": (now - datetime.timedelta(hours=1)).isoformat()}, format="json")
    assert response.status_code == 400 and "finished_at" in response.json()["error"]["fields"]
    assert Deployment.objects.get(external_id="run-1").result == "in_progress"
    skewed = (now + datetime.timedelta(minutes=4)).isoformat()
    response = client.post(url, {"environment": "test", "result": "succeeded", "external_id": "run-1",
                                 "finished_at": skewed}, format="json")
    assert response.status_code == 200, response.content


# --- 6. list sizes ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("field,value", [
    ("services", [f"svc-{i}" for i in range(101)]),
    ("cis", [f"CI-{i}" for i in range(101)]),
    ("changes", [f"CHG-{i}" for i in range(101)]),
    ("work_items", [{"key": f"OPS-{i}"} for i in range(101)]),
    ("rollback_steps", [{"action": f"step {i}"} for i in range(101)]),
    ("planned_dates", {f"env-{i}": "2026-12-01" for i in range(101)}),
])
def test_the_api_caps_lists_at_100_naming_the_field(api, team, team_responder, django_assert_max_num_queries,
                                                  field, value):
    client = api(team_responder)
    before = _counts()
    with django_assert_max_num_queries(12):  # refused before any item is looked up
        response = client.post(ENDPOINT, {"title": "Big", "version": "1", "owner_team": team.slug, field: value},
                               format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()["error"]["fields"]) == [field]
    assert "At most 100" in str(response.json()["error"]["fields"][field])
    assert _counts() == before


def test_the_service_caps_lists_too(team):
    services_ = [ServiceFactory() for _ in range(101)]
    before = _counts()
    for field, value in (("services", services_), ("work_items", [{"key": f"K-{i}"} for i in range(101)]),
                         ("planned_dates", {f"env-{i}": "2026-12-01" for i in range(101)})):
        with pytest.raises(ValidationError) as exc:
            make_release(owner_team=team, **{field: value})
        assert "at most 100" in str(exc.value.message_dict[field]).lower()
    assert _counts() == before
    assert make_release(owner_team=team, services=services_[:100]).services.count() == 100
