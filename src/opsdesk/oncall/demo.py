"""Demo on-call schedules: Platform Engineering's weekly primary rotation and the Payments team's
follow-the-sun secondary (Europe by day, the Americas by night, with the hour nobody covers left as a
gap, so the calendar shows one), an override and an open swap request. Created through the services."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.utils import timezone

from opsdesk.accounts.models import Team
from opsdesk.core.actors import Actor

from . import schedules, selectors
from .models import Schedule

BERLIN = "Europe/Berlin"


def _monday_before(today: datetime.date) -> datetime.date:
    return today - datetime.timedelta(days=today.weekday() + 7)


def load(actor: Actor) -> int:
    people = {u.username: u for u in get_user_model().objects.filter(is_active=True)}
    teams = {t.slug: t for t in Team.objects.all()}
    if not {"alice", "bob", "carol", "dave", "erin"} <= set(people):
        return 0
    created = 0
    monday = _monday_before(timezone.now().date())
    if not Schedule.objects.filter(slug="platform-primary").exists():
        primary = schedules.create_schedule(actor=actor, data={
            "name": "Platform primary", "slug": "platform-primary", "team": teams.get("platform"),
            "time_zone": BERLIN, "description": "Weekly rotation, handed over on Mondays at 09:00 Berlin time."})
        schedules.add_layer(primary, actor=actor, data={
            "name": "Weekly", "users": [people["alice"], people["erin"], people["carol"]],
            "rotation_start": datetime.datetime.combine(monday, datetime.time(9, 0), tzinfo=ZoneInfo(BERLIN)),
            "turn_unit": "weeks", "turn_count": 1})
        override_day = timezone.now().replace(minute=0, second=0, microsecond=0) + datetime.timedelta(days=3)
        schedules.add_override(primary, actor=actor, data={
            "user": people["carol"], "starts_at": override_day, "ends_at": override_day + datetime.timedelta(hours=8),
            "reason": "Covers a dentist appointment"})
        _ask_for_a_swap(primary)
        created += 1
    if not Schedule.objects.filter(slug="payments-secondary").exists():
        secondary = schedules.create_schedule(actor=actor, data={
            "name": "Payments secondary (follow the sun)", "slug": "payments-secondary",
            "team": teams.get("payments"), "time_zone": BERLIN,
            "description": "Europe covers 07:00-19:00 Berlin time, the Americas 19:00-06:00; 06:00-07:00 is open."})
        start = datetime.datetime.combine(monday, datetime.time(6, 0), tzinfo=ZoneInfo(BERLIN))
        schedules.add_layer(secondary, actor=actor, data={
            "name": "Europe", "users": [people["bob"], people["dave"]], "rotation_start": start, "turn_unit": "weeks",
            "restrictions": {"kind": "daily", "ranges": [{"start": "07:00", "end": "19:00"}]}})
        schedules.add_layer(secondary, actor=actor, data={
            "name": "Americas", "users": [people["dave"], people["bob"]], "rotation_start": start,
            "turn_unit": "weeks", "restrictions": {"kind": "daily", "ranges": [{"start": "19:00", "end": "06:00"}]}})
        created += 1
    return created


def _ask_for_a_swap(schedule: Schedule) -> None:
    """Next week's person on call offers one day of their shift to anyone."""
    start = timezone.now().replace(minute=0, second=0, microsecond=0) + datetime.timedelta(days=8)
    found = selectors.shifts(schedule, start, start + datetime.timedelta(days=1))
    if found and found[0].start == start and found[0].end == start + datetime.timedelta(days=1):
        schedules.request_swap(schedule, actor=Actor.for_user(found[0].users[0]), starts_at=start,
                               ends_at=found[0].end, note="Family wedding; happy to take a day of yours.")
