"""Bad input, permissions and concurrency cases found in review: each must answer clearly and
change nothing."""

import pytest

from opsdesk.accounts.models import Membership, Team
from opsdesk.accounts.services import create_token, set_membership
from opsdesk.core.actors import Actor
from opsdesk.core.audit import history_for
from opsdesk.core.models import NotificationChannel
from opsdesk.core.workflow import TransitionNotAllowed
from opsdesk.services import services
from opsdesk.services.models import Service
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")


def test_channel_pages_are_for_admins_only_and_the_log_keeps_no_credential(client, users):
    client.force_login(users["admin"])
    client.post("/settings/channels/new/", {"name": "chat", "kind": "webhook",
                                            "target": "https://hooks.example.com/x?key=s3cr3t",
                                            "event_types": "*", "enabled": "on"})
    channel = NotificationChannel.objects.get()
    for role in ("viewer", "responder", "manager"):
        client.force_login(users[role])
        for url in ("/settings/channels/", f"/settings/channels/{channel.pk}/",
                    f"/settings/channels/{channel.pk}/?tab=history", "/settings/channels/?export=csv"):
            assert client.get(url).status_code == 403, (role, url)
    assert "s3cr3t" not in str([e.changes for e in history_for(channel)])
    assert "https://…" in str(history_for(channel).first().changes["target"])


def test_delivery_errors_keep_no_url(team, django_capture_on_commit_callbacks):
    from opsdesk.core.models import Delivery

    NotificationChannel.objects.create(name="h", kind="webhook", target="http://127.0.0.1:9/x?key=s3cr3t",
                                       event_types=["*"])
    with django_capture_on_commit_callbacks(execute=True):
        services.create_service(actor=ACTOR, data={"name": "S", "slug": "s", "owner_team": team})
    error = Delivery.objects.get().last_error
    assert error and "s3cr3t" not in error and "127.0.0.1:9/x" not in error


def test_nobody_grants_a_role_above_their_own(client, users, team):
    lead = users["viewer"]
    Team.objects.filter(pk=team.pk).update(lead=lead)
    client.force_login(lead)
    assert client.post(f"/accounts/teams/{team.pk}/members/", {"user": lead.pk, "role": "admin"}).status_code == 403
    client.force_login(users["team_manager"])
    client.post(f"/accounts/teams/{team.pk}/members/", {"user": users["team_manager"].pk, "role": "admin"})
    assert Membership.objects.get(team=team, user=users["team_manager"]).role == "manager"
    client.post(f"/accounts/teams/{team.pk}/members/", {"user": users["responder"].pk, "role": "manager"})
    assert Membership.objects.get(team=team, user=users["responder"]).role == "manager"


def test_a_team_admin_cannot_use_global_admin_forms(client, users, team):
    set_membership(team, users["viewer"], actor=ACTOR, role="admin")
    client.force_login(users["viewer"])
    assert client.get("/settings/channels/new/").status_code == 403
    assert client.post("/settings/channels/new/", {"name": "x", "kind": "webhook", "target": "https://e.com/",
                                                   "event_types": "*"}).status_code == 403
    assert client.post("/accounts/teams/new/", {"name": "Evil", "slug": "evil"}).status_code == 403
    assert not NotificationChannel.objects.exists() and not Team.objects.filter(slug="evil").exists()


def test_rules_are_checked_against_the_locked_row_not_a_stale_copy(team):
    stale = ServiceFactory(owner_team=team, status="active")
    services.retire_service(Service.objects.get(pk=stale.pk), actor=ACTOR, reason="gone")
    assert stale.status == "active", "the caller still holds the old copy"
    with pytest.raises(TransitionNotAllowed):
        services.update_service(stale, actor=ACTOR, data={"description": "edited after retirement"})
    other = ServiceFactory(owner_team=team)
    with pytest.raises(Exception, match="retired"):
        services.update_service(other, actor=ACTOR, data={"depends_on": [stale]})
    assert not Service.objects.get(pk=other.pk).depends_on.exists()


def test_a_token_cannot_mint_a_longer_lived_token(api, users):
    import datetime

    from django.utils import timezone

    _token, plaintext = create_token(users["viewer"], actor=ACTOR, name="short",
                                     expires_at=timezone.now() + datetime.timedelta(days=1))
    client = api()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    forever = client.post("/api/v1/tokens/", {"name": "forever"}, format="json")
    assert forever.status_code == 400 and "expires_at" in forever.json()["error"]["fields"]
    later = (timezone.now() + datetime.timedelta(days=30)).isoformat()
    assert client.post("/api/v1/tokens/", {"name": "x", "expires_at": later}, format="json").status_code == 400
    sooner = (timezone.now() + datetime.timedelta(hours=2)).isoformat()
    assert client.post("/api/v1/tokens/", {"name": "ok", "expires_at": sooner}, format="json").status_code == 201


@pytest.mark.parametrize("hours", [{"mon": [["09:00", "17:00", "x"]]}, {"mon": 5}, {"mon": [[9, 17]]}, ["mon"]])
def test_malformed_support_hours_are_400(api, users, team, hours):
    response = api(users["manager"]).post("/api/v1/services/", {"name": "X", "slug": "x", "owner_team": team.slug,
                                                                "support_hours": hours}, format="json")
    assert response.status_code == 400 and "support_hours" in response.json()["error"]["fields"]


def test_odd_inputs_never_500(client, api, users):
    client.force_login(users["viewer"])
    assert client.get("/services/", {"sort": "--name"}).status_code == 200
    anonymous = api()
    anonymous.credentials(HTTP_AUTHORIZATION=" ")
    assert anonymous.get("/api/v1/services/").status_code == 401


