"""The `knowledge_categories` section of the configuration file, and the demo loader."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from opsdesk.core import config_as_code
from opsdesk.core.actors import Actor
from opsdesk.knowledge import demo
from opsdesk.knowledge.config import CategorySection
from opsdesk.knowledge.models import Article, ArticleCategory

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")


def test_apply_creates_updates_and_reports_unchanged_then_export_round_trips():
    section = CategorySection()
    changes = section.apply([{"slug": "runbooks", "name": "Runbooks", "order": 10}], actor=ACTOR)
    assert [(c.key, c.action) for c in changes] == [("runbooks", "create")]
    changes = section.apply([{"slug": "runbooks", "name": "Run books", "order": 10}], actor=ACTOR)
    assert changes[0].action == "update" and changes[0].fields == {"name": ["Runbooks", "Run books"]}
    assert section.apply(section.export(), actor=ACTOR)[0].action == "unchanged"
    assert section.export() == [{"slug": "runbooks", "name": "Run books", "description": "", "order": 10}]


def test_the_section_is_registered_and_validated():
    assert "knowledge_categories" in {s.key for s in config_as_code.sections()}
    document = {"version": 1, "knowledge_categories": [{"slug": "bad slug", "name": "x"}]}
    with pytest.raises(Exception):  # noqa: B017  (the schema error type is core's)
        config_as_code.apply_document(document, actor=ACTOR)
    assert not ArticleCategory.objects.exists()


def test_duplicates_are_refused():
    with pytest.raises(ValidationError):
        CategorySection().apply([{"slug": "a", "name": "A"}, {"slug": "a", "name": "B"}], actor=ACTOR)


def test_demo_loads_once_in_every_state():
    from opsdesk.accounts import demo as accounts_demo

    assert demo.load(ACTOR) > 0  # without the demo people too
    Article.objects.all().delete()
    ArticleCategory.objects.all().delete()
    accounts_demo.load(ACTOR)
    created = demo.load(ACTOR)
    assert created == len(demo.CATEGORIES) + len(demo.ARTICLES)
    assert set(Article.objects.values_list("status", flat=True)) == {"draft", "in_review", "published", "retired"}
    assert Article.objects.filter(version__gt=1).exists()
    assert demo.load(ACTOR) == 0
