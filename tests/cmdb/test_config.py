"""The CMDB's sections of the configuration file: cmdb_classes (with their attributes),
cmdb_relationship_types and cmdb_custom_attributes."""

import pytest
import yaml
from django.db import connection
from django.test.utils import CaptureQueriesContext

from opsdesk.cli import main
from opsdesk.cmdb import services
from opsdesk.cmdb.config import ClassSection, CustomAttributeSection, RelationshipTypeSection
from opsdesk.cmdb.models import AttributeDefinition, CIClass, RelationshipType
from opsdesk.core import config_as_code
from opsdesk.core.actors import Actor
from opsdesk.core.audit import history_for
from opsdesk.core.models import AuditEntry

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")
CMDB = ("cmdb_classes", "cmdb_relationship_types", "cmdb_custom_attributes")


def cmdb_document(**sections) -> dict:
    return {"version": 1, **sections}


def exported() -> dict:
    document = config_as_code.export_document()
    return {"version": 1, **{key: document[key] for key in CMDB}}


def item(document: dict, section: str, key: str) -> dict:
    field = "key" if section == "cmdb_custom_attributes" else "slug"
    return next(i for i in document[section] if i[field] == key)


def state() -> tuple:
    """Everything the sections can write, to check that a dry run or a refused file changed nothing."""
    return (list(CIClass.objects.order_by("slug").values()), list(AttributeDefinition.objects.order_by("id").values()),
            list(RelationshipType.objects.order_by("slug").values()), AuditEntry.objects.count())


def test_export_lists_the_shipped_classes_attributes_and_relationship_types():
    document = exported()
    server = item(document, "cmdb_classes", "server")
    assert server["is_asset"] is True and server["expiry_reminder_days"] == [60, 14]
    assert server["attributes"][0] == {"key": "os", "label": "Operating system", "type": "string", "required": False,
                                       "choices": [], "reference_class": None, "help_text": "", "tracked": True,
                                       "order": 0}
    hypervisor = next(a for a in item(document, "cmdb_classes", "virtual-machine")["attributes"]
                      if a["key"] == "hypervisor")
    assert hypervisor["type"] == "reference" and hypervisor["reference_class"] == "server"
    assert [t["slug"] for t in document["cmdb_relationship_types"]] == [
        "backs-up", "connected-to", "depends-on", "hosted-on", "member-of", "runs-on"]
    assert item(document, "cmdb_relationship_types", "member-of")["impact"] == "source_to_target"
    assert document["cmdb_custom_attributes"] == []


def test_export_then_apply_changes_nothing():
    rack = services.create_class(actor=ACTOR, data={"slug": "rack", "name": "Rack", "icon": "bricks",
                                                    "is_asset": True, "expiry_reminder_days": [30]})
    services.create_attribute(actor=ACTOR, data={"ci_class": rack, "key": "units", "label": "Units",
                                                 "type": "integer", "required": True, "order": 5})
    services.create_attribute(actor=ACTOR, data={"ci_class": None, "key": "cost_centre", "label": "Cost centre",
                                                 "type": "choice", "choices": ["it", "sales"], "tracked": True})
    services.create_attribute(actor=ACTOR, data={"ci_class": None, "key": "rack", "label": "Rack",
                                                 "type": "reference", "reference_class": rack})
    services.create_relationship_type(actor=ACTOR, data={"slug": "feeds", "name": "feeds", "reverse_name": "is fed by",
                                                         "impact": "source_to_target", "description": "Data flow."})
    text = config_as_code.dump(config_as_code.export_document())
    before = state()
    changes = config_as_code.apply_document(config_as_code.load(text), actor=ACTOR)
    cmdb = [c for c in changes if c.section in CMDB]
    assert len(cmdb) == CIClass.objects.count() + RelationshipType.objects.count() + 2
    assert [c.line() for c in cmdb if c.action != "unchanged"] == []
    assert state() == before, "an unchanged apply writes nothing, not even change-log rows"


