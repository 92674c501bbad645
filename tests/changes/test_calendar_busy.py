"""A busy day in the month grid: four changes shown, the rest counted as "+N more" with a link to that
day in the list view, and the page costs the same number of queries for a quiet month and a busy one."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.changes.factories import make_change, put_in_state

pytestmark = pytest.mark.django_db


def _day_at(hour):
    day = (timezone.now() + datetime.timedelta(days=40)).date().replace(day=12)
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour)), datetime.UTC)


def _scheduled(team, n, first_hour=1):
    made = []
    for i in range(n):
        start = _day_at(first_hour + i)
        change = make_change(title=f"Busy change {i}", owner_team=team, planned_start=start,
                             planned_end=start + datetime.timedelta(minutes=30))
        made.append(put_in_state(change, "scheduled"))
    return made


def test_a_busy_day_shows_four_changes_and_links_the_rest(client, users, team):
    changes = _scheduled(team, 6)
    client.force_login(users["viewer"])
    day = _day_at(0).date().isoformat()
    html = client.get(f"/changes/calendar/?view=month&date={day}").content.decode()
    cell = html.split(f'data-date="{day}"', 1)[1].split("</td>", 1)[0]
    shown = [c.number for c in changes if f'data-change="{c.number}"' in cell]
    assert shown == [c.number for c in changes[:4]]  # the first four by start time
    assert "+2 more" in cell
    assert f"view=list&amp;date={day}#day-{day}" in cell
    listing = client.get(f"/changes/calendar/?view=list&date={day}").content.decode()
    assert all(f'data-change="{c.number}"' in listing for c in changes)
    assert f'id="day-{day}"' in listing


def test_the_month_page_reads_a_busy_month_in_as_many_queries_as_a_quiet_one(client, users, team):
    _scheduled(team, 2)
    client.force_login(users["viewer"])
    url = f"/changes/calendar/?view=month&date={_day_at(0).date().isoformat()}"
    client.get(url)
    with CaptureQueriesContext(connection) as quiet:
        client.get(url)
    _scheduled(team, 12, first_hour=3)
    with CaptureQueriesContext(connection) as busy:
        html = client.get(url).content.decode()
    assert "+10 more" in html
    assert len(busy) == len(quiet)
