"""iCalendar (RFC 5545) feeds of the final on-call shifts, for calendar apps to subscribe to: one per
schedule (its shifts and gaps) and one per person (their shifts across schedules). Times are written in
UTC; each event's UID is stable while the shift stays the same, so a calendar app updates rather than
duplicates it on the next refresh."""

from __future__ import annotations

import datetime
import hashlib

import icalendar
from django.utils import timezone
from django.utils.translation import gettext as _

from . import selectors
from .models import Schedule

DEFAULT_WEEKS = 8
MAX_WEEKS = 26
PRODID = "-//Opsdesk//On-call schedules//EN"


def _calendar(name: str) -> icalendar.Calendar:
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    return calendar


def _uid(*parts) -> str:
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:32]
    return f"{digest}@opsdesk"


def _event(uid: str, start, end, summary: str, description: str, stamp) -> icalendar.Event:
    event = icalendar.Event()
    event.add("uid", uid)
    event.add("dtstamp", stamp)
    event.add("dtstart", start.astimezone(datetime.UTC))
    event.add("dtend", end.astimezone(datetime.UTC))
    event.add("summary", summary)
    if description:
        event.add("description", description)
    event.add("transp", "TRANSPARENT")  # being on call does not make someone busy
    return event


def _names(users) -> str:
    return ", ".join(u.get_full_name() or u.username for u in users)


PAST_WEEKS = 4


def _window(weeks: int) -> tuple[datetime.datetime, datetime.datetime]:
    weeks = max(1, min(int(weeks or DEFAULT_WEEKS), MAX_WEEKS))
    # From four weeks back (midnight UTC): the shift running now keeps its real start (a week-long turn begun
    # last Monday is not cut at today's midnight), recent shifts stay in people's calendars, and an event's
    # UID (made of its start and end) stays the same from one fetch to the next.
    today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    return today - datetime.timedelta(weeks=PAST_WEEKS), today + datetime.timedelta(weeks=weeks)


def schedule_feed(schedule: Schedule, weeks: int = DEFAULT_WEEKS) -> bytes:
    start, end = _window(weeks)
    timeline = selectors.timeline(schedule, start, end)
    stamp = timezone.now().astimezone(datetime.UTC)
    calendar = _calendar(_("On-call: %(s)s") % {"s": schedule.name})
    for shift in timeline.shifts:
        calendar.add_component(_event(
            _uid("schedule", schedule.pk, shift.start.isoformat(), shift.end.isoformat(),
                 ",".join(str(u.pk) for u in shift.users)),
            shift.start, shift.end, _("On call: %(p)s") % {"p": _names(shift.users)},
            f"{schedule.name} ({shift.source})", stamp))
    for gap_start, gap_end in timeline.gaps:
        calendar.add_component(_event(
            _uid("gap", schedule.pk, gap_start.isoformat(), gap_end.isoformat()), gap_start, gap_end,
            _("Nobody on call"), _("A gap in %(s)s: nobody is on call.") % {"s": schedule.name}, stamp))
    return calendar.to_ical()


def user_feed(user, weeks: int = DEFAULT_WEEKS) -> bytes:
    start, end = _window(weeks)
    stamp = timezone.now().astimezone(datetime.UTC)
    calendar = _calendar(_("My on-call shifts (%(u)s)") % {"u": user.username})
    for schedule, shift in selectors.user_shifts(user, start, end):
        others = [u for u in shift.users if u.pk != user.pk]
        description = f"{schedule.name} ({shift.source})"
        if others:
            description += "; " + _("together with %(p)s") % {"p": _names(others)}
        calendar.add_component(_event(
            _uid("user", user.pk, schedule.pk, shift.start.isoformat(), shift.end.isoformat()),
            shift.start, shift.end, _("On call: %(s)s") % {"s": schedule.name}, description, stamp))
    return calendar.to_ical()
