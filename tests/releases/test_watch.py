"""The post-release watch with a frozen clock: a production deployment opens the watch; incidents opened on
the release's services during the window flag a rise at once (acceptance 5, through the incident listener);
no rise when the counts do not rise; the end of the window (timer or sweep, once) marks the watch quiet."""

from __future__ import annotations

import datetime
import itertools

import pytest
import time_machine
from django.db import transaction

from opsdesk.core.comments import comments_for
from opsdesk.core.models import Notification, OutboxEvent, Timer
from opsdesk.core.timers import sweep as sweep_timers
from opsdesk.releases import watch
from opsdesk.releases.models import Environment, Release, ReleaseSettings
from tests.accounts.factories import UserFactory
from tests.cmdb.factories import CIFactory
from tests.incidents.factories import make_incident
from tests.releases.watch_setup import deploy, make_release
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db
T0 = datetime.datetime(2026, 10, 5, 9, 0, tzinfo=datetime.UTC)
HOUR = datetime.timedelta(hours=1)
_fingerprints = itertools.count()


def at(moment):
    return time_machine.travel(moment, tick=False)


@pytest.fixture
def manager(db):
    return UserFactory(username="rita", role="responder", email="rita@example.com")


@pytest.fixture
def watched(manager):
    """Release 2.4 of the checkout service (and its app CI) deployed to production at T0; watch 24 hours;
    one incident on the service 10 hours before the deployment."""
    ReleaseSettings.objects.update_or_create(pk=1, defaults={"watch_hours": 24, "rise_factor": 1.5,
                                                            "rise_min_count": 3})
    service, other = ServiceFactory(name="Checkout"), ServiceFactory(name="Payroll")
    ci = CIFactory(name="checkout-app")
    with at(T0 - 10 * HOUR):
        make_incident(title="Checkout slow", service=service)
    with at(T0 - 30 * HOUR):
        release = make_release(title="Checkout 2.4", manager=manager, services=[service], cis=[ci])
    with at(T0):
        deployment = deploy(release, T0, minutes=0)
        with transaction.atomic():
            watch.start_watch(release, deployment)
    release.refresh_from_db()
    return release, service, other, ci


def incident_at(moment, **fields):
    with at(moment):
        return make_incident(**fields)


@pytest.fixture
def opened(django_capture_on_commit_callbacks):
    """`opened(moment, **fields)`: an incident opened at `moment`, its commit callbacks (the listener's task,
    eager in tests) run at that moment too."""

    def make(moment, **fields):
        with at(moment), django_capture_on_commit_callbacks(execute=True):
            return make_incident(**fields)

    return make


def rise_events(release):
    return OutboxEvent.objects.filter(event_type="release.watch_rise", object_id=release.pk).count()


def test_a_production_deployment_opens_the_watch_and_schedules_its_end(watched):
    release, *_ = watched
    assert release.watch_status == "watching"
    assert release.watch_until == T0 + 24 * HOUR
    assert release.watch_result["since"] == T0.isoformat()
    timer = Timer.objects.get(kind="release_watch", object_id=release.pk, status="pending")
    assert timer.due_at == T0 + 24 * HOUR


def test_acceptance_5_a_rise_in_incidents_is_flagged_within_the_window(
        watched, manager, opened):
    release, service, _other, ci = watched
    for hours in (1, 2):
        opened(T0 + hours * HOUR, title=f"Checkout 502 #{hours}", service=service)
    release.refresh_from_db()
    assert release.watch_status == "watching"  # two are below the minimum of three
    opened(T0 + 3 * HOUR, title="Checkout 502 on the app CI", cis=[ci])  # through the CI
    release.refresh_from_db()
    assert release.watch_status == "rise"
    assert release.watch_flagged_at == T0 + 3 * HOUR < release.watch_until  # within the window
    incidents = release.watch_result["incidents"]
    assert (incidents["before"], incidents["after"]) == (1, 3)
    assert incidents["before_scaled"] == 0.12  # 1 incident in 24 hours scaled to the 3 hours elapsed
    assert "scaled" in release.watch_result["explanation"]
    assert rise_events(release) == 1
    assert Notification.objects.filter(user=manager, event__event_type="release.watch_rise").count() == 1
    assert any("rise was flagged" in c.body for c in comments_for(release))
    # Once: a fourth incident changes the counts on the next evaluation but flags and notifies nothing more.
    opened(T0 + 4 * HOUR, title="Checkout 502 again", service=service)
    assert rise_events(release) == 1
    with at(T0 + 5 * HOUR):
        assert watch.sweep() == 1
    release.refresh_from_db()
    assert (release.watch_status, release.watch_result["incidents"]["after"]) == ("rise", 4)
    assert rise_events(release) == 1
    # The end of the window keeps the flag and records the final counts, once.
    with at(T0 + 25 * HOUR):
        assert sweep_timers() == 1
        assert sweep_timers() == 0
        assert watch.sweep() == 0
    release.refresh_from_db()
    assert release.watch_status == "rise" and release.watch_result["final"] is True
    assert rise_events(release) == 1


def test_the_release_team_managers_are_told_when_there_is_no_release_manager(
        watched, users, team, opened):
    release, service, _other, _ci = watched
    Release.objects.filter(pk=release.pk).update(manager=None, owner_team=team)
    for hours in (1, 2, 3):
        opened(T0 + hours * HOUR, title=f"Checkout down {hours}", service=service)
    assert Notification.objects.filter(event__event_type="release.watch_rise").get().user == users["team_manager"]


