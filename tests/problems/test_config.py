"""The `problem_settings` section of the configuration file: export, apply with a dry-run diff, schema and
semantic validation, and the settings taking effect in trend detection."""

from __future__ import annotations

import copy

import pytest

from opsdesk.core import config_as_code
from opsdesk.core.actors import Actor
from opsdesk.core.config_as_code import ConfigError
from opsdesk.core.models import AuditEntry
from opsdesk.problems import trends
from opsdesk.problems.configuration import problem_settings
from tests.cmdb.factories import CIFactory
from tests.problems.factories import make_incident

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")


def exported() -> dict:
    return {"version": 1, "problem_settings": config_as_code.export_document()["problem_settings"]}


def apply(document: dict, dry_run=False):
    return config_as_code.apply_document(config_as_code.load(config_as_code.dump(document)), actor=ACTOR,
                                         dry_run=dry_run)


def test_export_holds_the_defaults_and_applying_it_changes_nothing():
    document = exported()
    item = document["problem_settings"][0]
    assert (item["trend_ci_count"], item["trend_ci_days"], item["watch_days"]) == (5, 7, 30)
    assert [c["key"] for c in item["rca_categories"]][:3] == ["people", "process", "technology"]
    before = AuditEntry.objects.count()
    changes = apply(document)
    assert [c.action for c in changes] == ["unchanged"]
    assert AuditEntry.objects.count() == before


def test_apply_changes_thresholds_and_categories_with_a_dry_run_first():
    document = exported()
    item = document["problem_settings"][0]
    item.update({"trend_ci_count": 3, "watch_days": 60,
                 "rca_categories": [{"key": "people", "label": "People"}, {"key": "vendors", "label": "Vendors"}]})
    preview = apply(copy.deepcopy(document), dry_run=True)
    assert preview[0].action == "update" and set(preview[0].fields) == {"trend_ci_count", "watch_days",
                                                                         "rca_categories"}
    assert problem_settings().trend_ci_count == 5  # the dry run wrote nothing
    apply(document)
    config = problem_settings()
    assert (config.trend_ci_count, config.watch_days) == (3, 60)
    assert [c["key"] for c in config.rca_categories] == ["people", "vendors"]
    assert AuditEntry.objects.filter(action="update", changes__has_key="trend_ci_count").exists()
    # The new threshold takes effect: three incidents on a CI are now a candidate.
    ci = CIFactory()
    for i in range(3):
        make_incident(title=f"Case {i}", cis=[ci])
    assert [c.ci for c in trends.detect()] == [ci]


@pytest.mark.parametrize("change, where", [
    ({"trend_ci_count": 0}, "trend_ci_count"),
    ({"trend_text_similarity": 1.5}, "trend_text_similarity"),
    ({"unknown": 1}, "problem_settings/0"),
    ({"rca_categories": [{"key": "Bad Key", "label": "x"}]}, "rca_categories"),
])
def test_schema_refuses_bad_values(change, where):
    document = exported()
    document["problem_settings"][0].update(change)
    with pytest.raises(ConfigError) as raised:
        config_as_code.load(config_as_code.dump(document))
    assert where in str(raised.value)


def test_duplicate_category_keys_and_two_items_are_refused_and_nothing_is_written():
    document = exported()
    document["problem_settings"][0]["trend_ci_count"] = 9
    document["problem_settings"][0]["rca_categories"] = [{"key": "people", "label": "A"},
                                                         {"key": "people", "label": "B"}]
    with pytest.raises(ConfigError) as raised:
        apply(document)
    assert "problem_settings/rca_categories" in str(raised.value)
    assert problem_settings().trend_ci_count == 5
    two = exported()
    two["problem_settings"].append(dict(two["problem_settings"][0]))
    with pytest.raises(ConfigError):
        apply(two)
