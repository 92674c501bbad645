"""The release pages: board, list, detail (gate per environment, record a deployment, roll back, production
change), the form, the deployment history; permissions and pinned query counts."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from opsdesk.accounts.services import set_membership
from opsdesk.core.actors import Actor
from opsdesk.releases.models import DeployedVersion, Deployment, Environment, Release
from tests.accounts.factories import UserFactory
from tests.releases.factories import approved_change, deploy, make_release, manual_settings
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db
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


def _login(client, user):
    client.force_login(user)
    return client


def _queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries), response


def test_anonymous_is_redirected(client):
    release = make_release()
    for url in (reverse("releases:board"), reverse("releases:list"), reverse("releases:deployment_list"),
                reverse("releases:detail", args=[release.pk])):
        assert client.get(url).status_code == 302
    response = client.post(reverse("releases:record_deployment", args=[release.pk, "test"]), {"result": "succeeded"})
    assert response.status_code == 302 and not Deployment.objects.exists()


def test_board_shows_versions_and_stages_with_pinned_queries(client, users):
    _login(client, users["viewer"])
    service = ServiceFactory(name="Online shop")
    release = make_release(title="Checkout", version="2.4.0", services=[service])
    deploy(release, "test")
    one, response = _queries(client, reverse("releases:board"))
    html = response.content.decode()
    assert "Online shop" in html and "2.4.0" in html and release.number in html
    for n in range(6):
        r = make_release(version=f"5.{n}", services=[ServiceFactory()])
        deploy(r, "test")
    make_release(title="Waiting one")
    many, response = _queries(client, reverse("releases:board"))
    assert many == one
    assert "Waiting one" in response.content.decode()


def test_list_filters_and_pinned_queries(client, users):
    _login(client, users["viewer"])
    service = ServiceFactory()
    first = make_release(title="Checkout", services=[service])
    one, _response = _queries(client, reverse("releases:list"))
    for n in range(6):
        make_release(title=f"Other {n}")
    many, response = _queries(client, reverse("releases:list"))
    assert many == one
    _n, response = _queries(client, reverse("releases:list") + f"?service={service.slug}")
    html = response.content.decode()
    assert first.number in html and "Other 1" not in html
    _n, response = _queries(client, reverse("releases:list") + "?text=Other 2")
    assert "Other 2" in response.content.decode() and "Checkout" not in response.content.decode()


def test_deployment_history_filters_and_pinned_queries(client, users):
    _login(client, users["viewer"])
    release = make_release()
    deploy(release, "test")
    one, _response = _queries(client, reverse("releases:deployment_list"))
    for n in range(6):
        deploy(make_release(version=f"7.{n}"), "test", result="failed", pipeline_url="https://ci.example.com/1")
    many, _response = _queries(client, reverse("releases:deployment_list"))
    assert many == one
    _n, response = _queries(client, reverse("releases:deployment_list") + f"?release={release.number}&result=succeeded")
    assert response.content.decode().count("<tr>") == 2  # header and one row


def test_detail_shows_gate_reasons_notes_and_procedure(client, users):
    _login(client, users["viewer"])
    release = make_release(version="2.4.0", notes="**bold** <script>x</script>",
                           rollback_steps=[{"who": "SRE", "action": "Redeploy 2.3", "minutes": 5}],
                           work_items=[{"key": "OPS-9", "title": "Basket", "url": "https://git.example.com/9"}],
                           planned_dates={"production": "2026-12-08"})
    html = client.get(reverse("releases:detail", args=[release.pk])).content.decode()
    assert "<strong>bold</strong>" in html and "<script>x</script>" not in html
    assert f"{release.number} 2.4.0 has not succeeded in Test yet." in html
    assert "Redeploy 2.3" in html and "OPS-9" in html and "2026-12-08" in html
    assert "Record deployment" not in html  # a viewer gets no forms


def test_record_deployment_denied_then_allowed_from_the_page(client, team, team_responder):
    _login(client, team_responder)
    release = make_release(owner_team=team)
    url = reverse("releases:record_deployment", args=[release.pk, "production"])
    response = client.post(url, {"result": "succeeded"}, follow=True)
    assert "has not succeeded in Test yet" in response.content.decode()
    assert not Deployment.objects.exists()
    client.post(reverse("releases:record_deployment", args=[release.pk, "test"]), {"result": "succeeded"})
    approved_change(release)
    html = client.get(reverse("releases:detail", args=[release.pk])).content.decode()
    assert "Record deployment" in html
    response = client.post(url, {"result": "succeeded", "pipeline_url": "https://ci.example.com/7"})
    assert response.status_code == 302
    release.refresh_from_db()
    assert release.status == "deployed"


def test_bad_deployment_form_writes_nothing(client, team, team_responder):
    _login(client, team_responder)
    release = make_release(owner_team=team)
    response = client.post(reverse("releases:record_deployment", args=[release.pk, "test"]),
                           {"result": "maybe"}, follow=True)
    assert "was not recorded" in response.content.decode()
    assert not Deployment.objects.exists()


def test_viewer_and_other_team_cannot_deploy_or_roll_back(client, users, team):
    release = make_release(owner_team=team)
    other = UserFactory(username="other", role="viewer")
    set_membership(make_release().owner_team, other, actor=ACTOR, role="responder")
    for user in (users["viewer"], other):
        _login(client, user)
        assert client.post(reverse("releases:record_deployment", args=[release.pk, "test"]),
                           {"result": "succeeded"}).status_code == 403
        assert client.post(reverse("releases:rollback", args=[release.pk, "test"]),
                           {"reason": "x"}).status_code == 403
        assert client.post(reverse("releases:production_change", args=[release.pk])).status_code == 403
    assert not Deployment.objects.exists()
    _login(client, users["viewer"])
    assert client.get(reverse("releases:create")).status_code == 403


def test_rollback_from_the_page(client, team, team_responder):
    _login(client, team_responder)
    service = ServiceFactory()
    old = make_release(owner_team=team, version="1.0", services=[service])
    release = make_release(owner_team=team, version="1.1", services=[service])
    deploy(old, "test")
    deploy(release, "test")
    url = reverse("releases:rollback", args=[release.pk, "test"])
    client.post(url, {"reason": ""})
    assert Deployment.objects.filter(is_rollback=True).count() == 0
    client.post(url, {"reason": "Errors in checkout"})
    assert DeployedVersion.objects.get(environment__slug="test", service=service).version == "1.0"


def test_create_and_edit_through_the_form(client, team, team_responder):
    _login(client, team_responder)
    service = ServiceFactory()
    assert client.get(reverse("releases:create")).status_code == 200
    response = client.post(reverse("releases:create"), {
        "title": "Checkout", "version": "2.0", "owner_team": team.pk, "services": service.slug,
        "work_items": "OPS-1 | Basket | https://git.example.com/1", "rollback_steps": "SRE | Redeploy 1.9 | 5 | smoke",
        "planned_production": "2026-12-08"})
    assert response.status_code == 302, response.content.decode()[:2000]
    release = Release.objects.get()
    assert release.work_items == [{"key": "OPS-1", "title": "Basket", "url": "https://git.example.com/1"}]
    assert release.rollback_steps == [{"who": "SRE", "action": "Redeploy 1.9", "minutes": 5, "verification": "smoke"}]
    assert release.planned_dates == {"production": "2026-12-08"}
    edit = reverse("releases:edit", args=[release.pk])
    assert "OPS-1 | Basket" in client.get(edit).content.decode()
    response = client.post(edit, {"title": "Checkout", "version": "2.0", "owner_team": team.pk,
                                  "work_items": "| no key"})
    assert response.status_code == 422
    assert "the key is required" in response.content.decode()


def test_production_change_button(client, team, team_responder):
    _login(client, team_responder)
    release = make_release(owner_team=team)
    client.post(reverse("releases:production_change", args=[release.pk]))
    release.refresh_from_db()
    assert release.production_change is not None
