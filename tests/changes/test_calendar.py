"""The change calendar: month, week and list pages (a change on every day it spans, filters, freeze and
maintenance windows, navigation, the viewer's time zone), the iCal feeds (parsed, escaped, folded, by
session and by Bearer token) and the JSON feed, with permissions and pinned query counts."""

from __future__ import annotations

import datetime
import re
import zoneinfo

import pytest
from django.utils import timezone

from opsdesk.alerts.models import MaintenanceWindow
from opsdesk.changes import schedule
from opsdesk.changes.models import FreezeWindow
from tests.accounts.factories import TeamFactory
from tests.changes.factories import make_change, put_in_state
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db
PAGE = "/changes/calendar/"
UTC = datetime.UTC
DAY = datetime.date(2031, 3, 12)  # a Wednesday, far from any other test's window


def at(day: datetime.date, hour: int, minute: int = 0) -> datetime.datetime:
    return datetime.datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def scheduled(title="Upgrade the billing database", start=None, end=None, **fields):
    start = start or at(DAY, 20)
    end = end or at(DAY + datetime.timedelta(days=2), 6)
    change = make_change(title=title, planned_start=start, planned_end=end, **fields)
    return put_in_state(change, "scheduled", risk_level=fields.pop("risk", "high"))


def days_of(html: str, number: str) -> list[str]:
    """The data-date of each calendar day cell holding the change `number`."""
    found = []
    for match in re.finditer(r'data-date="(\d{4}-\d{2}-\d{2})"(.*?)(?=data-date="|\Z)', html, re.S):
        if f'data-change="{number}"' in match.group(2):
            found.append(match.group(1))
    return found


# --- entries() -------------------------------------------------------------------------------------------

def test_entries_hold_planned_and_closed_changes_and_windows(users):
    planned = scheduled("Planned one")
    closed = put_in_state(make_change(title="Closed one", planned_start=at(DAY, 8), planned_end=at(DAY, 9)),
                          "closed", outcome="successful")
    draft = make_change(title="Still a draft", planned_start=at(DAY, 8), planned_end=at(DAY, 9))
    outside = scheduled("Next year", start=at(DAY.replace(year=2032), 8), end=at(DAY.replace(year=2032), 9))
    freeze = FreezeWindow.objects.create(name="Quarter close", starts_at=at(DAY, 0), ends_at=at(DAY, 23))
    FreezeWindow.objects.create(name="Inactive", starts_at=at(DAY, 0), ends_at=at(DAY, 23), active=False)
    window = MaintenanceWindow.objects.create(title="Rack move", starts_at=at(DAY, 1), ends_at=at(DAY, 3))
    MaintenanceWindow.objects.create(title="Called off", starts_at=at(DAY, 1), ends_at=at(DAY, 3),
                                     cancelled_at=timezone.now())
    found = schedule.entries(at(DAY, 0), at(DAY, 0) + datetime.timedelta(days=1), user=users["viewer"])
    assert {c.pk for c in found.changes} == {planned.pk, closed.pk}
    assert draft.pk not in {c.pk for c in found.changes} and outside.pk not in {c.pk for c in found.changes}
    assert [f.pk for f in found.freezes] == [freeze.pk]
    assert [m.pk for m in found.maintenance] == [window.pk]


def test_entries_filters(users):
    team, other = TeamFactory(), TeamFactory()
    service = ServiceFactory()
    on_service = scheduled("On the service", owner_team=team, services=[service])
    low = put_in_state(scheduled("Low risk", owner_team=other), "scheduled", risk_level="low")
    emergency = scheduled("Emergency", owner_team=other, change_type="emergency")
    start, end = at(DAY, 0), at(DAY, 0) + datetime.timedelta(days=3)
    viewer = users["viewer"]
    assert [c.pk for c in schedule.entries(start, end, user=viewer, services=[service]).changes] == [on_service.pk]
    assert [c.pk for c in schedule.entries(start, end, user=viewer, teams=[team]).changes] == [on_service.pk]
    assert [c.pk for c in schedule.entries(start, end, user=viewer, risks=["low"]).changes] == [low.pk]
    assert [c.pk for c in schedule.entries(start, end, user=viewer, types=["emergency"]).changes] == [emergency.pk]


def test_entries_are_bounded_and_say_so(users):
    for n in range(3):
        scheduled(f"Change {n}")
    found = schedule.entries(at(DAY, 0), at(DAY, 0) + datetime.timedelta(days=3), user=users["viewer"], limit=2)
    assert len(found.changes) == 2 and found.truncated


