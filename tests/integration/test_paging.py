"""Paging with real peers: an incident on a service with an escalation policy pages its person through
a real Celery worker on Redis and a real SMTP server; the acknowledge link in the received email works
once without a login and stops the escalation. A contact method's test goes out the same way."""

from __future__ import annotations

import re

import pytest

from opsdesk.core.actors import Actor
from opsdesk.incidents.models import Incident
from opsdesk.oncall import paging
from opsdesk.oncall.models import EscalationRun, Page
from tests.accounts.factories import UserFactory
from tests.incidents.factories import make_incident
from tests.integration.peers import WORKER_BASE_URL
from tests.oncall.paging_factories import contact, make_policy
from tests.services.factories import ServiceFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
ACTOR = Actor.system("integration-test")


def test_page_email_through_the_worker_and_its_acknowledge_link(peers, client):
    alice = UserFactory(username="alice", role="responder", email="alice@example.com")
    contact(alice, "email", "alice-pager@example.com", rules=[("high", 0)])
    service = ServiceFactory(name="Checkout", slug="checkout")
    make_policy("Checkout", services=[service], steps=[{"kind": "notify_users", "users": [alice]},
                                                       {"kind": "wait", "wait_minutes": 30}])

    incident = make_incident(actor=ACTOR, service=service, title="Checkout answers 502")
    # The started run asked the worker to sweep after the commit: no beat tick is needed.
    [mail] = peers.wait_for(lambda: peers.mailbox.received(), "the page to reach the SMTP server")
    assert mail.rcpt_tos == ["alice-pager@example.com"]
    assert mail.message["Subject"] == f"[Opsdesk] {incident.number} {incident.priority}: Checkout answers 502"
    body = mail.message.get_content()
    assert "Service: Checkout" in body
    link = re.search(r"Acknowledge: (\S+)", body).group(1)
    assert link.startswith(WORKER_BASE_URL + "/oncall/page-link/")
    assert Page.objects.get(user=alice).methods[0]["method"] == "email"

    path = link[len(WORKER_BASE_URL):]
    assert client.get(path).status_code == 200  # a mail scanner's fetch changes nothing
    assert Incident.objects.get(pk=incident.pk).status == "new"
    assert client.post(path).status_code == 200
    assert Incident.objects.get(pk=incident.pk).status == "acknowledged"
    assert EscalationRun.objects.get(incident=incident).status == "acknowledged"
    assert client.post(path).status_code == 410


def test_contact_method_test_is_delivered_by_the_worker(peers):
    bob = UserFactory(username="bob", role="viewer", email="bob@example.com")
    method = contact(bob, "email", "bob-phone@example.com", label="Phone mail")
    paging.send_test_notification(method, actor=Actor.for_user(bob))
    [mail] = peers.wait_for(lambda: peers.mailbox.received(), "the test notification to reach the SMTP server")
    assert mail.rcpt_tos == ["bob-phone@example.com"]
    assert mail.message["Subject"] == "[Opsdesk] Test notification"
    assert "Phone mail" in mail.message.get_content()
