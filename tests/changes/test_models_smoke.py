"""The skeleton: the shipped rows exist and a change gets its number."""

import pytest

from opsdesk.changes.models import ChangeSettings
from opsdesk.releases.models import Environment
from tests.changes.factories import make_change

pytestmark = pytest.mark.django_db


def test_a_change_gets_a_chg_number_and_starts_as_draft():
    change = make_change()
    assert change.number.startswith("CHG-")
    assert change.status == "draft"


def test_the_settings_row_and_the_four_environments_are_shipped():
    assert ChangeSettings.objects.get(pk=1).review_outcomes == ["failed", "backed_out"]
    assert list(Environment.objects.values_list("slug", flat=True)) == ["development", "test", "staging", "production"]
