"""Rotation arithmetic: the final shifts of a schedule over a period, from its layers and overrides.

Pure Python (standard library and zoneinfo, no ORM), so it is easy to test and fast: it works on
intervals (one per turn, one per restriction window), never minute by minute.

- A layer's turn k covers [handoff_k, handoff_{k+1}). For day and week turns the handoffs fall on the
  local wall time of `rotation_start` in the schedule's zone every `turn_count` calendar days / weeks,
  so a one-day turn across a DST change lasts 23 or 25 hours; hour turns are exact multiples of 3600 s.
  Turn k belongs to users[k mod len(users)]; before `rotation_start` nobody is on call.
- Restrictions keep a layer to daily ranges (local times, a range may cross midnight) or weekly ranges
  (start_day/start .. end_day/end, Monday = 0); outside them the layer has nobody.
- Layers with a higher `order` lie on top of lower ones where they have someone; overrides lie on top
  of everything (overlapping overrides put all their people on call together).
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

TIME_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
OVERRIDE = "override"


@dataclass(frozen=True)
class LayerSpec:
    """One layer as plain data. `users` are opaque hashable ids; None stands for a person who cannot be on
    call (inactive): their turns are gaps, and the others' turns do not move."""

    name: str
    users: Sequence[Hashable | None]
    rotation_start: datetime
    turn_unit: str = "weeks"  # "hours" | "days" | "weeks"
    turn_count: int = 1
    restrictions: dict = field(default_factory=dict)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    order: int = 1


@dataclass(frozen=True)
class OverrideSpec:
    user: Hashable
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Shift:
    start: datetime
    end: datetime
    users: tuple
    source: str  # "layer <name>" or "override"

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


@dataclass(frozen=True)
class Timeline:
    shifts: list[Shift]
    gaps: list[tuple[datetime, datetime]]

    def at(self, instant: datetime) -> Shift | None:
        for shift in self.shifts:
            if shift.start <= instant < shift.end:
                return shift
        return None


def parse_time(value: str) -> time:
    match = TIME_RE.match(value or "")
    if not match:
        raise ValueError(f"{value!r} is not a time HH:MM")
    return time(int(match.group(1)), int(match.group(2)))


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime: give aware datetimes")
    return value.astimezone(UTC)


def _wall(day: date, at: time, tz: tzinfo) -> datetime:
    """The instant of a local wall time. A time in the spring gap counts with the offset before the change
    (02:30 becomes 03:30 summer time); an ambiguous autumn time is its first occurrence."""
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


# --- one layer ------------------------------------------------------------------------------------------

class _Handoffs:
    """handoff(k) of a layer: the instant turn k starts."""

    def __init__(self, layer: LayerSpec, tz: tzinfo):
        if layer.turn_count < 1:
            raise ValueError("turn_count must be at least 1")
        self.start = _utc(layer.rotation_start)
        self.unit = layer.turn_unit
        if self.unit == "hours":
            self.length = timedelta(hours=layer.turn_count)
        elif self.unit in ("days", "weeks"):
            self.step_days = layer.turn_count * (7 if self.unit == "weeks" else 1)
            local = layer.rotation_start.astimezone(tz)
            self.first_day, self.wall, self.tz = local.date(), local.time().replace(tzinfo=None, fold=0), tz
        else:
            raise ValueError(f"unknown turn unit {self.unit!r}")

    def __call__(self, k: int) -> datetime:
        if k == 0:
            return self.start
        if self.unit == "hours":
            return self.start + k * self.length
        return _wall(self.first_day + timedelta(days=k * self.step_days), self.wall, self.tz)

    def index(self, instant: datetime) -> int:
        """The turn that covers `instant` (instant >= rotation start)."""
        if self.unit == "hours":
            k = (instant - self.start) // self.length
        else:
            k = (instant.astimezone(self.tz).date() - self.first_day).days // self.step_days
        while k > 0 and self(k) > instant:
            k -= 1
        while self(k + 1) <= instant:
            k += 1
        return k


def _turns(layer: LayerSpec, tz: tzinfo, start: datetime, end: datetime) -> list[tuple[datetime, datetime, object]]:
    """(start, end, user) of each turn of the layer within [start, end), nobody's turns left out."""
    users = list(layer.users)
    if not users:
        return []
    handoffs = _Handoffs(layer, tz)
    lo = max(start, handoffs.start)
    if layer.starts_at:
        lo = max(lo, _utc(layer.starts_at))
    hi = min(end, _utc(layer.ends_at)) if layer.ends_at else end
    if lo >= hi:
        return []
    out = []
    k = handoffs.index(lo)
    turn_start = handoffs(k)
    while turn_start < hi:
        turn_end = handoffs(k + 1)
        user = users[k % len(users)]
        if user is not None:
            out.append((max(turn_start, lo), min(turn_end, hi), user))
        k, turn_start = k + 1, turn_end
    return out


