"""The releases API under /api/v1/releases/: releases with their transitions, deployments recorded by CI/CD
(`POST releases/<id>/deployments/`), the gate check (`GET releases/<id>/gate/?environment=production`),
rollback, the production change; the deployment history and the environments with their current versions."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Prefetch
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from opsdesk.accounts.models import Team
from opsdesk.changes.models import ChangeRequest
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.actors import Actor
from opsdesk.core.api import Pagination, RecordViewSet
from opsdesk.core.permissions import RolePermission
from opsdesk.services.models import Service

from . import gates, services
from .filters import DeploymentFilterSet, EnvironmentFilterSet, ReleaseFilterSet
from .models import DeployedVersion, Deployment, Environment, Release
from .workflows import RELEASE_WORKFLOW

User = get_user_model()
MAX_WORK_ITEMS, MAX_STEPS, MAX_LINKS = services.MAX_WORK_ITEMS, services.MAX_STEPS, services.MAX_LINKS
LIST_LIMITS = {"services": MAX_LINKS, "cis": MAX_LINKS, "changes": MAX_LINKS, "planned_dates": MAX_LINKS,
               "work_items": MAX_WORK_ITEMS, "rollback_steps": MAX_STEPS}
urlpatterns = []


class WorkItemSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=64)
    title = serializers.CharField(max_length=300, required=False, allow_blank=True)
    url = serializers.URLField(max_length=500, required=False, allow_blank=True)


class StepSerializer(serializers.Serializer):
    who = serializers.CharField(max_length=200, required=False, allow_blank=True)
    action = serializers.CharField(max_length=2000)
    minutes = serializers.IntegerField(min_value=0, required=False, allow_null=True)
    verification = serializers.CharField(max_length=2000, required=False, allow_blank=True)


LINK_NAMES = ("services", "cis", "changes")


class ReleaseSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    owner_team = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all())
    manager = serializers.SlugRelatedField(slug_field="username", queryset=User.objects.filter(is_active=True),
                                           allow_null=True, required=False)
    services = serializers.SlugRelatedField(slug_field="slug", many=True, required=False,
                                            queryset=Service.objects.all())
    cis = serializers.SlugRelatedField(slug_field="number", many=True, required=False,
                                       queryset=ConfigurationItem.objects.all())
    changes = serializers.SlugRelatedField(slug_field="number", many=True, required=False,
                                           queryset=ChangeRequest.objects.all())
    production_change = serializers.SlugRelatedField(slug_field="number", queryset=ChangeRequest.objects.all(),
                                                     allow_null=True, required=False)
    work_items = WorkItemSerializer(many=True, required=False, max_length=MAX_WORK_ITEMS)
    rollback_steps = StepSerializer(many=True, required=False, max_length=MAX_STEPS)
    planned_dates = serializers.DictField(child=serializers.DateField(), required=False)

    class Meta:
        model = Release
        fields = ["id", "number", "url", "title", "version", "description", "notes", "owner_team", "manager",
                  "services", "cis", "changes", "production_change", "work_items", "planned_dates", "rollback_steps",
                  "status", "status_reason", "deployed_at", "watch_status", "watch_until", "watch_flagged_at",
                  "watch_result", "created_at", "updated_at"]
        read_only_fields = ["number", "status", "status_reason", "deployed_at", "watch_status", "watch_until",
                            "watch_flagged_at", "watch_result", "created_at", "updated_at"]

    def get_url(self, release) -> str:
        return release.get_absolute_url()

    def to_internal_value(self, data):
        # Sizes first: a list of 10,000 change numbers is refused before one of them is looked up.
        if hasattr(data, "get"):
            too_long = {}
            for name, limit in LIST_LIMITS.items():
                value = data.getlist(name) if hasattr(data, "getlist") and name in LINK_NAMES else data.get(name)
                if isinstance(value, (list, tuple, dict)) and len(value) > limit:
                    too_long[name] = [_("At most %(n)s items.") % {"n": limit}]
            if too_long:
                raise serializers.ValidationError(too_long)
        return super().to_internal_value(data)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["planned_dates"] = dict(instance.planned_dates or {})
        return data


class DeploymentSerializer(serializers.ModelSerializer):
    release = serializers.SlugRelatedField(slug_field="number", read_only=True)
    environment = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    change = serializers.SlugRelatedField(slug_field="number", read_only=True)
    deployed_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Deployment
        fields = ["id", "release", "environment", "version", "previous_version", "result", "started_at",
                  "finished_at", "deployed_by", "actor_label", "pipeline_url", "external_id", "change",
                  "is_rollback", "rollback_of", "notes"]
        read_only_fields = fields


class DeploymentRequestSerializer(serializers.Serializer):
    """Shape only; the service validates the values (URL, times, result) with field errors."""

    environment = serializers.SlugRelatedField(slug_field="slug", queryset=Environment.objects.all())
    result = serializers.ChoiceField(choices=Deployment.RESULTS, required=False)
    version = serializers.CharField(max_length=100, required=False, allow_blank=True)
    pipeline_url = serializers.URLField(max_length=500, required=False, allow_blank=True)
    external_id = serializers.CharField(max_length=200, required=False, allow_blank=True)
    started_at = serializers.DateTimeField(required=False, allow_null=True)
    finished_at = serializers.DateTimeField(required=False, allow_null=True)
    notes = serializers.CharField(max_length=5000, required=False, allow_blank=True)


class RollbackRequestSerializer(serializers.Serializer):
    environment = serializers.SlugRelatedField(slug_field="slug", queryset=Environment.objects.all())
    reason = serializers.CharField(max_length=2000)
    pipeline_url = serializers.URLField(max_length=500, required=False, allow_blank=True)


GATE_ANSWER = inline_serializer("ReleaseGateAnswer", {
    "allowed": serializers.BooleanField(), "environment": serializers.CharField(),
    "reasons": serializers.ListField(child=serializers.CharField())})
GATE_DENIED = OpenApiResponse(description='Gate denied: {"error": {"code": "gate_denied", "message", "reasons"}}')


def gate_denied(exc: services.GateDenied) -> Response:
    return Response({"error": {"code": "gate_denied", "message": str(exc), "reasons": exc.reasons, "fields": {}}},
                    status=status.HTTP_409_CONFLICT)


class ReleaseViewSet(RecordViewSet):
    """Releases. Transitions: start-build, start-test, approve-for-production (refused while the production
    gate would deny for any reason but the change window), close, replan (reason), cancel (reason)."""

    queryset = Release.objects.select_related("owner_team", "manager", "production_change").prefetch_related(
        Prefetch("services", queryset=Service.objects.only("id", "slug")),
        Prefetch("cis", queryset=ConfigurationItem.objects.only("id", "number")),
        Prefetch("changes", queryset=ChangeRequest.objects.only("id", "number")))
    serializer_class = ReleaseSerializer
    filterset_class = ReleaseFilterSet
    search_fields = ["number", "title", "version"]
    ordering_fields = ["id", "status", "deployed_at", "created_at", "updated_at"]
    ordering = ["-id"]
    workflow = RELEASE_WORKFLOW
    action_roles = {"create": "responder", "update": "responder", "partial_update": "responder",
                    "deployments": "responder", "rollback": "responder", "gate": "viewer",
                    "production_change": "responder"}
    create_service = staticmethod(services.create_release)
    update_service = staticmethod(services.update_release)
    transition_service = staticmethod(services.transition_release)

    def _answer(self, release, code=status.HTTP_200_OK):
        return Response(self.get_serializer(self.get_queryset().get(pk=release.pk)).data, status=code)

    def handle_exception(self, exc):
        # A gate denial (recording a deployment, approving for production) names every reason.
        if isinstance(exc, services.GateDenied):
            return gate_denied(exc)
        return super().handle_exception(exc)

    @extend_schema(summary="Record a deployment (asks the gate first)", request=DeploymentRequestSerializer,
                   responses={201: DeploymentSerializer, 200: DeploymentSerializer, 409: GATE_DENIED})
    @action(detail=True, methods=["post"])
    def deployments(self, request, pk=None):
        release = self.get_object()
        serializer = DeploymentRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(request.data.items()) if hasattr(request.data, "items") else {}
        data.pop("environment", None)
        data = {k: v for k, v in data.items() if k in DeploymentRequestSerializer().fields}
        environment = serializer.validated_data["environment"]
        before = Deployment.objects.filter(release=release).count()
        deployment = services.record_deployment(release, environment, actor=Actor.from_request(request), data=data)
        created = Deployment.objects.filter(release=release).count() > before
        return Response(DeploymentSerializer(deployment).data,
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(summary="May the release deploy to an environment now? (CI/CD asks before deploying)",
                   parameters=[OpenApiParameter("environment", str, required=True,
                                                description="Environment key, e.g. production")],
                   responses=GATE_ANSWER)
    @action(detail=True, methods=["get"])
    def gate(self, request, pk=None):
        release = self.get_object()
        slug = request.query_params.get("environment", "").strip()
        environment = Environment.objects.filter(slug=slug).first() if slug else None
        if environment is None:
            raise exceptions.ValidationError({"environment": _("There is no environment “%(slug)s”.")
                                              % {"slug": slug} if slug else _("This field is required.")})
        answer = gates.check(release, environment)
        return Response({"allowed": answer.allowed, "environment": environment.slug, "reasons": answer.reasons})

    @extend_schema(summary="Roll back the release's last deployment in an environment",
                   request=RollbackRequestSerializer, responses={201: DeploymentSerializer})
    @action(detail=True, methods=["post"])
    def rollback(self, request, pk=None):
        release = self.get_object()
        serializer = RollbackRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        environment = data.pop("environment")
        deployment = services.rollback(release, environment, actor=Actor.from_request(request), data=data)
        return Response(DeploymentSerializer(deployment).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Create the production change from the release (or answer the linked one)",
                   request=None, responses=ReleaseSerializer)
    @action(detail=True, methods=["post"], url_path="production-change")
    def production_change(self, request, pk=None):
        release = self.get_object()
        services.ensure_production_change(release, actor=Actor.from_request(request))
        return self._answer(release)


class DeploymentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The deployment history (`?environment=production&result=failed&release=REL-3&service=shop`)."""

    queryset = Deployment.objects.select_related("release", "environment", "change", "deployed_by")
    serializer_class = DeploymentSerializer
    filterset_class = DeploymentFilterSet
    permission_classes = [RolePermission]
    pagination_class = Pagination
    ordering = ["-started_at", "-id"]


