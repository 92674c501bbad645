"""Configuration as code: every module's configurable rules in one YAML file.

`opsdesk config export > ops.yaml` writes it; `opsdesk config apply ops.yaml [--dry-run]` validates it
against the JSON schema the sections declare and applies it through the services, in one
transaction, printing a diff. A dry run is the same apply rolled back, so the diff it shows is
exactly what an apply would do. Records absent from the file are left alone.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

import jsonschema
import yaml
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction

from .actors import Actor
from .workflow import TransitionNotAllowed

FORMAT_VERSION = 1


@dataclass
class Change:
    section: str
    key: str
    action: str  # "create" | "update" | "unchanged"
    fields: dict = field(default_factory=dict)  # {name: [before, after]}

    def line(self) -> str:
        sign = {"create": "+", "update": "~", "unchanged": "="}[self.action]
        text = f"{sign} {self.section} {self.key}"
        if self.action != "unchanged" and self.fields:
            parts = [f"{name}: {before!r} -> {after!r}" for name, (before, after) in sorted(self.fields.items())]
            text += "\n" + "\n".join(f"    {p}" for p in parts)
        return text


class ConfigError(Exception):
    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


class Section:
    key = ""
    order = 100
    item_schema: dict = {}

    def export(self) -> list[dict]:
        raise NotImplementedError

    def apply(self, items: list[dict], *, actor: Actor) -> list[Change]:
        raise NotImplementedError


def save_settings(row, *, actor: Actor, data: dict) -> dict:
    """Write already-validated `data` to a module's one settings row (ProblemSettings, ChangeSettings,
    ReleaseSettings ...): the row locked, only the fields that differ saved, one change-log row.
    Returns {field: [before, after]}. The settings pages and the config sections both write through it."""
    from . import audit

    with transaction.atomic():
        row = type(row).objects.select_for_update().get(pk=row.pk)
        changes = {name: [getattr(row, name), value] for name, value in data.items() if getattr(row, name) != value}
        if changes:
            for name, (_before, value) in changes.items():
                setattr(row, name, value)
            row.save()
            audit.record(row, actor=actor, action="update", changes=changes)
    return changes


class SettingsSection(Section):
    """A section holding a module's one settings row: exported as one item, applied through the module's
    `update(actor=, data=)` (which validates, then calls `save_settings`). Subclasses set `key`, `order`,
    `item_schema`, `label` (the item's name in the dry-run diff), `values` and `update`."""

    label = ""

    def values(self) -> dict:
        raise NotImplementedError

    def update(self, *, actor: Actor, data: dict) -> dict:
        raise NotImplementedError

    def export(self) -> list[dict]:
        return [self.values()]

    def apply(self, items: list[dict], *, actor: Actor) -> list[Change]:
        if len(items) > 1:
            raise ValidationError({self.key: "holds one item"})
        if not items:
            return []
        with located(self.key):
            changes = self.update(actor=actor, data=dict(items[0]))
        return [Change(self.key, self.label, "update" if changes else "unchanged", changes)]


@contextmanager
def located(path: str):
    """Name the place in the file of a problem found by the service layer: `{"choices": [...]}` raised
    while writing attribute `os` of class `server` becomes `cmdb_classes/server/attributes/os/choices`."""
    try:
        yield
    except ValidationError as exc:
        if hasattr(exc, "error_dict"):
            raise ValidationError({(path if name == NON_FIELD_ERRORS else f"{path}/{name}"): messages
                                   for name, messages in exc.message_dict.items()}) from None
        raise ValidationError({path: exc.messages}) from None


def refuse_duplicates(where: str, keys: list[str]) -> None:
    """A key named twice in one section is a mistake in the file, not a second update."""
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise ValidationError({f"{where}/{key}": "appears more than once in the file"})
        seen.add(key)


SECTIONS: dict[str, Section] = {}


def register(section: Section) -> None:
    SECTIONS[section.key] = section


def sections() -> list[Section]:
    return sorted(SECTIONS.values(), key=lambda s: s.order)


def schema() -> dict:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": False,
        "required": ["version"],
        "properties": {
            "version": {"const": FORMAT_VERSION},
            **{s.key: {"type": "array", "items": s.item_schema} for s in sections()},
        },
    }


def export_document() -> dict:
    document = {"version": FORMAT_VERSION}
    for section in sections():
        document[section.key] = section.export()
    return document


def dump(document: dict) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, default_flow_style=False)


def load(text: str) -> dict:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([f"not valid YAML: {exc}"])
    if not isinstance(document, dict):
        raise ConfigError(["the file must be a mapping with a 'version' key"])
    validator = jsonschema.Draft202012Validator(schema())
    problems = []
    for error in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        problems.append(f"{where}: {error.message}")
    if problems:
        raise ConfigError(problems)
    return document


def apply_document(document: dict, *, actor: Actor, dry_run: bool = False) -> list[Change]:
    changes: list[Change] = []
    try:
        with transaction.atomic():
            for section in sections():
                if section.key in document:
                    changes.extend(section.apply(document[section.key] or [], actor=actor))
            if dry_run:
                transaction.set_rollback(True)
    except ValidationError as exc:
        messages = [f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items()] if hasattr(exc, "error_dict") \
            else exc.messages
        raise ConfigError(messages)
    except TransitionNotAllowed as exc:
        raise ConfigError([str(exc)])
    return changes
