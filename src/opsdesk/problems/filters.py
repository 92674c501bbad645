"""One filter set for the problem list page and the API query string:
`?open=true&priority=P1&service=online-shop&team=mine&owner=me`. Every filter is a condition on the
problem row (or a subquery), so the list needs no DISTINCT."""

import django_filters
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from opsdesk.accounts.models import Membership
from opsdesk.incidents.models import PRIORITIES

from .models import Countermeasure, Problem
from .workflows import COUNTERMEASURE_WORKFLOW, PROBLEM_OPEN_STATES, PROBLEM_WORKFLOW

ME = "me"  # owner=me: the signed-in user
MINE = "mine"  # team=mine: the teams the signed-in user belongs to
MAX_VALUES = 50


def _keys(value: str) -> list[str]:
    return [item.strip() for item in str(value or "").split(",") if item.strip()][:MAX_VALUES]


class _UserAware(django_filters.FilterSet):
    @property
    def user(self):
        user = getattr(self.request, "user", None)
        return user if user is not None and user.is_authenticated else None

    def _teams(self, value, field):
        keys = _keys(value)
        condition = Q(**{f"{field}__slug__in": [k for k in keys if k != MINE]})
        if MINE in keys:
            teams = Membership.objects.filter(user=self.user).values("team_id") if self.user else []
            condition |= Q(**{f"{field}__in": teams})
        return condition

    def _users(self, value, field):
        keys = _keys(value)
        condition = Q(**{f"{field}__username__in": [k for k in keys if k != ME]})
        if ME in keys:
            condition |= Q(**{field: self.user}) if self.user else Q(pk__in=[])
        return condition


class ProblemFilterSet(_UserAware):
    status = django_filters.MultipleChoiceFilter(choices=PROBLEM_WORKFLOW.choices, label=_("Status"), distinct=False)
    open = django_filters.BooleanFilter(method="filter_open", label=_("Open"))
    priority = django_filters.MultipleChoiceFilter(choices=PRIORITIES, label=_("Priority"), distinct=False)
    service = django_filters.CharFilter(method="filter_service", label=_("Service key"))
    team = django_filters.CharFilter(method="filter_team", label=_("Owner team (team key or “mine”)"))
    owner = django_filters.CharFilter(method="filter_owner", label=_("Owner (user name or “me”)"))
    ci = django_filters.CharFilter(method="filter_ci", label=_("CI (number or id)"))
    incident = django_filters.CharFilter(method="filter_incident", label=_("Linked incident (number)"))
    source = django_filters.MultipleChoiceFilter(choices=Problem._meta.get_field("source").choices,
                                                 label=_("Source"), distinct=False)

    class Meta:
        model = Problem
        fields = ["status", "open", "priority", "service", "team", "owner", "ci", "incident", "source"]

    def filter_open(self, queryset, name, value):
        return queryset.filter(status__in=PROBLEM_OPEN_STATES) if value else \
            queryset.exclude(status__in=PROBLEM_OPEN_STATES)

    def filter_service(self, queryset, name, value):
        return queryset.filter(service__slug__in=_keys(value))

    def filter_team(self, queryset, name, value):
        return queryset.filter(self._teams(value, "owner_team"))

    def filter_owner(self, queryset, name, value):
        return queryset.filter(self._users(value, "owner"))

    def filter_ci(self, queryset, name, value):
        ids, numbers = [], []
        for key in _keys(value):
            (ids if key.isdigit() else numbers).append(int(key) if key.isdigit() else key.upper())
        links = Problem.cis.through.objects.filter(Q(configurationitem_id__in=ids)
                                                   | Q(configurationitem__number__in=numbers))
        return queryset.filter(pk__in=links.values("problem_id"))

    def filter_incident(self, queryset, name, value):
        numbers = [k.upper() for k in _keys(value)]
        links = Problem.incidents.through.objects.filter(incident__number__in=numbers)
        return queryset.filter(pk__in=links.values("problem_id"))


class CountermeasureFilterSet(_UserAware):
    status = django_filters.MultipleChoiceFilter(choices=COUNTERMEASURE_WORKFLOW.choices, label=_("Status"),
                                                 distinct=False)
    kind = django_filters.MultipleChoiceFilter(choices=Countermeasure.KINDS, label=_("Type"), distinct=False)
    problem = django_filters.CharFilter(method="filter_problem", label=_("Problem (number)"))
    owner = django_filters.CharFilter(method="filter_owner", label=_("Owner (user name or “me”)"))
    overdue = django_filters.BooleanFilter(method="filter_overdue", label=_("Overdue"))
    due_before = django_filters.DateFilter(field_name="due_date", lookup_expr="lt", label=_("Due before"))

    class Meta:
        model = Countermeasure
        fields = ["status", "kind", "problem", "owner", "overdue", "due_before"]

    def filter_problem(self, queryset, name, value):
        return queryset.filter(problem__number__in=[k.upper() for k in _keys(value)])

    def filter_owner(self, queryset, name, value):
        return queryset.filter(self._users(value, "owner"))

    def filter_overdue(self, queryset, name, value):
        from django.utils import timezone

        condition = Q(status__in=("planned", "in_progress"), due_date__lt=timezone.localdate())
        return queryset.filter(condition) if value else queryset.exclude(condition)
