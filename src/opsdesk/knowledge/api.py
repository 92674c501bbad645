"""The knowledge API (/api/v1/knowledge/): articles with their transitions, review, feedback, versions
and the diff between two versions; categories; and the KB search across articles, known errors and
resolved incidents."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Prefetch
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from opsdesk.accounts.models import Team
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.actors import Actor
from opsdesk.core.api import RecordViewSet, TagListField
from opsdesk.core.permissions import RolePermission
from opsdesk.incidents.models import Incident
from opsdesk.problems.models import KnownError
from opsdesk.services.models import Service

from . import diff, selectors, services
from .filters import ArticleFilterSet
from .models import Article, ArticleCategory, ArticleFeedback, ArticleReview, ArticleVersion
from .workflows import ARTICLE_WORKFLOW

User = get_user_model()


def _numbers(model, key="number", **kwargs):
    return serializers.SlugRelatedField(slug_field=key, many=True, required=False, queryset=model.objects.all(),
                                        **kwargs)


class ArticleSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    category = serializers.SlugRelatedField(slug_field="slug", queryset=ArticleCategory.objects.all(),
                                            allow_null=True, required=False)
    tags = TagListField(required=False)
    services = _numbers(Service, "slug")
    cis = _numbers(ConfigurationItem)
    known_errors = _numbers(KnownError)
    incidents = _numbers(Incident)
    reviewers = _numbers(User, "username")
    owner_team = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all(), allow_null=True,
                                              required=False)
    author = serializers.SlugRelatedField(slug_field="username", read_only=True)
    source_incident = serializers.SlugRelatedField(slug_field="number", queryset=Incident.objects.all(),
                                                   allow_null=True, required=False)
    source_known_error = serializers.SlugRelatedField(slug_field="number", queryset=KnownError.objects.all(),
                                                      allow_null=True, required=False)
    note = serializers.CharField(write_only=True, required=False, allow_blank=True, max_length=300,
                                 help_text=_("What changed: kept with the new version."))

    class Meta:
        model = Article
        fields = ["id", "number", "url", "title", "summary", "body", "category", "tags", "services", "cis",
                  "known_errors", "incidents", "owner_team", "author", "reviewers", "status", "status_reason",
                  "version", "published_at", "review_by", "view_count", "helpful_count", "not_helpful_count",
                  "source_incident", "source_known_error", "note", "created_at", "updated_at"]
        read_only_fields = ["number", "status", "status_reason", "version", "published_at", "view_count",
                            "helpful_count", "not_helpful_count", "created_at", "updated_at"]

    def get_url(self, article) -> str:
        return article.get_absolute_url()

    def validate(self, attrs):
        if self.instance is not None:
            fixed = [name for name in ("source_incident", "source_known_error") if name in attrs]
            if fixed:
                raise serializers.ValidationError({name: _("Set when the article is written.") for name in fixed})
        return attrs


class ArticleVersionSerializer(serializers.ModelSerializer):
    author = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ArticleVersion
        fields = ["number", "title", "summary", "body", "note", "author", "actor_label", "created_at"]


class ArticleReviewSerializer(serializers.ModelSerializer):
    reviewer = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ArticleReview
        fields = ["id", "version", "reviewer", "decision", "comment", "created_at"]


class ReviewRequest(serializers.Serializer):
    decision = serializers.ChoiceField(choices=ArticleReview.DECISIONS)
    comment = serializers.CharField(required=False, allow_blank=True, max_length=5000)


class FeedbackRequest(serializers.Serializer):
    helpful = serializers.BooleanField()
    comment = serializers.CharField(required=False, allow_blank=True, max_length=1000)


class FeedbackSerializer(serializers.ModelSerializer):
    class Meta:
        model = ArticleFeedback
        fields = ["helpful", "comment", "created_at", "updated_at"]


def _create(*, actor, data):
    return services.create_article(actor=actor, data=data)


def _update(article, *, actor, data):
    data = dict(data)
    return services.update_article(article, actor=actor, data=data, note=data.pop("note", "") or "")


class ArticleViewSet(RecordViewSet):
    """Knowledge articles. Transitions: submit (needs a reviewer), withdraw, publish (managers, without a
    review), revise, retire (reason), restore. A named reviewer approves or asks for changes with
    `review`; anyone may vote with `feedback` on a published article."""

    queryset = Article.objects.select_related("category", "owner_team", "author").prefetch_related(
        "tags", Prefetch("services", queryset=Service.objects.only("id", "slug")),
        Prefetch("cis", queryset=ConfigurationItem.objects.only("id", "number")),
        Prefetch("known_errors", queryset=KnownError.objects.only("id", "number")),
        Prefetch("incidents", queryset=Incident.objects.only("id", "number")),
        Prefetch("reviewers", queryset=User.objects.only("id", "username")),
        Prefetch("source_incident", queryset=Incident.objects.only("id", "number")),
        Prefetch("source_known_error", queryset=KnownError.objects.only("id", "number")))
    serializer_class = ArticleSerializer
    filterset_class = ArticleFilterSet
    search_fields = ["number", "title", "summary"]
    ordering_fields = ["id", "title", "status", "review_by", "view_count", "helpful_count", "created_at",
                       "updated_at", "published_at"]
    ordering = ["-id"]
    workflow = ARTICLE_WORKFLOW
    action_roles = {"create": "responder", "update": "responder", "partial_update": "responder",
                    "review": "responder", "feedback": "viewer", "versions": "viewer", "diff": "viewer",
                    "reviews": "viewer"}
    create_service = staticmethod(_create)
    update_service = staticmethod(_update)
    transition_service = staticmethod(services.transition_article)

    @extend_schema(summary="Review the article (a named reviewer)", request=ReviewRequest,
                   responses=ArticleReviewSerializer)
    @action(detail=True, methods=["post"])
    def review(self, request, pk=None):
        article = self.get_object()
        body = ReviewRequest(data=request.data)
        body.is_valid(raise_exception=True)
        review = services.review_article(article, actor=Actor.from_request(request), **body.validated_data)
        return Response(ArticleReviewSerializer(review).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Reviews of the article", responses=ArticleReviewSerializer(many=True))
    @action(detail=True, methods=["get"])
    def reviews(self, request, pk=None):
        article = self.get_object()
        page = self.paginate_queryset(article.reviews.select_related("reviewer"))
        return self.get_paginated_response(ArticleReviewSerializer(page, many=True).data)

    @extend_schema(summary="Helpful or not: one vote per person (a new vote replaces it)", request=FeedbackRequest,
                   responses=FeedbackSerializer)
    @action(detail=True, methods=["post"])
    def feedback(self, request, pk=None):
        article = self.get_object()
        body = FeedbackRequest(data=request.data)
        body.is_valid(raise_exception=True)
        feedback = services.record_feedback(article, user=request.user, **body.validated_data)
        return Response(FeedbackSerializer(feedback).data)

    @extend_schema(summary="Versions of the article, newest first", responses=ArticleVersionSerializer(many=True))
    @action(detail=True, methods=["get"])
    def versions(self, request, pk=None):
        article = self.get_object()
        page = self.paginate_queryset(article.versions.select_related("author").order_by("-number"))
        return self.get_paginated_response(ArticleVersionSerializer(page, many=True).data)

    @extend_schema(summary="Line-level difference between two versions",
                   parameters=[OpenApiParameter("from", int, required=True),
                               OpenApiParameter("to", int, required=True)],
                   responses=inline_serializer("ArticleDiff", {
                       "from": serializers.IntegerField(), "to": serializers.IntegerField(),
                       "fields": serializers.DictField(child=serializers.ListField(child=serializers.DictField()))}))
    @action(detail=True, methods=["get"])
    def diff(self, request, pk=None):
        article = self.get_object()
        numbers = {}
        for name in ("from", "to"):
            value = request.query_params.get(name, "")
            if not value.isdigit():
                raise exceptions.ValidationError({name: _("Give a version number.")})
            numbers[name] = int(value)
        found = {v.number: v for v in article.versions.filter(number__in=numbers.values())}
        missing = {name: _("No version %(n)s.") % {"n": n} for name, n in numbers.items() if n not in found}
        if missing:
            raise exceptions.ValidationError(missing)
        return Response(diff.diff_versions(found[numbers["from"]], found[numbers["to"]]))


class ArticleCategorySerializer(serializers.ModelSerializer):
    class Meta:
        model = ArticleCategory
        fields = ["id", "slug", "name", "description", "order", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]


class ArticleCategoryViewSet(RecordViewSet):
    """Article categories. Managers change them; everyone reads them."""

    queryset = ArticleCategory.objects.all()
    serializer_class = ArticleCategorySerializer
    search_fields = ["slug", "name"]
    ordering_fields = ["order", "name", "slug"]
    ordering = ["order", "name"]
    action_roles = {"create": "manager", "update": "manager", "partial_update": "manager"}
    create_service = staticmethod(services.create_category)
    update_service = staticmethod(services.update_category)


class SearchHitSerializer(serializers.Serializer):
    kind = serializers.CharField()
    label = serializers.CharField()
    number = serializers.CharField()
    title = serializers.CharField()
    url = serializers.CharField()
    state = serializers.CharField()
    score = serializers.FloatField()
    snippet = serializers.CharField()


class SearchView(APIView):
    """GET /api/v1/knowledge/search/?q=&kind=article&kind=knownerror: ranked hits across published
    articles, active known errors and resolved or closed incidents."""

    permission_classes = [RolePermission]
    action_roles = {}

    @extend_schema(summary="Search the knowledge base", parameters=[
        OpenApiParameter("q", str, required=True),
        OpenApiParameter("kind", str, many=True, enum=selectors.SEARCH_KINDS),
        OpenApiParameter("limit", int)], responses=inline_serializer("KnowledgeSearchResult", {
            "query": serializers.CharField(), "results": SearchHitSerializer(many=True)}))
    def get(self, request):
        q = request.query_params.get("q", "").strip()
        if not q:
            raise exceptions.ValidationError({"q": _("Give the words to search for.")})
        if len(q) > 500:
            raise exceptions.ValidationError({"q": _("At most 500 characters.")})
        kinds = request.query_params.getlist("kind")
        unknown = [k for k in kinds if k not in selectors.SEARCH_KINDS]
        if unknown:
            raise exceptions.ValidationError({"kind": _("Choose among %(kinds)s.") % {
                "kinds": ", ".join(selectors.SEARCH_KINDS)}})
        limit = request.query_params.get("limit", "20")
        if not limit.isdigit() or not 1 <= int(limit) <= 200:
            raise exceptions.ValidationError({"limit": _("A number from 1 to 200.")})
        hits = selectors.kb_search(q, user=request.user, kinds=kinds or None, limit=int(limit))
        return Response({"query": q, "results": SearchHitSerializer(hits, many=True).data})


def register_routes(router) -> None:
    """Register the viewsets on the knowledge API router (/api/v1/knowledge/)."""
    router.register("articles", ArticleViewSet, basename="article")
    router.register("categories", ArticleCategoryViewSet, basename="articlecategory")


def _urls():
    from django.urls import path

    return [path("search/", SearchView.as_view(), name="knowledge-search")]


urlpatterns = _urls()
