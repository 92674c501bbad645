"""The `release_environments` and `release_settings` sections of the configuration file: export, apply with a
dry-run diff, schema and whole-set validation with path-named errors, nothing written on bad input."""

from __future__ import annotations

import copy

import pytest

from opsdesk.core import config_as_code
from opsdesk.core.actors import Actor
from opsdesk.core.config_as_code import ConfigError
from opsdesk.core.models import AuditEntry
from opsdesk.releases import environments
from opsdesk.releases.models import Environment, ReleaseSettings

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")
KEYS = ("release_environments", "release_settings")


def exported() -> dict:
    document = config_as_code.export_document()
    return {"version": 1, **{key: document[key] for key in KEYS}}


def apply(document: dict, dry_run=False):
    return config_as_code.apply_document(config_as_code.load(config_as_code.dump(document)), actor=ACTOR,
                                         dry_run=dry_run)


def state():
    return list(Environment.objects.order_by("order").values_list("slug", "order", "is_production", "active"))


def test_export_holds_the_shipped_environments_and_settings_and_applying_it_changes_nothing():
    document = exported()
    assert [e["slug"] for e in document["release_environments"]] == ["development", "test", "staging", "production"]
    production = document["release_environments"][-1]
    assert production["is_production"] is True and production["requires_change"] is True
    assert document["release_settings"] == [{"watch_hours": 24, "rise_factor": 1.5, "rise_min_count": 3,
                                             "auto_create_change": True, "change_template": ""}]
    before = AuditEntry.objects.count()
    changes = apply(document)
    assert {c.action for c in changes} == {"unchanged"}
    assert AuditEntry.objects.count() == before


def test_round_trip_with_a_dry_run_first():
    document = exported()
    envs = document["release_environments"]
    envs[1]["order"], envs[2]["order"] = 30, 20  # swap test and staging
    envs.append({"slug": "perf", "name": "Performance", "order": 35, "active": True})
    document["release_settings"][0].update({"watch_hours": 48, "rise_min_count": 5})
    shipped = state()
    preview = apply(copy.deepcopy(document), dry_run=True)
    by_key = {c.key: c for c in preview}
    assert by_key["perf"].action == "create" and by_key["test"].fields == {"order": [20, 30]}
    assert by_key["releases"].fields == {"watch_hours": [24, 48], "rise_min_count": [3, 5]}
    assert state() == shipped and ReleaseSettings.objects.get().watch_hours == 24  # the dry run wrote nothing
    apply(document)
    assert [s[0] for s in state()] == ["development", "staging", "test", "perf", "production"]
    assert ReleaseSettings.objects.get().watch_hours == 48
    assert AuditEntry.objects.filter(action="update", changes__has_key="watch_hours").exists()
    # Exported again, it is what was applied.
    again = exported()
    assert [e["slug"] for e in again["release_environments"]] == ["development", "staging", "test", "perf",
                                                                   "production"]
    assert {c.action for c in apply(again)} == {"unchanged"}


@pytest.mark.parametrize("change, where", [
    ({"order": -1}, "release_environments/0/order"),
    ({"slug": "Bad Slug"}, "release_environments/0/slug"),
    ({"colour": "red"}, "release_environments/0"),
])
def test_schema_refuses_bad_environments(change, where):
    document = exported()
    document["release_environments"][0].update(change)
    with pytest.raises(ConfigError) as raised:
        config_as_code.load(config_as_code.dump(document))
    assert where in str(raised.value)


@pytest.mark.parametrize("change, where", [
    ({"watch_hours": 0}, "release_settings/0/watch_hours"),
    ({"rise_factor": 0.5}, "release_settings/0/rise_factor"),
    ({"unknown": 1}, "release_settings/0"),
])
def test_schema_refuses_bad_settings(change, where):
    document = exported()
    document["release_settings"][0].update(change)
    with pytest.raises(ConfigError) as raised:
        config_as_code.load(config_as_code.dump(document))
    assert where in str(raised.value)


def test_duplicate_orders_no_production_and_unknown_template_are_refused_and_nothing_is_written():
    shipped = state()
    audits = AuditEntry.objects.count()
    document = exported()
    document["release_environments"][1]["order"] = 10  # test takes development's place
    document["release_environments"][0]["name"] = "Dev"
    with pytest.raises(ConfigError) as raised:
        apply(document)
    assert "release_environments/test/order" in str(raised.value)
    assert "release_environments/development/order" in str(raised.value)
    document = exported()
    document["release_environments"][3]["is_production"] = False
    with pytest.raises(ConfigError) as raised:
        apply(document)
    assert "release_environments: At least one active environment must be production" in str(raised.value)
    document = exported()
    document["release_settings"][0]["change_template"] = "no-such-template"
    document["release_environments"][0]["name"] = "Dev"
    with pytest.raises(ConfigError) as raised:
        apply(document)
    assert "release_settings/change_template" in str(raised.value)
    document = exported()
    document["release_environments"].append(dict(document["release_environments"][0]))
    with pytest.raises(ConfigError) as raised:
        apply(document)
    assert "release_environments/development: appears more than once" in str(raised.value)
    assert state() == shipped and Environment.objects.get(slug="development").name == "Development"
    assert AuditEntry.objects.count() == audits


def test_save_environment_keeps_the_rules_and_forces_a_change_on_production():
    env = environments.save_environment(actor=ACTOR, data={"slug": "dr", "name": "Disaster recovery", "order": 50,
                                                           "is_production": True})
    assert env.requires_change is True
    assert AuditEntry.objects.filter(action="create", object_id=env.pk).exists()
    with pytest.raises(Exception) as raised:
        environments.save_environment(actor=ACTOR, data={"slug": "qa", "name": "QA", "order": 20})
    assert "order" in raised.value.message_dict
    production = Environment.objects.get(slug="production")
    environments.save_environment(production, actor=ACTOR, data={"active": False})  # "dr" is still production
    with pytest.raises(Exception) as raised:
        environments.save_environment(env, actor=ACTOR, data={"is_production": False})
    assert "is_production" in raised.value.message_dict
    assert Environment.objects.get(slug="dr").is_production is True
