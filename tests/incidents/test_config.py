"""The incidents sections of the configuration file: settings (levels, matrix, clocks, report
template), categories, assignment rules and escalation rules."""

import copy

import pytest

from opsdesk.core import config_as_code
from opsdesk.core.actors import Actor
from opsdesk.core.config_as_code import ConfigError
from opsdesk.core.models import AuditEntry
from opsdesk.incidents import services
from opsdesk.incidents.models import AssignmentRule, Category, EscalationRule
from tests.incidents.factories import make_incident, shipped

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")
SECTIONS = ("incident_settings", "incident_categories", "incident_assignment_rules", "incident_escalation_rules")


def exported() -> dict:
    shipped()
    document = config_as_code.export_document()
    return {"version": 1, **{key: document[key] for key in SECTIONS}}


def apply(document: dict, dry_run=False):
    return config_as_code.apply_document(config_as_code.load(config_as_code.dump(document)), actor=ACTOR,
                                         dry_run=dry_run)


def test_export_then_apply_changes_nothing():
    document = exported()
    assert document["incident_settings"][0]["matrix"]["1"]["1"] == "P1"
    assert any(c["slug"] == "network-dns" and c["parent"] == "network" for c in document["incident_categories"])
    before = AuditEntry.objects.count()
    changes = apply(document)
    assert {c.action for c in changes} == {"unchanged"}
    assert AuditEntry.objects.count() == before


def test_a_new_matrix_rules_and_categories_apply_and_take_effect(team, other_team):
    document = exported()
    document["incident_settings"][0]["matrix"]["3"]["3"] = "P4"
    document["incident_categories"] += [{"slug": "printing", "name": "Printing"},
                                        {"slug": "printing-toner", "name": "Toner", "parent": "printing"}]
    document["incident_assignment_rules"] = [{"name": "Printers", "order": 5, "team": team.slug,
                                              "conditions": {"category": ["printing"]}, "method": "team"}]
    document["incident_escalation_rules"] = [{"name": "P1 unacknowledged", "trigger": "no_ack", "minutes": 10,
                                              "kind": "functional", "target_team": other_team.slug,
                                              "conditions": {"priority": ["P1"]}}]
    preview = apply(document, dry_run=True)
    assert {c.action for c in preview} >= {"create", "update"}
    assert not AssignmentRule.objects.exists()  # the dry run wrote nothing
    apply(document)
    assert Category.objects.get(slug="printing-toner").parent.slug == "printing"
    assert EscalationRule.objects.get().target_team == other_team
    incident = make_incident(impact=3, urgency=3, category=Category.objects.get(slug="printing"))
    assert incident.priority == "P4"
    assert incident.assignment_group == team
    assert {c.action for c in apply(document)} == {"unchanged"}


@pytest.mark.parametrize(("mutate", "where"), [
    (lambda d: d["incident_settings"][0]["matrix"]["2"].pop("3"), "matrix"),
    (lambda d: d["incident_settings"][0].update(report_required_priorities=["P9"]), "report_required_priorities"),
    (lambda d: d["incident_assignment_rules"].append({"name": "x", "team": "no-such-team"}), "no-such-team"),
    (lambda d: d["incident_categories"].append({"slug": "a-b", "name": "A", "parent": "network-dns"}), "subcategory"),
    (lambda d: d["incident_escalation_rules"].append({"name": "y", "trigger": "no_ack", "kind": "hierarchical",
                                                      "notify": ["lead"]}), "minutes"),
    (lambda d: d["incident_categories"].append(copy.deepcopy(d["incident_categories"][0])), "more than once"),
])
def test_a_wrong_file_is_refused_with_the_place_and_changes_nothing(mutate, where):
    document = exported()
    mutate(document)
    before = (AuditEntry.objects.count(), services.incident_settings().matrix, Category.objects.count())
    with pytest.raises(ConfigError) as exc:
        apply(document)
    assert where in str(exc.value)
    assert before == (AuditEntry.objects.count(), services.incident_settings().matrix, Category.objects.count())


def test_an_unknown_priority_in_the_matrix_is_refused_by_the_schema():
    document = exported()
    document["incident_settings"][0]["matrix"]["1"]["1"] = "P0"
    with pytest.raises(ConfigError) as exc:
        apply(document)
    assert "incident_settings/0/matrix" in str(exc.value)
