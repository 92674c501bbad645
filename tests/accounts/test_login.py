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
