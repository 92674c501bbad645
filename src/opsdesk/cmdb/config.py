"""The CMDB's sections of the configuration file: CI classes with their attributes, the custom attributes
every class has, and relationship types.

Custom attributes (attribute definitions without a class) have their own section rather than a
pseudo-class in `cmdb_classes`: they belong to no class, have no name, icon or asset flag, and their
key is unique across all classes. Items are matched by `slug` (classes, relationship types) and `key`
(attributes); nothing is ever deleted, and an attribute's type cannot change (its stored values would
no longer fit), so a changed type is refused naming `cmdb_classes/<slug>/attributes/<key>/type`.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import Prefetch

from opsdesk.core.actors import Actor
from opsdesk.core.config_as_code import Change, Section, located, refuse_duplicates

from . import services
from .models import AttributeDefinition, CIClass, RelationshipType

SLUG = {"type": "string", "pattern": "^[-a-zA-Z0-9_]+$", "maxLength": 64}
ATTRIBUTE_KEY = {"type": "string", "pattern": "^[a-zA-Z0-9_]+$", "maxLength": 64}
ATTRIBUTE_FIELDS = ("label", "type", "required", "choices", "reference_class", "help_text", "tracked", "order")
CLASS_FIELDS = ("name", "description", "icon", "is_asset", "expiry_reminder_days")
RELTYPE_FIELDS = ("name", "reverse_name", "impact", "description")

ATTRIBUTE_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["key", "label"],
    "properties": {
        "key": ATTRIBUTE_KEY,
        "label": {"type": "string", "minLength": 1, "maxLength": 100},
        "type": {"enum": [value for value, _label in AttributeDefinition.TYPES]},
        "required": {"type": "boolean"},
        "choices": {"type": "array", "items": {"type": "string", "minLength": 1}},
        "reference_class": {"anyOf": [SLUG, {"type": "null"}]},
        "help_text": {"type": "string", "maxLength": 300},
        "tracked": {"type": "boolean"},
        "order": {"type": "integer", "minimum": 0, "maximum": 32767},
    },
}




def attribute_item(definition: AttributeDefinition) -> dict:
    """One attribute in file form (`reference_class` must be selected with it)."""
    return {
        "key": definition.key, "label": definition.label, "type": definition.type, "required": definition.required,
        "choices": list(definition.choices or []),
        "reference_class": definition.reference_class.slug if definition.reference_class_id else None,
        "help_text": definition.help_text, "tracked": definition.tracked, "order": definition.order,
    }


def _diff(current: dict, item: dict, names) -> dict:
    return {name: [current[name], item[name]] for name in names if name in item and current[name] != item[name]}


def _created(item: dict, names) -> dict:
    return {name: [None, item[name]] for name in names if item.get(name) not in (None, "", [], False)}


def _apply_attribute(item: dict, *, ci_class: CIClass | None, existing: AttributeDefinition | None,
                     classes: dict[str, CIClass], path: str, actor: Actor) -> tuple[str, dict]:
    """Create or update one attribute definition; returns (action, changed fields)."""
    data = {name: item[name] for name in ATTRIBUTE_FIELDS if name in item}
    if data.get("reference_class"):
        target = classes.get(data["reference_class"])
        if target is None:
            raise ValidationError({f"{path}/reference_class": f"no class with key {data['reference_class']!r}"})
        data["reference_class"] = target
    elif "reference_class" in data:
        data["reference_class"] = None
    if existing is None:
        with located(path):
            services.create_attribute(actor=actor, data={"ci_class": ci_class, "key": item["key"], **data})
        return "create", _created(item, ATTRIBUTE_FIELDS)
    if "type" in item and item["type"] != existing.type:
        raise ValidationError({f"{path}/type": f"cannot change from {existing.type} to {item['type']}: the values "
                                               "already stored would not fit; add an attribute with a new key"})
    diff = _diff(attribute_item(existing), item, ATTRIBUTE_FIELDS)
    if not diff:
        return "unchanged", {}
    with located(path):
        services.update_attribute(existing, actor=actor, data={name: data[name] for name in diff})
    return "update", diff


def _prefetched_attributes():
    return Prefetch("attribute_definitions", queryset=AttributeDefinition.objects.select_related("reference_class"))


class ClassSection(Section):
    key = "cmdb_classes"
    order = 30  # after teams (10) and services (20)
    item_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["slug", "name"],
        "properties": {
            "slug": SLUG,
            "name": {"type": "string", "minLength": 1, "maxLength": 100},
            "description": {"type": "string"},
            "icon": {"type": "string", "minLength": 1, "maxLength": 40},
            "is_asset": {"type": "boolean"},
            "expiry_reminder_days": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 3650}},
            "attributes": {"type": "array", "items": ATTRIBUTE_SCHEMA},
        },
    }

    @staticmethod
    def _item(ci_class: CIClass) -> dict:
        return {"slug": ci_class.slug, "name": ci_class.name, "description": ci_class.description,
                "icon": ci_class.icon, "is_asset": ci_class.is_asset,
                "expiry_reminder_days": list(ci_class.expiry_reminder_days or [])}

    def export(self) -> list[dict]:
        items = []
        for ci_class in CIClass.objects.prefetch_related(_prefetched_attributes()).order_by("slug"):
            item = self._item(ci_class)
            item["attributes"] = [attribute_item(d) for d in sorted(ci_class.attribute_definitions.all(),
                                                                    key=lambda d: (d.order, d.key))]
            items.append(item)
        return items

    def apply(self, items: list[dict], *, actor: Actor) -> list[Change]:
        refuse_duplicates(self.key, [item["slug"] for item in items])
        for item in items:
            refuse_duplicates(f"{self.key}/{item['slug']}/attributes", [a["key"] for a in item.get("attributes", [])])
        # Read the classes the file names or refers to, with their attributes, in two queries.
        referenced = {a["reference_class"] for item in items for a in item.get("attributes", [])
                      if a.get("reference_class")}
        classes = {c.slug: c for c in CIClass.objects.filter(slug__in={i["slug"] for i in items} | referenced)
                   .prefetch_related(_prefetched_attributes())}
        attributes = {slug: {d.key: d for d in c.attribute_definitions.all()} for slug, c in classes.items()}
        changes: list[Change] = []
        for item in items:
            slug = item["slug"]
            ci_class = classes.get(slug)
            if ci_class is None:
                with located(f"{self.key}/{slug}"):
                    classes[slug] = services.create_class(
                        actor=actor, data={"slug": slug, **{k: item[k] for k in CLASS_FIELDS if k in item}})
                attributes[slug] = {}
                changes.append(Change(self.key, slug, "create", _created(item, CLASS_FIELDS)))
                continue
            diff = _diff(self._item(ci_class), item, CLASS_FIELDS)
            if diff:
                with located(f"{self.key}/{slug}"):
                    classes[slug] = services.update_class(ci_class, actor=actor,
                                                          data={name: item[name] for name in diff})
            changes.append(Change(self.key, slug, "update" if diff else "unchanged", diff))
        # Attributes second, so that a reference may name a class defined further down the file.
        for item, change in zip(items, changes, strict=True):
            slug = item["slug"]
            for attribute in item.get("attributes", []):
                key = attribute["key"]
                action, fields = _apply_attribute(attribute, ci_class=classes[slug], existing=attributes[slug].get(key),
                                                  classes=classes, path=f"{self.key}/{slug}/attributes/{key}",
                                                  actor=actor)
                if action == "create":
                    change.fields[f"attribute {key}"] = [None, attribute.get("type", "string")]
                elif action == "update":
                    change.fields.update({f"attribute {key} {name}": values for name, values in fields.items()})
                if action != "unchanged" and change.action == "unchanged":
                    change.action = "update"
        return changes


class CustomAttributeSection(Section):
    key = "cmdb_custom_attributes"
    order = 32  # after the classes a reference attribute may name
    item_schema = ATTRIBUTE_SCHEMA

    def export(self) -> list[dict]:
        return [attribute_item(d) for d in AttributeDefinition.objects.filter(ci_class__isnull=True)
                .select_related("reference_class").order_by("key")]

    def apply(self, items: list[dict], *, actor: Actor) -> list[Change]:
        refuse_duplicates(self.key, [item["key"] for item in items])
        existing = {d.key: d for d in AttributeDefinition.objects.filter(
            ci_class__isnull=True, key__in=[i["key"] for i in items]).select_related("reference_class")}
        classes = {c.slug: c for c in CIClass.objects.filter(
            slug__in={i["reference_class"] for i in items if i.get("reference_class")})}
        changes = []
        for item in items:
            action, fields = _apply_attribute(item, ci_class=None, existing=existing.get(item["key"]), classes=classes,
                                              path=f"{self.key}/{item['key']}", actor=actor)
            changes.append(Change(self.key, item["key"], action, fields))
        return changes


class RelationshipTypeSection(Section):
    key = "cmdb_relationship_types"
    order = 31
    item_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["slug", "name", "reverse_name"],
        "properties": {
            "slug": SLUG,
            "name": {"type": "string", "minLength": 1, "maxLength": 100},
            "reverse_name": {"type": "string", "minLength": 1, "maxLength": 100},
            "impact": {"enum": [value for value, _label in RelationshipType.IMPACTS]},
            "description": {"type": "string"},
        },
    }

    @staticmethod
    def _item(reltype: RelationshipType) -> dict:
        return {"slug": reltype.slug, "name": reltype.name, "reverse_name": reltype.reverse_name,
                "impact": reltype.impact, "description": reltype.description}

    def export(self) -> list[dict]:
        return [self._item(t) for t in RelationshipType.objects.order_by("slug")]

    def apply(self, items: list[dict], *, actor: Actor) -> list[Change]:
        refuse_duplicates(self.key, [item["slug"] for item in items])
        existing = {t.slug: t for t in RelationshipType.objects.filter(slug__in=[i["slug"] for i in items])}
        changes = []
        for item in items:
            slug = item["slug"]
            reltype = existing.get(slug)
            with located(f"{self.key}/{slug}"):
                if reltype is None:
                    services.create_relationship_type(
                        actor=actor, data={"slug": slug, **{k: item[k] for k in RELTYPE_FIELDS if k in item}})
                    changes.append(Change(self.key, slug, "create", _created(item, RELTYPE_FIELDS)))
                    continue
                diff = _diff(self._item(reltype), item, RELTYPE_FIELDS)
                if diff:
                    services.update_relationship_type(reltype, actor=actor, data={name: item[name] for name in diff})
                changes.append(Change(self.key, slug, "update" if diff else "unchanged", diff))
        return changes
