"""The problems API under /api/v1/problems/: problems with their transitions (assess, start-rca,
start-fix, resolve with root_cause and fix_description, close, reopen, cancel), link-incidents,
unlink-incident, publish-workaround, publish-fix and from-incidents; and countermeasures with theirs
(start, complete, cancel, reopen)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Prefetch
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from opsdesk.accounts.models import Team
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.actors import Actor
from opsdesk.core.api import RecordViewSet
from opsdesk.core.permissions import can
from opsdesk.incidents.models import Category, Incident
from opsdesk.services.models import Service

from . import services
from .filters import CountermeasureFilterSet, ProblemFilterSet
from .models import Countermeasure, Problem
from .workflows import COUNTERMEASURE_WORKFLOW, PROBLEM_WORKFLOW

User = get_user_model()
MAX_INCIDENTS = services.MAX_LINKED

urlpatterns = []


class ProblemSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    service = serializers.SlugRelatedField(slug_field="slug", queryset=Service.objects.all(), allow_null=True,
                                           required=False)
    cis = serializers.SlugRelatedField(slug_field="number", many=True, required=False,
                                       queryset=ConfigurationItem.objects.all())
    category = serializers.SlugRelatedField(slug_field="slug", queryset=Category.objects.filter(parent=None),
                                            allow_null=True, required=False)
    owner_team = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all(), allow_null=True,
                                              required=False)
    owner = serializers.SlugRelatedField(slug_field="username", queryset=User.objects.filter(is_active=True),
                                         allow_null=True, required=False)
    incidents = serializers.SlugRelatedField(slug_field="number", many=True, read_only=True)
    # The linked change requests (set from the change); `change_numbers` holds external references.
    changes = serializers.SlugRelatedField(slug_field="number", many=True, read_only=True)
    change_numbers = serializers.ListField(child=serializers.CharField(max_length=32), required=False,
                                           max_length=100)
    contributing_factors = serializers.ListField(child=serializers.CharField(max_length=500), required=False,
                                                 max_length=100)

    class Meta:
        model = Problem
        fields = ["id", "number", "url", "title", "description", "service", "cis", "category", "impact", "urgency",
                  "priority", "owner_team", "owner", "incidents", "changes", "change_numbers", "status",
                  "status_reason", "root_cause", "contributing_factors", "workaround", "workaround_published_at",
                  "fix_description", "fix_published_at", "impact_summary", "resolved_at", "closed_at", "source",
                  "created_at", "updated_at"]
        read_only_fields = ["number", "priority", "status", "status_reason", "workaround_published_at",
                            "fix_published_at", "resolved_at", "closed_at", "source", "created_at", "updated_at"]

    def get_url(self, problem) -> str:
        return problem.get_absolute_url()


def _incidents_from(data, field: str = "incidents") -> list[Incident]:
    numbers = data.get(field) if isinstance(data, dict) else None
    if isinstance(numbers, str):
        numbers = [numbers]
    if not isinstance(numbers, list) or not numbers:
        raise exceptions.ValidationError({field: _("A list of incident numbers, e.g. [\"INC-12\"].")})
    if len(numbers) > MAX_INCIDENTS:
        raise exceptions.ValidationError({field: _("At most %(n)s incidents at once.") % {"n": MAX_INCIDENTS}})
    wanted = [str(n).strip().upper() for n in numbers]
    found = {i.number: i for i in Incident.objects.filter(number__in=wanted)}
    missing = [n for n in wanted if n not in found]
    if missing:
        raise exceptions.ValidationError({field: _("No incident with the number %(n)s.") % {"n": ", ".join(missing)}})
    return list({found[n].pk: found[n] for n in wanted}.values())


INCIDENTS_REQUEST = inline_serializer("ProblemIncidentsRequest", {
    "incidents": serializers.ListField(child=serializers.CharField(), help_text="Incident numbers")})
PUBLISH_REQUEST = inline_serializer("ProblemPublishRequest", {"text": serializers.CharField(max_length=20000)})


class ProblemViewSet(RecordViewSet):
    """Problems. Transitions: assess, start-rca, start-fix, resolve (root_cause and fix_description, unless
    the problem holds them already), close, reopen (reason), cancel (reason)."""

    queryset = Problem.objects.select_related("service", "category", "owner_team", "owner").prefetch_related(
        Prefetch("cis", queryset=ConfigurationItem.objects.only("id", "number")),
        Prefetch("incidents", queryset=Incident.objects.only("id", "number")),
        Prefetch("changes", queryset=Problem.changes.rel.related_model.objects.only("id", "number")))
    serializer_class = ProblemSerializer
    filterset_class = ProblemFilterSet
    search_fields = ["number", "title"]
    ordering_fields = ["id", "priority", "status", "created_at", "updated_at", "resolved_at"]
    ordering = ["-id"]
    workflow = PROBLEM_WORKFLOW
    action_roles = {"create": "responder", "update": "responder", "partial_update": "responder",
                    "link_incidents": "responder", "unlink_incident": "responder",
                    "publish_workaround": "responder", "publish_fix": "responder", "from_incidents": "responder"}
    create_service = staticmethod(services.create_problem)
    update_service = staticmethod(services.update_problem)
    transition_service = staticmethod(services.transition_problem)

    def _answer(self, problem, code=status.HTTP_200_OK):
        return Response(self.get_serializer(self.get_queryset().get(pk=problem.pk)).data, status=code)

    @extend_schema(summary="Create a problem from incidents (prefilled from them, linked to them)",
                   request=inline_serializer("ProblemFromIncidentsRequest", {
                       "incidents": serializers.ListField(child=serializers.CharField(), help_text="Incident numbers"),
                       "title": serializers.CharField(required=False), "owner_team": serializers.CharField(
                           required=False)}), responses={201: ProblemSerializer})
    @action(detail=False, methods=["post"], url_path="from-incidents")
    def from_incidents(self, request):
        data = request.data if isinstance(request.data, dict) else {}
        incidents = _incidents_from(data)
        extra = {k: v for k, v in data.items() if k != "incidents"}
        serializer = self.get_serializer(data=extra, partial=True)
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        self.check_team_role(fields.get("owner_team"), "responder")
        problem = services.create_problem_from_incidents(incidents, actor=Actor.from_request(request), data=fields)
        return self._answer(problem, status.HTTP_201_CREATED)

    @extend_schema(summary="Link incidents", request=INCIDENTS_REQUEST, responses=ProblemSerializer)
    @action(detail=True, methods=["post"], url_path="link-incidents")
    def link_incidents(self, request, pk=None):
        problem = self.get_object()
        services.link_incidents(problem, _incidents_from(request.data), actor=Actor.from_request(request))
        return self._answer(problem)

    @extend_schema(summary="Unlink an incident", request=inline_serializer("ProblemUnlinkRequest", {
        "incident": serializers.CharField(help_text="Incident number")}), responses=ProblemSerializer)
    @action(detail=True, methods=["post"], url_path="unlink-incident")
    def unlink_incident(self, request, pk=None):
        problem = self.get_object()
        incident = _incidents_from(request.data, "incident")[0]
        services.unlink_incident(problem, incident, actor=Actor.from_request(request))
        return self._answer(problem)

    def _publish(self, request, publish, *, required: bool):
        problem = self.get_object()
        data = request.data if isinstance(request.data, dict) else {}
        text = data.get("text")
        if text is not None and not isinstance(text, str):
            raise exceptions.ValidationError({"text": _("A text.")})
        if required and not (text or "").strip():
            raise exceptions.ValidationError({"text": _("This field is required.")})
        problem = publish(problem, actor=Actor.from_request(request), text=text)
        return self._answer(problem)

    @extend_schema(summary="Publish the workaround (tells incidents on hold awaiting the problem)",
                   request=PUBLISH_REQUEST, responses=ProblemSerializer)
    @action(detail=True, methods=["post"], url_path="publish-workaround")
    def publish_workaround(self, request, pk=None):
        return self._publish(request, services.publish_workaround, required=True)

    @extend_schema(summary="Publish the fix (text optional when the problem has one)",
                   request=PUBLISH_REQUEST, responses=ProblemSerializer)
    @action(detail=True, methods=["post"], url_path="publish-fix")
    def publish_fix(self, request, pk=None):
        return self._publish(request, services.publish_fix, required=False)


class CountermeasureSerializer(serializers.ModelSerializer):
    problem = serializers.SlugRelatedField(slug_field="number", queryset=Problem.objects.all())
    owner = serializers.SlugRelatedField(slug_field="username", queryset=User.objects.filter(is_active=True),
                                         allow_null=True, required=False)
    overdue = serializers.SerializerMethodField()
    changes = serializers.SlugRelatedField(slug_field="number", many=True, read_only=True)

    class Meta:
        model = Countermeasure
        fields = ["id", "problem", "title", "description", "kind", "owner", "due_date", "changes", "change_number",
                  "status", "status_reason", "completed_at", "overdue", "overdue_notified_at", "created_at",
                  "updated_at"]
        read_only_fields = ["status", "status_reason", "completed_at", "overdue_notified_at", "created_at",
                            "updated_at"]

    def get_overdue(self, cm) -> bool:
        from .countermeasures import is_overdue

        return is_overdue(cm)

    def validate(self, attrs):
        if self.instance is not None and "problem" in attrs and attrs["problem"].pk != self.instance.problem_id:
            raise serializers.ValidationError({"problem": _("A countermeasure stays with its problem.")})
        return attrs


class CountermeasureViewSet(RecordViewSet):
    """Countermeasures of problems (`?problem=PRB-3`). Transitions: start, complete, cancel (reason),
    reopen (reason). Permissions follow the problem's owner team."""

    queryset = Countermeasure.objects.select_related("problem", "owner").prefetch_related(
        Prefetch("changes", queryset=Countermeasure.changes.rel.related_model.objects.only("id", "number")))
    serializer_class = CountermeasureSerializer
    filterset_class = CountermeasureFilterSet
    search_fields = ["title"]
    ordering_fields = ["id", "due_date", "status", "created_at", "updated_at"]
    ordering = ["due_date", "id"]
    workflow = COUNTERMEASURE_WORKFLOW
    action_roles = {"create": "responder", "update": "responder", "partial_update": "responder"}
    update_service = staticmethod(services.update_countermeasure)
    transition_service = staticmethod(services.transition_countermeasure)

    def check_object_permissions(self, request, obj):
        # The countermeasure belongs to its problem's team.
        super().check_object_permissions(request, obj.problem)

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        problem = data.pop("problem")
        if not can(self.request.user, self.permission_for("create"), problem):
            raise exceptions.PermissionDenied(_("Your role does not allow this for that team."))
        serializer.instance = services.create_countermeasure(problem, actor=Actor.from_request(self.request),
                                                             data=data)

    def perform_update(self, serializer):
        serializer.validated_data.pop("problem", None)
        super().perform_update(serializer)


def register_routes(router) -> None:
    """Register this module's viewsets on the problems API router (/api/v1/problems/)."""
    router.register("problems", ProblemViewSet, basename="problem")
    router.register("countermeasures", CountermeasureViewSet, basename="countermeasure")
