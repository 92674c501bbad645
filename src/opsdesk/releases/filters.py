"""One filter set per list for the pages and the API query string: releases
(`?status=in_test&team=payments&service=online-shop&q=checkout`) and deployments
(`?environment=production&result=failed&release=REL-3&service=online-shop`). Every filter is a condition
on the row or a subquery, so no list needs DISTINCT."""

import django_filters
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from opsdesk.accounts.models import Membership

from .models import Deployment, Environment, Release
from .workflows import RELEASE_OPEN_STATES, RELEASE_WORKFLOW

MINE = "mine"
MAX_VALUES = 50


def _keys(value: str) -> list[str]:
    return [item.strip() for item in str(value or "").split(",") if item.strip()][:MAX_VALUES]


class ReleaseFilterSet(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=RELEASE_WORKFLOW.choices, label=_("Status"), distinct=False)
    open = django_filters.BooleanFilter(method="filter_open", label=_("Open"))
    team = django_filters.CharFilter(method="filter_team", label=_("Owner team (team key or “mine”)"))
    service = django_filters.CharFilter(method="filter_service", label=_("Service key"))
    text = django_filters.CharFilter(method="filter_text", label=_("Text (number, title, version)"))

    class Meta:
        model = Release
        fields = ["status", "open", "team", "service", "text"]

    def filter_open(self, queryset, name, value):
        return queryset.filter(status__in=RELEASE_OPEN_STATES) if value else \
            queryset.exclude(status__in=RELEASE_OPEN_STATES)

    def filter_team(self, queryset, name, value):
        keys = _keys(value)
        condition = Q(owner_team__slug__in=[k for k in keys if k != MINE])
        user = getattr(self.request, "user", None)
        if MINE in keys and user is not None and user.is_authenticated:
            condition |= Q(owner_team__in=Membership.objects.filter(user=user).values("team_id"))
        return queryset.filter(condition)

    def filter_service(self, queryset, name, value):
        links = Release.services.through.objects.filter(service__slug__in=_keys(value))
        return queryset.filter(pk__in=links.values("release_id"))

    def filter_text(self, queryset, name, value):
        value = value.strip()[:200]
        return queryset.filter(Q(number__iexact=value) | Q(title__icontains=value) | Q(version__icontains=value))


class DeploymentFilterSet(django_filters.FilterSet):
    environment = django_filters.CharFilter(method="filter_environment", label=_("Environment key"))
    result = django_filters.MultipleChoiceFilter(choices=Deployment.RESULTS, label=_("Result"), distinct=False)
    release = django_filters.CharFilter(method="filter_release", label=_("Release (number)"))
    service = django_filters.CharFilter(method="filter_service", label=_("Service key"))
    rollback = django_filters.BooleanFilter(field_name="is_rollback", label=_("Rollbacks"))
    since = django_filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="gte", label=_("Started since"))

    class Meta:
        model = Deployment
        fields = ["environment", "result", "release", "service", "rollback", "since"]

    def filter_environment(self, queryset, name, value):
        return queryset.filter(environment__slug__in=_keys(value))

    def filter_release(self, queryset, name, value):
        return queryset.filter(release__number__in=[k.upper() for k in _keys(value)])

    def filter_service(self, queryset, name, value):
        links = Release.services.through.objects.filter(service__slug__in=_keys(value))
        return queryset.filter(release_id__in=links.values("release_id"))


class EnvironmentFilterSet(django_filters.FilterSet):
    active = django_filters.BooleanFilter(field_name="active", label=_("Active"))

    class Meta:
        model = Environment
        fields = ["active"]

