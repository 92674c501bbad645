"""The change calendar: the pages (/changes/calendar/?view=month|week|list&date=&service=&team=&risk=&type=),
its iCal feed for a signed-in browser (/changes/calendar.ics) and, under /api/v1/changes/, the iCal feed
for a Bearer token (calendar.ics) and the JSON variant for integrations (calendar/?start=&end=).

All of them read `schedule.entries()`; the filters are one form (services and teams by slug)."""

from __future__ import annotations

import datetime
from urllib.parse import urlencode

from django import forms
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from opsdesk.core.permissions import has_role
from opsdesk.core.views import RoleView

from . import schedule
from .models import CHANGE_TYPES, RISK_LEVELS

ICAL_PAST_DAYS = 30
ICAL_FUTURE_DAYS = 180


class CalendarFilterForm(forms.Form):
    """The calendar's GET form; the feeds take the same names."""

    view = forms.ChoiceField(label=gettext_lazy("View"), required=False,
                             choices=[("month", gettext_lazy("Month")), ("week", gettext_lazy("Week")),
                                      ("list", gettext_lazy("List"))])
    date = forms.DateField(label=gettext_lazy("Date"), required=False,
                           widget=forms.DateInput(attrs={"type": "date"}))
    service = forms.ModelChoiceField(label=gettext_lazy("Service"), required=False, queryset=None,
                                     to_field_name="slug", empty_label=gettext_lazy("All services"))
    team = forms.ModelChoiceField(label=gettext_lazy("Team"), required=False, queryset=None, to_field_name="slug",
                                  empty_label=gettext_lazy("All teams"))
    risk = forms.ChoiceField(label=gettext_lazy("Risk"), required=False,
                             choices=[("", gettext_lazy("Any risk")), *RISK_LEVELS])
    type = forms.ChoiceField(label=gettext_lazy("Type"), required=False,
                             choices=[("", gettext_lazy("Any type")), *CHANGE_TYPES])

    def __init__(self, *args, **kwargs):
        from opsdesk.accounts.models import Team
        from opsdesk.services.models import Service

        super().__init__(*args, **kwargs)
        self.fields["service"].queryset = Service.objects.only("id", "number", "name", "slug").order_by("name")
        self.fields["team"].queryset = Team.objects.only("id", "name", "slug").order_by("name")
        for name, field in self.fields.items():
            field.widget.attrs.setdefault("class", "form-select form-select-sm" if name not in ("date",)
                                          else "form-control form-control-sm")

    def filters(self) -> dict:
        data = self.cleaned_data
        return {"services": [data["service"]] if data.get("service") else None,
                "teams": [data["team"]] if data.get("team") else None,
                "risks": [data["risk"]] if data.get("risk") else None,
                "types": [data["type"]] if data.get("type") else None}

    def filter_query(self) -> str:
        """The filters as a query string (for the navigation links and the iCal link)."""
        from urllib.parse import urlencode

        data = self.cleaned_data
        values = {"service": data["service"].slug if data.get("service") else "",
                  "team": data["team"].slug if data.get("team") else "",
                  "risk": data.get("risk") or "", "type": data.get("type") or ""}
        return urlencode({k: v for k, v in values.items() if v})


def _errors(form) -> dict:
    return {name: " ".join(str(e) for e in errors) for name, errors in form.errors.items()}


# --- the pages -----------------------------------------------------------------------------------------------

class CalendarView(RoleView):
    role = "viewer"

    def get(self, request):
        form = CalendarFilterForm(request.GET)
        if not form.is_valid():
            return render(request, "changes/calendar_page.html", {"form": form, "invalid": True}, status=400)
        view = form.cleaned_data.get("view") or "month"
        day = form.cleaned_data.get("date") or timezone.localdate()
        first, stop = schedule.period(view, day)
        per_day = schedule.PER_DAY.get(view)
        found = schedule.entries(schedule.local_midnight(first), schedule.local_midnight(stop), user=request.user,
                                 per_day=per_day, **form.filters())
        days = schedule.lay_out(found, first, stop, month=day.month if view == "month" else None, per_day=per_day)
        filters = form.filter_query()

        def link(**values):
            from urllib.parse import urlencode

            query = urlencode({"view": view, **values})
            return f"?{query}&{filters}" if filters else f"?{query}"

        for d in days:
            if d.more:  # "+N more": the list view of that day's month, at that day
                query = urlencode({"view": "list", "date": d.date.isoformat()})
                d.more_url = f"?{query}&{filters}#day-{d.date.isoformat()}" if filters else \
                    f"?{query}#day-{d.date.isoformat()}"
        today = timezone.localdate()
        context = {
            "form": form, "view": view, "day": day, "first": first, "last": stop - datetime.timedelta(days=1),
            "schedule": found, "days": days, "weeks": schedule.weeks(days) if view == "month" else [],
            "listed_days": [d for d in days if not d.empty] if view == "list" else [],
            "previous_url": link(date=schedule.step(view, day, -1).isoformat()),
            "next_url": link(date=schedule.step(view, day, 1).isoformat()),
            "today_url": link(date=today.isoformat()),
            "view_urls": [(key, label, f"?{_view_query(key, day, filters)}") for key, label in
                          form.fields["view"].choices],
            "ical_url": reverse("changes:calendar_ics") + (f"?{filters}" if filters else ""),
            "legend": schedule.LEGEND, "tz_name": timezone.get_current_timezone_name(),
            "weekday_names": [days[i].date for i in range(7)] if days else [],
            "max_changes": schedule.MAX_COUNTED if per_day else schedule.MAX_CHANGES,
        }
        return render(request, "changes/calendar_page.html", context)


