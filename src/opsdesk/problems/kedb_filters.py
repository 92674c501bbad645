"""One filter set for the known error list and the API query string:
`?status=active&ci=CI-12&service=online-shop&ci_class=database&text=pool+exhausted`.

The to-many filters are subqueries on the link tables (no join, no DISTINCT); `text` is the ranked
full-text search of core.search, limited to its best TEXT_LIMIT hits."""

import django_filters
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from opsdesk.core import search

from .models import KnownError
from .workflows import KNOWN_ERROR_WORKFLOW

MAX_VALUES = 50
TEXT_LIMIT = 500


def _keys(value: str) -> list[str]:
    return [item.strip() for item in str(value or "").split(",") if item.strip()][:MAX_VALUES]


class KnownErrorFilterSet(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=KNOWN_ERROR_WORKFLOW.choices, label=_("Status"),
                                                 distinct=False)
    text = django_filters.CharFilter(method="filter_text", label=_("Text (full-text search)"))
    ci = django_filters.CharFilter(method="filter_ci", label=_("CI (number or id)"))
    ci_class = django_filters.CharFilter(method="filter_ci_class", label=_("CI class key"))
    service = django_filters.CharFilter(method="filter_service", label=_("Service key"))
    problem = django_filters.CharFilter(method="filter_problem", label=_("Problem number"))

    class Meta:
        model = KnownError
        fields = ["status", "text", "ci", "ci_class", "service", "problem"]

    def filter_text(self, queryset, name, value):
        hits = search.query(value, kinds=["knownerror"], limit=TEXT_LIMIT)
        return queryset.filter(pk__in=[hit.object_id for hit in hits])

    def filter_ci(self, queryset, name, value):
        ids, numbers = [], []
        for key in _keys(value):
            (ids if key.isdigit() else numbers).append(int(key) if key.isdigit() else key.upper())
        links = KnownError.cis.through.objects.filter(Q(configurationitem_id__in=ids)
                                                      | Q(configurationitem__number__in=numbers))
        return queryset.filter(pk__in=links.values("knownerror_id"))

    def filter_ci_class(self, queryset, name, value):
        links = KnownError.ci_classes.through.objects.filter(ciclass__slug__in=_keys(value))
        return queryset.filter(pk__in=links.values("knownerror_id"))

    def filter_service(self, queryset, name, value):
        links = KnownError.services.through.objects.filter(service__slug__in=_keys(value))
        return queryset.filter(pk__in=links.values("knownerror_id"))

    def filter_problem(self, queryset, name, value):
        return queryset.filter(problem__number__in=[key.upper() for key in _keys(value)])