class DeployedVersionSerializer(serializers.ModelSerializer):
    service = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    ci = serializers.SlugRelatedField(slug_field="number", read_only=True)
    release = serializers.SlugRelatedField(slug_field="number", read_only=True)

    class Meta:
        model = DeployedVersion
        fields = ["service", "ci", "version", "release", "deployment", "deployed_at"]


class EnvironmentSerializer(serializers.ModelSerializer):
    versions = DeployedVersionSerializer(many=True, read_only=True)

    class Meta:
        model = Environment
        fields = ["id", "slug", "name", "order", "is_production", "requires_change", "active", "versions"]


class EnvironmentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Environments in order, each with the version it runs now per service / application CI."""

    queryset = Environment.objects.order_by("order", "id").prefetch_related(
        Prefetch("versions", queryset=DeployedVersion.objects.select_related("service", "ci", "release")
                 .order_by("id")))
    serializer_class = EnvironmentSerializer
    filterset_class = EnvironmentFilterSet
    permission_classes = [RolePermission]
    pagination_class = Pagination
    lookup_field = "slug"


def register_routes(router) -> None:
    router.register("releases", ReleaseViewSet, basename="release")
    router.register("deployments", DeploymentViewSet, basename="deployment")
    router.register("environments", EnvironmentViewSet, basename="environment")
