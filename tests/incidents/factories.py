"""Incident factories: incidents are created through opsdesk.incidents.services, so numbers, priority,
SLA timers, the change log and events are as in production. Shipped rows (settings, categories,
SLA calendars and policies) are put back when a transactional test flushed them."""

from __future__ import annotations

import factory

from opsdesk.core.actors import Actor
from opsdesk.incidents import services
from opsdesk.incidents.models import Category, Incident

FACTORY_ACTOR = Actor.system("factory")


def shipped() -> None:
    """Transactional tests (browser, integration) flush the database, shipped rows included."""
    from opsdesk.incidents import defaults

    defaults.install()
    try:
        from opsdesk.sla import defaults as sla_defaults
    except ImportError:  # pragma: no cover  (the SLA app ships its defaults by migration)
        return
    if hasattr(sla_defaults, "install"):
        sla_defaults.install()


def category(slug: str) -> Category:
    if not Category.objects.filter(slug=slug).exists():
        shipped()
    return Category.objects.get(slug=slug)


def make_incident(actor: Actor | None = None, **fields) -> Incident:
    """An incident created by the service; `fields` as the service takes them (model instances)."""
    shipped()
    fields.setdefault("title", "Checkout answers 502")
    return services.create_incident(actor=actor or FACTORY_ACTOR, data=fields)


class IncidentFactory(factory.django.DjangoModelFactory):
    """Goes through the service: `IncidentFactory(impact=1, urgency=1, assignment_group=team)`."""

    class Meta:
        model = Incident

    title = factory.Sequence(lambda n: f"Incident {n}")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return make_incident(**kwargs)