def test_dry_run_shows_the_diff_and_changes_nothing_then_apply_does_it():
    document = exported()
    server = item(document, "cmdb_classes", "server")
    server["icon"] = "server"
    server["attributes"][0]["label"] = "OS"
    server["attributes"].append({"key": "rack_unit", "label": "Rack unit", "type": "integer", "order": 80})
    document["cmdb_classes"].append({
        "slug": "pdu", "name": "Power distribution unit", "is_asset": True, "expiry_reminder_days": [30],
        "attributes": [{"key": "feeds", "label": "Feeds rack", "type": "reference", "reference_class": "rack"},
                       {"key": "phase", "label": "Phase", "type": "choice", "choices": ["single", "three"]}]})
    document["cmdb_classes"].append({"slug": "rack", "name": "Rack", "icon": "bricks"})  # named before it is defined
    item(document, "cmdb_relationship_types", "backs-up")["description"] = "Backups, no impact."
    document["cmdb_relationship_types"].append({"slug": "powered-by", "name": "powered by",
                                                "reverse_name": "powers", "impact": "target_to_source"})
    document["cmdb_custom_attributes"] = [{"key": "cost_centre", "label": "Cost centre", "tracked": True}]
    before = state()

    changes = {(c.section, c.key): c for c in config_as_code.apply_document(document, actor=ACTOR, dry_run=True)}
    server_change = changes[("cmdb_classes", "server")]
    assert server_change.action == "update"
    assert server_change.fields == {"icon": ["hdd-rack", "server"], "attribute os label": ["Operating system", "OS"],
                                    "attribute rack_unit": [None, "integer"]}
    assert changes[("cmdb_classes", "pdu")].action == "create"
    assert changes[("cmdb_classes", "rack")].action == "create"
    assert changes[("cmdb_classes", "virtual-machine")].action == "unchanged"
    assert changes[("cmdb_relationship_types", "backs-up")].fields == {"description": ["", "Backups, no impact."]}
    assert changes[("cmdb_relationship_types", "powered-by")].action == "create"
    assert changes[("cmdb_custom_attributes", "cost_centre")].fields["tracked"] == [None, True]
    assert state() == before

    config_as_code.apply_document(document, actor=ACTOR)
    assert CIClass.objects.get(slug="server").icon == "server"
    assert AttributeDefinition.objects.get(ci_class__slug="server", key="os").label == "OS"
    feeds = AttributeDefinition.objects.get(ci_class__slug="pdu", key="feeds")
    assert feeds.reference_class.slug == "rack" and feeds.type == "reference"
    assert AttributeDefinition.objects.get(ci_class__slug="pdu", key="phase").choices == ["single", "three"]
    assert RelationshipType.objects.get(slug="powered-by").reverse_name == "powers"
    assert AttributeDefinition.objects.get(ci_class__isnull=True, key="cost_centre").tracked is True
    entry = history_for(CIClass.objects.get(slug="server")).order_by("-id").first()
    assert entry.actor_label == "system:test" and entry.changes["icon"] == ["hdd-rack", "server"]
    again = config_as_code.apply_document(document, actor=ACTOR, dry_run=True)
    assert [c.line() for c in again if c.action != "unchanged"] == []


def test_changing_an_attributes_type_is_refused_naming_it_and_nothing_is_applied():
    document = exported()
    item(document, "cmdb_classes", "application")["name"] = "App"
    server = item(document, "cmdb_classes", "server")
    next(a for a in server["attributes"] if a["key"] == "cpu_count")["type"] = "string"
    before = state()
    with pytest.raises(config_as_code.ConfigError) as error:
        config_as_code.apply_document(document, actor=ACTOR)
    assert any(p.startswith("cmdb_classes/server/attributes/cpu_count/type: cannot change from integer to string")
               for p in error.value.problems), error.value.problems
    assert state() == before and CIClass.objects.get(slug="application").name == "Application"


@pytest.mark.parametrize("text, problem", [
    ("cmdb_classes:\n- {slug: x, name: X, colour: red}\n", "cmdb_classes/0: Additional properties"),
    ("cmdb_classes:\n- {slug: 'a b', name: X}\n", "cmdb_classes/0/slug"),
    ("cmdb_classes:\n- {slug: x, name: X, expiry_reminder_days: [-1]}\n", "cmdb_classes/0/expiry_reminder_days/0"),
    ("cmdb_classes:\n- {slug: x, name: X, attributes: [{key: a, label: A, type: float}]}\n",
     "cmdb_classes/0/attributes/0/type"),
    ("cmdb_classes:\n- {slug: x, name: X, attributes: [{key: a-b, label: A}]}\n", "cmdb_classes/0/attributes/0/key"),
    ("cmdb_classes:\n- {slug: x, name: X, attributes: [{key: a, label: A, unit: kg}]}\n",
     "cmdb_classes/0/attributes/0: Additional properties"),
    ("cmdb_relationship_types:\n- {slug: x, name: x, reverse_name: y, impact: sideways}\n",
     "cmdb_relationship_types/0/impact"),
    ("cmdb_relationship_types:\n- {slug: x, name: x}\n", "'reverse_name' is a required property"),
    ("cmdb_custom_attributes:\n- {key: a}\n", "'label' is a required property"),
])
def test_invalid_files_are_refused_with_the_place_of_the_error(text, problem):
    with pytest.raises(config_as_code.ConfigError) as error:
        config_as_code.load("version: 1\n" + text)
    assert any(problem in p for p in error.value.problems), error.value.problems