def test_reason_over_the_limit_is_refused_not_cut(api, users, team):
    service = ServiceFactory(owner_team=team, status="active")
    response = api(users["manager"]).post(f"/api/v1/services/{service.pk}/retire/", {"reason": "x" * 501},
                                          format="json")
    assert response.status_code == 400 and "reason" in response.json()["error"]["fields"]
    assert Service.objects.get(pk=service.pk).status == "active"


def test_csv_cells_cannot_become_formulas(client, users, team):
    ServiceFactory(owner_team=team, name='=HYPERLINK("http://evil")')
    client.force_login(users["viewer"])
    body = b"".join(client.get("/services/", {"export": "csv"}).streaming_content).decode()
    assert "'=HYPERLINK" in body


def test_criticality_sorts_by_severity(api, users, team):
    for crit in ("low", "critical", "medium", "high"):
        ServiceFactory(owner_team=team, criticality=crit)
    results = api(users["viewer"]).get("/api/v1/services/", {"ordering": "criticality_rank"}).json()["results"]
    assert [s["criticality"] for s in results] == ["critical", "high", "medium", "low"]


def test_login_failures_from_elsewhere_do_not_lock_a_user_out(client, users, settings):
    settings.LOGIN_THROTTLE_FAILURES = 3
    for _ in range(3):
        client.post("/accounts/login/", {"username": "viewer", "password": "bad"}, REMOTE_ADDR="203.0.113.9")
    locked = client.post("/accounts/login/", {"username": "viewer", "password": "correct horse battery"},
                         REMOTE_ADDR="203.0.113.9")
    assert locked.status_code == 200
    ok = client.post("/accounts/login/", {"username": "viewer", "password": "correct horse battery"},
                     REMOTE_ADDR="198.51.100.7")
    assert ok.status_code == 302


def test_readyz_does_not_leak_error_text(client):
    from opsdesk.celery import app

    original = app.conf.broker_url
    app.conf.broker_url = "redis://user:hunter2@127.0.0.1:1/0"
    try:
        body = client.get("/readyz").content.decode()
    finally:
        app.conf.broker_url = original
    assert "hunter2" not in body and "unreachable" in body


def test_membership_form_offers_only_grantable_roles(client, users, team):
    client.force_login(users["team_manager"])
    page = client.get(f"/accounts/teams/{team.pk}/").content.decode()
    roles = page.split('id="member-role"')[1].split("</select>")[0]
    assert 'value="manager"' in roles and 'value="admin"' not in roles


def test_non_numeric_ids_are_not_errors(client, users):
    client.force_login(users["viewer"])
    assert client.post("/notifications/", {"id": "abc"}).status_code == 404
    assert client.post("/accounts/profile/", {"what": "unsubscribe", "subscription": "abc"}).status_code == 302
    assert client.post("/saved-filters/", {"delete": "abc", "next": "/services/"}).status_code == 302


def test_channel_attachments_follow_the_channel_pages_role(client, users):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from opsdesk.core.comments import add_attachment
    from opsdesk.core.models import Attachment

    channel = NotificationChannel.objects.create(name="c", kind="email", target="a@example.com")
    add_attachment(channel, actor=ACTOR, upload=SimpleUploadedFile("runbook.txt", b"call the vendor"))
    attachment = Attachment.objects.get()
    client.force_login(users["viewer"])
    assert client.get(f"/attachments/{attachment.pk}/").status_code == 403
    client.force_login(users["admin"])
    assert client.get(f"/attachments/{attachment.pk}/").status_code == 200


def test_api_ordering_by_criticality_means_severity(api, users, team):
    for crit in ("low", "critical"):
        ServiceFactory(owner_team=team, criticality=crit)
    results = api(users["viewer"]).get("/api/v1/services/", {"ordering": "-criticality"}).json()["results"]
    assert [s["criticality"] for s in results] == ["low", "critical"]


def test_init_never_overwrites_configuration(capsys):
    from opsdesk.accounts.models import User
    from opsdesk.cli import main

    Team.objects.create(name="Operations", slug="ops-center")
    assert main(["init"]) == 0
    assert "password:" in capsys.readouterr().out
    assert Team.objects.count() == 1 and User.objects.filter(username="admin").exists()


@pytest.mark.django_db(transaction=True)
def test_editing_a_dependent_while_retiring_its_dependency_never_deadlocks(team):
    """Two writers, opposite intents: one edits A (which depends on B), one retires B. Either order
    is fine; a deadlock or any other database error is not."""
    import threading

    from django.core.exceptions import ValidationError
    from django.db import connection

    errors = []
    for attempt in range(4):
        base = ServiceFactory(owner_team=team, status="active", slug=f"base-{attempt}")
        dependent = ServiceFactory(owner_team=team, status="active", depends_on=[base])
        barrier = threading.Barrier(2)

        def in_thread(write, barrier=barrier):
            try:
                barrier.wait()
                write()
            except (ValidationError, TransitionNotAllowed):
                pass  # a refusal is a fine outcome
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)
            finally:
                connection.close()

        def edit(dep=dependent, b=base):
            services.update_service(Service.objects.get(pk=dep.pk), actor=ACTOR,
                                    data={"description": "edited", "depends_on": [b]})

        def retire(b=base):
            services.retire_service(Service.objects.get(pk=b.pk), actor=ACTOR, reason="x")

        threads = [threading.Thread(target=in_thread, args=(edit,)), threading.Thread(target=in_thread, args=(retire,))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        base.refresh_from_db()
        assert base.status == "active", "B is still needed by A, so it cannot be retired"
