import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from opsdesk.core.models import Attachment
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def upload(client, service, name, content, content_type="application/octet-stream"):
    return client.post(f"/services/{service.pk}/attachments/",
                       {"file": SimpleUploadedFile(name, content, content_type=content_type)}, follow=True)


def test_attach_and_download_with_history(client, users, team):
    service = ServiceFactory(owner_team=team)
    client.force_login(users["responder"])
    page = upload(client, service, "failover.log", b"2026-11-27 switched to replica\n")
    assert "failover.log was attached" in page.content.decode()
    attachment = Attachment.objects.get()
    assert attachment.mime_type == "text/x-log" and attachment.size == 31
    assert len(attachment.sha256) == 64
    client.force_login(users["viewer"])
    download = client.get(f"/attachments/{attachment.pk}/")
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == b"2026-11-27 switched to replica\n"
    assert "attachment" in download["Content-Disposition"]
    assert download["X-Content-Type-Options"] == "nosniff"
    history = client.get(f"/services/{service.pk}/?tab=history").content.decode()
    assert "attach" in history and "failover.log" in history


def test_too_large_is_refused_and_nothing_stored(client, users, team, settings):
    settings.ATTACHMENT_MAX_BYTES = 100
    service = ServiceFactory(owner_team=team)
    client.force_login(users["responder"])
    page = upload(client, service, "big.txt", b"x" * 101)
    assert "larger than the limit" in page.content.decode()
    assert not Attachment.objects.exists()


def test_content_must_match_the_type(client, users, team):
    service = ServiceFactory(owner_team=team)
    client.force_login(users["responder"])
    page = upload(client, service, "screenshot.png", b"MZ\x90\x00 this is an executable")
    assert "does not match its type" in page.content.decode()
    page = upload(client, service, "tool.exe", b"MZ\x90\x00")
    assert "not accepted" in page.content.decode()
    assert not Attachment.objects.exists()
    upload(client, service, "graph.png", PNG)
    assert Attachment.objects.get().mime_type == "image/png"


def test_viewers_cannot_attach(client, users, team):
    service = ServiceFactory(owner_team=team)
    client.force_login(users["viewer"])
    response = client.post(f"/services/{service.pk}/attachments/",
                           {"file": SimpleUploadedFile("a.txt", b"hello")})
    assert response.status_code == 403
    assert not Attachment.objects.exists()


def test_a_failed_attach_leaves_no_file(team, settings):
    from django.db import IntegrityError

    from opsdesk.core import comments
    from opsdesk.core.actors import Actor
    from opsdesk.services.models import Service

    unsaved = Service(name="never saved", owner_team=team)  # no primary key: the database refuses the row
    with pytest.raises(IntegrityError):
        comments.add_attachment(unsaved, actor=Actor.system("test"),
                                upload=SimpleUploadedFile("notes.txt", b"hello"))
    assert not Attachment.objects.exists()
    stored = [p for p in settings.MEDIA_ROOT.rglob("*") if p.is_file()]
    assert stored == []
