"""The knowledge section of the configuration file: article categories (`knowledge_categories`),
matched by key, created or updated through knowledge/services.py, never deleted."""

from __future__ import annotations

from opsdesk.core.actors import Actor
from opsdesk.core.config_as_code import Change, Section, refuse_duplicates

from . import services
from .models import ArticleCategory

FIELDS = ("name", "description", "order")


class CategorySection(Section):
    key = "knowledge_categories"
    order = 70
    item_schema = {
        "type": "object", "additionalProperties": False, "required": ["slug", "name"],
        "properties": {"slug": {"type": "string", "pattern": "^[-a-zA-Z0-9_]+$", "maxLength": 100},
                       "name": {"type": "string", "minLength": 1, "maxLength": 100},
                       "description": {"type": "string"}, "order": {"type": "integer", "minimum": 0}},
    }

    @staticmethod
    def to_item(category: ArticleCategory) -> dict:
        return {"slug": category.slug, "name": category.name, "description": category.description,
                "order": category.order}

    def export(self) -> list[dict]:
        return [self.to_item(c) for c in ArticleCategory.objects.order_by("order", "slug")]

    def apply(self, items: list[dict], *, actor: Actor) -> list[Change]:
        refuse_duplicates(self.key, [item["slug"] for item in items])
        existing = {c.slug: c for c in ArticleCategory.objects.all()}
        changes = []
        for item in items:
            slug = item["slug"]
            fields = {name: item[name] for name in FIELDS if name in item}
            row = existing.get(slug)
            if row is None:
                services.create_category(actor=actor, data={"slug": slug, **fields})
                changes.append(Change(self.key, slug, "create", {k: [None, v] for k, v in sorted(fields.items())
                                                                  if v not in ("", None)}))
                continue
            current = self.to_item(row)
            diff = {k: [current[k], v] for k, v in fields.items() if current[k] != v}
            if diff:
                services.update_category(row, actor=actor, data=fields)
            changes.append(Change(self.key, slug, "update" if diff else "unchanged", diff))
        return changes


SECTIONS = [CategorySection]
