"""The risk part's API under /api/v1/changes/:

- GET  changes/<pk>/risk/          the assessment computed now (factors included; nothing saved)
- POST changes/<pk>/risk/          {"answers": {question: answer}} -> answers and assessment saved
- GET  changes/<pk>/collisions/    the live collision warnings of the change's planned window
- POST collision-check/            a proposed window (cis, services, implementer, start, end, exclude) -> warnings
- freeze-windows/                  list, retrieve, create, update; POST freeze-windows/<id>/cancel/
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from opsdesk.accounts.models import User
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.actors import Actor
from opsdesk.core.api import RecordViewSet
from opsdesk.core.permissions import can
from opsdesk.services.models import Service

from . import collisions, freezes, risk
from .models import ChangeRequest, FreezeWindow

FACTOR = inline_serializer(name="ChangeRiskFactor", fields={
    "key": serializers.CharField(), "label": serializers.CharField(), "points": serializers.IntegerField(),
    "explanation": serializers.CharField(),
    "paths": serializers.ListField(child=serializers.CharField(), required=False,
                                   help_text="CMDB impact only: the paths to the services reached")})
ASSESSMENT = inline_serializer(name="ChangeRiskAssessment", fields={
    "change": serializers.CharField(), "score": serializers.IntegerField(), "level": serializers.CharField(),
    "factors": FACTOR, "answers": serializers.DictField(), "saved": serializers.BooleanField(),
    "assessed_at": serializers.DateTimeField(allow_null=True)})
COLLISION = inline_serializer(name="ChangeCollision", fields={
    "kind": serializers.CharField(), "message": serializers.CharField(),
    "change_id": serializers.IntegerField(required=False), "change_number": serializers.CharField(required=False),
    "freeze_id": serializers.IntegerField(required=False)})
COLLISIONS = inline_serializer(name="ChangeCollisions", fields={
    "count": serializers.IntegerField(), "collisions": COLLISION})


class ChangeAPIView(APIView):
    """The change from the URL with the role the method needs on its team; a read-only token cannot write."""

    permission_classes = [IsAuthenticated]
    write_role = "responder"

    def get_change(self, pk) -> ChangeRequest:
        change = get_object_or_404(ChangeRequest.objects.select_related("owner_team", "template", "category"), pk=pk)
        writing = self.request.method not in SAFE_METHODS
        if writing and getattr(self.request.auth, "scope", "write") == "read":
            raise exceptions.PermissionDenied(_("This API token is read-only."))
        if not can(self.request.user, self.write_role if writing else "viewer", change):
            raise exceptions.PermissionDenied(_("Your role does not allow this on %(number)s.")
                                              % {"number": change.number})
        return change


def _assessment_body(change, assessment, *, saved: bool, answers: dict) -> dict:
    return {"change": change.number, "score": assessment.score, "level": assessment.level,
            "factors": assessment.factors, "answers": answers, "saved": saved,
            "assessed_at": change.risk_assessed_at if saved else None}


class RiskAnswersSerializer(serializers.Serializer):
    answers = serializers.DictField(child=serializers.CharField(allow_blank=True, allow_null=True, max_length=64),
                                    allow_empty=True)


class RiskView(ChangeAPIView):
    @extend_schema(summary="The change's risk assessment computed now (not saved)", responses={200: ASSESSMENT})
    def get(self, request, pk):
        change = self.get_change(pk)
        assessment = risk.assess(change)
        return Response(_assessment_body(change, assessment, saved=False, answers=change.risk_answers or {}))

    @extend_schema(summary="Answer the risk questionnaire; the answers and the new assessment are saved",
                   request=RiskAnswersSerializer,
                   responses={200: ASSESSMENT, 400: OpenApiResponse(description="Unknown question or answer"),
                              409: OpenApiResponse(description="The change is past its assessment")})
    def post(self, request, pk):
        change = self.get_change(pk)
        serializer = RiskAnswersSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        change = risk.answer_questionnaire(change, serializer.validated_data["answers"],
                                           actor=Actor.from_request(request))
        assessment = risk.Assessment(change.risk_score, change.risk_level, change.risk_factors)
        return Response(_assessment_body(change, assessment, saved=True, answers=change.risk_answers))


class CollisionsView(ChangeAPIView):
    @extend_schema(summary="Collision warnings of the change's planned window", responses={200: COLLISIONS})
    def get(self, request, pk):
        found = collisions.find(self.get_change(pk))
        return Response({"count": len(found), "collisions": found})


class CollisionCheckSerializer(serializers.Serializer):
    cis = serializers.PrimaryKeyRelatedField(many=True, required=False, queryset=ConfigurationItem.objects.all())
    services = serializers.PrimaryKeyRelatedField(many=True, required=False, queryset=Service.objects.all())
    implementer = serializers.PrimaryKeyRelatedField(required=False, allow_null=True, queryset=User.objects.all())
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    exclude = serializers.PrimaryKeyRelatedField(required=False, allow_null=True, queryset=ChangeRequest.objects.all(),
                                                 help_text="A change to leave out (the change being edited).")

    def validate(self, data):
        if data["end"] <= data["start"]:
            raise serializers.ValidationError({"end": _("The end must be after the start.")})
        for name in ("cis", "services"):
            if len(data.get(name) or []) > 500:
                raise serializers.ValidationError({name: _("At most 500.")})
        return data


class CollisionCheckView(APIView):
    """A read (nothing is written): any signed-in user, also with a read-only token, e.g. from CI/CD."""

    permission_classes = [IsAuthenticated]

    @extend_schema(summary="Collision warnings for a proposed window (writes nothing)",
                   request=CollisionCheckSerializer, responses={200: COLLISIONS})
    def post(self, request):
        serializer = CollisionCheckSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        found = collisions.find_for(cis=data.get("cis") or [], services=data.get("services") or [],
                                    implementer=data.get("implementer"), start=data["start"], end=data["end"],
                                    exclude=data.get("exclude"))
        return Response({"count": len(found), "collisions": found})


# --- freeze windows ---------------------------------------------------------------------------------------

class FreezeWindowSerializer(serializers.ModelSerializer):
    services = serializers.PrimaryKeyRelatedField(many=True, required=False, queryset=Service.objects.all())

    class Meta:
        model = FreezeWindow
        fields = ["id", "name", "reason", "starts_at", "ends_at", "services", "active", "created_at", "updated_at"]
        read_only_fields = ["active", "created_at", "updated_at"]

    def validate(self, data):
        start = data.get("starts_at", getattr(self.instance, "starts_at", None))
        end = data.get("ends_at", getattr(self.instance, "ends_at", None))
        if start and end and end <= start:
            raise serializers.ValidationError({"ends_at": _("The freeze must end after it starts.")})
        return data


class FreezeWindowViewSet(RecordViewSet):
    queryset = FreezeWindow.objects.prefetch_related("services").order_by("-starts_at", "-id")
    serializer_class = FreezeWindowSerializer
    search_fields = ["name", "reason"]
    filterset_fields = ["active"]
    ordering = ["-starts_at", "-id"]
    action_roles = {"cancel": "manager"}
    create_service = staticmethod(freezes.create_freeze_window)
    update_service = staticmethod(freezes.update_freeze_window)

    @extend_schema(summary="Cancel the freeze window (it stays listed, inactive)", request=None,
                   responses={200: FreezeWindowSerializer, 409: OpenApiResponse(description="Already cancelled")})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        window = freezes.cancel_freeze_window(self.get_object(), actor=Actor.from_request(request))
        return Response(self.get_serializer(window).data)


urlpatterns = [
    path("changes/<int:pk>/risk/", RiskView.as_view(), name="change-risk"),
    path("changes/<int:pk>/collisions/", CollisionsView.as_view(), name="change-collisions"),
    path("collision-check/", CollisionCheckView.as_view(), name="change-collision-check"),
]


def register_routes(router) -> None:
    router.register("freeze-windows", FreezeWindowViewSet, basename="freezewindow")
