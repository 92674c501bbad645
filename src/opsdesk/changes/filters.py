"""One filter set for the change list page and the API query string:
`?status=scheduled&change_type=normal&risk=high&team=mine&service=online-shop&planned_from=2026-12-01
&planned_to=2026-12-31`. Filters over the services and CIs are subqueries, so the list needs no DISTINCT."""

from __future__ import annotations

import datetime

import django_filters
from django import forms
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from opsdesk.problems.filters import _keys, _UserAware

from .models import CHANGE_TYPES, RISK_LEVELS, ChangeRequest, ChangeTemplate
from .workflows import CHANGE_OPEN_STATES, CHANGE_WORKFLOW, OUTCOMES


def _day_start(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


class ChangeFilterForm(forms.Form):
    """A window range whose "from" lies after its "to" is a mistake to show, not an empty list."""

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("planned_from"), cleaned.get("planned_to")
        if start and end and start > end:
            self.add_error("planned_to", _("“To” (%(to)s) is before “from” (%(from)s).") % {
                "to": end.isoformat(), "from": start.isoformat()})
        return cleaned


class ChangeFilterSet(_UserAware):
    status = django_filters.MultipleChoiceFilter(choices=CHANGE_WORKFLOW.choices, label=_("Status"), distinct=False)
    open = django_filters.BooleanFilter(method="filter_open", label=_("Open"))
    change_type = django_filters.MultipleChoiceFilter(choices=CHANGE_TYPES, label=_("Type"), distinct=False)
    risk = django_filters.MultipleChoiceFilter(field_name="risk_level", choices=RISK_LEVELS, label=_("Risk"),
                                               distinct=False)
    outcome = django_filters.MultipleChoiceFilter(choices=OUTCOMES, label=_("Outcome"), distinct=False)
    team = django_filters.CharFilter(method="filter_team", label=_("Owner team (team key or “mine”)"))
    implementer = django_filters.CharFilter(method="filter_implementer", label=_("Implementer (user name or “me”)"))
    service = django_filters.CharFilter(method="filter_service", label=_("Service key"))
    ci = django_filters.CharFilter(method="filter_ci", label=_("CI (number or id)"))
    category = django_filters.CharFilter(method="filter_category", label=_("Category key"))
    planned_from = django_filters.DateFilter(method="filter_planned_from", label=_("Planned window from"),
                                             widget=forms.DateInput(attrs={"type": "date"}))
    planned_to = django_filters.DateFilter(method="filter_planned_to", label=_("Planned window to"),
                                           widget=forms.DateInput(attrs={"type": "date"}))

    class Meta:
        model = ChangeRequest
        form = ChangeFilterForm
        fields = ["status", "open", "change_type", "risk", "outcome", "team", "implementer", "service", "ci",
                  "category", "planned_from", "planned_to"]

    def filter_open(self, queryset, name, value):
        return queryset.filter(status__in=CHANGE_OPEN_STATES) if value else \
            queryset.exclude(status__in=CHANGE_OPEN_STATES)

    def filter_team(self, queryset, name, value):
        return queryset.filter(self._teams(value, "owner_team"))

    def filter_implementer(self, queryset, name, value):
        return queryset.filter(self._users(value, "implementer"))

    def filter_service(self, queryset, name, value):
        keys = _keys(value)
        links = ChangeRequest.services.through.objects.filter(Q(service__slug__in=keys)
                                                              | Q(service__number__in=[k.upper() for k in keys]))
        return queryset.filter(pk__in=links.values("changerequest_id"))

    def filter_ci(self, queryset, name, value):
        ids, numbers = [], []
        for key in _keys(value):
            (ids if key.isdigit() else numbers).append(int(key) if key.isdigit() else key.upper())
        links = ChangeRequest.cis.through.objects.filter(Q(configurationitem_id__in=ids)
                                                         | Q(configurationitem__number__in=numbers))
        return queryset.filter(pk__in=links.values("changerequest_id"))

    def filter_category(self, queryset, name, value):
        return queryset.filter(category__slug__in=_keys(value))

    def filter_planned_from(self, queryset, name, value):
        """Changes whose planned window ends on or after the start of that day (overlap with the range)."""
        return queryset.filter(planned_end__gte=_day_start(value))

    def filter_planned_to(self, queryset, name, value):
        return queryset.filter(planned_start__lt=_day_start(value + datetime.timedelta(days=1)))


class ChangeTemplateFilterSet(django_filters.FilterSet):
    change_type = django_filters.MultipleChoiceFilter(choices=CHANGE_TYPES, label=_("Type"), distinct=False)
    category = django_filters.CharFilter(field_name="category__slug", label=_("Category key"))
    active = django_filters.BooleanFilter(label=_("Active"))

    class Meta:
        model = ChangeTemplate
        fields = ["change_type", "category", "active"]
