"""Schedule pages: who is on call, list, detail with the calendar (gaps in red, DST days), forms with
inline errors and permissions, swaps, my shifts, and the iCal feeds (parsed with icalendar)."""

import datetime as dt
import re

import icalendar
import pytest
import time_machine

from opsdesk.accounts.services import set_membership
from opsdesk.core.actors import Actor
from opsdesk.oncall import schedules
from opsdesk.oncall.models import Layer, Override, Schedule, ShiftSwap
from tests.oncall.factories import LayerFactory, OverrideFactory, ScheduleFactory

UTC = dt.UTC
NOW = dt.datetime(2026, 3, 23, 8, 0, tzinfo=UTC)  # Monday of the week Berlin changes to summer time
MONDAY = dt.datetime(2026, 3, 23, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def rota(users, team):
    """Office hours only (a gap every night), Berlin time, responder and manager by day."""
    schedule = ScheduleFactory(name="Shop on-call", slug="shop", time_zone="Europe/Berlin", team=team)
    LayerFactory(schedule=schedule, name="Office", users=[users["responder"], users["manager"]],
                 rotation_start=MONDAY, turn_unit="days",
                 restrictions={"kind": "daily", "ranges": [{"start": "08:00", "end": "20:00"}]})
    return schedule


def page(client, user, url, **params):
    client.force_login(user)
    response = client.get(url, params)
    return response, response.content.decode()


def test_anonymous_is_sent_to_login(client, db):
    for url in ("/oncall/", "/oncall/schedules/", "/oncall/my/", "/oncall/swaps/"):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], url


def test_who_is_on_call_now_and_at_a_time(client, users, rota):
    response, html = page(client, users["viewer"], "/oncall/")
    assert response.status_code == 200
    assert "Shop on-call" in html and "Nobody" in html  # 09:00 Berlin on Monday: before the first handoff
    response, html = page(client, users["viewer"], "/oncall/", at="2026-03-23T12:00")
    row = re.search(r"Shop on-call.*?</tr>", html, re.S).group(0)
    assert "responder" in row
    response, _html = page(client, users["viewer"], "/oncall/", at="noon")
    assert response.status_code == 400


def test_schedule_list_in_bounded_queries(client, users, rota, django_assert_max_num_queries):
    client.force_login(users["viewer"])
    client.get("/oncall/schedules/")
    for index in range(6):
        LayerFactory(schedule=ScheduleFactory(name=f"Extra {index}"), users=[users["admin"]])
    with django_assert_max_num_queries(9):  # session, user, memberships, notifications, schedules, layers,
        response = client.get("/oncall/schedules/")  # overrides, people, open swaps
    assert response.status_code == 200
    assert response.content.decode().count("/oncall/schedules/") >= 7


def test_detail_calendar_shows_shifts_gaps_and_the_short_dst_day(client, users, rota):
    response, html = page(client, users["viewer"], rota.get_absolute_url(), weeks=1)
    assert response.status_code == 200
    assert 'id="gap-warning"' in html
    assert html.count("oc-gap-bar") >= 7  # every night
    assert "23h" in html  # Sunday 29 March has 23 hours in Berlin
    day = re.search(r"Tue 24 Mar.*?</div>\s*</div>", html, re.S).group(0)
    assert "08:00 Gap" not in day and "10:00 manager" in day and "08:00 responder" in day
    assert "Edit" not in re.search(r'<div class="page-header.*?</div>\s*</div>', html, re.S).group(0)


def test_detail_answers_who_is_on_call_at_in_local_time(client, users, rota):
    _response, html = page(client, users["viewer"], rota.get_absolute_url(), at="2026-03-24T09:30")
    result = re.search(r'id="who-at-result">(.*?)</div>', html, re.S).group(1)
    assert "responder" in result  # 09:30 Berlin: still Monday's turn (handoff at 10:00)
    response, html = page(client, users["viewer"], rota.get_absolute_url(), at="when?")
    assert response.status_code == 400 and "who-at-error" in html


def test_detail_query_count_is_bounded(client, users, rota, django_assert_max_num_queries):
    for day in range(5):
        OverrideFactory(schedule=rota, user=users["admin"], starts_at=MONDAY + dt.timedelta(days=day),
                        ends_at=MONDAY + dt.timedelta(days=day, hours=2))
    client.force_login(users["viewer"])
    client.get(rota.get_absolute_url())
    with django_assert_max_num_queries(13):  # the same for 1 override or 50, 1 week or 8
        assert client.get(rota.get_absolute_url(), {"weeks": 8}).status_code == 200


