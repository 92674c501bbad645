"""The `oncall_schedules` section of the configuration file: export, apply, dry-run diff, errors."""

import pytest

from opsdesk.core import config_as_code
from opsdesk.core.actors import Actor
from opsdesk.core.config_as_code import ConfigError
from opsdesk.core.models import AuditEntry
from opsdesk.oncall.models import Layer, Schedule
from tests.accounts.factories import TeamFactory, UserFactory

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")

FILE = """
version: 1
oncall_schedules:
- slug: dba
  name: Database on-call
  team: data
  time_zone: Europe/Berlin
  layers:
  - name: Weekly
    users: [alice, bob]
    rotation_start: 2026-02-02T09:00:00+01:00
    turn_unit: weeks
  - name: Office hours
    users: [carol]
    rotation_start: "2026-02-02T09:00:00+01:00"
    turn_unit: days
    restrictions:
      kind: weekly
      ranges: [{start_day: 0, start: "09:00", end_day: 4, end: "17:00"}]
"""


@pytest.fixture
def people():
    TeamFactory(slug="data", name="Data")
    return {name: UserFactory(username=name, role="responder") for name in ("alice", "bob", "carol")}


def apply(text: str, dry_run=False):
    return config_as_code.apply_document(config_as_code.load(text), actor=ACTOR, dry_run=dry_run)


def test_apply_creates_the_schedule_with_layers_and_export_round_trips(people):
    dry = apply(FILE, dry_run=True)
    assert [c.action for c in dry] == ["create"] and not Schedule.objects.exists()
    apply(FILE)
    schedule = Schedule.objects.get(slug="dba")
    assert schedule.team.slug == "data" and schedule.time_zone == "Europe/Berlin"
    layers = list(schedule.layers.order_by("order"))
    assert [(layer.name, layer.order) for layer in layers] == [("Weekly", 1), ("Office hours", 2)]
    assert layers[0].users == [people["alice"].pk, people["bob"].pk]
    assert layers[1].restrictions["kind"] == "weekly"
    exported = config_as_code.export_document()["oncall_schedules"]
    assert exported[0]["layers"][0]["users"] == ["alice", "bob"]
    before = AuditEntry.objects.count()
    again = config_as_code.apply_document(config_as_code.load(config_as_code.dump(
        {"version": 1, "oncall_schedules": exported})), actor=ACTOR)
    assert [c.action for c in again] == ["unchanged"]
    assert AuditEntry.objects.count() == before


def test_changed_and_missing_layers_show_in_the_diff(people):
    apply(FILE)
    text = FILE.replace("users: [alice, bob]", "users: [bob, alice]")
    text = text[:text.index("  - name: Office hours")]
    changes = apply(text, dry_run=True)
    assert changes[0].action == "update"
    assert set(changes[0].fields) == {"layer Weekly", "layer Office hours"}
    assert Layer.objects.count() == 2  # a dry run
    apply(text)
    assert list(Layer.objects.values_list("name", flat=True)) == ["Weekly"]
    assert Layer.objects.get().users == [people["bob"].pk, people["alice"].pk]


@pytest.mark.parametrize(("change", "problem"), [
    (("turn_unit: weeks", "turn_unit: months"), "turn_unit"),
    (('start: "09:00"', 'start: "9am"'), "oncall_schedules/0/layers/1/restrictions"),
    (("users: [alice, bob]", "users: []"), "users"),
])
def test_schema_errors_name_the_place(people, change, problem):
    with pytest.raises(ConfigError) as error:
        apply(FILE.replace(*change))
    assert any(problem in p for p in error.value.problems), error.value.problems


@pytest.mark.parametrize(("change", "problem"), [
    (("users: [alice, bob]", "users: [alice, zed]"), "no user zed"),
    (("team: data", "team: nope"), "no team"),
    (("time_zone: Europe/Berlin", "time_zone: Europe/Atlantis"), "time zone"),
    (("2026-02-02T09:00:00+01:00\n    turn_unit: weeks", "2026-02-02T09:00:00\n    turn_unit: weeks"), "offset"),
])
def test_reference_errors_fail_the_whole_apply(people, change, problem):
    with pytest.raises(ConfigError) as error:
        apply(FILE.replace(*change))
    assert any(problem in p for p in error.value.problems), error.value.problems
    assert not Schedule.objects.exists()
