"""The SLA pages: calendars (with holidays and the due-date calculator) and policies."""

import re

import pytest
from django.utils import timezone

from opsdesk.core.testing import PageRecordTests
from opsdesk.sla.models import BusinessCalendar, SLAPolicy
from tests.sla.factories import CalendarFactory, PolicyFactory


class AdminWrites:
    create_form: dict = {}

    def test_create_form_permission_and_inline_errors(self, client, users, team):
        for role in ("viewer", "manager"):
            client.force_login(users[role])
            assert client.get(f"{self.list_url}new/").status_code == 403
            assert client.post(f"{self.list_url}new/", self.form_data(team)).status_code == 403
        client.force_login(users["admin"])
        assert client.get(f"{self.list_url}new/").status_code == 200
        invalid = client.post(f"{self.list_url}new/", {})
        assert invalid.status_code == 422
        assert "is-invalid" in invalid.content.decode()
        response = client.post(f"{self.list_url}new/", self.form_data(team))
        assert response.status_code == 302, response.content.decode()[:3000]

    def test_edit_is_for_admins(self, client, users, team):
        record = self.make(team)
        client.force_login(users["manager"])
        assert client.get(f"{record.get_absolute_url()}edit/").status_code == 403
        client.force_login(users["admin"])
        page = client.get(record.get_absolute_url())
        assert f"{record.get_absolute_url()}edit/" in page.content.decode()
        assert client.get(f"{record.get_absolute_url()}edit/").status_code == 200


class TestCalendarPages(AdminWrites, PageRecordTests):
    list_url = "/sla/calendars/"
    factory = CalendarFactory

    def form_data(self, team):
        return {"name": "Munich desk", "slug": "munich-desk", "time_zone": "Europe/Berlin",
                "hours": "mon-fri 08:00-18:00", "holiday_country": "DE", "holiday_subdivision": "BY",
                "custom_holidays": "2026-12-24 Christmas Eve\n2026-12-31 New Year's Eve",
                "extra_days": "2026-12-19 09:00-13:00 Year-end release", "description": ""}

    def test_csv_export_has_header_and_rows(self, client, users, team):
        CalendarFactory()
        client.force_login(users["viewer"])
        response = client.get(self.list_url, {"export": "csv"})
        lines = b"".join(response.streaming_content).decode().strip().splitlines()
        assert len(lines) == 1 + BusinessCalendar.objects.count()


class TestPolicyPages(AdminWrites, PageRecordTests):
    list_url = "/sla/policies/"
    factory = PolicyFactory

    def form_data(self, team):
        calendar = BusinessCalendar.objects.get(slug="24x7")
        return {"name": "Payments P1", "slug": "payments-p1", "record_type": "incident", "order": 1, "active": "on",
                "calendar": calendar.pk, "priorities": "P1", "service_tiers": "1", "categories": "",
                "ci_classes": "", "acknowledge_minutes": "10", "resolve_minutes": "120",
                "resolve_business_time": "on", "pause_states": "on_hold", "warn_percentages": "50, 80",
                "description": ""}

    def test_csv_export_has_header_and_rows(self, client, users, team):
        PolicyFactory()
        client.force_login(users["viewer"])
        response = client.get(self.list_url, {"export": "csv"})
        lines = b"".join(response.streaming_content).decode().strip().splitlines()
        assert len(lines) == 1 + SLAPolicy.objects.count()


@pytest.mark.django_db
def test_policy_form_saves_conditions_and_targets(client, users):
    client.force_login(users["admin"])
    response = client.post("/sla/policies/new/", TestPolicyPages().form_data(None))
    assert response.status_code == 302
    policy = SLAPolicy.objects.get(slug="payments-p1")
    assert policy.conditions == {"priority": ["P1"], "service_tier": [1]}
    assert policy.warn_percentages == [50, 80]
    assert sorted(policy.targets.values_list("metric", "goal_minutes", "business_time")) == [
        ("acknowledge", 10, False), ("resolve", 120, True)]
    page = client.get(policy.get_absolute_url()).content.decode()
    assert "Time to resolve" in page and "2 h" in page and "business time" in page


@pytest.mark.django_db
def test_policy_form_without_targets_is_refused(client, users):
    client.force_login(users["admin"])
    data = {**TestPolicyPages().form_data(None), "acknowledge_minutes": "", "resolve_minutes": ""}
    response = client.post("/sla/policies/new/", data)
    assert response.status_code == 422
    assert "at least one target" in response.content.decode()
    assert not SLAPolicy.objects.filter(slug="payments-p1").exists()


@pytest.mark.django_db
def test_calendar_page_shows_holidays_and_the_due_calculator(client, users):
    calendar = CalendarFactory(time_zone="Europe/Berlin", holiday_country="DE", holiday_subdivision="BY",
                               custom_holidays=[{"date": "2026-12-24", "name": "Christmas Eve"}])
    client.force_login(users["viewer"])
    page = client.get(calendar.get_absolute_url()).content.decode()
    assert "mon-fri 09:00-17:00" in page
    assert "holiday-list" in page and "Christmas Eve" in page
    year = timezone.localdate().year  # Bavaria's public holidays of this year are listed by name
    assert re.search(rf"<code>{year}-01-06</code></td><td>\w+</td><td>Epiphany</td>", page)
    due = client.get(calendar.get_absolute_url(), {"tab": "due", "start": "2026-03-06T15:00", "minutes": "660"})
    assert due.status_code == 200
    body = due.content.decode()
    assert "Tue 2026-03-10 10:00" in body  # in the calendar's time zone
    assert "2026-03-10 09:00 UTC" in body
    bad = client.get(calendar.get_absolute_url(), {"tab": "due", "start": "soon", "minutes": "x"})
    assert bad.status_code == 200
    assert "invalid-feedback" in bad.content.decode()


@pytest.mark.django_db
def test_calendar_form_shows_errors_next_to_the_field(client, users):
    client.force_login(users["admin"])
    data = {**TestCalendarPages().form_data(None), "hours": "weekdays", "extra_days": "2026-12-19 nonsense"}
    response = client.post("/sla/calendars/new/", data)
    assert response.status_code == 422
    body = response.content.decode()
    assert "id_hours_error" in body and "id_extra_days_error" in body
    assert not BusinessCalendar.objects.filter(slug="munich-desk").exists()


@pytest.mark.django_db
def test_navigation_shows_service_levels(client, users):
    client.force_login(users["viewer"])
    page = client.get("/sla/policies/").content.decode()
    assert "Service levels" in page
    assert "P1 incidents" in page
