"""Signed acknowledge / resolve links: work once without a login, GET changes nothing, expired and
tampered links get a clear page and change nothing."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.urls import reverse

from opsdesk.core.models import AuditEntry
from opsdesk.incidents.models import Incident
from opsdesk.oncall import links
from opsdesk.oncall.models import ActionToken
from tests.accounts.factories import UserFactory
from tests.incidents.factories import make_incident

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice():
    return UserFactory(username="alice", role="responder")


def url(incident, user, action):
    return reverse("oncall:page_link", args=[links.make_token(incident, user, action)])


def test_get_shows_a_confirmation_and_changes_nothing(client, alice):
    incident = make_incident(title="Disk full")
    response = client.get(url(incident, alice, "acknowledge"))
    assert response.status_code == 200
    assert b"Acknowledge the incident" in response.content and incident.number.encode() in response.content
    assert Incident.objects.get(pk=incident.pk).status == "new"
    assert not ActionToken.objects.exists()


def test_post_acknowledges_as_the_paged_person_once(client, alice):
    incident = make_incident(title="Disk full")
    link = url(incident, alice, "acknowledge")
    response = client.post(link)
    assert response.status_code == 200 and b"Acknowledged" in response.content
    incident.refresh_from_db()
    assert incident.status == "acknowledged"
    entry = AuditEntry.objects.get(object_id=incident.pk, action="acknowledge", content_type__model="incident")
    assert entry.actor_label == "alice"

    again = client.post(link)
    assert again.status_code == 410 and b"already been used" in again.content
    assert client.get(link).status_code == 410
    assert ActionToken.objects.count() == 1


def test_resolve_link_uses_fixed_and_a_note(client, alice):
    incident = make_incident(title="Disk full")
    assert client.post(url(incident, alice, "resolve")).status_code == 200
    incident.refresh_from_db()
    assert (incident.status, incident.resolution_code, incident.resolution_notes) == (
        "resolved", "fixed", "Resolved from a page link")


def test_expired_link_is_refused(client, alice):
    incident = make_incident(title="Disk full")
    with time_machine.travel(dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC), tick=False) as clock:
        link = url(incident, alice, "acknowledge")
        clock.shift(dt.timedelta(hours=24, minutes=1))
        response = client.post(link)
    assert response.status_code == 410 and b"expired" in response.content
    assert Incident.objects.get(pk=incident.pk).status == "new"
    assert not ActionToken.objects.exists()


def test_tampered_link_is_refused(client, alice):
    incident = make_incident(title="Disk full")
    token = links.make_token(incident, alice, "acknowledge")
    forged = token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")
    response = client.post(reverse("oncall:page_link", args=[forged]))
    assert response.status_code == 400 and b"not valid" in response.content
    # A token signed with another salt (another feature's signature) is not a page link either.
    from django.core import signing
    other = signing.dumps({"i": incident.pk, "a": "acknowledge", "u": alice.pk, "n": "x"}, salt="other")
    assert client.post(reverse("oncall:page_link", args=[other])).status_code == 400
    assert Incident.objects.get(pk=incident.pk).status == "new"


def test_a_link_for_a_state_that_moved_on_changes_nothing_and_is_not_used_up(client, alice):
    incident = make_incident(title="Disk full")
    ack = url(incident, alice, "acknowledge")
    assert client.post(url(incident, alice, "resolve")).status_code == 200
    response = client.post(ack)
    assert response.status_code == 409 and b"already resolved" in response.content
    assert ActionToken.objects.count() == 1


def test_a_viewer_cannot_act_through_a_link(client):
    viewer = UserFactory(username="vic", role="viewer")
    incident = make_incident(title="Disk full")
    response = client.post(url(incident, viewer, "acknowledge"))
    assert response.status_code == 403
    assert Incident.objects.get(pk=incident.pk).status == "new"
    assert not ActionToken.objects.exists()
