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


def approved_change(release, *, window=None):
    """A change linked to `release` as its production change and approved: walked through the change flow
    with core.records, the approvals engine's internal `grant_approval` setting approved_at."""
    import datetime

    from django.utils import timezone

    from opsdesk.changes.workflows import CHANGE_WORKFLOW
    from opsdesk.core import records
    from opsdesk.releases.models import Release
    from tests.changes.factories import make_change

    now = timezone.now().replace(microsecond=0)
    start, end = window or (now - datetime.timedelta(hours=1), now + datetime.timedelta(hours=3))
    fields = {"owner_team": release.owner_team, "title": f"Deploy {release.number} to production",
              "planned_start": start, "planned_end": end}
    change = make_change(**fields)
    for name in ("submit", "start_assessment", "request_approval"):
        change = records.transition_record(change, name, actor=FACTORY_ACTOR, workflow=CHANGE_WORKFLOW)

    def approved(record, transition, data):
        record.approved_at = timezone.now()

    change = records.transition_record(change, "grant_approval", actor=FACTORY_ACTOR, workflow=CHANGE_WORKFLOW,
                                       apply_fields=approved)
    Release.objects.filter(pk=release.pk).update(production_change=change)
    release.changes.add(change)
    release.refresh_from_db()
    return change


def deploy(release, slug: str, actor: Actor | None = None, **data):
    """Record a deployment of `release` to the environment `slug` through the service (gate included)."""
    from opsdesk.releases import services

    return services.record_deployment(release, environment(slug), actor=actor or FACTORY_ACTOR, data=data)


def manual_settings(**fields):
    """The release settings row with `fields` set (e.g. auto_create_change=False)."""
    from opsdesk.releases.services import release_settings

    row = release_settings()
    for name, value in fields.items():
        setattr(row, name, value)
    row.save()
    return row
