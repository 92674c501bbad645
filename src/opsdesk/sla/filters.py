"""Filter sets: one each for the UI lists and the API query strings."""

import django_filters
from django.utils.translation import gettext_lazy as _

from .models import BusinessCalendar, SLAPolicy, SLATimer


class CalendarFilterSet(django_filters.FilterSet):
    holiday_country = django_filters.CharFilter(lookup_expr="iexact", label=_("Public holidays of"))
    time_zone = django_filters.CharFilter(lookup_expr="iexact", label=_("Time zone"))

    class Meta:
        model = BusinessCalendar
        fields = ["holiday_country", "time_zone"]


class PolicyFilterSet(django_filters.FilterSet):
    record_type = django_filters.ChoiceFilter(choices=SLAPolicy.RECORD_TYPES, label=_("Record type"))
    active = django_filters.BooleanFilter(label=_("Active"))
    calendar = django_filters.ModelChoiceFilter(field_name="calendar__slug", to_field_name="slug",
                                                queryset=BusinessCalendar.objects.all(), label=_("Business calendar"))

    class Meta:
        model = SLAPolicy
        fields = ["record_type", "active", "calendar"]


class TimerFilterSet(django_filters.FilterSet):
    record_type = django_filters.CharFilter(field_name="content_type__model", label=_("Record type"))
    object_id = django_filters.NumberFilter(label=_("Record id"))
    metric = django_filters.CharFilter(label=_("Metric"))
    state = django_filters.MultipleChoiceFilter(choices=SLATimer.STATES, label=_("State"))
    policy = django_filters.CharFilter(field_name="policy__slug", label=_("Policy"))
    breached = django_filters.BooleanFilter(field_name="breached_at", lookup_expr="isnull", exclude=True,
                                            label=_("Breached"))

    class Meta:
        model = SLATimer
        fields = ["record_type", "object_id", "metric", "state", "policy", "breached"]