def test_schedule_form_permissions_and_inline_errors(client, users, team):
    _response, _html = page(client, users["responder"], "/oncall/schedules/new/")
    assert _response.status_code == 403
    client.force_login(users["manager"])
    invalid = client.post("/oncall/schedules/new/", {"name": "", "time_zone": "UTC"})
    assert invalid.status_code == 422 and "is-invalid" in invalid.content.decode()
    created = client.post("/oncall/schedules/new/", {"name": "Nights", "time_zone": "Europe/Berlin",
                                                     "team": team.pk})
    schedule = Schedule.objects.get(name="Nights")
    assert created.status_code == 302 and created["Location"] == schedule.get_absolute_url()
    assert schedule.slug == "nights"


def test_layer_form_reads_local_times_and_ranges(client, users, rota):
    client.force_login(users["responder"])
    assert client.get(f"/oncall/schedules/{rota.pk}/layers/new/").status_code == 403
    client.force_login(users["team_manager"])
    data = {"name": "Nights", "users": "admin, manager", "rotation_start": "2026-03-23T20:00", "turn_unit": "days",
            "turn_count": "1", "restriction_kind": "daily", "ranges": "20:00-08:00"}
    bad = client.post(f"/oncall/schedules/{rota.pk}/layers/new/", {**data, "ranges": "8pm till 8am",
                                                                   "users": "admin, ghost"})
    assert bad.status_code == 422
    assert "ghost" in bad.content.decode() and "8pm till 8am" in bad.content.decode()
    assert client.post(f"/oncall/schedules/{rota.pk}/layers/new/", data).status_code == 302
    layer = Layer.objects.get(name="Nights")
    assert layer.rotation_start == dt.datetime(2026, 3, 23, 19, 0, tzinfo=UTC)  # 20:00 Berlin winter time
    assert layer.restrictions == {"kind": "daily", "ranges": [{"start": "20:00", "end": "08:00"}]}
    assert layer.order == 2
    _response, html = page(client, users["viewer"], rota.get_absolute_url(), weeks=1)
    assert "1 gap with nobody on call" in html  # only Monday before the first handoffs; the nights are covered
    assert client.get(f"/oncall/layers/{layer.pk}/edit/").status_code == 403  # the viewer
    client.force_login(users["team_manager"])
    edit = client.get(f"/oncall/layers/{layer.pk}/edit/")
    assert "admin, manager" in edit.content.decode() and "2026-03-23T20:00" in edit.content.decode()


def test_override_form_for_myself_and_errors(client, users, rota):
    client.force_login(users["responder"])
    outsider = client.post(f"/oncall/schedules/{rota.pk}/overrides/new/", {
        "user": users["responder"].pk, "starts_at": "2026-03-25T21:00", "ends_at": "2026-03-25T23:00"})
    assert outsider.status_code == 403 and "Only members of" in outsider.content.decode()
    assert not Override.objects.exists()
    set_membership(rota.team, users["responder"], actor=Actor.system("test"), role="responder")
    form = client.get(f"/oncall/schedules/{rota.pk}/overrides/new/")
    assert form.status_code == 200
    options = re.findall(r'<option value="(\d+)"', form.content.decode())
    assert options == [str(users["responder"].pk)]
    backwards = client.post(f"/oncall/schedules/{rota.pk}/overrides/new/", {
        "user": users["responder"].pk, "starts_at": "2026-03-25T10:00", "ends_at": "2026-03-25T09:00"})
    assert backwards.status_code == 422 and "The end must be after the start." in backwards.content.decode()
    ok = client.post(f"/oncall/schedules/{rota.pk}/overrides/new/", {
        "user": users["responder"].pk, "starts_at": "2026-03-25T21:00", "ends_at": "2026-03-25T23:00"})
    assert ok.status_code == 302
    assert Override.objects.get().starts_at == dt.datetime(2026, 3, 25, 20, 0, tzinfo=UTC)


