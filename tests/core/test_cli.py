import pytest

from opsdesk.accounts.models import User
from opsdesk.cli import main
from opsdesk.services.models import Service

pytestmark = pytest.mark.django_db


def test_init_creates_the_admin_once_and_prints_the_password_once(capsys):
    assert main(["init"]) == 0
    out = capsys.readouterr().out
    password = out.split("password:")[1].split()[0]
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.role == "admin" and admin.check_password(password)
    from opsdesk.accounts.models import Team

    team = Team.objects.get(slug="operations")
    assert team.lead == admin and team.memberships.get().role == "admin"
    team.name = "Ops Center"
    team.save()
    assert main(["init"]) == 0
    out = capsys.readouterr().out
    assert "password:" not in out and "nothing to create" in out
    assert User.objects.filter(username="admin").count() == 1
    assert Team.objects.get(slug="operations").name == "Ops Center", "defaults are applied on the first run only"


def test_demo_is_idempotent(capsys):
    assert main(["demo"]) == 0
    count = Service.objects.count()
    assert count >= 10
    assert Service.objects.filter(status="retired").exists() and Service.objects.filter(status="planned").exists()
    assert main(["demo"]) == 0
    assert Service.objects.count() == count
    assert "0 records created" in capsys.readouterr().out


def test_check_reports_database(capsys):
    main(["check"])
    out = capsys.readouterr().out
    assert "database:  ok" in out and "settings:  ok" in out
