import itertools

import factory

from opsdesk.core.actors import Actor
from opsdesk.incidents.models import Incident
from opsdesk.sla import rules
from opsdesk.sla.models import BusinessCalendar, SLAPolicy

ACTOR = Actor.system("factory")
OFFICE = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
_numbers = itertools.count(1)


class CalendarFactory(factory.django.DjangoModelFactory):
    """Creates through the write path, so the change log is as in production."""

    class Meta:
        model = BusinessCalendar

    name = factory.Sequence(lambda n: f"Calendar {n}")
    slug = factory.Sequence(lambda n: f"calendar-{n}")
    time_zone = "UTC"
    hours = factory.LazyFunction(lambda: dict(OFFICE))

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return rules.create_calendar(actor=ACTOR, data=kwargs)


class PolicyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SLAPolicy

    name = factory.Sequence(lambda n: f"Policy {n}")
    slug = factory.Sequence(lambda n: f"policy-{n}")
    record_type = "incident"
    order = 1
    conditions = factory.LazyFunction(lambda: {"priority": ["P1"]})
    calendar = factory.SubFactory(CalendarFactory)
    pause_states = factory.LazyFunction(lambda: ["on_hold"])
    warn_percentages = factory.LazyFunction(lambda: [50, 75])
    targets = factory.LazyFunction(lambda: [{"metric": "acknowledge", "goal_minutes": 60, "business_time": True},
                                            {"metric": "resolve", "goal_minutes": 480, "business_time": True}])

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return rules.create_policy(actor=ACTOR, data=kwargs)


def incident(priority="P1", **fields) -> Incident:
    """A bare incident row (the SLA engine needs only a record with SLA_DUE_FIELD)."""
    number = next(_numbers)
    return Incident.objects.create(number=f"INC-T{number}", title=fields.pop("title", "Disk full"), priority=priority,
                                   **fields)
