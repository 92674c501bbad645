"""Release factories: releases are created through their services. Environments and the settings row
come from migration 0002; `shipped()` puts them back after a transactional test's flush."""

from __future__ import annotations

from opsdesk.core.actors import Actor
from tests.accounts.factories import TeamFactory

FACTORY_ACTOR = Actor.system("factory")


def shipped() -> None:
    from opsdesk.releases.defaults import install

    install()


def environment(slug: str):
    from opsdesk.releases.models import Environment

    if not Environment.objects.filter(slug=slug).exists():
        shipped()
    return Environment.objects.get(slug=slug)


def make_release(actor: Actor | None = None, **fields):
    from opsdesk.releases import services

    fields.setdefault("title", "Checkout 2.4")
    fields.setdefault("version", "2.4.0")
    if "owner_team" not in fields:
        fields["owner_team"] = TeamFactory()
    return services.create_release(actor=actor or FACTORY_ACTOR, data=fields)
