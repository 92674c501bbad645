import pytest

from opsdesk.accounts.models import Membership
from opsdesk.core.testing import APIRecordTests
from tests.accounts.factories import TeamFactory

pytestmark = pytest.mark.django_db


class TestTeamAPI(APIRecordTests):
    endpoint = "/api/v1/teams/"
    factory = TeamFactory
    create_status = {"viewer": 403, "responder": 403, "manager": 403, "admin": 201}
    writer_role = "admin"

    def make(self, team=None, **kwargs):
        return team or TeamFactory()

    def create_payload(self, team):
        import uuid

        key = uuid.uuid4().hex[:8]
        return {"name": f"SRE {key}", "slug": f"sre-{key}", "lead": "manager"}

    def update_payload(self):
        return {"description": "Keeps the lights on"}


def test_team_manager_manages_membership_in_the_ui(client, users, team, other_team):
    client.force_login(users["team_manager"])
    response = client.post(f"/accounts/teams/{team.pk}/members/", {"user": users["viewer"].pk, "role": "responder"})
    assert response.status_code == 302
    assert Membership.objects.get(team=team, user=users["viewer"]).role == "responder"
    denied = client.post(f"/accounts/teams/{other_team.pk}/members/", {"user": users["viewer"].pk, "role": "admin"})
    assert denied.status_code == 403
    client.post(f"/accounts/teams/{team.pk}/members/", {"user": users["viewer"].pk, "role": ""})
    assert not Membership.objects.filter(team=team, user=users["viewer"]).exists()
