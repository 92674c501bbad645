"""On-call schedule factories.

`ScheduleFactory(time_zone="Europe/Berlin")`, then
`LayerFactory(schedule=s, users=[alice, bob], rotation_start=..., turn_unit="days")` – `users` takes User
objects or ids and stores ids in rotation order. `OverrideFactory(schedule=s, user=u, starts_at=, ends_at=)`.
"""

from __future__ import annotations

import datetime
import secrets

import factory

from opsdesk.oncall.models import Layer, Override, Schedule, ShiftSwap
from tests.accounts.factories import UserFactory


def _ids(users) -> list:
    return [getattr(u, "pk", u) for u in users or []]


class ScheduleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Schedule

    name = factory.Sequence(lambda n: f"Schedule {n}")
    slug = factory.Sequence(lambda n: f"schedule-{n}")
    time_zone = "UTC"
    ical_token = factory.LazyFunction(lambda: secrets.token_urlsafe(32))


class LayerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Layer

    schedule = factory.SubFactory(ScheduleFactory)
    name = factory.Sequence(lambda n: f"Layer {n}")
    order = 1
    users = factory.LazyFunction(lambda: [UserFactory(role="responder").pk])
    rotation_start = datetime.datetime(2026, 1, 5, 9, 0, tzinfo=datetime.UTC)  # a Monday
    turn_unit = "weeks"
    turn_count = 1
    restrictions = factory.LazyFunction(dict)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        kwargs["users"] = _ids(kwargs.get("users"))
        return super()._create(model_class, *args, **kwargs)


class OverrideFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Override

    schedule = factory.SubFactory(ScheduleFactory)
    user = factory.SubFactory(UserFactory, role="responder")
    starts_at = datetime.datetime(2026, 1, 6, 9, 0, tzinfo=datetime.UTC)
    ends_at = datetime.datetime(2026, 1, 6, 17, 0, tzinfo=datetime.UTC)


class ShiftSwapFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ShiftSwap

    schedule = factory.SubFactory(ScheduleFactory)
    requester = factory.SubFactory(UserFactory, role="responder")
    starts_at = datetime.datetime(2026, 1, 6, 9, 0, tzinfo=datetime.UTC)
    ends_at = datetime.datetime(2026, 1, 6, 17, 0, tzinfo=datetime.UTC)
