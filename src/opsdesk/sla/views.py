"""The SLA pages, under /sla/: business calendars (with their holidays and a due-date calculator) and
SLA policies with their conditions and targets. Everyone may read them; admins change them."""

from __future__ import annotations

from django.db.models import Count
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from opsdesk.core.markup import render_safe
from opsdesk.core.views import Column, RecordUI, badge

from . import holiday_dates, rules, specs
from .business_time import add_business_seconds
from .filters import CalendarFilterSet, PolicyFilterSet
from .forms import CalendarForm, DueForm, PolicyForm
from .models import BusinessCalendar, SLAPolicy, SLATarget

METRIC_LABELS = dict(SLATarget.METRICS)
CONDITION_LABELS = {"priority": gettext_lazy("Priority"), "service_tier": gettext_lazy("Service tier"),
                    "category": gettext_lazy("Category"), "ci_class": gettext_lazy("CI class")}


def _goal(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    if not hours:
        return _("%(m)s min") % {"m": minutes}
    return _("%(h)s h") % {"h": hours} if not rest else _("%(h)s h %(m)s min") % {"h": hours, "m": rest}


class CalendarUI(RecordUI):
    model = BusinessCalendar
    namespace = "sla"
    path_prefix = "calendars/"
    url_prefix = "calendar_"
    filterset_class = CalendarFilterSet
    form_class = CalendarForm
    search_fields = ("name", "slug", "description")
    default_sort = "name"
    create_role = "admin"
    edit_role = "admin"
    columns = [
        Column("name", gettext_lazy("Name"), sort="name", link=True),
        Column("slug", gettext_lazy("Key"), sort="slug"),
        Column("hours_text", gettext_lazy("Working hours")),
        Column("time_zone", gettext_lazy("Time zone"), sort="time_zone"),
        Column("holidays", gettext_lazy("Public holidays")),
        Column("policy_count", gettext_lazy("Policies"), sort="policy_count"),
    ]
    detail_fields = ["slug", "time_zone", "hours", "holidays", "holiday_list", "custom_holidays", "extra_days",
                     "policy_list", "description"]
    extra_tabs = [("due", gettext_lazy("Due-date calculator"))]
    create_service = staticmethod(rules.create_calendar)
    update_service = staticmethod(rules.update_calendar)

    @classmethod
    def queryset(cls):
        return BusinessCalendar.objects.annotate(policy_count=Count("policies"))

    def render_holidays(self, calendar):
        if not calendar.holiday_country:
            return _("none")
        return "-".join(filter(None, [calendar.holiday_country, calendar.holiday_subdivision]))

    render_holidays.label = gettext_lazy("Public holidays of")

    def render_hours(self, calendar):
        return calendar.hours_text or "—"

    render_hours.label = gettext_lazy("Working hours")

    def render_holiday_list(self, calendar):
        if not calendar.holiday_country:
            return "—"
        year = timezone.localdate().year
        country, region = calendar.holiday_country, calendar.holiday_subdivision or None
        dates = holiday_dates.holiday_dates(country, region, [year, year + 1])
        names = holiday_dates.holiday_names(country, region or "", [year, year + 1])
        rows = ((d.isoformat(), d.strftime("%a"), names.get(d, "")) for d in sorted(dates))
        return format_html('<table class="table table-sm mb-0 holiday-list"><tbody>{}</tbody></table>',
                           format_html_join("", "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>", rows))

    render_holiday_list.label = gettext_lazy("Public holidays this year and next")

    def render_custom_holidays(self, calendar):
        rows = ((h["date"], h.get("name", "")) for h in calendar.custom_holidays or [])
        return format_html_join("", '<div><code>{}</code> {}</div>', rows) or "—"

    render_custom_holidays.label = gettext_lazy("Custom holidays")

    def render_extra_days(self, calendar):
        rows = ((d["date"], ", ".join(f"{s}-{e}" for s, e in d.get("hours") or []), d.get("name", ""))
                for d in calendar.extra_days or [])
        return format_html_join("", '<div><code>{}</code> {} {}</div>', rows) or "—"

    render_extra_days.label = gettext_lazy("Extra working days")

    def render_policy_list(self, calendar):
        policies = calendar.policies.order_by("record_type", "order", "name").only("id", "name")
        return format_html_join(", ", '<a href="{}">{}</a>', ((p.get_absolute_url(), p.name) for p in policies)) \
            or "—"

    render_policy_list.label = gettext_lazy("Used by")

    def render_description(self, calendar):
        return render_safe(calendar.description)

    def tab_context(self, key, record, request) -> dict:
        if key != "due":
            return {}
        form = DueForm(request.GET if "minutes" in request.GET else None, calendar=record)
        context = {"due_form": form}
        if form.is_bound and form.is_valid():
            start = form.cleaned_data["start"]
            try:
                due = add_business_seconds(specs.for_calendar(record), start, form.cleaned_data["minutes"] * 60)
            except ValueError as exc:
                form.add_error(None, str(exc))
            else:
                # Formatted here: the date filter would show them in the viewer's time zone, not the calendar's.
                shown = "%a %Y-%m-%d %H:%M"
                context.update(due_text=due.astimezone(start.tzinfo).strftime(shown), due_utc=due,
                               due_utc_text=due.strftime("%Y-%m-%d %H:%M"), start_text=start.strftime(shown))
        return context


class PolicyUI(RecordUI):
    model = SLAPolicy
    namespace = "sla"
    path_prefix = "policies/"
    url_prefix = "policy_"
    filterset_class = PolicyFilterSet
    form_class = PolicyForm
    search_fields = ("name", "slug", "description")
    select_related = ("calendar",)
    prefetch_related = ("targets",)
    default_sort = "order"
    create_role = "admin"
    edit_role = "admin"
    columns = [
        Column("order", gettext_lazy("Order"), sort="order"),
        Column("name", gettext_lazy("Name"), sort="name", link=True),
        Column("record_type", gettext_lazy("Record type"), sort="record_type"),
        Column("conditions", gettext_lazy("Conditions")),
        Column("targets", gettext_lazy("Targets")),
        Column("calendar__name", gettext_lazy("Calendar"), sort="calendar__name"),
        Column("active", gettext_lazy("Active"), sort="active"),
    ]
    detail_fields = ["slug", "record_type", "order", "active", "conditions", "targets", "calendar", "pause_states",
                     "warn_percentages", "description"]
    create_service = staticmethod(rules.create_policy)
    update_service = staticmethod(rules.update_policy)

    def _conditions(self, policy):
        return [(str(CONDITION_LABELS.get(k, k)), ", ".join(str(v) for v in values))
                for k, values in (policy.conditions or {}).items()]

    def render_conditions(self, policy):
        items = self._conditions(policy)
        if not items:
            return format_html('<span class="text-body-secondary">{}</span>', _("every record"))
        return format_html_join(" · ", '<span class="text-body-secondary">{}:</span> {}', items)

    def text_conditions(self, policy):
        return "; ".join(f"{k}: {v}" for k, v in self._conditions(policy)) or _("every record")

    def _targets(self, policy):
        return [(str(METRIC_LABELS.get(t.metric, t.metric)), _goal(t.goal_minutes),
                 _("business time") if t.business_time else _("calendar time"))
                for t in sorted(policy.targets.all(), key=lambda t: t.metric)]

    def render_targets(self, policy):
        return format_html_join(mark_safe("<br>"), '{}: <strong>{}</strong> <span class="text-body-secondary">'
                                                     '({})</span>', self._targets(policy)) or "—"

    render_targets.label = gettext_lazy("Targets")

    def text_targets(self, policy):
        return "; ".join(f"{m}: {g} ({k})" for m, g, k in self._targets(policy))

    def render_calendar(self, policy):
        return format_html('<a href="{}">{}</a>', policy.calendar.get_absolute_url(), policy.calendar)

    render_calendar.label = gettext_lazy("Business calendar")

    def render_active(self, policy):
        return badge(_("active"), "success") if policy.active else badge(_("inactive"))

    def text_active(self, policy):
        return "yes" if policy.active else "no"

    def render_record_type(self, policy):
        return dict(SLAPolicy.RECORD_TYPES).get(policy.record_type, policy.record_type)

    def render_pause_states(self, policy):
        return ", ".join(policy.pause_states or []) or "—"

    render_pause_states.label = gettext_lazy("Paused in states")

    def render_warn_percentages(self, policy):
        return ", ".join(f"{p} %" for p in policy.warn_percentages or []) or _("none (only the breach)")

    render_warn_percentages.label = gettext_lazy("Warn at")

    def render_description(self, policy):
        return render_safe(policy.description)