def test_entries_queries_do_not_grow_with_rows(users, django_assert_num_queries):
    start, end = at(DAY, 0), at(DAY, 0) + datetime.timedelta(days=5)
    service = ServiceFactory()
    scheduled("One", services=[service])
    FreezeWindow.objects.create(name="F", starts_at=at(DAY, 0), ends_at=at(DAY, 23))
    MaintenanceWindow.objects.create(title="M", starts_at=at(DAY, 1), ends_at=at(DAY, 3))
    viewer = users["viewer"]
    viewer.role  # noqa: B018  (loaded)
    # changes, freezes + their services, maintenance windows (none on the service: no second query)
    with django_assert_num_queries(4):
        one = schedule.entries(start, end, user=viewer, services=[service])
    for n in range(49):
        scheduled(f"Many {n}", services=[service])
    with django_assert_num_queries(4):
        many = schedule.entries(start, end, user=viewer, services=[service])
    assert len(one.changes) == 1 and len(many.changes) == 50


# --- the pages ------------------------------------------------------------------------------------------------

def test_month_shows_a_change_on_every_day_it_spans(client, users):
    change = scheduled()
    client.force_login(users["viewer"])
    response = client.get(PAGE, {"view": "month", "date": DAY.isoformat()})
    assert response.status_code == 200
    html = response.content.decode()
    assert days_of(html, change.number) == ["2031-03-12", "2031-03-13", "2031-03-14"]
    assert 'id="calendar-month"' in html and "March 2031" in html
    assert change.get_absolute_url() in html and "border-danger" in html  # high risk: red
    assert "Scheduled" in html


def test_a_change_ending_at_midnight_does_not_touch_the_next_day(client, users):
    change = scheduled(start=at(DAY, 22), end=at(DAY + datetime.timedelta(days=1), 0))
    client.force_login(users["viewer"])
    html = client.get(PAGE, {"view": "month", "date": DAY.isoformat()}).content.decode()
    assert days_of(html, change.number) == ["2031-03-12"]


def test_days_follow_the_users_time_zone(client, users):
    change = scheduled(start=at(DAY, 23), end=at(DAY, 23, 30))  # 23:00 UTC is the next morning in Tokyo
    user = users["viewer"]
    user.time_zone = "Asia/Tokyo"
    user.save(update_fields=["time_zone"])
    client.force_login(user)
    html = client.get(PAGE, {"view": "week", "date": DAY.isoformat()}).content.decode()
    assert days_of(html, change.number) == ["2031-03-13"]
    assert "08:00–08:30" in html and "Asia/Tokyo" in html


def test_week_and_list_views(client, users):
    change = scheduled()
    client.force_login(users["viewer"])
    week = client.get(PAGE, {"view": "week", "date": DAY.isoformat()}).content.decode()
    assert 'id="calendar-week"' in week
    assert days_of(week, change.number) == ["2031-03-12", "2031-03-13", "2031-03-14"]
    assert "20:00–…" in week and "…–06:00" in week
    listing = client.get(PAGE, {"view": "list", "date": DAY.isoformat()}).content.decode()
    assert 'id="calendar-list"' in listing
    assert days_of(listing, change.number) == ["2031-03-12", "2031-03-13", "2031-03-14"]
    empty = client.get(PAGE, {"view": "list", "date": "2031-07-01"}).content.decode()
    assert 'id="calendar-empty"' in empty


def test_filters_on_the_page(client, users):
    team, other = TeamFactory(), TeamFactory()
    service = ServiceFactory()
    mine = scheduled("On my service", owner_team=team, services=[service])
    theirs = put_in_state(scheduled("Other team", owner_team=other), "scheduled", risk_level="low")
    client.force_login(users["viewer"])

    def shown(**params):
        html = client.get(PAGE, {"view": "list", "date": DAY.isoformat(), **params}).content.decode()
        return {n for n in (mine.number, theirs.number) if f'data-change="{n}"' in html}

    assert shown() == {mine.number, theirs.number}
    assert shown(service=service.slug) == {mine.number}
    assert shown(team=other.slug) == {theirs.number}
    assert shown(risk="low") == {theirs.number}
    assert shown(type="emergency") == set()


