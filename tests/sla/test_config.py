"""The SLA sections of the configuration file: sla_calendars and sla_policies."""

import pytest
import yaml

from opsdesk.core import config_as_code
from opsdesk.core.actors import Actor
from opsdesk.core.models import AuditEntry
from opsdesk.sla.models import BusinessCalendar, SLAPolicy, SLATarget

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")
SLA = ("sla_calendars", "sla_policies")

BERLIN = {"key": "berlin-office", "name": "Berlin office", "time_zone": "Europe/Berlin",
          "hours": "mon-fri 08:00-18:00", "holidays": {"country": "DE", "region": "BE"},
          "custom_holidays": [{"date": "2026-12-24", "name": "Christmas Eve"}],
          "extra_days": [{"date": "2026-12-19", "hours": "09:00-13:00", "name": "Year-end release"}]}
NETWORK = {"key": "network-p2", "name": "Network P2", "record_type": "incident", "order": 5, "active": True,
           "conditions": {"priority": ["P2"], "category": ["network"]}, "calendar": "berlin-office",
           "pause_states": ["on_hold"], "warn_percentages": [50, 90],
           "targets": [{"metric": "acknowledge", "goal_minutes": 30, "business_time": True},
                       {"metric": "resolve", "goal_minutes": 600, "business_time": True}]}


def document(**sections) -> dict:
    return {"version": 1, **sections}


def exported() -> dict:
    full = config_as_code.export_document()
    return document(**{key: full[key] for key in SLA})


def state() -> tuple:
    return (list(BusinessCalendar.objects.order_by("slug").values()), list(SLAPolicy.objects.order_by("slug").values()),
            list(SLATarget.objects.order_by("id").values()), AuditEntry.objects.count())


def apply(doc, dry_run=False):
    return config_as_code.apply_document(config_as_code.load(config_as_code.dump(doc)), actor=ACTOR, dry_run=dry_run)


def test_export_lists_the_shipped_calendars_and_policies():
    doc = exported()
    always = next(c for c in doc["sla_calendars"] if c["key"] == "24x7")
    assert always["hours"] == "24x7"
    p1 = next(p for p in doc["sla_policies"] if p["key"] == "p1-incidents")
    assert p1["conditions"] == {"priority": ["P1"]}
    assert p1["calendar"] == "24x7"
    assert p1["targets"] == [{"metric": "acknowledge", "goal_minutes": 15, "business_time": False},
                             {"metric": "resolve", "goal_minutes": 240, "business_time": False}]
    assert [p["key"] for p in doc["sla_policies"]] == ["p1-incidents", "p2-incidents", "p3-incidents",
                                                       "p4-p5-incidents"]


def test_apply_creates_then_export_round_trips_unchanged():
    changes = apply(document(sla_calendars=[BERLIN], sla_policies=[NETWORK]))
    assert [(c.section, c.key, c.action) for c in changes] == [("sla_calendars", "berlin-office", "create"),
                                                               ("sla_policies", "network-p2", "create")]
    calendar = BusinessCalendar.objects.get(slug="berlin-office")
    assert calendar.hours["mon"] == [["08:00", "18:00"]]
    assert calendar.extra_days == [{"date": "2026-12-19", "hours": [["09:00", "13:00"]], "name": "Year-end release"}]
    policy = SLAPolicy.objects.get(slug="network-p2")
    assert policy.calendar == calendar
    assert policy.targets.get(metric="resolve").goal_minutes == 600
    again = apply(exported())
    assert {c.action for c in again} == {"unchanged"}


def test_dry_run_shows_the_diff_and_changes_nothing():
    apply(document(sla_calendars=[BERLIN], sla_policies=[NETWORK]))
    before = state()
    edited = {**NETWORK, "targets": [{"metric": "resolve", "goal_minutes": 480, "business_time": True}]}
    changes = apply(document(sla_policies=[edited]), dry_run=True)
    assert changes[0].action == "update"
    assert changes[0].fields["targets"][1] == [{"metric": "resolve", "goal_minutes": 480, "business_time": True}]
    assert "network-p2" in changes[0].line()
    assert state() == before
    apply(document(sla_policies=[edited]))
    assert list(SLAPolicy.objects.get(slug="network-p2").targets.values_list("metric", "goal_minutes")) == [
        ("resolve", 480)]


@pytest.mark.parametrize("text, problem", [
    ("version: 1\nsla_calendars:\n- {key: x, name: X, hours: 'mon-fri 09:00-17:00', colour: red}\n",
     "sla_calendars/0"),
    ("version: 1\nsla_policies:\n- {key: x, name: X, calendar: 24x7, targets: [{metric: resolve, goal_minutes: 0}]}\n",
     "sla_policies/0/targets/0/goal_minutes"),
    ("version: 1\nsla_policies:\n- {key: x, name: X, calendar: 24x7, targets: []}\n", "sla_policies/0/targets"),
])
def test_files_that_break_the_schema_are_refused_with_the_place(text, problem):
    with pytest.raises(config_as_code.ConfigError) as info:
        config_as_code.load(text)
    assert any(p.startswith(problem) for p in info.value.problems), info.value.problems


@pytest.mark.parametrize("doc, problem", [
    (document(sla_calendars=[{**BERLIN, "hours": "mon-fri 9-5"}]), "sla_calendars/berlin-office/hours"),
    (document(sla_calendars=[{**BERLIN, "holidays": {"country": "XX"}}]),
     "sla_calendars/berlin-office/holiday_country"),
    (document(sla_calendars=[{**BERLIN, "time_zone": "Mars/Olympus"}]), "sla_calendars/berlin-office/time_zone"),
    (document(sla_policies=[{**NETWORK, "calendar": "nowhere"}]), "sla_policies/network-p2/calendar"),
    (document(sla_calendars=[BERLIN], sla_policies=[{**NETWORK, "targets": [NETWORK["targets"][0]] * 2}]),
     "sla_policies/network-p2/targets"),
])
def test_invalid_values_fail_the_whole_apply_naming_the_place(doc, problem):
    before = state()
    with pytest.raises(config_as_code.ConfigError) as info:
        apply(doc)
    assert any(p.startswith(problem) for p in info.value.problems), info.value.problems
    assert state() == before


def test_the_export_is_valid_yaml_for_the_schema():
    text = config_as_code.dump(exported())
    assert config_as_code.load(text)["sla_calendars"]
    assert yaml.safe_load(text)["version"] == 1
