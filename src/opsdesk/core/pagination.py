"""Pagination and `?q=` search for the API. Kept apart from core.api because DRF imports these
while it loads its settings (before viewsets can be imported)."""

from rest_framework import filters
from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class QuerySearchFilter(filters.SearchFilter):
    """`?q=` search over the viewset's `search_fields`."""

    search_param = "q"


class StableOrderingFilter(filters.OrderingFilter):
    """`?ordering=` with the primary key as the last key, so equal values never make a page repeat or
    skip records."""

    def get_ordering(self, request, queryset, view):
        aliases = getattr(view, "ordering_aliases", {})
        ordering = [f"{'-' if f.startswith('-') else ''}{aliases.get(f.lstrip('-'), f.lstrip('-'))}"
                    for f in super().get_ordering(request, queryset, view) or []]
        if ordering and not any(field.lstrip("-") in {"id", "pk"} for field in ordering):
            ordering.append("-id" if ordering[-1].startswith("-") else "id")
        return ordering