def test_freeze_and_maintenance_windows_are_shown_with_a_legend(client, users):
    freeze = FreezeWindow.objects.create(name="Year-end freeze", starts_at=at(DAY, 0),
                                         ends_at=at(DAY + datetime.timedelta(days=1), 12))
    window = MaintenanceWindow.objects.create(title="Storage firmware", starts_at=at(DAY, 1), ends_at=at(DAY, 3))
    client.force_login(users["viewer"])
    html = client.get(PAGE, {"view": "month", "date": DAY.isoformat()}).content.decode()
    assert html.count(f'data-freeze="{freeze.pk}"') == 2  # two days
    assert html.count(f'data-maintenance="{window.pk}"') == 1
    assert "calendar-freeze" in html and "calendar-maintenance" in html
    assert "Freeze window" in html and "Maintenance window" in html and "calendar-legend" in html


def test_navigation_links(client, users):
    client.force_login(users["viewer"])
    html = client.get(PAGE, {"view": "month", "date": DAY.isoformat(), "team": ""}).content.decode()
    assert 'href="?view=month&amp;date=2031-02-01"' in html
    assert 'href="?view=month&amp;date=2031-04-01"' in html
    assert f'date={timezone.localdate().isoformat()}' in html
    week = client.get(PAGE, {"view": "week", "date": DAY.isoformat()}).content.decode()
    assert "date=2031-03-05" in week and "date=2031-03-19" in week


def test_bad_filters_answer_400_with_the_field(client, users):
    client.force_login(users["viewer"])
    response = client.get(PAGE, {"date": "2031-13-45", "risk": "enormous", "service": "no-such-service"})
    assert response.status_code == 400
    html = response.content.decode()
    assert html.count("field-error") >= 3


def test_anonymous_is_sent_to_sign_in(client):
    assert client.get(PAGE).status_code == 302
    assert client.get("/changes/calendar.ics").status_code == 302


@pytest.mark.parametrize("role", ["viewer", "responder", "manager", "admin"])
def test_every_role_reads_the_calendar(client, users, role):
    client.force_login(users[role])
    assert client.get(PAGE).status_code == 200


def test_month_page_queries_do_not_grow_with_changes(client, users, django_assert_max_num_queries):
    client.force_login(users["viewer"])
    scheduled("First")
    params = {"view": "month", "date": DAY.isoformat()}
    client.get(PAGE, params)
    with django_assert_max_num_queries(14) as one:
        client.get(PAGE, params)
    for n in range(49):
        scheduled(f"More {n}", start=at(DAY, 1) + datetime.timedelta(hours=n), end=at(DAY, 2)
                  + datetime.timedelta(hours=n))
    with django_assert_max_num_queries(len(one.captured_queries)):
        response = client.get(PAGE, params)
    html = response.content.decode()
    # Every change is counted; each day shows its first four and links the rest ("+N more").
    assert html.count("calendar-change d-block") >= 8
    assert "calendar-more" in html


# --- iCal ---------------------------------------------------------------------------------------------------

def unfold(text: str) -> list[str]:
    return text.replace("\r\n ", "").split("\r\n")


