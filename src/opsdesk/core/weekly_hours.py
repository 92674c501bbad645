"""Weekly working hours in a time zone, written the way people say them:
"mon-fri 09:00-17:30; sat 10:00-14:00" or "24x7". Stored as {"mon": [["09:00", "17:30"]], ...}.
Used by service support hours (and by business calendars later)."""

from __future__ import annotations

import re
import zoneinfo

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_SPAN = re.compile(r"^(?P<days>[a-z]{3}(?:-[a-z]{3})?(?:,[a-z]{3}(?:-[a-z]{3})?)*)\s+(?P<ranges>.+)$")
_RANGE = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
ALWAYS = {day: [["00:00", "24:00"]] for day in DAYS}


def _days(spec: str) -> list[str]:
    days: list[str] = []
    for part in spec.split(","):
        if "-" in part:
            first, last = part.split("-")
            if first not in DAYS or last not in DAYS:
                raise ValidationError(_("Unknown day in “%(part)s”; use mon, tue, wed, thu, fri, sat, sun.")
                                      % {"part": part})
            i, j = DAYS.index(first), DAYS.index(last)
            if j < i:
                raise ValidationError(_("Day range “%(part)s” runs backwards.") % {"part": part})
            days.extend(DAYS[i:j + 1])
        else:
            if part not in DAYS:
                raise ValidationError(_("Unknown day “%(part)s”; use mon, tue, wed, thu, fri, sat, sun.")
                                      % {"part": part})
            days.append(part)
    return days


def parse(text: str) -> dict[str, list[list[str]]]:
    text = (text or "").strip().lower()
    if not text:
        return {}
    if text in {"24x7", "24/7", "always"}:
        return {d: [list(r) for r in ranges] for d, ranges in ALWAYS.items()}
    hours: dict[str, list[list[str]]] = {}
    for clause in filter(None, (c.strip() for c in text.split(";"))):
        match = _SPAN.match(clause)
        if not match:
            raise ValidationError(_("Could not read “%(clause)s”; write for example “mon-fri 09:00-17:00”.")
                                  % {"clause": clause})
        for rng in match["ranges"].split(","):
            m = _RANGE.match(rng.strip())
            if not m:
                raise ValidationError(_("Could not read the time range “%(rng)s”; write HH:MM-HH:MM.")
                                      % {"rng": rng.strip()})
            sh, sm, eh, em = (int(x) for x in m.groups())
            if sh > 23 or sm > 59 or em > 59 or eh > 24 or (eh == 24 and em) or (sh, sm) >= (eh, em):
                raise ValidationError(_("The time range “%(rng)s” is not valid.") % {"rng": rng.strip()})
            for day in _days(match["days"]):
                hours.setdefault(day, []).append([f"{sh:02d}:{sm:02d}", f"{eh:02d}:{em:02d}"])
    for day, ranges in hours.items():
        ranges.sort()
        for (_s1, e1), (s2, _e2) in zip(ranges, ranges[1:], strict=False):
            if s2 < e1:
                raise ValidationError(_("Time ranges overlap on %(day)s.") % {"day": day})
    return {d: hours[d] for d in DAYS if d in hours}


def validate(hours: dict) -> None:
    shape_ok = isinstance(hours, dict) and all(
        day in DAYS and isinstance(ranges, list)
        and all(isinstance(r, list) and len(r) == 2 and all(isinstance(t, str) for t in r) for r in ranges)
        for day, ranges in hours.items()
    )
    if not shape_ok:
        raise ValidationError(_('Support hours must map days (mon … sun) to lists of ["HH:MM", "HH:MM"] ranges.'))
    parse(format_hours(hours))


def format_hours(hours: dict) -> str:
    if not hours:
        return ""
    if hours == ALWAYS:
        return "24x7"
    clauses: list[tuple[list[str], list[list[str]]]] = []
    for day in DAYS:
        if day not in hours:
            continue
        if clauses and clauses[-1][1] == hours[day] and DAYS.index(clauses[-1][0][-1]) == DAYS.index(day) - 1:
            clauses[-1][0].append(day)
        else:
            clauses.append(([day], hours[day]))
    out = []
    for days, ranges in clauses:
        span = days[0] if len(days) == 1 else f"{days[0]}-{days[-1]}"
        out.append(f"{span} " + ",".join(f"{s}-{e}" for s, e in ranges))
    return "; ".join(out)


def validate_time_zone(name: str) -> None:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(_("“%(tz)s” is not a known time zone (for example Europe/Berlin).") % {"tz": name})
