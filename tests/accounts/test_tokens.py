import datetime

import pytest
from django.utils import timezone

from opsdesk.accounts.models import ApiToken
from opsdesk.accounts.services import authenticate_token, create_token, revoke_token
from opsdesk.cli import main
from opsdesk.core.actors import Actor

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")


def test_token_is_hashed_at_rest_and_shown_once(users):
    token, plaintext = create_token(users["viewer"], actor=ACTOR, name="ci")
    assert plaintext.startswith(f"odt_{token.key_id}_")
    secret = plaintext.split("_", 2)[2]
    stored = ApiToken.objects.get(pk=token.pk)
    assert secret not in (stored.secret_hash, stored.key_id, stored.name)
    assert authenticate_token(plaintext) == token
    assert authenticate_token(plaintext + "x") is None
    assert authenticate_token("odt_nope") is None


def test_expired_and_revoked_tokens_are_refused(api, users):
    client = api()
    token, plaintext = create_token(users["viewer"], actor=ACTOR, name="short",
                                    expires_at=timezone.now() + datetime.timedelta(hours=1))
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert client.get("/api/v1/services/").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    assert client.get("/api/v1/services/").status_code == 401
    token2, plaintext2 = create_token(users["viewer"], actor=ACTOR, name="revoked")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext2}")
    assert client.get("/api/v1/services/").status_code == 200
    revoke_token(token2, actor=ACTOR)
    response = client.get("/api/v1/services/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_inactive_users_tokens_stop_working(api, users):
    client = api(users["viewer"])
    users["viewer"].is_active = False
    users["viewer"].save()
    assert client.get("/api/v1/services/").status_code == 401


def test_tokens_api_creates_lists_and_revokes_own_tokens_only(api, users):
    client = api(users["viewer"])
    created = client.post("/api/v1/tokens/", {"name": "laptop", "scope": "read"}, format="json")
    assert created.status_code == 201
    plaintext = created.json()["token"]
    listed = client.get("/api/v1/tokens/").json()["results"]
    assert {t["name"] for t in listed} == {"test", "laptop"}
    assert all("token" not in t and "secret_hash" not in t for t in listed)
    other = api(users["admin"]).get("/api/v1/tokens/").json()["results"]
    assert "laptop" not in {t["name"] for t in other}
    token_id = created.json()["id"]
    assert api(users["admin"]).post(f"/api/v1/tokens/{token_id}/revoke/").status_code == 404
    assert client.post(f"/api/v1/tokens/{token_id}/revoke/").json()["state"] == "revoked"
    assert authenticate_token(plaintext) is None


def test_expiry_in_the_past_is_refused(api, users):
    response = api(users["viewer"]).post("/api/v1/tokens/", {"name": "x", "expires_at": "2000-01-01T00:00:00Z"},
                                         format="json")
    assert response.status_code == 400
    assert "expires_at" in response.json()["error"]["fields"]


def test_cli_token_create(users, capsys):
    assert main(["token", "create", "viewer", "--scope", "read", "--days", "30"]) == 0
    plaintext = capsys.readouterr().out.strip()
    token = authenticate_token(plaintext)
    assert token.user == users["viewer"] and token.scope == "read" and token.expires_at is not None
    assert main(["token", "create", "nobody"]) == 2


def test_profile_page_shows_a_new_token_once(client, users):
    client.force_login(users["viewer"])
    page = client.post("/accounts/profile/", {"what": "token", "name": "ui", "scope": "write",
                                              "expires_in_days": 30}).content.decode()
    token = ApiToken.objects.get(name="ui")
    assert f"odt_{token.key_id}_" in page
    again = client.get("/accounts/profile/").content.decode()
    assert f"odt_{token.key_id}_" not in again and token.key_id in again