def test_ical_events_escaped_and_folded(client, users):
    change = scheduled("Move DNS, then; restart\nthe resolvers " + "x" * 80)
    FreezeWindow.objects.create(name="Black Friday, sales", reason="Peak; no changes",
                                starts_at=at(DAY, 0), ends_at=at(DAY, 23))
    client.force_login(users["viewer"])
    response = client.get("/changes/calendar.ics", {"start": "2031-03-01", "end": "2031-04-01"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/calendar")
    raw = response.content
    assert all(len(line) <= 75 for line in raw.split(b"\r\n")), "lines folded at 75 octets"
    lines = unfold(raw.decode())
    assert lines[0] == "BEGIN:VCALENDAR" and "VERSION:2.0" in lines
    assert lines.count("BEGIN:VEVENT") == 2
    assert f"UID:{change.number}@opsdesk" in lines
    assert "DTSTART:20310312T200000Z" in lines and "DTEND:20310314T060000Z" in lines
    summary = next(line for line in lines if line.startswith(f"SUMMARY:{change.number}"))
    assert summary.startswith(f"SUMMARY:{change.number} Move DNS\\, then\\; restart\\nthe resolvers x")
    assert summary.endswith("[High]")
    assert any(line.startswith("URL:http://testserver/changes/") for line in lines)
    assert "SUMMARY:Change freeze: Black Friday\\, sales" in lines
    assert any(line.startswith("DESCRIPTION:Peak\\; no changes\\n") for line in lines)

    import icalendar

    parsed = icalendar.Calendar.from_ical(raw)
    events = [c for c in parsed.walk("VEVENT")]
    assert str(events[0]["SUMMARY"]).startswith(f"{change.number} Move DNS, then; restart\nthe resolvers")


def test_api_ical_with_a_bearer_token(api, users):
    change = scheduled()
    client = api(users["viewer"], scope="read")
    response = client.get("/api/v1/changes/calendar.ics", {"start": "2031-03-01", "end": "2031-04-01",
                                                            "risk": "high"})
    assert response.status_code == 200
    assert f"UID:{change.number}@opsdesk" in response.content.decode()
    assert api().get("/api/v1/changes/calendar.ics").status_code == 401
    bad = client.get("/api/v1/changes/calendar.ics", {"start": "someday"})
    assert bad.status_code == 400 and "start" in bad.json()["error"]["fields"]


def test_api_json_calendar(api, users):
    team = TeamFactory()
    change = scheduled(owner_team=team)
    FreezeWindow.objects.create(name="Freeze", starts_at=at(DAY, 0), ends_at=at(DAY, 23))
    MaintenanceWindow.objects.create(title="Patch night", starts_at=at(DAY, 1), ends_at=at(DAY, 3))
    client = api(users["viewer"], scope="read")
    response = client.get("/api/v1/changes/calendar/", {"start": "2031-03-12", "end": "2031-03-13"})
    assert response.status_code == 200
    body = response.json()
    assert [c["number"] for c in body["changes"]] == [change.number]
    assert body["changes"][0]["owner_team"] == team.slug and body["changes"][0]["risk_level"] == "high"
    assert body["changes"][0]["planned_start"].startswith("2031-03-12T20:00:00")
    assert [f["name"] for f in body["freeze_windows"]] == ["Freeze"]
    assert [m["title"] for m in body["maintenance_windows"]] == ["Patch night"]
    assert client.get("/api/v1/changes/calendar/", {"start": "2031-03-12", "end": "2031-03-12"}).status_code == 400
    too_long = client.get("/api/v1/changes/calendar/", {"start": "2031-01-01", "end": "2033-01-01"})
    assert too_long.status_code == 400 and "end" in too_long.json()["error"]["fields"]
    assert api().get("/api/v1/changes/calendar/").status_code == 401


def test_api_json_queries_do_not_grow(api, users, django_assert_max_num_queries):
    client = api(users["viewer"], scope="read")
    params = {"start": "2031-03-01", "end": "2031-04-01"}
    scheduled("First")
    client.get("/api/v1/changes/calendar/", params)
    with django_assert_max_num_queries(12) as one:
        client.get("/api/v1/changes/calendar/", params)
    for n in range(49):
        scheduled(f"More {n}")
    with django_assert_max_num_queries(len(one.captured_queries)):
        body = client.get("/api/v1/changes/calendar/", params).json()
    assert len(body["changes"]) == 50


def test_local_midnight_uses_the_active_zone():
    with timezone.override(zoneinfo.ZoneInfo("Europe/Berlin")):
        assert schedule.local_midnight(DAY).utcoffset() == datetime.timedelta(hours=1)


def _calendar_css() -> str:
    from django.contrib.staticfiles import finders

    return open(finders.find("opsdesk/changes_calendar.css"), encoding="utf-8").read()


def test_more_anchors_land_below_the_sticky_navbar_and_list_columns_line_up(client, users):
    """Walk-through d09: "+N more" opened the list with the day under the sticky navbar; the list's per-day
    tables each sized their own columns."""
    scheduled()
    client.force_login(users["viewer"])
    listing = client.get(PAGE, {"view": "list", "date": DAY.isoformat()}).content.decode()
    assert "opsdesk/changes_calendar.css" in listing
    assert 'id="day-2031-03-12"' in listing
    section = listing[listing.index('id="day-2031-03-12"') - 200:listing.index('id="day-2031-03-12"')]
    assert "calendar-day" in section
    assert listing.count('<table class="table table-sm align-middle mb-0 calendar-list-table">') >= 2
    assert '<col class="calendar-col-time"><col class="calendar-col-what"><col class="calendar-col-team">' in listing
    css = re.sub(r"\s+", " ", _calendar_css())
    assert re.search(r"\.calendar-list \.calendar-day \{[^}]*scroll-margin-top: \d", css)
    assert re.search(r"\.calendar-list-table \{[^}]*table-layout: fixed", css)
    for column in ("time", "team", "risk"):
        assert re.search(rf"\.calendar-col-{column} \{{[^}}]*width: \d", css)