def _view_query(view: str, day, filters: str) -> str:
    base = f"view={view}&date={day.isoformat()}"
    return f"{base}&{filters}" if filters else base


# --- iCal -------------------------------------------------------------------------------------------------

def _feed_period(query) -> tuple[datetime.datetime, datetime.datetime, dict]:
    """start/end from the query string (dates or ISO date-times); by default 30 days back to 180 ahead."""
    errors = {}
    bounds = {}
    now = timezone.now()
    defaults = {"start": now - datetime.timedelta(days=ICAL_PAST_DAYS),
                "end": now + datetime.timedelta(days=ICAL_FUTURE_DAYS)}
    for name in ("start", "end"):
        raw = (query.get(name) or "").strip()
        if not raw:
            bounds[name] = defaults[name]
            continue
        try:
            value = parse_datetime(raw)
            if value is None:
                date = parse_date(raw)
                value = schedule.local_midnight(date) if date else None
        except ValueError:
            value = None
        if value is None:
            errors[name] = _("A date (YYYY-MM-DD) or a date and time (ISO 8601).")
            continue
        bounds[name] = value if timezone.is_aware(value) else timezone.make_aware(value)
    if not errors:
        if bounds["end"] <= bounds["start"]:
            errors["end"] = _("The end must be after the start.")
        elif bounds["end"] - bounds["start"] > datetime.timedelta(days=schedule.MAX_DAYS):
            errors["end"] = _("At most %(n)s days at once.") % {"n": schedule.MAX_DAYS}
    return bounds.get("start"), bounds.get("end"), errors


def _ical_text(value: str) -> str:
    return str(value or "").replace("\r\n", "\n").replace("\r", "\n")


def build_ical(found: schedule.Schedule, absolute) -> bytes:
    """The VCALENDAR of a schedule: a VEVENT per change (UID CHG-n@opsdesk) and per freeze window; the
    icalendar package escapes (, ; \\ and newlines) and folds lines at 75 octets."""
    import icalendar

    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//Opsdesk//Change calendar//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", _("Opsdesk change calendar"))
    stamp = timezone.now().astimezone(datetime.UTC).replace(microsecond=0)
    for change in found.changes:
        event = icalendar.Event()
        event.add("uid", f"{change.number}@opsdesk")
        event.add("dtstamp", stamp)
        event.add("dtstart", change.planned_start.astimezone(datetime.UTC))
        event.add("dtend", change.planned_end.astimezone(datetime.UTC))
        risk = change.get_risk_level_display() if change.risk_level else _("risk not assessed")
        event.add("summary", _ical_text(f"{change.number} {change.title} [{risk}]"))
        lines = [f"{_('Type')}: {change.get_change_type_display()}", f"{_('Status')}: {change.get_status_display()}",
                 f"{_('Owner team')}: {change.owner_team.name}"]
        if change.outcome:
            lines.append(f"{_('Outcome')}: {change.get_outcome_display()}")
        event.add("description", _ical_text("\n".join(lines)))
        event.add("url", absolute(change.get_absolute_url()))
        event.add("categories", [str(change.get_change_type_display())])
        event.add("status", "CANCELLED" if change.outcome == "cancelled" else "CONFIRMED")
        calendar.add_component(event)
    for freeze in found.freezes:
        event = icalendar.Event()
        event.add("uid", f"freeze-{freeze.pk}@opsdesk")
        event.add("dtstamp", stamp)
        event.add("dtstart", freeze.starts_at.astimezone(datetime.UTC))
        event.add("dtend", freeze.ends_at.astimezone(datetime.UTC))
        event.add("summary", _ical_text(_("Change freeze: %(name)s") % {"name": freeze.name}))
        services = ", ".join(s.name for s in freeze.services.all()) or _("all services")
        event.add("description", _ical_text(f"{freeze.reason}\n{_('Services')}: {services}".strip()))
        event.add("transp", "TRANSPARENT")
        calendar.add_component(event)
    return calendar.to_ical()


