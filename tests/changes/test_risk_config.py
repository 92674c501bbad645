"""Config as code of the risk part: change_settings, change_risk_questions, change_freeze_windows."""

import pytest

from opsdesk.changes.models import ChangeSettings, FreezeWindow, RiskQuestion
from opsdesk.core import config_as_code
from opsdesk.core.actors import Actor
from opsdesk.core.config_as_code import ConfigError
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db

ACTOR = Actor.system("test")


def apply(document, dry_run=False):
    return config_as_code.apply_document(config_as_code.load(config_as_code.dump({"version": 1, **document})),
                                         actor=ACTOR, dry_run=dry_run)


def test_the_sections_are_registered_and_export_the_shipped_rows():
    document = config_as_code.export_document()
    assert document["change_settings"][0]["risk_high_from"] == 50
    assert [q["slug"] for q in document["change_risk_questions"]] == [
        "tested", "backout-tested", "users-affected", "done-before", "complexity"]
    assert document["change_freeze_windows"] == []


def test_export_then_apply_changes_nothing():
    ServiceFactory(slug="erp")
    apply({"change_freeze_windows": [{"name": "Year-end", "start": "2030-12-20T00:00:00+00:00",
                                      "end": "2031-01-03T00:00:00+00:00", "services": ["erp"]}]})
    document = config_as_code.export_document()
    changes = apply({k: document[k] for k in ("change_settings", "change_risk_questions", "change_freeze_windows")})
    assert {c.action for c in changes} == {"unchanged"}


def test_settings_apply_and_validation():
    changes = apply({"change_settings": [{"min_lead_hours": 24, "history_months": 3}]})
    assert changes[0].action == "update" and changes[0].fields["min_lead_hours"] == [72, 24]
    assert ChangeSettings.objects.get(pk=1).history_months == 3
    with pytest.raises(ConfigError) as exc:
        apply({"change_settings": [{"risk_medium_from": 60}]})  # above high (50)
    assert "change_settings/risk_high_from" in str(exc.value)
    with pytest.raises(ConfigError):
        apply({"change_settings": [{"review_outcomes": ["exploded"]}]})
    assert ChangeSettings.objects.get(pk=1).risk_medium_from == 25


def test_questions_create_update_and_refuse_duplicate_answer_keys():
    apply({"change_risk_questions": [
        {"slug": "vendor", "text": "Is a vendor involved?", "order": 60,
         "answers": [{"key": "no", "label": "No", "weight": 0}, {"key": "yes", "label": "Yes", "weight": 7}]},
        {"slug": "tested", "text": "Tested?", "active": False,
         "answers": [{"key": "yes", "label": "Yes", "weight": 0}, {"key": "no", "label": "No", "weight": 30}]},
    ]})
    assert RiskQuestion.objects.get(slug="vendor").answers[1]["weight"] == 7
    assert RiskQuestion.objects.get(slug="tested").active is False
    with pytest.raises(ConfigError) as exc:
        apply({"change_risk_questions": [{"slug": "dup", "text": "Dup?", "answers": [
            {"key": "a", "label": "A", "weight": 0}, {"key": "a", "label": "A2", "weight": 1}]}]})
    assert "change_risk_questions/dup/answers" in str(exc.value)
    assert not RiskQuestion.objects.filter(slug="dup").exists()


def test_freeze_windows_by_name_with_services_by_slug():
    erp = ServiceFactory(slug="erp")
    changes = apply({"change_freeze_windows": [{"name": "Year-end", "reason": "Books", "services": ["erp"],
                                                "start": "2030-12-20T00:00:00Z", "end": "2031-01-03T00:00:00Z"}]})
    assert changes[0].action == "create"
    window = FreezeWindow.objects.get(name="Year-end")
    assert list(window.services.all()) == [erp]
    changes = apply({"change_freeze_windows": [{"name": "Year-end", "start": "2030-12-21T00:00:00Z",
                                                "end": "2031-01-03T00:00:00Z", "active": False}]})
    assert changes[0].action == "update"
    window.refresh_from_db()
    assert window.active is False and window.services.count() == 0 and window.starts_at.day == 21


@pytest.mark.parametrize("item, where", [
    ({"name": "X", "start": "2030-01-02T00:00:00Z", "end": "2030-01-01T00:00:00Z"}, "change_freeze_windows/X"),
    ({"name": "X", "start": "tomorrow", "end": "2030-01-01T00:00:00Z"}, "change_freeze_windows/X/start"),
    ({"name": "X", "start": "2030-01-01T00:00:00Z", "end": "2030-01-02T00:00:00Z", "services": ["nope"]},
     "change_freeze_windows/X/services"),
])
def test_bad_freeze_windows_are_refused_and_nothing_is_written(item, where):
    with pytest.raises(ConfigError) as exc:
        apply({"change_freeze_windows": [item]})
    assert where in str(exc.value)
    assert not FreezeWindow.objects.exists()


def test_dry_run_writes_nothing():
    apply({"change_settings": [{"min_lead_hours": 1}]}, dry_run=True)
    assert ChangeSettings.objects.get(pk=1).min_lead_hours == 72
