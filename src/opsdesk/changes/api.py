"""The change request API under /api/v1/changes/: changes (CRUD through the services, the transitions the
type allows as POST actions, `steps/<step_id>/tick/` and `untick/`), and the catalog read-only
(`categories/`, `templates/`)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from opsdesk.accounts.models import Team
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.actors import Actor
from opsdesk.core.api import RecordViewSet
from opsdesk.incidents.models import Incident
from opsdesk.problems.models import Problem
from opsdesk.services.models import Service

from . import services
from .filters import ChangeFilterSet, ChangeTemplateFilterSet
from .models import ChangeCategory, ChangeRequest, ChangeTemplate, PlanStep
from .workflows import CHANGE_WORKFLOW

User = get_user_model()

urlpatterns = []


class PlanStepSerializer(serializers.ModelSerializer):
    done_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = PlanStep
        fields = ["id", "kind", "order", "who", "action", "minutes", "verification", "done_at", "done_by", "note"]
        read_only_fields = fields


_STEP_SCHEMA = {
    "type": "array",
    "items": {"type": "object", "required": ["action"], "properties": {
        "id": {"type": "integer", "readOnly": True},
        "kind": {"type": "string", "enum": ["implementation", "backout"]},
        "order": {"type": "integer", "readOnly": True},
        "who": {"type": "string"}, "action": {"type": "string"},
        "minutes": {"type": "integer", "nullable": True}, "verification": {"type": "string"},
        "done_at": {"type": "string", "format": "date-time", "nullable": True, "readOnly": True},
        "done_by": {"type": "string", "nullable": True, "readOnly": True},
        "note": {"type": "string", "readOnly": True}}},
}


@extend_schema_field(_STEP_SCHEMA)
class StepsField(serializers.Field):
    """Read: the plan's steps in order. Write: [{"kind", "who", "action", "minutes", "verification"}]
    replacing the plan."""

    def to_representation(self, value):
        return PlanStepSerializer(value.all(), many=True).data

    def to_internal_value(self, data):
        try:
            return services.clean_steps(data)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict["steps"]) from None


class ChangeSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    category = serializers.SlugRelatedField(slug_field="slug", queryset=ChangeCategory.objects.filter(active=True),
                                            allow_null=True, required=False)
    template = serializers.SlugRelatedField(slug_field="slug", queryset=ChangeTemplate.objects.all(),
                                            allow_null=True, required=False)
    requester = serializers.SlugRelatedField(slug_field="username", queryset=User.objects.filter(is_active=True),
                                             allow_null=True, required=False)
    owner_team = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all())
    implementer = serializers.SlugRelatedField(slug_field="username", queryset=User.objects.filter(is_active=True),
                                               allow_null=True, required=False)
    services = serializers.SlugRelatedField(slug_field="slug", many=True, required=False,
                                            queryset=Service.objects.all())
    cis = serializers.SlugRelatedField(slug_field="number", many=True, required=False,
                                       queryset=ConfigurationItem.objects.all())
    incidents = serializers.SlugRelatedField(slug_field="number", many=True, required=False,
                                             queryset=Incident.objects.all())
    problems = serializers.SlugRelatedField(slug_field="number", many=True, required=False,
                                            queryset=Problem.objects.all())
    collisions_acknowledged_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    steps = StepsField(required=False)
    transitions = serializers.SerializerMethodField()

    class Meta:
        model = ChangeRequest
        fields = ["id", "number", "url", "title", "description", "reason", "change_type", "category", "template",
                  "requester", "owner_team", "implementer", "services", "cis", "planned_start", "planned_end",
                  "actual_start", "actual_end", "test_plan", "communication_plan", "expected_outage",
                  "outage_minutes", "incidents", "problems", "steps", "status", "status_reason", "outcome",
                  "outcome_notes", "risk_score", "risk_level", "risk_factors", "risk_assessed_at", "collisions",
                  "collisions_acknowledged_by", "collisions_acknowledged_at", "submitted_at", "approved_at",
                  "closed_at", "review_required", "transitions", "created_at", "updated_at"]
        read_only_fields = ["number", "status", "status_reason", "outcome", "outcome_notes", "actual_start",
                            "actual_end", "risk_score", "risk_level", "risk_factors", "risk_assessed_at",
                            "collisions", "collisions_acknowledged_at", "submitted_at", "approved_at", "closed_at",
                            "review_required", "created_at", "updated_at"]
        extra_kwargs = {"title": {"required": False, "allow_blank": True}}

    def get_url(self, change) -> str:
        return change.get_absolute_url()

    def get_transitions(self, change) -> list[str]:
        """The transitions the caller may take now (state, type and role)."""
        request = self.context.get("request")
        return [t.name for t in services.available_transitions(change, getattr(request, "user", None))]

    def to_internal_value(self, data):
        # Bounded before any lookup: each item of a related list costs a query (CONVENTIONS §6).
        too_many = {}
        for name in services.LINKED_FIELDS:
            field = self.fields.get(name)
            if field is None or field.read_only:
                continue
            value = field.get_value(data)
            if isinstance(value, list | tuple) and len(value) > services.MAX_LINKED:
                too_many[name] = [_("At most %(n)s items.") % {"n": services.MAX_LINKED}]
        if too_many:
            raise serializers.ValidationError(too_many)
        return super().to_internal_value(data)

    def validate(self, attrs):
        if self.instance is None and not attrs.get("title") and not attrs.get("template"):
            raise serializers.ValidationError({"title": _("Give the change a title (or a template that has one).")})
        return attrs


CHANGE_QUERYSET = ChangeRequest.objects.select_related(
    "category", "template", "requester", "owner_team", "implementer", "collisions_acknowledged_by",
).prefetch_related(
    Prefetch("services", queryset=Service.objects.only("id", "slug")),
    Prefetch("cis", queryset=ConfigurationItem.objects.only("id", "number")),
    Prefetch("incidents", queryset=Incident.objects.only("id", "number")),
    Prefetch("problems", queryset=Problem.objects.only("id", "number")),
    Prefetch("steps", queryset=PlanStep.objects.select_related("done_by")),
)

TICK_REQUEST = inline_serializer("ChangeStepTickRequest", {"note": serializers.CharField(required=False,
                                                                                          max_length=500)})


class ChangeViewSet(RecordViewSet):
    """Change requests. Transitions (POST …/<id>/<transition>/), only those of the change's type: submit
    (acknowledge_collisions when there are warnings), start-assessment, request-approval, revise (reason),
    start-implementation, complete (outcome, outcome_notes), close, cancel (reason). The `transitions` field
    lists what the caller may take now."""

    queryset = CHANGE_QUERYSET
    serializer_class = ChangeSerializer
    filterset_class = ChangeFilterSet
    search_fields = ["number", "title"]
    ordering_fields = ["id", "planned_start", "status", "risk_score", "created_at", "updated_at"]
    ordering = ["-id"]
    workflow = CHANGE_WORKFLOW
    action_roles = {"create": "responder", "update": "responder", "partial_update": "responder",
                    # the service decides: the implementer, or a responder of the owner team
                    "tick_step": "viewer", "untick_step": "viewer"}
    create_service = staticmethod(services.create_change)
    update_service = staticmethod(services.update_change)
    transition_service = staticmethod(services.transition_change)

    def perform_create(self, serializer):
        super().perform_create(serializer)
        serializer.instance = self.get_queryset().get(pk=serializer.instance.pk)

    def perform_update(self, serializer):
        super().perform_update(serializer)
        serializer.instance = self.get_queryset().get(pk=serializer.instance.pk)

    def _step(self, request, pk, step_id):
        change = self.get_object()
        return get_object_or_404(PlanStep, pk=step_id, change=change)

    def _answer(self, step):
        return Response(self.get_serializer(self.get_queryset().get(pk=step.change_id)).data)

    @extend_schema(summary="Tick a plan step as done (while implementing)", request=TICK_REQUEST,
                   responses=ChangeSerializer)
    @action(detail=True, methods=["post"], url_path=r"steps/(?P<step_id>\d+)/tick")
    def tick_step(self, request, pk=None, step_id=None):
        step = self._step(request, pk, step_id)
        data = request.data if isinstance(request.data, dict) else {}
        note = data.get("note") or ""
        if not isinstance(note, str):
            raise serializers.ValidationError({"note": _("A text.")})
        services.tick_step(step, actor=Actor.from_request(request), note=note)
        return self._answer(step)

    @extend_schema(summary="Mark a plan step as not done (while implementing)", request=None,
                   responses=ChangeSerializer)
    @action(detail=True, methods=["post"], url_path=r"steps/(?P<step_id>\d+)/untick")
    def untick_step(self, request, pk=None, step_id=None):
        step = self._step(request, pk, step_id)
        services.untick_step(step, actor=Actor.from_request(request))
        return self._answer(step)


class ChangeCategorySerializer(serializers.ModelSerializer):
    class Meta:
        model = ChangeCategory
        fields = ["id", "slug", "name", "description", "active"]


class ChangeTemplateSerializer(serializers.ModelSerializer):
    category = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = ChangeTemplate
        fields = ["id", "slug", "url", "name", "description", "change_type", "category", "title", "plan_steps",
                  "backout_steps", "test_plan", "communication_plan", "expected_minutes", "risk_level", "active"]

    def get_url(self, template) -> str:
        return template.get_absolute_url()


class ChangeCategoryViewSet(viewsets.ReadOnlyModelViewSet):
    """The change categories (managed in the catalog pages or as code)."""

    queryset = ChangeCategory.objects.all()
    serializer_class = ChangeCategorySerializer
    search_fields = ["slug", "name"]
    ordering = ["name"]


class ChangeTemplateViewSet(viewsets.ReadOnlyModelViewSet):
    """The change templates: standard changes and the plan templates of the categories."""

    queryset = ChangeTemplate.objects.select_related("category")
    serializer_class = ChangeTemplateSerializer
    filterset_class = ChangeTemplateFilterSet
    search_fields = ["slug", "name"]
    ordering = ["name"]


def register_routes(router) -> None:
    router.register("changes", ChangeViewSet, basename="changerequest")
    router.register("categories", ChangeCategoryViewSet, basename="changecategory")
    router.register("templates", ChangeTemplateViewSet, basename="changetemplate")
