"""core.records.listen: another app hears a record type's creates and transitions inside the writing
transaction (on-call stops an incident's escalation on acknowledgement this way)."""

import pytest
from django.db import transaction

from opsdesk.core import records
from opsdesk.services.models import Service
from opsdesk.services.services import activate_service, create_service

pytestmark = pytest.mark.django_db


@pytest.fixture
def heard():
    calls = []

    def listener(record, verb, *, actor):
        calls.append((record.pk, verb, actor.label, transaction.get_connection().in_atomic_block))

    records.listen(Service, listener)
    records.listen(Service, listener)  # a second registration of the same function is ignored
    yield calls
    records._LISTENERS[Service].remove(listener)


def test_listener_hears_create_and_transition_inside_the_transaction(heard, system_actor, team):
    service = create_service(actor=system_actor, data={"name": "Mail", "slug": "mail", "owner_team": team})
    activate_service(service, actor=system_actor)
    assert heard == [(service.pk, "created", system_actor.label, True),
                     (service.pk, "activate", system_actor.label, True)]


def test_a_listener_that_raises_rolls_the_write_back(system_actor, team):
    def refuse(record, verb, *, actor):
        raise RuntimeError("refused")

    records.listen(Service, refuse)
    try:
        with pytest.raises(RuntimeError):
            create_service(actor=system_actor, data={"name": "Mail", "slug": "mail", "owner_team": team})
    finally:
        records._LISTENERS[Service].remove(refuse)
    assert not Service.objects.filter(slug="mail").exists()