def test_no_flag_when_the_counts_do_not_rise(watched, opened):
    release, service, other, _ci = watched
    # Incidents elsewhere do not count.
    for hours in (1, 2, 3, 4):
        opened(T0 + hours * HOUR, title=f"Payroll down {hours}", service=other)
    # Two on the release's service: below the minimum count.
    for hours in (5, 6):
        opened(T0 + hours * HOUR, title=f"Checkout slow {hours}", service=service)
    release.refresh_from_db()
    assert release.watch_status == "watching" and release.watch_flagged_at is None
    assert release.watch_result["incidents"]["after"] == 2
    assert rise_events(release) == 0


def test_as_many_after_as_before_is_no_rise_and_the_end_of_the_window_marks_it_quiet(
        watched, opened, django_capture_on_commit_callbacks):
    release, service, _other, _ci = watched
    for hours in (2, 4, 6):  # with the one at -10 h: four in the 24 hours before
        incident_at(T0 - hours * HOUR, title=f"Checkout before {hours}", service=service)
    for hours in (20, 21, 22, 23):  # four after, late in the window: 4 < 1.5 * 4 * 23/24
        opened(T0 + hours * HOUR, title=f"Checkout after {hours}", service=service)
    release.refresh_from_db()
    assert release.watch_status == "watching"
    assert Timer.objects.filter(kind="release_watch", status="pending").count() == 1
    with at(T0 + 23 * HOUR), django_capture_on_commit_callbacks(execute=True):
        assert sweep_timers() == 0  # not due yet
    with at(T0 + 24 * HOUR), django_capture_on_commit_callbacks(execute=True):
        assert sweep_timers() == 1
        assert sweep_timers() == 0  # the timer ran once
        assert watch.sweep() == 0  # and the sweep finds nothing left to do
    release.refresh_from_db()
    assert release.watch_status == "quiet"
    assert release.watch_result["final"] is True
    assert (release.watch_result["incidents"]["before"], release.watch_result["incidents"]["after"]) == (4, 4)
    assert OutboxEvent.objects.filter(event_type="release.watch_quiet", object_id=release.pk).count() == 1
    assert rise_events(release) == 0


def test_the_sweep_ends_a_window_whose_timer_was_lost_once(watched):
    release, *_ = watched
    Timer.objects.filter(kind="release_watch").update(status="cancelled")
    with at(T0 + 30 * HOUR):
        assert watch.sweep() == 1
        assert watch.sweep() == 0
    release.refresh_from_db()
    assert release.watch_status == "quiet"
    assert OutboxEvent.objects.filter(event_type="release.watch_quiet", object_id=release.pk).count() == 1


def test_the_sweep_flags_a_rise_in_alerts(watched):
    from opsdesk.alerts.models import Alert
    from tests.alerts.factories import make_integration

    release, _service, _other, ci = watched
    integration, _key = make_integration()
    for hours in (1, 2, 3, 4):
        moment = T0 + hours * HOUR
        Alert.objects.create(integration=integration, fingerprint=f"fp-{next(_fingerprints)}", ci=ci,
                             summary="checkout 5xx", first_seen_at=moment, last_seen_at=moment)
    with at(T0 + 5 * HOUR):
        assert watch.sweep() == 1
    release.refresh_from_db()
    assert release.watch_status == "rise"
    assert release.watch_result["alerts"]["after"] == 4 and release.watch_result["alerts"]["rise"] is True
    assert release.watch_result["incidents"]["rise"] is False


def test_a_new_deployment_restarts_the_watch(watched):
    release, *_ = watched
    later = T0 + 2 * HOUR
    with at(later), transaction.atomic():
        watch.start_watch(release, deploy(release, later, minutes=0))
    assert Timer.objects.filter(kind="release_watch", status="pending").get().due_at == later + 24 * HOUR
    assert Timer.objects.filter(kind="release_watch", status="cancelled").count() == 1


def test_the_watch_panel_on_the_release_page(watched, client, users, opened):
    release, service, *_ = watched
    for hours in (1, 2, 3):
        opened(T0 + hours * HOUR, title=f"Checkout down {hours}", service=service)
    release.refresh_from_db()
    context = watch.panel_context(release, users["viewer"])
    assert context["status"] == "Rise flagged" and context["incidents"]["after"] == 3
    assert context["flagged_at"] == T0 + 3 * HOUR
    client.force_login(users["viewer"])
    html = client.get(release.get_absolute_url()).content.decode()
    assert 'id="release-watch-panel"' in html and 'data-watch-status="rise"' in html and "Rise flagged" in html
    unwatched = make_release(title="Not deployed", version="0.1")
    assert watch.panel_context(unwatched, users["viewer"]) is None


def test_acceptance_5_end_to_end_through_the_deployment_service(manager, opened):
    """The real path: Test, an approved change, the production deployment (which opens the watch), then
    incidents on the release's service flag the rise within the window."""
    from tests.releases.factories import approved_change, manual_settings
    from tests.releases.factories import deploy as record

    manual_settings(auto_create_change=False, watch_hours=24, rise_factor=1.5, rise_min_count=3)
    Environment.objects.filter(slug__in=["development", "staging"]).update(active=False)
    service = ServiceFactory(name="Checkout")
    with at(T0 - 2 * HOUR):
        release = make_release(title="Checkout 2.5", version="2.5.0", manager=manager, services=[service])
        record(release, "test")
        approved_change(release)
    with at(T0):
        record(release, "production")
    release.refresh_from_db()
    assert (release.status, release.watch_status, release.watch_until) == ("deployed", "watching", T0 + 24 * HOUR)
    for hours in (1, 2, 3):
        opened(T0 + hours * HOUR, title=f"Checkout 502 after 2.5 #{hours}", service=service)
    release.refresh_from_db()
    assert release.watch_status == "rise" and release.watch_flagged_at == T0 + 3 * HOUR
    assert Notification.objects.filter(user=manager, event__event_type="release.watch_rise").count() == 1
