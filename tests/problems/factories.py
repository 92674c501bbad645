"""Problem factories: problems, known errors and countermeasures are created through their services,
so numbers, the change log, events and the search index are as in production."""

from __future__ import annotations

from opsdesk.core.actors import Actor
from tests.incidents.factories import make_incident  # noqa: F401  (re-exported for problem tests)

FACTORY_ACTOR = Actor.system("factory")


def make_problem(actor: Actor | None = None, **fields):
    from opsdesk.problems import services

    fields.setdefault("title", "Checkout keeps answering 502 after deploys")
    return services.create_problem(actor=actor or FACTORY_ACTOR, data=fields)


def make_known_error(actor: Actor | None = None, **fields):
    from opsdesk.problems import kedb

    fields.setdefault("title", "Connection pool exhausted on the checkout database")
    fields.setdefault("symptom", "Checkout answers 502; the logs say 'remaining connection slots are reserved'.")
    fields.setdefault("workaround", "Restart the checkout pods one by one.")
    return kedb.create_known_error(actor=actor or FACTORY_ACTOR, data=fields)


def make_countermeasure(problem, actor: Actor | None = None, **fields):
    from opsdesk.problems import services

    fields.setdefault("title", "Alert on connection pool usage above 80%")
    fields.setdefault("kind", "monitoring")
    return services.create_countermeasure(problem, actor=actor or FACTORY_ACTOR, data=fields)
