"""core.people: the one "who is told about this record" rule (person in charge, else the team)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from opsdesk.accounts.services import set_membership
from opsdesk.core import people
from opsdesk.core.actors import Actor
from tests.accounts.factories import TeamFactory, UserFactory

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")


@pytest.fixture
def team():
    team = TeamFactory(name="Payments")
    for role in ("manager", "admin", "responder"):
        set_membership(team, UserFactory(username=f"p-{role}"), actor=ACTOR, role=role)
    set_membership(team, UserFactory(username="p-gone", is_active=False), actor=ACTOR, role="manager")
    return team


def _ids(*names):
    from django.contrib.auth import get_user_model

    return sorted(get_user_model().objects.filter(username__in=names).values_list("pk", flat=True))


def test_the_active_person_in_charge_first(team):
    owner = UserFactory()
    assert people.responsible(owner, team) == [owner.pk]
    assert people.responsible(owner.pk, team) == [owner.pk]


def test_else_the_active_team_members_in_the_roles(team):
    gone = UserFactory(is_active=False)
    assert sorted(people.responsible(gone, team)) == _ids("p-manager", "p-admin")
    assert sorted(people.responsible(None, team.pk, roles=None)) == _ids("p-manager", "p-admin", "p-responder")
    assert people.responsible(None, None) == []


def test_the_first_active_of_several_candidates(team):
    gone, second = UserFactory(is_active=False), UserFactory()
    assert people.responsible([None, gone, second], team) == [second.pk]


def test_team_members_of_many_teams_in_one_query(team):
    other = TeamFactory(name="Network")
    set_membership(other, UserFactory(username="n-manager"), actor=ACTOR, role="manager")
    with CaptureQueriesContext(connection) as queries:
        members = people.team_members([team, other.pk])
        told = people.responsible(None, other, members=members)
    assert len(queries) == 1
    assert told == _ids("n-manager")
    assert sorted(members[team.pk]) == _ids("p-manager", "p-admin")
