"""Audit rules as code: the `cmdb_audit_rules` section exports every rule, applies through the write
path (same validation, errors naming the item and entry), and a dry run changes nothing."""

import pytest

from opsdesk.cmdb.models import AuditRule
from opsdesk.core import config_as_code
from opsdesk.core.audit import history_for
from opsdesk.core.config_as_code import ConfigError

pytestmark = pytest.mark.django_db
SECTION = "cmdb_audit_rules"
CUSTOM = {"slug": "no-location", "name": "Servers without a location", "description": "", "kind": "filter",
          "severity": "low", "enabled": True, "scope": [{"field": "ci_class", "op": "eq", "value": "server"}],
          "conditions": [{"field": "location", "op": "isnull", "value": "true"}]}


def _document(items):
    return config_as_code.load(config_as_code.dump({"version": 1, SECTION: items}))


def _rules():
    return config_as_code.SECTIONS[SECTION].export()


def test_export_lists_every_rule_and_applies_back_unchanged(system_actor):
    exported = config_as_code.export_document()[SECTION]
    assert [r["slug"] for r in exported] == sorted(AuditRule.objects.values_list("slug", flat=True))
    unowned = next(r for r in exported if r["slug"] == "production-server-without-owner")
    assert unowned["conditions"] == [{"field": "owner_team", "op": "isnull", "value": True}]
    changes = config_as_code.apply_document(_document(exported), actor=system_actor)
    assert {c.action for c in changes} == {"unchanged"}


def test_round_trip_dry_run_changes_nothing_then_apply_does(system_actor):
    items = _rules()
    builtin = next(r for r in items if r["slug"] == "drift-from-discovery")
    builtin["enabled"] = False
    items.append(CUSTOM)
    before = list(AuditRule.objects.order_by("slug").values())

    dry = config_as_code.apply_document(_document(items), actor=system_actor, dry_run=True)
    lines = {c.key: c for c in dry if c.action != "unchanged"}
    assert set(lines) == {"drift-from-discovery", "no-location"}
    assert lines["drift-from-discovery"].fields == {"enabled": [True, False]}
    assert lines["no-location"].action == "create"
    assert list(AuditRule.objects.order_by("slug").values()) == before

    config_as_code.apply_document(_document(items), actor=system_actor)
    created = AuditRule.objects.get(slug="no-location")
    assert created.conditions == [{"field": "location", "op": "isnull", "value": True}] and not created.builtin
    assert AuditRule.objects.get(slug="drift-from-discovery").enabled is False
    assert history_for(created).get().actor_label == "system:test"
    # Applying the export again is a no-op, including the normalised "true".
    again = config_as_code.apply_document(_document(_rules()), actor=system_actor)
    assert {c.action for c in again} == {"unchanged"}
    assert config_as_code.apply_document(_document([CUSTOM]), actor=system_actor)[0].action == "unchanged"


def test_a_bad_rule_in_the_file_names_item_field_and_entry_and_nothing_is_applied(system_actor):
    bad = {**CUSTOM, "slug": "bad-one", "conditions": [{"field": "location", "op": "isnull", "value": True},
                                                       {"field": "status", "op": "older_than_days", "value": 3}]}
    with pytest.raises(ConfigError) as caught:
        config_as_code.apply_document(_document([CUSTOM, bad]), actor=system_actor)
    assert any(p.startswith("cmdb_audit_rules/bad-one/conditions: Entry 2: the operator “older_than_days”")
               for p in caught.value.problems), caught.value.problems
    assert not AuditRule.objects.filter(slug__in=["no-location", "bad-one"]).exists()


def test_a_builtin_rule_cannot_be_redefined_from_the_file(system_actor):
    items = _rules()
    next(r for r in items if r["slug"] == "not-seen-by-discovery")["conditions"][0]["value"] = 7
    with pytest.raises(ConfigError) as caught:
        config_as_code.apply_document(_document(items), actor=system_actor)
    assert any("not-seen-by-discovery/conditions" in p and "keeps its definition" in p for p in caught.value.problems)


def test_the_schema_refuses_unknown_keys_and_kinds():
    with pytest.raises(ConfigError) as caught:
        _document([{**CUSTOM, "colour": "red"}, {**CUSTOM, "slug": "x", "kind": "sometimes"}])
    text = " ".join(caught.value.problems)
    assert "cmdb_audit_rules/0" in text and "colour" in text and "cmdb_audit_rules/1/kind" in text
