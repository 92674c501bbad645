"""The DORA page and API, the environments page with its edit form, and the release settings page: per-role
permissions, bad input answered 400 with nothing written, and pinned query counts."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from opsdesk.core.models import AuditEntry
from opsdesk.releases.models import DeployedVersion, Environment, ReleaseSettings
from tests.releases.factories import environment
from tests.releases.test_dora import history  # noqa: F401  (the crafted deployment history fixture)
from tests.releases.watch_setup import deploy, make_release
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db
NOW = datetime.datetime(2026, 10, 20, 12, 0, tzinfo=datetime.UTC)
API = "/api/v1/releases/dora/"


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


# --- DORA page and API --------------------------------------------------------------------------------------


def test_dora_page_shows_figures_per_month_and_service(client, users, history, frozen):  # noqa: F811
    client.force_login(users["viewer"])
    response = client.get(reverse("releases:dora"), {"months": 3})
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('class="card mb-3 dora-month"') == 3
    assert 'data-month="2026-10"' in html and 'data-service="checkout"' in html and 'data-service="billing"' in html
    assert "75&nbsp;%" in html  # October's change failure rate overall
    assert "How it is computed" in html
    response = client.get(reverse("releases:dora"), {"service": "billing"})
    assert response.status_code == 200
    assert 'data-service="checkout"' not in response.content.decode()


def test_dora_page_refuses_bad_filters_and_anonymous(client, users):
    assert client.get(reverse("releases:dora")).status_code == 302  # to the login page
    client.force_login(users["viewer"])
    response = client.get(reverse("releases:dora"), {"months": "7", "service": "nope"})
    assert response.status_code == 400
    assert response.context["form"].errors.keys() == {"months", "service"}


def test_dora_page_query_count_does_not_grow_with_services(client, users, frozen, django_assert_max_num_queries):
    client.force_login(users["viewer"])
    release = make_release(services=[ServiceFactory()])
    deploy(release, NOW - datetime.timedelta(days=2))
    with django_assert_max_num_queries(14):
        assert client.get(reverse("releases:dora")).status_code == 200
    for _i in range(6):
        deploy(make_release(services=[ServiceFactory(), ServiceFactory()]), NOW - datetime.timedelta(days=40))
    with django_assert_max_num_queries(14):
        assert client.get(reverse("releases:dora")).status_code == 200


def test_dora_api(api, users, history, frozen):  # noqa: F811
    response = api(users["viewer"], scope="read").get(API, {"months": 2, "service": "checkout"})
    assert response.status_code == 200
    body = response.json()
    assert body["months"] == ["2026-09", "2026-10"] and body["service"] == "checkout"
    october = body["overall"][1]
    assert (october["deployment_frequency"], october["change_failure_rate"]) == (2, 1.0)
    assert october["bands"]["change_failure_rate"] == "low"
    assert api(users["viewer"]).get(API).json()["months"][-1] == "2026-10"


def test_dora_api_bad_input_and_anonymous(api, users):
    assert api().get(API).status_code == 401
    response = api(users["viewer"]).get(API, {"months": 0, "service": "nope"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and set(error["fields"]) == {"months", "service"}


def test_dora_api_query_count(api, users, frozen, django_assert_max_num_queries):
    client = api(users["viewer"])
    deploy(make_release(services=[ServiceFactory()]), NOW - datetime.timedelta(days=1))
    with django_assert_max_num_queries(12):
        assert client.get(API).status_code == 200
    for _i in range(5):
        deploy(make_release(services=[ServiceFactory(), ServiceFactory()]), NOW - datetime.timedelta(days=1))
    with django_assert_max_num_queries(12):
        assert len(client.get(API).json()["services"]) == 11


# --- environments -------------------------------------------------------------------------------------------


def running(env_slug, release, service):
    return DeployedVersion.objects.create(environment=environment(env_slug), service=service, version=release.version,
                                          release=release, deployed_at=timezone.now())


def test_environment_list_shows_versions_and_last_deployment(client, users):
    service = ServiceFactory(name="Checkout")
    release = make_release(version="2.4.0", services=[service])
    deploy(release, timezone.now() - datetime.timedelta(hours=1), env="test")
    running("test", release, service)
    client.force_login(users["viewer"])
    response = client.get(reverse("releases:environment_list"))
    assert response.status_code == 200
    html = response.content.decode()
    assert [e["environment"].slug for e in response.context["environments"]] == ["development", "test", "staging",
                                                                               "production"]
    test_env = response.context["environments"][1]
    assert test_env["last"].release == release and [v.version for v in test_env["versions"]] == ["2.4.0"]
    assert "Checkout" in html and "environment-edit" not in html  # a viewer does not edit
    client.force_login(users["manager"])
    assert "environment-edit" in client.get(reverse("releases:environment_list")).content.decode()
    client.logout()
    assert client.get(reverse("releases:environment_list")).status_code == 302


def test_environment_list_query_count(client, users, django_assert_max_num_queries):
    client.force_login(users["viewer"])
    release = make_release(services=[ServiceFactory()])
    deploy(release, timezone.now(), env="test")
    running("test", release, release.services.get())
    with django_assert_max_num_queries(10) as one:
        client.get(reverse("releases:environment_list"))
    for slug in ("development", "test", "staging", "production"):
        for _i in range(3):
            other = make_release(services=[ServiceFactory()])
            deploy(other, timezone.now(), env=slug)
            running(slug, other, other.services.get())
    with django_assert_max_num_queries(len(one.captured_queries)):
        client.get(reverse("releases:environment_list"))


@pytest.mark.parametrize("role, status", [("viewer", 403), ("responder", 403), ("team_manager", 403),
                                          ("manager", 302), ("admin", 302)])
def test_who_may_create_an_environment(client, users, role, status):
    client.force_login(users[role])
    response = client.post(reverse("releases:environment_create"), {"slug": "perf", "name": "Performance",
                                                                    "order": 25, "active": "on"})
    assert response.status_code == status
    assert Environment.objects.filter(slug="perf").exists() == (status == 302)


def test_anonymous_is_sent_to_login_for_the_forms(client):
    assert client.get(reverse("releases:environment_create")).status_code == 302
    assert client.post(reverse("releases:release_settings"), {"watch_hours": 1}).status_code == 302
    assert ReleaseSettings.objects.get().watch_hours == 24


def test_edit_an_environment_and_bad_input_writes_nothing(client, users):
    client.force_login(users["manager"])
    staging = Environment.objects.get(slug="staging")
    url = reverse("releases:environment_edit", args=[staging.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, {"name": "Pre-production", "order": 30, "requires_change": "on", "active": "on"})
    assert response.status_code == 302
    staging.refresh_from_db()
    assert (staging.name, staging.requires_change) == ("Pre-production", True)
    assert AuditEntry.objects.filter(action="update", object_id=staging.pk, changes__has_key="name").exists()
    audits = AuditEntry.objects.count()
    response = client.post(url, {"name": "Pre-production", "order": 20, "active": "on"})  # test's order
    assert response.status_code == 400 and "order" in response.context["form"].errors
    response = client.post(url, {"name": "", "order": "x"})
    assert response.status_code == 400 and set(response.context["form"].errors) == {"name", "order"}
    production = Environment.objects.get(slug="production")
    response = client.post(reverse("releases:environment_edit", args=[production.pk]),
                           {"name": "Production", "order": 40, "active": "on"})  # the only production
    assert response.status_code == 400 and "is_production" in response.context["form"].errors
    staging.refresh_from_db()
    assert staging.order == 30 and Environment.objects.get(slug="production").is_production
    assert AuditEntry.objects.count() == audits


# --- release settings ---------------------------------------------------------------------------------------


def test_settings_page_viewers_read_managers_write(client, users):
    url = reverse("releases:release_settings")
    client.force_login(users["viewer"])
    response = client.get(url)
    assert response.status_code == 200 and "disabled" in response.content.decode()
    assert client.post(url, {"watch_hours": 48, "rise_factor": 2, "rise_min_count": 3}).status_code == 403
    client.force_login(users["responder"])
    assert client.post(url, {"watch_hours": 48, "rise_factor": 2, "rise_min_count": 3}).status_code == 403
    client.force_login(users["manager"])
    response = client.post(url, {"watch_hours": 48, "rise_factor": 2, "rise_min_count": 4, "auto_create_change": "on",
                                 "change_template": ""})
    assert response.status_code == 302
    config = ReleaseSettings.objects.get()
    assert (config.watch_hours, config.rise_factor, config.rise_min_count) == (48, 2.0, 4)
    assert AuditEntry.objects.filter(action="update", changes__has_key="watch_hours").exists()


def test_settings_bad_input_is_400_and_writes_nothing(client, users):
    client.force_login(users["manager"])
    response = client.post(reverse("releases:release_settings"), {"watch_hours": 0, "rise_factor": 0.5,
                                                                  "rise_min_count": "", "change_template": "nope"})
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"watch_hours", "rise_factor", "rise_min_count", "change_template"}
    assert ReleaseSettings.objects.get().watch_hours == 24


def test_the_period_select_shows_the_period_the_page_reports(client, users):
    from opsdesk.releases import dora

    client.force_login(users["viewer"])
    html = client.get("/releases/dora/").content.decode()
    assert f'<option value="{dora.DEFAULT_MONTHS}" selected>' in html
    html = client.get("/releases/dora/?months=12").content.decode()
    assert '<option value="12" selected>' in html
