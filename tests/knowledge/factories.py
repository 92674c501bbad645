"""Knowledge factories: articles are created through the service (versions, change log, search index)."""

from __future__ import annotations

from opsdesk.core.actors import Actor

FACTORY_ACTOR = Actor.system("factory")


def make_article(actor: Actor | None = None, **fields):
    from opsdesk.knowledge import services

    fields.setdefault("title", "How to restart the checkout service safely")
    fields.setdefault("body", "1. Drain the node.\n2. Restart the pods one by one.\n3. Check the 5xx rate.")
    return services.create_article(actor=actor or FACTORY_ACTOR, data=fields)