def restriction_windows(restrictions: dict, tz: tzinfo, start: datetime, end: datetime) -> list[tuple]:
    """The instants within [start, end) the restrictions allow, as sorted disjoint (start, end) pairs."""
    kind = (restrictions or {}).get("kind")
    ranges = (restrictions or {}).get("ranges") or []
    if not kind or not ranges:
        return [(start, end)]
    first = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date() + timedelta(days=1)
    windows = []
    if kind == "daily":
        day = first - timedelta(days=1)  # a range crossing midnight reaches into the next day
        while day <= last:
            for rng in ranges:
                s_time, e_time = parse_time(rng["start"]), parse_time(rng["end"])
                # end <= start: the range crosses midnight; equal: the whole day
                e_day = day + timedelta(days=1) if e_time <= s_time else day
                windows.append((_wall(day, s_time, tz), _wall(e_day, e_time, tz)))
            day += timedelta(days=1)
    elif kind == "weekly":
        monday = first - timedelta(days=first.weekday() + 7)
        while monday <= last:
            for rng in ranges:
                s_day, e_day = int(rng["start_day"]), int(rng["end_day"])
                s_time, e_time = parse_time(rng["start"]), parse_time(rng["end"])
                if (e_day, e_time) <= (s_day, s_time):  # wraps over the end of the week; equal: whole week
                    e_day += 7
                windows.append((_wall(monday + timedelta(days=s_day), s_time, tz),
                                _wall(monday + timedelta(days=e_day), e_time, tz)))
            monday += timedelta(days=7)
    else:
        raise ValueError(f"unknown restriction kind {kind!r}")
    clipped = [(max(s, start), min(e, end)) for s, e in windows if s < end and e > start]
    return _union(clipped)


def _union(intervals: Iterable[tuple]) -> list[tuple]:
    merged: list[list] = []
    for s, e in sorted(intervals):
        if s >= e:
            continue
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return [(s, e) for s, e in merged]


def layer_segments(layer: LayerSpec, tz: tzinfo, start: datetime, end: datetime) -> list[tuple]:
    """(start, end, user) of the layer within [start, end), restrictions applied; sorted, disjoint."""
    turns = _turns(layer, tz, start, end)
    if not turns or not (layer.restrictions or {}).get("ranges"):
        return turns
    windows = restriction_windows(layer.restrictions, tz, turns[0][0], turns[-1][1])
    out, i = [], 0
    for t_start, t_end, user in turns:  # both lists sorted: one sweep
        while i < len(windows) and windows[i][1] <= t_start:
            i += 1
        j = i
        while j < len(windows) and windows[j][0] < t_end:
            s, e = max(t_start, windows[j][0]), min(t_end, windows[j][1])
            if s < e:
                out.append((s, e, user))
            j += 1
    return out


# --- the final schedule ---------------------------------------------------------------------------------

def final_schedule(layers: Sequence[LayerSpec], overrides: Sequence[OverrideSpec], time_zone: str | tzinfo,
                   start: datetime, end: datetime) -> Timeline:
    """The final shifts over [start, end) (adjacent equal shifts merged) and the gaps with nobody."""
    tz = ZoneInfo(time_zone) if isinstance(time_zone, str) else time_zone
    start, end = _utc(start), _utc(end)
    if start >= end:
        return Timeline([], [])
    # lowest first; on equal order the later layer lies on top
    ranked = sorted(enumerate(layers), key=lambda item: (item[1].order, item[0]))
    per_layer = [(f"layer {layer.name}", layer_segments(layer, tz, start, end)) for _, layer in ranked]
    overs = sorted(
        ((max(_utc(o.start), start), min(_utc(o.end), end), o.user) for o in overrides),
        key=lambda o: (o[0], o[1]))
    overs = [o for o in overs if o[0] < o[1]]

    points = {start, end}
    for _, segments in per_layer:
        for s, e, _user in segments:
            points.add(s)
            points.add(e)
    for s, e, _user in overs:
        points.add(s)
        points.add(e)
    bounds = sorted(points)

    pointers = [0] * len(per_layer)
    next_override, active = 0, []
    pieces: list[tuple] = []
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        while next_override < len(overs) and overs[next_override][0] <= lo:
            active.append(overs[next_override])
            next_override += 1
        active = [o for o in active if o[1] > lo]
        if active:
            users = tuple(dict.fromkeys(o[2] for o in active))
            pieces.append((lo, hi, users, OVERRIDE))
            continue
        found = None
        for index in range(len(per_layer) - 1, -1, -1):
            source, segments = per_layer[index]
            p = pointers[index]
            while p < len(segments) and segments[p][1] <= lo:
                p += 1
            pointers[index] = p
            if p < len(segments) and segments[p][0] <= lo:
                found = (lo, hi, (segments[p][2],), source)
                break
        # the pointers of the layers below the found one move on lazily on their next look
        pieces.append(found or (lo, hi, (), ""))

    shifts: list[Shift] = []
    gaps: list[list] = []
    for lo, hi, users, source in pieces:
        if not users:
            if gaps and gaps[-1][1] == lo:
                gaps[-1][1] = hi
            else:
                gaps.append([lo, hi])
        elif shifts and shifts[-1].end == lo and shifts[-1].users == users and shifts[-1].source == source:
            shifts[-1] = Shift(shifts[-1].start, hi, users, source)
        else:
            shifts.append(Shift(lo, hi, users, source))
    return Timeline(shifts, [(s, e) for s, e in gaps])