def test_swaps_page_request_accept_and_buttons_per_person(client, users, rota):
    client.force_login(users["responder"])  # on call Monday 10:00-20:00 Berlin
    asked = client.post(f"/oncall/schedules/{rota.pk}/swaps/new/", {
        "starts_at": "2026-03-23T10:00", "ends_at": "2026-03-23T20:00", "proposed_to": users["admin"].pk})
    assert asked.status_code == 302, asked.content.decode()[:2000]
    swap = ShiftSwap.objects.get()
    not_mine = client.post(f"/oncall/schedules/{rota.pk}/swaps/new/", {
        "starts_at": "2026-03-24T10:00", "ends_at": "2026-03-24T20:00"})
    assert not_mine.status_code == 422 and "not on call" in not_mine.content.decode()
    _response, html = page(client, users["manager"], "/oncall/swaps/")
    assert f"/oncall/swaps/{swap.pk}/accept/" not in html  # offered to admin, not to the manager
    assert f"/oncall/swaps/{swap.pk}/assign/" in html  # but a manager may assign it
    _response, html = page(client, users["admin"], "/oncall/swaps/")
    assert f"/oncall/swaps/{swap.pk}/accept/" in html
    taken = client.post(f"/oncall/swaps/{swap.pk}/accept/")
    assert taken.status_code == 302
    swap.refresh_from_db()
    assert swap.status == "accepted" and swap.taken_by == users["admin"]
    again = client.post(f"/oncall/swaps/{swap.pk}/accept/", follow=True)
    assert "already" in again.content.decode()


@pytest.mark.parametrize(("next_url", "expected"), [
    ("https://evil.example.com/phish", "/oncall/swaps/"), ("//evil.example.com/x", "/oncall/swaps/"),
    ("javascript:alert(1)", "/oncall/swaps/"), ("/oncall/my/", "/oncall/my/"), ("", "/oncall/swaps/")])
def test_swap_actions_go_back_to_pages_of_this_site_only(client, users, rota, next_url, expected):
    swap = schedules.request_swap(rota, actor=Actor.for_user(users["responder"]), proposed_to=users["admin"],
                                  starts_at=dt.datetime(2026, 3, 23, 9, 0, tzinfo=UTC),
                                  ends_at=dt.datetime(2026, 3, 23, 19, 0, tzinfo=UTC))
    client.force_login(users["responder"])
    response = client.post(f"/oncall/swaps/{swap.pk}/cancel/", {"next": next_url})
    assert response.status_code == 302 and response["Location"] == expected
    swap.refresh_from_db()
    assert swap.status == "cancelled"


def test_my_shifts_lists_upcoming_shifts_with_swap_links_and_feed(client, users, rota):
    response, html = page(client, users["responder"], "/oncall/my/", weeks=1)
    assert response.status_code == 200
    # Mon, Wed, Fri, Sun 10:00-20:00 Berlin, and the mornings 08:00-10:00 after them before the handoff
    assert html.count(f"/oncall/schedules/{rota.pk}/swaps/new/?starts_at=") == 8
    assert 'id="my-feed-create"' in html
    client.post("/oncall/my/feed/")
    _response, html = page(client, users["responder"], "/oncall/my/")
    assert re.search(r"/oncall/my/ical/[\w-]+\.ics", html)


def _events(body: bytes) -> list:
    calendar = icalendar.Calendar.from_ical(body)
    return [c for c in calendar.walk("VEVENT")]


def test_schedule_ical_feed_has_the_final_shifts_and_gaps(client, users, rota, db):
    response = client.get(f"/oncall/schedules/shop/ical/{rota.ical_token}.ics", {"weeks": 1})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    assert b"\r\n" in response.content and b"BEGIN:VCALENDAR" in response.content
    events = _events(response.content)
    shifts = [e for e in events if str(e["SUMMARY"]).startswith("On call")]
    gaps = [e for e in events if str(e["SUMMARY"]) == "Nobody on call"]
    first = min(shifts, key=lambda e: e["DTSTART"].dt)
    assert first["DTSTART"].dt == MONDAY and first["DTEND"].dt == dt.datetime(2026, 3, 23, 19, 0, tzinfo=UTC)
    assert "responder" in str(first["SUMMARY"])
    assert len(shifts) == 7 * 2 - 1 and len(gaps) >= 7  # a morning and a day a day; no morning before the start
    assert len({str(e["UID"]) for e in events}) == len(events)
    assert b"DTSTART:20260323T090000Z" in response.content
    again = _events(client.get(f"/oncall/schedules/shop/ical/{rota.ical_token}.ics", {"weeks": 1}).content)
    assert {str(e["UID"]) for e in again} == {str(e["UID"]) for e in events}  # stable for calendar apps


