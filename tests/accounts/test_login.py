import pytest

from opsdesk.accounts.models import LoginAttempt

pytestmark = pytest.mark.django_db


def login(client, username, password):
    return client.post("/accounts/login/", {"username": username, "password": password})


def test_login_and_logout(client, users):
    response = login(client, "viewer", "correct horse battery")
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200
    client.post("/accounts/logout/")
    assert client.get("/").status_code == 302


def test_repeated_failures_lock_the_account_for_a_while(client, users, settings):
    settings.LOGIN_THROTTLE_FAILURES = 3
    for _ in range(3):
        assert "Please enter a correct" in login(client, "viewer", "wrong").content.decode()
    page = login(client, "viewer", "correct horse battery")
    assert page.status_code == 200
    assert "Too many failed attempts" in page.content.decode()
    assert "_auth_user_id" not in client.session
    assert login(client, "manager", "correct horse battery").status_code == 302, "other users are not locked"


def test_success_clears_earlier_failures(client, users):
    login(client, "viewer", "wrong")
    login(client, "viewer", "correct horse battery")
    assert not LoginAttempt.objects.filter(username="viewer", success=False).exists()


def test_passwords_are_hashed_with_argon2_in_production():
    from opsdesk import settings as production

    assert production.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")


def test_password_change_is_logged(client, users):
    client.force_login(users["viewer"])
    response = client.post("/accounts/password/", {"old_password": "correct horse battery",
                                                   "new_password1": "a much better passphrase",
                                                   "new_password2": "a much better passphrase"})
    assert response.status_code == 302
    from opsdesk.core.audit import history_for

    assert history_for(users["viewer"]).first().action == "password_change"


def test_user_admin_changes_are_logged(client, users):
    from opsdesk.accounts.models import User
    from opsdesk.core.audit import history_for

    admin_user = users["admin"]
    admin_user.is_superuser = admin_user.is_staff = True
    admin_user.save()
    client.force_login(admin_user)
    page = client.get(f"/admin/accounts/user/{users['viewer'].pk}/change/")
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k not in {"groups", "user_permissions"}}
    data.update({"role": "responder", "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00",
                 "last_login_0": "", "last_login_1": "", "is_active": "on"})
    response = client.post(f"/admin/accounts/user/{users['viewer'].pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    assert User.objects.get(pk=users["viewer"].pk).role == "responder"
    entry = history_for(users["viewer"]).first()
    assert entry.changes["role"] == ["viewer", "responder"] and entry.actor_label == "admin"


def test_times_are_shown_in_the_users_time_zone(client, users, team):
    from tests.services.factories import ServiceFactory

    service = ServiceFactory(owner_team=team)
    client.force_login(users["viewer"])
    assert client.post("/accounts/profile/", {"what": "timezone", "time_zone": "Mars/Base"}).status_code == 302
    users["viewer"].refresh_from_db()
    assert users["viewer"].time_zone == "UTC"
    client.post("/accounts/profile/", {"what": "timezone", "time_zone": "Asia/Tokyo"})
    page = client.get(f"{service.get_absolute_url()}?tab=history").content.decode()
    from zoneinfo import ZoneInfo

    local = service.created_at.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%Y-%m-%d %H:%M")
    assert local in page
