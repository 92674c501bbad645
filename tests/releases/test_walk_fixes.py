"""Browser walk-through findings on the release pages (r01, r04, r14, r27): the gate says a change's state by
its label and a rolled-back stage as such, "Production" is not followed by a "production" badge, a first
version says why it cannot be rolled back, people are shown by their names, and the board's "Running now"
says which rows are services and which are CIs."""

import pytest
from django.urls import reverse

from opsdesk.accounts.services import set_membership
from opsdesk.changes.models import ChangeRequest
from opsdesk.core.actors import Actor
from opsdesk.releases import gates, services
from opsdesk.releases.models import Environment
from tests.accounts.factories import UserFactory
from tests.cmdb.factories import CIFactory
from tests.releases.factories import deploy, environment, make_release, manual_settings
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")


@pytest.fixture(autouse=True)
def _setup():
    manual_settings(auto_create_change=False)
    Environment.objects.filter(slug__in=["development", "staging"]).update(active=False)  # Test -> Production


@pytest.fixture
def erin(team):
    user = UserFactory(username="erin", role="viewer", first_name="Erin", last_name="Costa")
    set_membership(team, user, actor=ACTOR, role="responder")
    return user


def test_the_gate_says_the_changes_state_by_its_label():
    from tests.changes.factories import make_change

    release = make_release()
    change = make_change(owner_team=release.owner_team)
    ChangeRequest.objects.filter(pk=change.pk).update(status="review")
    release.changes.add(change)
    reasons = gates.check(release, environment("production")).reasons
    assert any(r.startswith(f"{change.number} is in Review: it was carried out") for r in reasons), reasons
    assert not any(" is review" in r for r in reasons)


def test_after_a_rollback_the_gate_says_the_stage_was_rolled_back():
    service = ServiceFactory()
    old = make_release(version="1.0", services=[service])
    release = make_release(owner_team=old.owner_team, version="1.1", services=[service])
    deploy(old, "test")
    deploy(release, "test")
    services.rollback(release, environment("test"), actor=ACTOR, data={"reason": "Errors in checkout"})
    reasons = gates.check(release, environment("production")).reasons
    assert f"{release.number} 1.1: its deployment to Test was rolled back." in reasons
    assert not any("has not succeeded" in r for r in reasons)


def test_production_is_not_followed_by_a_production_badge(client, users):
    client.force_login(users["viewer"])
    release = make_release()
    deploy(release, "test")
    pages = [reverse("releases:board"), reverse("releases:detail", args=[release.pk]),
             reverse("releases:environment_list")]
    for url in pages:
        html = client.get(url).content.decode()
        assert "Production" in html and ">production</span>" not in html, url
    Environment.objects.filter(slug="production").update(name="Live")
    for url in pages:
        assert ">production</span>" in client.get(url).content.decode(), url  # the badge says what "Live" is


def test_a_first_version_says_why_there_is_no_roll_back(client, team, erin):
    release = make_release(owner_team=team, version="1.0")
    deploy(release, "test")
    client.force_login(erin)
    html = client.get(reverse("releases:detail", args=[release.pk])).content.decode()
    assert "Nothing to roll back to: this is the first version deployed to Test." in html
    assert 'id="rollback-test"' not in html


def test_people_are_shown_by_their_names(client, team, erin):
    release = make_release(owner_team=team, manager=erin)
    deploy(release, "test", actor=Actor.for_user(erin))
    client.force_login(erin)
    html = client.get(reverse("releases:detail", args=[release.pk])).content.decode()
    assert 'Release manager</dt>\n  <dd class="col-sm-9 col-xl-10">Erin Costa</dd>' in html
    assert '<span class="text-body-secondary deployment-by">Erin Costa</span>' in html
    history = client.get(reverse("releases:deployment_list")).content.decode()
    assert '<td class="deployment-by">Erin Costa</td>' in history


def test_the_board_says_which_running_rows_are_services_and_which_cis(client, users):
    service, ci = ServiceFactory(name="Online shop"), CIFactory(name="shop-backend")
    release = make_release(version="5.16.0", services=[service], cis=[ci])
    deploy(release, "test")
    client.force_login(users["viewer"])
    html = client.get(reverse("releases:board")).content.decode()
    assert 'running-kind">Service</span>Online shop' in html
    assert f'running-kind">CI</span>{ci.number} shop-backend' in html
