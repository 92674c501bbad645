import pytest

from opsdesk.core.audit import history_for
from opsdesk.core.models import Delivery, NotificationChannel

pytestmark = pytest.mark.django_db
URL = "/api/v1/channels/"


def test_only_admins_manage_channels(api, users):
    payload = {"name": "ops hook", "kind": "webhook", "target": "https://hooks.example.com/x", "secret": "k",
               "event_types": ["service.*"]}
    for role in ("viewer", "responder", "manager"):
        assert api(users[role]).get(URL).status_code == 403
        assert api(users[role]).post(URL, payload, format="json").status_code == 403
    created = api(users["admin"]).post(URL, payload, format="json")
    assert created.status_code == 201
    assert "secret" not in created.json()
    channel = NotificationChannel.objects.get()
    assert channel.secret == "k"
    assert history_for(channel).first().changes["secret"] == [None, "(set)"]


@pytest.mark.parametrize("kind, target, field", [
    ("webhook", "ftp://example.com/x", "target"),
    ("email", "not-an-address", "target"),
    ("apprise", "nonsense://", "target"),
])
def test_bad_targets_are_refused(api, users, kind, target, field):
    response = api(users["admin"]).post(URL, {"name": "x", "kind": kind, "target": target, "event_types": ["*"]},
                                        format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not NotificationChannel.objects.exists()


def test_secret_change_is_logged_without_the_secret(api, users):
    client = api(users["admin"])
    channel_id = client.post(URL, {"name": "h", "kind": "webhook", "target": "https://h.example.com/",
                                   "event_types": ["*"]}, format="json").json()["id"]
    client.patch(f"{URL}{channel_id}/", {"secret": "new-secret"}, format="json")
    channel = NotificationChannel.objects.get(pk=channel_id)
    assert channel.secret == "new-secret"
    assert "new-secret" not in str([e.changes for e in history_for(channel)])


def test_test_send_from_the_page(client, users, django_capture_on_commit_callbacks):
    from django.core import mail

    channel = NotificationChannel.objects.create(name="mail", kind="email", target="ops@example.com",
                                                 event_types=["nothing.*"])
    client.force_login(users["manager"])
    assert client.post(f"/settings/channels/{channel.pk}/test/").status_code == 403
    client.force_login(users["admin"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/settings/channels/{channel.pk}/test/")
    assert response.status_code == 302
    assert Delivery.objects.get(channel=channel).status == "sent"
    assert mail.outbox[0].to == ["ops@example.com"] and "channel.test" in mail.outbox[0].subject
    page = client.get(f"/settings/channels/{channel.pk}/").content.decode()
    assert "channel.test" in page


def test_channel_pages(client, users):
    client.force_login(users["admin"])
    response = client.post("/settings/channels/new/", {"name": "chat", "kind": "apprise",
                                                       "target": "json://127.0.0.1:9/hook",
                                                       "event_types": "service.*, team.*", "enabled": "on"})
    assert response.status_code == 302
    assert NotificationChannel.objects.get().event_types == ["service.*", "team.*"]
    assert "chat" in client.get("/settings/channels/").content.decode()
