import pytest
from django.db import connection

from opsdesk.cli import main
from opsdesk.core.audit import verify_chain
from opsdesk.core.models import AuditEntry
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db


def test_chain_verifies_and_names_an_edited_row(team, capsys):
    ServiceFactory(owner_team=team)
    ServiceFactory(owner_team=team, status="active")
    result = verify_chain()
    assert result.ok and result.checked == AuditEntry.objects.count()
    victim = AuditEntry.objects.order_by("id")[1]
    # Tamper as an attacker with database access would: behind the application's back.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE core_auditentry SET actor_label = %s WHERE id = %s", ["mallory", victim.pk])
    result = verify_chain()
    assert not result.ok
    assert result.bad_entry_id == victim.pk
    assert main(["audit", "verify"]) == 1
    assert f"BROKEN at row {victim.pk}" in capsys.readouterr().out


def test_deleting_a_row_breaks_the_link_of_the_next(team):
    ServiceFactory(owner_team=team, status="retired")
    rows = list(AuditEntry.objects.order_by("id"))
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM core_auditentry WHERE id = %s", [rows[1].pk])
    result = verify_chain()
    assert not result.ok and result.bad_entry_id == rows[2].pk


def test_deleting_the_newest_row_is_detected(team):
    ServiceFactory(owner_team=team, status="active")
    newest = AuditEntry.objects.order_by("-id").first()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM core_auditentry WHERE id = %s", [newest.pk])
    assert not verify_chain().ok


def test_cli_verify_passes_on_an_intact_chain(team, capsys):
    ServiceFactory(owner_team=team)
    assert main(["audit", "verify"]) == 0
    assert "intact" in capsys.readouterr().out


def test_request_id_is_recorded_for_web_writes(client, users, team):
    client.force_login(users["manager"])
    response = client.post("/services/new/", {"name": "Shop", "slug": "shop", "kind": "technical",
                                               "owner_team": team.pk, "tier": 2, "criticality": "high",
                                               "support_time_zone": "UTC"}, HTTP_X_REQUEST_ID="req-1234abcd")
    assert response.status_code == 302
    entry = AuditEntry.objects.filter(action="create", object_repr__contains="Shop").get()
    assert entry.request_id == "req-1234abcd"
    assert entry.actor_kind == "user" and entry.actor_label == "manager"


def test_emptying_the_change_log_is_detected(team):
    ServiceFactory(owner_team=team)
    AuditEntry.objects.all().delete()
    result = verify_chain()
    assert not result.ok and "missing" in result.reason


def test_a_user_with_change_log_rows_cannot_be_deleted(client, users, team):
    from django.db.models import ProtectedError

    client.force_login(users["manager"])
    client.post("/services/new/", {"name": "Shop", "slug": "shop", "kind": "technical", "owner_team": team.pk,
                                   "tier": 2, "criticality": "high", "support_time_zone": "UTC"})
    with pytest.raises(ProtectedError):
        users["manager"].delete()
    assert verify_chain().ok
