"""The review API under /api/v1/changes/:

- GET  changes/<pk>/review/                          the post-implementation review (404 when none) and
                                                     whether one is required, and why (viewer)
- POST changes/<pk>/review/                          {"objectives": met|partly|not_met, "summary", "lessons"?,
                                                     "follow_ups"?} while the change is in review (responder;
                                                     409 otherwise)
- GET  changes/<pk>/caused-incidents/                the incidents marked as caused by the change (viewer)
- POST changes/<pk>/caused-incidents/                {"incident": "INC-n", "note"?} (responder of the change's
                                                     or the incident's team)
- DELETE changes/<pk>/caused-incidents/<INC-n>/      take the mark away (same roles)
- GET  kpis/?months=3|6|12                           the success rate per team and per category (viewer)
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import SAFE_METHODS, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from opsdesk.core.actors import Actor
from opsdesk.core.permissions import can, has_role

from . import reviews
from .models import CausedIncident, ChangeRequest, PostImplementationReview

urlpatterns: list = []


class ReviewSerializer(serializers.ModelSerializer):
    change = serializers.SlugRelatedField(slug_field="number", read_only=True)
    reviewer = serializers.SlugRelatedField(slug_field="username", read_only=True)
    retrospective = serializers.SerializerMethodField()

    class Meta:
        model = PostImplementationReview
        fields = ["change", "objectives", "summary", "lessons", "follow_ups", "reviewer", "completed_at",
                  "retrospective", "created_at", "updated_at"]
        read_only_fields = fields

    def get_retrospective(self, review) -> bool:
        return reviews.is_retrospective(review.change)


class ReviewWriteSerializer(serializers.Serializer):
    objectives = serializers.ChoiceField(choices=PostImplementationReview.OBJECTIVES)
    summary = serializers.CharField(max_length=reviews.MAX_SUMMARY)
    lessons = serializers.CharField(max_length=reviews.MAX_SUMMARY, required=False, allow_blank=True, default="")
    follow_ups = serializers.CharField(max_length=reviews.MAX_SUMMARY, required=False, allow_blank=True, default="")


class CausedSerializer(serializers.ModelSerializer):
    change = serializers.SlugRelatedField(slug_field="number", read_only=True)
    incident = serializers.SlugRelatedField(slug_field="number", read_only=True)
    incident_title = serializers.CharField(source="incident.title", read_only=True)
    marked_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = CausedIncident
        fields = ["change", "incident", "incident_title", "note", "marked_by", "marked_at"]
        read_only_fields = fields


class MarkSerializer(serializers.Serializer):
    incident = serializers.CharField(max_length=32)
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")

    def validate_incident(self, value):
        from opsdesk.incidents.models import Incident

        incident = Incident.objects.filter(number=value.strip().upper()).first()
        if incident is None:
            raise serializers.ValidationError(_("No incident with the number %(n)s.") % {"n": value})
        return incident


class ChangeAPIView(APIView):
    """The change from the URL; reading needs a viewer of it, writing a responder (or as the view says)."""

    permission_classes = [IsAuthenticated]

    def change(self, request, pk) -> ChangeRequest:
        change = get_object_or_404(ChangeRequest.objects.select_related("owner_team"), pk=pk)
        if not can(request.user, "viewer", change):
            raise exceptions.PermissionDenied()
        return change

    def check_write(self, request, allowed: bool):
        if getattr(request.auth, "scope", "write") == "read":
            raise exceptions.PermissionDenied(_("This API token is read-only."))
        if not allowed:
            raise exceptions.PermissionDenied(_("Your role does not allow this."))


class ReviewAPIView(ChangeAPIView):
    @extend_schema(summary="The change's post-implementation review", responses={200: OpenApiTypes.OBJECT})
    def get(self, request, pk):
        change = self.change(request, pk)
        review = PostImplementationReview.objects.filter(change=change).select_related("change", "reviewer").first()
        return Response({"change": change.number, "required": reviews.review_required(change),
                         "reasons": reviews.review_reasons(change), "missing": reviews.missing_review(change),
                         "review": ReviewSerializer(review).data if review else None})

    @extend_schema(summary="Write the post-implementation review (the change must be in review)",
                   request=ReviewWriteSerializer, responses={200: ReviewSerializer})
    def post(self, request, pk):
        change = self.change(request, pk)
        self.check_write(request, can(request.user, reviews.REVIEW_ROLE, change))
        serializer = ReviewWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        review = reviews.record_review(change, actor=Actor.from_request(request), data=serializer.validated_data)
        return Response(ReviewSerializer(PostImplementationReview.objects.select_related("change", "reviewer")
                                         .get(pk=review.pk)).data)


class CausedListAPIView(ChangeAPIView):
    @extend_schema(summary="Incidents caused by the change", responses={200: CausedSerializer(many=True)})
    def get(self, request, pk):
        change = self.change(request, pk)
        rows = CausedIncident.objects.filter(change=change).select_related("change", "incident", "marked_by") \
            .order_by("-marked_at", "-id")[:500]
        return Response(CausedSerializer(rows, many=True).data)

    @extend_schema(summary="Mark an incident as caused by the change", request=MarkSerializer,
                   responses={201: CausedSerializer})
    def post(self, request, pk):
        change = self.change(request, pk)
        serializer = MarkSerializer(data=request.data)
        if getattr(request.auth, "scope", "write") == "read":
            raise exceptions.PermissionDenied(_("This API token is read-only."))
        serializer.is_valid(raise_exception=True)
        incident = serializer.validated_data["incident"]
        self.check_write(request, can(request.user, reviews.MARK_ROLE, change)
                         or can(request.user, reviews.MARK_ROLE, incident))
        caused = reviews.mark_caused(change, incident, actor=Actor.from_request(request),
                                     note=serializer.validated_data["note"])
        caused = CausedIncident.objects.select_related("change", "incident", "marked_by").get(pk=caused.pk)
        return Response(CausedSerializer(caused).data, status=status.HTTP_201_CREATED)


class CausedDetailAPIView(ChangeAPIView):
    @extend_schema(summary="Take the caused-by mark away", responses={204: None})
    def delete(self, request, pk, number):
        from opsdesk.incidents.models import Incident

        change = self.change(request, pk)
        incident = get_object_or_404(Incident, number=number.upper())
        self.check_write(request, can(request.user, reviews.MARK_ROLE, change)
                         or can(request.user, reviews.MARK_ROLE, incident))
        if not reviews.unmark_caused(change, incident, actor=Actor.from_request(request)):
            raise exceptions.NotFound(_("%(i)s is not marked as caused by %(c)s.")
                                      % {"i": incident.number, "c": change.number})
        return Response(status=status.HTTP_204_NO_CONTENT)


class KPIAPIView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(summary="Change success rate per team and per category",
                   parameters=[OpenApiParameter("months", OpenApiTypes.INT, enum=list(reviews.KPI_MONTHS))],
                   responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        if request.method not in SAFE_METHODS or not has_role(request.user, "viewer"):
            raise exceptions.PermissionDenied()
        raw = str(request.query_params.get("months") or "6")
        if raw not in {str(m) for m in reviews.KPI_MONTHS}:
            raise exceptions.ValidationError({"months": _("Choose 3, 6 or 12.")})
        figures = reviews.success_rates(int(raw))
        figures["since"], figures["until"] = figures["since"].isoformat(), figures["until"].isoformat()
        return Response(figures)


urlpatterns = [
    path("kpis/", KPIAPIView.as_view(), name="changes-kpis"),
    path("changes/<int:pk>/review/", ReviewAPIView.as_view(), name="changes-review"),
    path("changes/<int:pk>/caused-incidents/", CausedListAPIView.as_view(), name="changes-caused-list"),
    path("changes/<int:pk>/caused-incidents/<str:number>/", CausedDetailAPIView.as_view(),
         name="changes-caused-detail"),
]


def register_routes(router) -> None:
    """Everything here is an explicit route (urlpatterns); no viewset on the router."""