@pytest.mark.parametrize("document, problem", [
    (cmdb_document(cmdb_classes=[{"slug": "pdu", "name": "PDU", "attributes": [
        {"key": "feeds", "label": "Feeds", "type": "reference", "reference_class": "nosuch"}]}]),
     "cmdb_classes/pdu/attributes/feeds/reference_class: no class with key 'nosuch'"),
    (cmdb_document(cmdb_classes=[{"slug": "pdu", "name": "PDU", "attributes": [
        {"key": "phase", "label": "Phase", "type": "choice"}]}]),
     "cmdb_classes/pdu/attributes/phase/choices"),
    (cmdb_document(cmdb_classes=[{"slug": "pdu", "name": "Server"}]), "cmdb_classes/pdu/name"),
    (cmdb_document(cmdb_classes=[{"slug": "pdu", "name": "PDU"}, {"slug": "pdu", "name": "PDU 2"}]),
     "cmdb_classes/pdu: appears more than once"),
    (cmdb_document(cmdb_classes=[{"slug": "pdu", "name": "PDU", "attributes": [
        {"key": "phase", "label": "Phase"}, {"key": "phase", "label": "Phase 2"}]}]),
     "cmdb_classes/pdu/attributes/phase: appears more than once"),
    (cmdb_document(cmdb_custom_attributes=[{"key": "os", "label": "OS"}]), "cmdb_custom_attributes/os/key"),
    (cmdb_document(cmdb_relationship_types=[{"slug": "runs", "name": "runs on", "reverse_name": "runs"}]),
     "cmdb_relationship_types/runs/name"),
])
def test_problems_found_while_applying_name_the_item_and_nothing_is_kept(document, problem):
    before = state()
    with pytest.raises(config_as_code.ConfigError) as error:
        config_as_code.apply_document(document, actor=ACTOR)
    assert any(problem in p for p in error.value.problems), error.value.problems
    assert state() == before


def test_apply_reads_the_existing_records_in_a_fixed_number_of_queries():
    def queries_of_unchanged_apply() -> list[int]:
        document = exported()
        counts = []
        for section in (ClassSection(), RelationshipTypeSection(), CustomAttributeSection()):
            with CaptureQueriesContext(connection) as captured:
                changes = section.apply(document[section.key], actor=ACTOR)
            assert all(c.action == "unchanged" for c in changes)
            counts.append(len(captured.captured_queries))
        return counts

    services.create_attribute(actor=ACTOR, data={"ci_class": None, "key": "site", "label": "Site", "type": "reference",
                                                 "reference_class": CIClass.objects.get(slug="cluster")})
    small = queries_of_unchanged_apply()
    for n in range(6):
        ci_class = services.create_class(actor=ACTOR, data={"slug": f"extra-{n}", "name": f"Extra {n}"})
        for key in ("a", "b", "c"):
            services.create_attribute(actor=ACTOR, data={"ci_class": ci_class, "key": f"{key}{n}", "label": key,
                                                         "type": "reference", "reference_class": ci_class})
        services.create_attribute(actor=ACTOR, data={"ci_class": None, "key": f"custom{n}", "label": "c",
                                                     "type": "reference", "reference_class": ci_class})
        services.create_relationship_type(actor=ACTOR, data={"slug": f"type-{n}", "name": f"type {n}",
                                                             "reverse_name": f"reverse {n}"})
    assert queries_of_unchanged_apply() == small
    assert small == [2, 1, 2]


def test_cli_export_and_dry_run_apply(tmp_path, capsys):
    assert main(["config", "export"]) == 0
    document = yaml.safe_load(capsys.readouterr().out)
    assert item(document, "cmdb_classes", "database")["attributes"][0]["key"] == "engine"
    document["cmdb_classes"].append({"slug": "rack", "name": "Rack", "attributes": [{"key": "units", "label": "U",
                                                                                     "type": "integer"}]})
    path = tmp_path / "ops.yaml"
    path.write_text(yaml.safe_dump(document))
    before = state()
    assert main(["config", "apply", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "+ cmdb_classes rack" in out and "attribute units: None -> 'integer'" in out and "1 would change" in out
    assert state() == before
    item(document, "cmdb_classes", "rack")["attributes"][0]["type"] = "number"
    path.write_text(yaml.safe_dump(document))
    assert main(["config", "apply", str(path)]) == 2
    assert "cmdb_classes/" in capsys.readouterr().err
    assert not CIClass.objects.filter(slug="rack").exists()
