"""Change factories: changes are created through their services, so numbers, the change log, events and
the search index are as in production. Shipped rows (settings, categories, templates, questions,
policies) come from migration 0002; `shipped()` puts them back after a transactional test's flush."""

from __future__ import annotations

import datetime

from django.utils import timezone

from opsdesk.core.actors import Actor
from tests.accounts.factories import TeamFactory

FACTORY_ACTOR = Actor.system("factory")


def shipped() -> None:
    from opsdesk.changes.defaults import install

    install()


def window(start_in_hours: float = 96, hours: float = 2) -> tuple[datetime.datetime, datetime.datetime]:
    """A planned window starting `start_in_hours` from now and lasting `hours`."""
    start = timezone.now().replace(microsecond=0) + datetime.timedelta(hours=start_in_hours)
    return start, start + datetime.timedelta(hours=hours)


def make_change(actor: Actor | None = None, **fields):
    """A draft change (normal by default) with a planned window four days ahead."""
    from opsdesk.changes import services

    fields.setdefault("title", "Upgrade PostgreSQL on the billing cluster to 16.4")
    fields.setdefault("change_type", "normal")
    if "owner_team" not in fields:
        fields["owner_team"] = TeamFactory()
    if "planned_start" not in fields:
        fields["planned_start"], fields["planned_end"] = window()
    return services.create_change(actor=actor or FACTORY_ACTOR, data=fields)


def put_in_state(change, status: str, **fields):
    """History for read-side tests (calendar, KPIs, reviews): the change as if its flow had run to `status`
    (with e.g. outcome, closed_at, risk_level), written straight to its row."""
    from opsdesk.changes.models import ChangeRequest

    ChangeRequest.objects.filter(pk=change.pk).update(status=status, **fields)
    change.refresh_from_db()
    return change
