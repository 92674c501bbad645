import pytest
import yaml

from opsdesk.cli import main
from opsdesk.core import config_as_code
from opsdesk.core.actors import Actor
from opsdesk.core.demo import load_demo
from opsdesk.services.models import Service

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")
# The CMDB demo (hundreds of CIs) is only needed by the whole-document round trip.
CATALOG = ("accounts", "services")


def test_export_then_dry_run_reports_no_changes():
    load_demo()
    text = config_as_code.dump(config_as_code.export_document())
    changes = config_as_code.apply_document(config_as_code.load(text), actor=ACTOR, dry_run=True)
    changed = [c.line() for c in changes if c.action != "unchanged"]
    assert changes and not changed, changed


def test_dry_run_shows_the_diff_and_changes_nothing():
    load_demo(only=CATALOG)
    document = config_as_code.export_document()
    shop = next(s for s in document["services"] if s["slug"] == "online-shop")
    shop["tier"] = 2
    document["services"].append({"slug": "status-page", "name": "Status Page", "owner_team": "platform",
                                 "status": "active", "depends_on": ["online-shop"],
                                 "support_hours": "mon-fri 09:00-17:00"})
    changes = config_as_code.apply_document(document, actor=ACTOR, dry_run=True)
    by_key = {c.key: c for c in changes}
    assert by_key["online-shop"].action == "update" and by_key["online-shop"].fields["tier"] == ["1", "2"]
    assert by_key["status-page"].action == "create"
    assert Service.objects.get(slug="online-shop").tier == 1
    assert not Service.objects.filter(slug="status-page").exists()
    config_as_code.apply_document(document, actor=ACTOR)
    created = Service.objects.get(slug="status-page")
    assert created.status == "active" and [s.slug for s in created.depends_on.all()] == ["online-shop"]
    assert Service.objects.get(slug="online-shop").tier == 2
    again = config_as_code.apply_document(config_as_code.export_document(), actor=ACTOR, dry_run=True)
    assert all(c.action == "unchanged" for c in again)


@pytest.mark.parametrize("text, problem", [
    ("version: 2\n", "version"),
    ("version: 1\nservices:\n- name: X\n", "'slug' is a required property"),
    ("version: 1\nservices:\n- {slug: x, name: X, owner_team: t, tier: 9}\n", "services/0/tier"),
    ("version: 1\nwidgets: []\n", "widgets"),
    ("version: [\n", "not valid YAML"),
])
def test_invalid_files_are_refused_with_the_place_of_the_error(text, problem):
    with pytest.raises(config_as_code.ConfigError) as error:
        config_as_code.load(text)
    assert any(problem in p for p in error.value.problems), error.value.problems


def test_unknown_references_fail_the_whole_apply():
    load_demo(only=CATALOG)
    before = Service.objects.count()
    document = {"version": 1, "services": [
        {"slug": "ok", "name": "OK", "owner_team": "platform"},
        {"slug": "bad", "name": "Bad", "owner_team": "no-such-team"},
    ]}
    with pytest.raises(config_as_code.ConfigError) as error:
        config_as_code.apply_document(document, actor=ACTOR)
    assert "no-such-team" in str(error.value)
    assert Service.objects.count() == before, "nothing of a failed apply is kept"


def test_cli_export_and_apply(tmp_path, capsys):
    load_demo(only=CATALOG)
    assert main(["config", "export"]) == 0
    exported = capsys.readouterr().out
    assert yaml.safe_load(exported)["version"] == 1
    path = tmp_path / "ops.yaml"
    path.write_text(exported)
    assert main(["config", "apply", str(path), "--dry-run"]) == 0
    assert "0 would change" in capsys.readouterr().out
    path.write_text("version: 1\nservices:\n- {slug: x}\n")
    assert main(["config", "apply", str(path)]) == 2
    assert "nothing was changed" in capsys.readouterr().err


def test_apply_records_the_system_actor_in_the_change_log():
    load_demo(only=CATALOG)
    document = config_as_code.export_document()
    document["teams"][0]["description"] = "Changed by file"
    config_as_code.apply_document(document, actor=Actor.system("config-apply"))
    from opsdesk.accounts.models import Team
    from opsdesk.core.audit import history_for

    entry = history_for(Team.objects.get(slug=document["teams"][0]["slug"])).first()
    assert entry.actor_label == "system:config-apply" and entry.changes["description"][1] == "Changed by file"


@pytest.mark.parametrize("edit, problem", [
    ({"slug": "online-shop", "status": "planned"}, "cannot go from active to planned"),
    ({"slug": "legacy-billing", "tier": 1}, "retired and read-only"),
    ({"slug": "legacy-billing", "depends_on": ["postgres"]}, "retired service is read-only"),
    ({"slug": "online-shop", "support_hours": "someday"}, "services/online-shop"),
])
def test_impossible_changes_are_refused_not_misreported(edit, problem):
    load_demo(only=CATALOG)
    document = config_as_code.export_document()
    item = next(s for s in document["services"] if s["slug"] == edit["slug"])
    item.update(edit)
    with pytest.raises(config_as_code.ConfigError) as error:
        config_as_code.apply_document(document, actor=ACTOR, dry_run=True)
    assert problem in str(error.value.problems)


def test_reinstating_in_the_file_shows_the_status_change():
    load_demo(only=CATALOG)
    document = config_as_code.export_document()
    item = next(s for s in document["services"] if s["slug"] == "legacy-billing")
    item.update({"status": "active", "tier": 2})
    change = next(c for c in config_as_code.apply_document(document, actor=ACTOR) if c.key == "legacy-billing")
    assert change.fields["status"] == ["retired", "active"] and change.fields["tier"] == ["3", "2"]
    assert Service.objects.get(slug="legacy-billing").status == "active"
