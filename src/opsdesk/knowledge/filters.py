"""One filter set for the article list and the API query string:
`?status=published&category=networking&tag=vpn&service=online-shop&review_due=true`.

To-many filters (tag, service) are subqueries on the article's id, so the list needs no DISTINCT."""

import django_filters
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from opsdesk.core.models import Tag

from .models import Article, ArticleCategory
from .workflows import ARTICLE_WORKFLOW


class ArticleFilterSet(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=ARTICLE_WORKFLOW.choices, label=_("Status"),
                                                 distinct=False)
    category = django_filters.ModelMultipleChoiceFilter(queryset=ArticleCategory.objects.all(),
                                                        field_name="category__slug", to_field_name="slug",
                                                        label=_("Category"), distinct=False)
    tag = django_filters.ModelMultipleChoiceFilter(queryset=Tag.objects.all(), to_field_name="name",
                                                   method="filter_tag", label=_("Tag"))
    service = django_filters.CharFilter(method="filter_service", label=_("Service key"))
    review_due = django_filters.BooleanFilter(method="filter_review_due", label=_("Review due"))
    author = django_filters.CharFilter(field_name="author__username", label=_("Author (user name)"))

    class Meta:
        model = Article
        fields = ["status", "category", "tag", "service", "review_due", "author"]

    def filter_tag(self, queryset, name, value):
        if not value:
            return queryset
        ids = Article.tags.through.objects.filter(tag__in=value).values("article_id")
        return queryset.filter(pk__in=ids)

    def filter_service(self, queryset, name, value):
        keys = [k.strip() for k in str(value or "").split(",") if k.strip()][:50]
        if not keys:
            return queryset
        ids = Article.services.through.objects.filter(service__slug__in=keys).values("article_id")
        return queryset.filter(pk__in=ids)

    def filter_review_due(self, queryset, name, value):
        if value is None:
            return queryset
        today = timezone.localdate()
        if value:
            return queryset.filter(status="published", review_by__lte=today)
        return queryset.exclude(status="published", review_by__lte=today)
