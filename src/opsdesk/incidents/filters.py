"""One filter set for the incident queue and the API query string:
`?open=true&priority=P1&priority=P2&assignee=me&breaching_within=60`.

Every filter is a condition on the incident row or a subquery, never a join over a to-many relation,
so the queue needs no DISTINCT and its COUNT stays cheap (CONVENTIONS §4)."""

import datetime

import django_filters
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from opsdesk.accounts.models import Membership

from .models import CLOSED_RANK, PRIORITIES, Category, Incident
from .workflows import INCIDENT_WORKFLOW

ME = "me"  # assignee=me: the signed-in user
MINE = "mine"  # assignment_group=mine: the teams the signed-in user belongs to
MAX_VALUES = 50  # comma-separated keys in one parameter


def _keys(value: str) -> list[str]:
    return [item.strip() for item in str(value or "").split(",") if item.strip()][:MAX_VALUES]


class IncidentFilterSet(django_filters.FilterSet):
    # distinct=False: columns of the incident itself; DISTINCT would only slow the COUNT.
    status = django_filters.MultipleChoiceFilter(choices=INCIDENT_WORKFLOW.choices, label=_("Status"),
                                                 distinct=False)
    open = django_filters.BooleanFilter(method="filter_open", label=_("Open"))
    priority = django_filters.MultipleChoiceFilter(choices=PRIORITIES, label=_("Priority"), distinct=False)
    category = django_filters.ModelMultipleChoiceFilter(
        # Parents loaded with them: the panel labels subcategories "Hardware / Server".
        queryset=Category.objects.select_related("parent"), to_field_name="slug", method="filter_category",
        label=_("Category"), distinct=False)
    service = django_filters.CharFilter(method="filter_service", label=_("Service key"))
    ci = django_filters.CharFilter(method="filter_ci", label=_("CI (number or id)"))
    assignment_group = django_filters.CharFilter(method="filter_assignment_group",
                                                 label=_("Assignment group (team key)"))
    assignee = django_filters.CharFilter(method="filter_assignee", label=_("Assignee (user name or “me”)"))
    unassigned = django_filters.BooleanFilter(field_name="assignee", lookup_expr="isnull", label=_("Unassigned"))
    major = django_filters.BooleanFilter(method="filter_major", label=_("Major incident"))
    major_status = django_filters.MultipleChoiceFilter(choices=[c for c in Incident.MAJOR_STATES if c[0]],
                                                       label=_("Major incident state"), distinct=False)
    source = django_filters.MultipleChoiceFilter(choices=Incident.SOURCES, label=_("Source"), distinct=False)
    breaching_within = django_filters.NumberFilter(method="filter_breaching_within",
                                                   label=_("SLA due within (minutes)"))
    breached = django_filters.BooleanFilter(method="filter_breached", label=_("SLA breached"))
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte",
                                                     label=_("Created on or after"))
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt",
                                                      label=_("Created before"))
    updated_after = django_filters.IsoDateTimeFilter(field_name="updated_at", lookup_expr="gte",
                                                     label=_("Updated on or after"))

    class Meta:
        model = Incident
        fields = ["status", "open", "priority", "category", "service", "ci", "assignment_group", "assignee",
                  "unassigned", "major", "major_status", "source", "breaching_within", "breached",
                  "created_after", "created_before", "updated_after"]

    @property
    def user(self):
        user = getattr(self.request, "user", None)
        return user if user is not None and user.is_authenticated else None

    def filter_open(self, queryset, name, value):
        # By the sort key rather than the status: "open" is then one range of the index the queue is
        # sorted by, so the first page of 100,000 open incidents is read in order, without a sort.
        return queryset.filter(sla_rank_at__lt=CLOSED_RANK) if value else queryset.filter(sla_rank_at=CLOSED_RANK)

    def filter_category(self, queryset, name, value):
        if not value:
            return queryset
        return queryset.filter(Q(category__in=value) | Q(subcategory__in=value))

    def filter_service(self, queryset, name, value):
        return queryset.filter(service__slug__in=_keys(value))

    def filter_ci(self, queryset, name, value):
        ids, numbers = [], []
        for key in _keys(value):
            (ids if key.isdigit() else numbers).append(key.upper() if not key.isdigit() else int(key))
        links = Incident.cis.through.objects.filter(Q(configurationitem_id__in=ids)
                                                    | Q(configurationitem__number__in=numbers))
        return queryset.filter(pk__in=links.values("incident_id"))

    def filter_assignment_group(self, queryset, name, value):
        keys = _keys(value)
        condition = Q(assignment_group__slug__in=[k for k in keys if k != MINE])
        if MINE in keys:
            teams = Membership.objects.filter(user=self.user).values("team_id") if self.user else []
            condition |= Q(assignment_group__in=teams)
        return queryset.filter(condition)

    def filter_assignee(self, queryset, name, value):
        keys = _keys(value)
        condition = Q(assignee__username__in=[k for k in keys if k != ME])
        if ME in keys:
            condition |= Q(assignee=self.user) if self.user else Q(pk__in=[])
        return queryset.filter(condition)

    def filter_major(self, queryset, name, value):
        return queryset.filter(major_status="major") if value else queryset.exclude(major_status="major")

    def filter_breaching_within(self, queryset, name, value):
        """Due within N minutes, the already breached included: both need someone now."""
        minutes = max(0, min(int(value), 525600))
        return queryset.filter(sla_due_at__lte=timezone.now() + datetime.timedelta(minutes=minutes))

    def filter_breached(self, queryset, name, value):
        now = timezone.now()
        if value:
            return queryset.filter(sla_due_at__lt=now)
        return queryset.filter(Q(sla_due_at__gte=now) | Q(sla_due_at__isnull=True))
