"""Reads of the on-call schedules: who is on call at an instant, the final shifts of a period.

Each read loads a bounded number of rows whatever the number of schedules: the schedules' layers
(prefetched), the overrides within the period, and the people named in either; the rotation arithmetic
(`rotation.final_schedule`) then runs in memory on intervals."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db.models import Prefetch
from django.utils import timezone

from . import rotation
from .models import Layer, Override, Schedule

ONE_INSTANT = timedelta(microseconds=1)
SHIFT_HORIZON = timedelta(days=14)  # how far a shift's start and end are looked for around an instant


def layer_spec(layer: Layer, active_ids: set) -> rotation.LayerSpec:
    """The layer as plain data; people who cannot be on call (inactive, deleted) stand as None, so their
    turns are gaps and nobody else's turn moves."""
    return rotation.LayerSpec(
        name=layer.name, users=[uid if uid in active_ids else None for uid in layer.users or []],
        rotation_start=layer.rotation_start, turn_unit=layer.turn_unit, turn_count=max(layer.turn_count, 1),
        restrictions=layer.restrictions or {}, starts_at=layer.starts_at, ends_at=layer.ends_at, order=layer.order)


def with_layers(queryset=None):
    """Schedules with their layers prefetched (one query for all)."""
    queryset = Schedule.objects.all() if queryset is None else queryset
    return queryset.prefetch_related(Prefetch("layers", queryset=Layer.objects.order_by("order", "id")))


def timelines(schedules: Iterable[Schedule], start: datetime, end: datetime) -> dict[int, rotation.Timeline]:
    """{schedule id: Timeline} over [start, end), the shifts naming User objects. Three queries at most
    when the layers are prefetched (`with_layers`): layers, overrides, people."""
    schedules = list(schedules)
    if not schedules:
        return {}
    layers = {s.pk: list(s.layers.all()) for s in schedules}
    overrides: dict[int, list[Override]] = {s.pk: [] for s in schedules}
    for override in Override.objects.filter(schedule__in=[s.pk for s in schedules], starts_at__lt=end,
                                            ends_at__gt=start).order_by("starts_at", "id"):
        overrides[override.schedule_id].append(override)
    user_ids = {uid for items in layers.values() for layer in items for uid in layer.users or []}
    user_ids |= {o.user_id for items in overrides.values() for o in items}
    people = {u.pk: u for u in get_user_model().objects.filter(pk__in=user_ids, is_active=True)} if user_ids else {}
    active = set(people)
    out = {}
    for schedule in schedules:
        specs = [layer_spec(layer, active) for layer in layers[schedule.pk]]
        overs = [rotation.OverrideSpec(o.user_id, o.starts_at, o.ends_at) for o in overrides[schedule.pk]
                 if o.user_id in active]
        timeline = rotation.final_schedule(specs, overs, schedule.time_zone, start, end)
        shifts = [dataclasses.replace(shift, users=tuple(people[uid] for uid in shift.users))
                  for shift in timeline.shifts]
        out[schedule.pk] = rotation.Timeline(shifts, timeline.gaps)
    return out


def timeline(schedule: Schedule, start: datetime, end: datetime) -> rotation.Timeline:
    return timelines([schedule], start, end)[schedule.pk]


def on_call_at(schedule, at) -> list:
    """The users on call in `schedule` at the aware datetime `at` (overrides, then the top layer that
    has someone then), in a stable order."""
    found = timeline(schedule, at, at + ONE_INSTANT).shifts
    return list(found[0].users) if found else []


def on_call_now(schedules: Iterable[Schedule], at: datetime | None = None) -> dict[int, rotation.Shift | None]:
    """{schedule id: the shift running at `at` (default now), or None}, for many schedules in bounded
    queries. The shift comes whole (its real start and end, "until when"), as far as `SHIFT_HORIZON`
    either side."""
    at = at or timezone.now()
    return {pk: t.at(at) for pk, t in timelines(schedules, at - SHIFT_HORIZON, at + SHIFT_HORIZON).items()}


def shifts(schedule: Schedule, start: datetime, end: datetime) -> list[rotation.Shift]:
    """The final shifts of [start, end): adjacent equal shifts merged, each with its users and source."""
    return timeline(schedule, start, end).shifts


def gaps(schedule: Schedule, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The intervals of [start, end) when nobody is on call in `schedule`."""
    return timeline(schedule, start, end).gaps


def schedules_of(user) -> list[Schedule]:
    """The schedules in which `user` has a turn in some layer or an override (layers prefetched)."""
    with_overrides = set(Override.objects.filter(user=user).values_list("schedule_id", flat=True))
    return [s for s in with_layers()
            if s.pk in with_overrides or any(user.pk in (layer.users or []) for layer in s.layers.all())]


def user_shifts(user, start: datetime, end: datetime) -> list[tuple[Schedule, rotation.Shift]]:
    """The final shifts of `user` across all schedules within [start, end), by start time."""
    schedules = schedules_of(user)
    by_pk = {s.pk: s for s in schedules}
    out = []
    for pk, found in timelines(schedules, start, end).items():
        mine: list[rotation.Shift] = []
        for shift in found.shifts:
            if all(u.pk != user.pk for u in shift.users):
                continue
            if mine and mine[-1].end == shift.start and mine[-1].users == shift.users:
                # One stretch for the person, even where their layer turn continues as an override of theirs.
                previous = mine[-1]
                sources = list(dict.fromkeys(previous.source.split(" + ") + [shift.source]))
                mine[-1] = rotation.Shift(previous.start, shift.end, shift.users, " + ".join(sources))
            else:
                mine.append(shift)
        out.extend((by_pk[pk], shift) for shift in mine)
    out.sort(key=lambda pair: (pair[1].start, pair[0].name))
    return out