def ical_response(found, request) -> HttpResponse:
    response = HttpResponse(build_ical(found, request.build_absolute_uri), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="opsdesk-changes.ics"'
    return response


def _feed(request, query, *, limit=schedule.MAX_FEED_CHANGES):
    """(schedule, errors) for the feeds: the filter form and the period, validated together."""
    form = CalendarFilterForm(query)
    start, end, errors = _feed_period(query)
    if not form.is_valid():
        errors.update(_errors(form))
    if errors:
        return None, errors
    return schedule.entries(start, end, user=request.user, limit=limit, **form.filters()), {}


class CalendarICalView(LoginRequiredMixin, View):
    """/changes/calendar.ics for a signed-in browser (a calendar app uses the API feed with a token)."""

    def get(self, request):
        if not has_role(request.user, "viewer"):
            return HttpResponse(status=403)
        found, errors = _feed(request, request.GET)
        if errors:
            text = "\n".join(f"{k}: {v}" for k, v in errors.items())
            return HttpResponse(text, status=400, content_type="text/plain; charset=utf-8")
        return ical_response(found, request)


# --- API ----------------------------------------------------------------------------------------------------

FEED_PARAMETERS = [
    OpenApiParameter("start", OpenApiTypes.STR, description="YYYY-MM-DD or ISO 8601 (default: 30 days ago)"),
    OpenApiParameter("end", OpenApiTypes.STR, description="YYYY-MM-DD or ISO 8601 (default: in 180 days)"),
    OpenApiParameter("service", OpenApiTypes.STR, description="service slug"),
    OpenApiParameter("team", OpenApiTypes.STR, description="owner team slug"),
    OpenApiParameter("risk", OpenApiTypes.STR, enum=[k for k, _label in RISK_LEVELS]),
    OpenApiParameter("type", OpenApiTypes.STR, enum=[k for k, _label in CHANGE_TYPES]),
]


class CalendarAPIBase(APIView):
    permission_classes = [IsAuthenticated]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if not has_role(request.user, "viewer"):
            raise exceptions.PermissionDenied()

    def feed(self, request):
        found, errors = _feed(request, request.query_params)
        if errors:
            raise exceptions.ValidationError(errors)
        return found


class CalendarICalAPIView(CalendarAPIBase):
    @extend_schema(summary="The change calendar as iCal (text/calendar)", parameters=FEED_PARAMETERS,
                   responses={(200, "text/calendar"): OpenApiTypes.BINARY})
    def get(self, request):
        return ical_response(self.feed(request), request)


def _window_services(window) -> list[str]:
    return [s.slug for s in window.services.all()]


class CalendarJSONAPIView(CalendarAPIBase):
    @extend_schema(summary="The change calendar: changes, freeze windows and maintenance windows of a period",
                   parameters=FEED_PARAMETERS, responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        found = self.feed(request)
        absolute = request.build_absolute_uri
        return Response({
            "start": found.start.isoformat(), "end": found.end.isoformat(), "truncated": found.truncated,
            "changes": [{"id": c.pk, "number": c.number, "title": c.title, "type": c.change_type,
                         "status": c.status, "risk_level": c.risk_level or None, "outcome": c.outcome or None,
                         "owner_team": c.owner_team.slug, "planned_start": c.planned_start.isoformat(),
                         "planned_end": c.planned_end.isoformat(), "url": absolute(c.get_absolute_url())}
                        for c in found.changes],
            "freeze_windows": [{"id": f.pk, "name": f.name, "reason": f.reason, "starts_at": f.starts_at.isoformat(),
                                "ends_at": f.ends_at.isoformat(), "services": _window_services(f)}
                               for f in found.freezes],
            "maintenance_windows": [{"id": m.pk, "title": m.title, "starts_at": m.starts_at.isoformat(),
                                     "ends_at": m.ends_at.isoformat(), "services": _window_services(m)}
                                    for m in found.maintenance],
        })


urlpatterns = [
    path("calendar/", CalendarView.as_view(), name="calendar"),
    path("calendar.ics", CalendarICalView.as_view(), name="calendar_ics"),
]
api_urlpatterns = [
    path("calendar.ics", CalendarICalAPIView.as_view(), name="changes-calendar-ics"),
    path("calendar/", CalendarJSONAPIView.as_view(), name="changes-calendar"),
]
