"""Config-as-code sections of releases: `release_environments` (the stages in order) and `release_settings`
(the post-release watch and the production change). Both write through `environments.py`, so the pages and
the file follow one set of rules; errors name their place in the file (`release_environments/prod/order`)."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from opsdesk.core import config_as_code
from opsdesk.core.actors import Actor
from opsdesk.core.config_as_code import Change, Section, located, refuse_duplicates

from . import environments
from .models import Environment


class EnvironmentsSection(Section):
    key = "release_environments"
    order = 95
    item_schema = environments.ENVIRONMENT_SCHEMA

    def export(self) -> list[dict]:
        return [{name: getattr(env, name) for name in environments.ENVIRONMENT_FIELDS}
                for env in Environment.objects.order_by("order", "id")]

    def apply(self, items: list[dict], *, actor: Actor) -> list[Change]:
        refuse_duplicates(self.key, [item["slug"] for item in items])
        existing = {env.slug: env for env in Environment.objects.all()}
        # The rules over the whole set hold for the state the file leaves, checked once before any write (a
        # file may swap two environments' orders).
        states = environments.current_states()
        for item in items:
            base = states.get(item["slug"], {"is_production": False, "active": True})
            states[item["slug"]] = {**base, **{k: item[k] for k in ("order", "is_production", "active") if k in item}}
        errors = environments.set_errors(states)
        if errors:
            raise ValidationError({(f"{self.key}/{name}/order" if name != "__all__" else self.key): messages
                                   for name, messages in errors.items()})
        changes = []
        for item in items:
            environment = existing.get(item["slug"])
            before = ({name: getattr(environment, name) for name in environments.ENVIRONMENT_FIELDS}
                      if environment is not None else {})
            with located(f"{self.key}/{item['slug']}"):
                saved = environments.save_environment(environment, actor=actor, data=dict(item), check_set=False)
            after = {name: getattr(saved, name) for name in environments.ENVIRONMENT_FIELDS}
            diff = {name: [before.get(name), value] for name, value in after.items() if before.get(name) != value}
            action = "create" if environment is None else "update" if diff else "unchanged"
            changes.append(Change(self.key, item["slug"], action, diff))
        return changes


class SettingsSection(config_as_code.SettingsSection):
    key = "release_settings"
    order = 96
    item_schema = environments.SETTINGS_SCHEMA
    label = "releases"

    def values(self) -> dict:
        return environments.settings_values()

    def update(self, *, actor: Actor, data: dict) -> dict:
        return environments.update_release_settings(actor=actor, data=data)


SECTIONS = [EnvironmentsSection, SettingsSection]