def test_the_shift_running_now_keeps_its_real_start_in_the_feeds(client, users, clock):
    """A weekly turn begun last Monday is in the feed from last Monday, not cut at today's midnight."""
    weekly = ScheduleFactory(name="Weekly", slug="weekly", time_zone="Europe/Berlin")
    LayerFactory(schedule=weekly, users=[users["responder"]], rotation_start=MONDAY - dt.timedelta(weeks=1),
                 turn_unit="weeks")
    clock.move_to(MONDAY + dt.timedelta(days=2))  # Wednesday
    events = _events(client.get(f"/oncall/schedules/weekly/ical/{weekly.ical_token}.ics", {"weeks": 1}).content)
    running = [e for e in events if e["DTSTART"].dt <= MONDAY + dt.timedelta(days=2) < e["DTEND"].dt]
    assert [e["DTSTART"].dt for e in running] == [MONDAY - dt.timedelta(weeks=1)]
    feed = schedules.calendar_feed(users["responder"], actor=Actor.for_user(users["responder"]))
    mine = _events(client.get(f"/oncall/my/ical/{feed.token}.ics", {"weeks": 1}).content)
    assert min(e["DTSTART"].dt for e in mine) == MONDAY - dt.timedelta(weeks=1)


def test_bad_tokens_are_404(client, users, rota):
    assert client.get(f"/oncall/schedules/shop/ical/{'x' * 43}.ics").status_code == 404
    assert client.get(f"/oncall/schedules/other/ical/{rota.ical_token}.ics").status_code == 404
    assert client.get("/oncall/my/ical/nope.ics").status_code == 404
    old = rota.ical_token
    schedules.rotate_ical_token(rota, actor=Actor.for_user(users["manager"]))
    assert client.get(f"/oncall/schedules/shop/ical/{old}.ics").status_code == 404


def test_my_ical_feed_lists_only_my_shifts(client, users, rota):
    feed = schedules.calendar_feed(users["manager"], actor=Actor.for_user(users["manager"]))
    events = _events(client.get(f"/oncall/my/ical/{feed.token}.ics", {"weeks": 1}).content)
    assert len(events) == 6  # Tue, Thu, Sat from 10:00 and the mornings after them
    assert all(str(e["SUMMARY"]) == "On call: Shop on-call" for e in events)
    assert sorted(e["DTSTART"].dt for e in events)[:2] == [dt.datetime(2026, 3, 24, 9, 0, tzinfo=UTC),
                                                           dt.datetime(2026, 3, 25, 7, 0, tzinfo=UTC)]
    users["manager"].is_active = False
    users["manager"].save()
    assert client.get(f"/oncall/my/ical/{feed.token}.ics").status_code == 404


def test_demo_schedules_load_and_render(client, users):
    from opsdesk.accounts import demo as accounts_demo
    from opsdesk.oncall import demo

    accounts_demo.load(Actor.system("demo"))
    assert demo.load(Actor.system("demo")) == 2
    assert demo.load(Actor.system("demo")) == 0
    primary = Schedule.objects.get(slug="platform-primary")
    assert primary.layers.count() == 1 and primary.overrides.count() == 1
    assert ShiftSwap.objects.filter(schedule=primary, status="requested").count() == 1
    response, html = page(client, users["viewer"], Schedule.objects.get(slug="payments-secondary")
                          .get_absolute_url())
    assert response.status_code == 200 and 'id="gap-warning"' in html


def test_delete_buttons_check_the_role(client, users, rota):
    layer = rota.layers.get()
    override = OverrideFactory(schedule=rota, user=users["admin"])
    client.force_login(users["responder"])
    assert client.post(f"/oncall/layers/{layer.pk}/delete/").status_code == 403
    assert client.post(f"/oncall/overrides/{override.pk}/delete/").status_code == 403
    assert client.post(f"/oncall/schedules/{rota.pk}/delete/").status_code == 403
    assert client.post(f"/oncall/schedules/{rota.pk}/rotate-ical/").status_code == 403
    client.force_login(users["team_manager"])
    assert client.post(f"/oncall/overrides/{override.pk}/delete/").status_code == 302
    assert client.post(f"/oncall/layers/{layer.pk}/delete/").status_code == 302
    assert client.post(f"/oncall/schedules/{rota.pk}/delete/").status_code == 302
    assert not Schedule.objects.filter(pk=rota.pk).exists()
