"""Alert intake factories: integrations are created through opsdesk.alerts.integrations, so keys are
hashed and the change log is written as in production.

    integration, key = make_integration("alertmanager", severity_map={"critical": "P1"})
    integration = IntegrationFactory(kind="events")          # key on integration.plaintext_key
"""

from __future__ import annotations

import itertools

import factory

from opsdesk.alerts.integrations import create_integration
from opsdesk.alerts.models import Integration
from opsdesk.core.actors import Actor

FACTORY_ACTOR = Actor.system("factory")
_numbers = itertools.count(1)

EMAIL_DEFAULTS = {"imap_host": "127.0.0.1", "imap_port": 143, "imap_ssl": False, "imap_username": "ops",
                  "imap_password": "secret", "imap_folder": "INBOX"}


def make_integration(kind: str = "alertmanager", actor: Actor | None = None, **fields) -> tuple[Integration, str]:
    """An integration created by the service, and its plaintext key (shown once in production)."""
    fields.setdefault("name", f"{kind} {next(_numbers)}")
    if kind == "email":
        for name, value in EMAIL_DEFAULTS.items():
            fields.setdefault(name, value)
    return create_integration(actor=actor or FACTORY_ACTOR, data={"kind": kind, **fields})


class IntegrationFactory(factory.django.DjangoModelFactory):
    """Goes through the service: `IntegrationFactory(kind="grafana", team=team)`; the key is on
    `.plaintext_key`."""

    class Meta:
        model = Integration

    kind = "alertmanager"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        integration, key = make_integration(**kwargs)
        integration.plaintext_key = key
        return integration
