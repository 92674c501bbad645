"""The known error API under /api/v1/problems/known-errors/: CRUD, the transitions (mark-fixed, retire,
reactivate), `POST <id>/apply/ {"incident": <id or number>}` to apply the workaround to an incident,
`GET <id>/applications/` (where it was applied) and `GET matching/?incident=<id>` (the active known
errors that fit an incident, with their reasons and scores)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter

from opsdesk.cmdb.models import CIClass, ConfigurationItem
from opsdesk.core.actors import Actor
from opsdesk.core.api import RecordViewSet
from opsdesk.core.permissions import can
from opsdesk.incidents.models import Incident
from opsdesk.services.models import Service

from . import kedb
from .kedb_filters import KnownErrorFilterSet
from .models import KnownError, Problem, WorkaroundApplication
from .workflows import KNOWN_ERROR_WORKFLOW


class KnownErrorSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    cis = serializers.SlugRelatedField(slug_field="number", many=True, required=False,
                                       queryset=ConfigurationItem.objects.all())
    ci_classes = serializers.SlugRelatedField(slug_field="slug", many=True, required=False,
                                              queryset=CIClass.objects.all())
    services = serializers.SlugRelatedField(slug_field="slug", many=True, required=False,
                                            queryset=Service.objects.all())
    problem = serializers.SlugRelatedField(slug_field="number", queryset=Problem.objects.all(), allow_null=True,
                                           required=False)

    class Meta:
        model = KnownError
        fields = ["id", "number", "url", "title", "symptom", "root_cause", "workaround", "permanent_solution",
                  "error_pattern", "cis", "ci_classes", "services", "software_versions", "problem", "status",
                  "status_reason", "times_applied", "last_applied_at", "created_at", "updated_at"]
        read_only_fields = ["number", "status", "status_reason", "times_applied", "last_applied_at", "created_at",
                            "updated_at"]

    def get_url(self, known_error) -> str:
        return known_error.get_absolute_url()

    def validate_error_pattern(self, value):
        try:
            return kedb.validate_error_pattern(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict["error_pattern"]) from None


class WorkaroundApplicationSerializer(serializers.ModelSerializer):
    known_error = serializers.SlugRelatedField(slug_field="number", read_only=True)
    incident = serializers.SlugRelatedField(slug_field="number", read_only=True)
    incident_id = serializers.IntegerField(read_only=True)
    applied_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = WorkaroundApplication
        fields = ["id", "known_error", "incident", "incident_id", "applied_by", "actor_label", "applied_at"]


class MatchSerializer(serializers.Serializer):
    known_error = KnownErrorSerializer()
    reasons = serializers.ListField(child=serializers.CharField())
    score = serializers.FloatField()


def _incident_from(value) -> Incident:
    """An incident named by id or number ("INC-12"); 400 when missing or malformed, 404 when unknown."""
    key = str(value or "").strip()
    if not key:
        raise exceptions.ValidationError({"incident": _("Name the incident by its id or number.")})
    queryset = Incident.objects.prefetch_related(
        Prefetch("cis", queryset=ConfigurationItem.objects.only("id", "name", "ci_class_id", "number")))
    if key.isdigit():
        return get_object_or_404(queryset, pk=int(key))
    if len(key) > 32:
        raise exceptions.ValidationError({"incident": _("Name the incident by its id or number.")})
    return get_object_or_404(queryset, number=key.upper())


class KnownErrorViewSet(RecordViewSet):
    """Known errors (KE-n). Transitions: mark-fixed (optional permanent_solution), retire (reason),
    reactivate (reason). `apply`: the workaround applied to an incident (responders of its team)."""

    queryset = KnownError.objects.select_related("problem").prefetch_related(
        Prefetch("cis", queryset=ConfigurationItem.objects.only("id", "number")),
        Prefetch("ci_classes", queryset=CIClass.objects.only("id", "slug")),
        Prefetch("services", queryset=Service.objects.only("id", "slug")))
    serializer_class = KnownErrorSerializer
    filterset_class = KnownErrorFilterSet
    search_fields = ["number", "title", "symptom", "error_pattern"]
    ordering_fields = ["id", "title", "status", "times_applied", "last_applied_at", "created_at", "updated_at"]
    ordering = ["-id"]
    workflow = KNOWN_ERROR_WORKFLOW
    # Responders document known errors (KCS: whoever solves it writes it down). Applying a workaround is
    # checked against the incident's team in `apply`; matching is a read.
    action_roles = {"create": "responder", "update": "responder", "partial_update": "responder",
                    "apply": "viewer", "applications": "viewer", "matching": "viewer"}
    create_service = staticmethod(kedb.create_known_error)
    update_service = staticmethod(kedb.update_known_error)
    transition_service = staticmethod(kedb.transition_known_error)

    @extend_schema(summary="Apply the workaround to an incident", request=inline_serializer(
        "KnownErrorApplyRequest", {"incident": serializers.CharField(help_text=_("Incident id or number"))}),
        responses={201: WorkaroundApplicationSerializer})
    @action(detail=True, methods=["post"], url_path="apply")
    def apply(self, request, pk=None):
        known_error = self.get_object()
        data = request.data if isinstance(request.data, dict) else {}
        incident = _incident_from(data.get("incident"))
        if not can(request.user, "responder", incident):
            raise exceptions.PermissionDenied(_("Responders of the incident's team apply workarounds to it."))
        application = kedb.apply_workaround(known_error, incident, actor=Actor.from_request(request))
        return Response(WorkaroundApplicationSerializer(application).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Where the workaround was applied", responses=WorkaroundApplicationSerializer(many=True))
    @action(detail=True, methods=["get"])
    def applications(self, request, pk=None):
        known_error = self.get_object()
        queryset = known_error.applications.select_related("known_error", "incident", "applied_by")
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(WorkaroundApplicationSerializer(page, many=True).data)

    @extend_schema(summary="The active known errors that match an incident, best first",
                   parameters=[OpenApiParameter("incident", str, required=True,
                                                description="Incident id or number")],
                   responses=MatchSerializer(many=True))
    @action(detail=False, methods=["get"])
    def matching(self, request):
        incident = _incident_from(request.query_params.get("incident"))
        if not can(request.user, "viewer", incident):
            raise exceptions.PermissionDenied()
        matches = kedb.matching_known_errors(incident)
        # The matched records again, with their links prefetched for the serializer (one query per relation).
        loaded = self.get_queryset().in_bulk([m.known_error.pk for m in matches])
        data = [{"known_error": loaded[m.known_error.pk], "reasons": [str(r) for r in m.reasons], "score": m.score}
                for m in matches if m.known_error.pk in loaded]
        return Response({"incident": incident.number, "results": MatchSerializer(data, many=True).data})


# Routed here rather than on the shared problems router: api_urls puts these explicit patterns before the
# router's, so a problems route such as "<pk>/" can never take "known-errors/".
_router = DefaultRouter()
_router.include_root_view = False
_router.register("known-errors", KnownErrorViewSet, basename="knownerror")

urlpatterns = list(_router.urls)


def register_routes(router) -> None:
    """Known errors are routed by `urlpatterns` above."""
