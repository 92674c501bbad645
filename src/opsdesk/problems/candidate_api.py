"""Problem candidates and recurrence checks in the API (/api/v1/problems/):

- `candidates/` (read: viewers) with `?status=open|accepted|dismissed&kind=ci|service|category|text`;
  `candidates/{id}/` lists the incidents behind it; `POST candidates/{id}/accept/` (responders) creates the
  problem (optional problem fields: title, description, owner_team, owner, impact, urgency ...);
  `POST candidates/{id}/dismiss/` (responders) with a reason; `POST candidates/detect/` (managers) runs
  trend detection now and answers the candidates it wrote.
- `recurrence-checks/` (read: viewers) with `?problem=PRB-3&status=&verdict=`.
"""

from __future__ import annotations

import django_filters
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from opsdesk.core.actors import Actor
from opsdesk.incidents.models import Incident

from . import trends
from .models import ProblemCandidate, RecurrenceCheck

DETECT_TASK = "opsdesk.problems.tasks.detect_trends"

urlpatterns = []


class IncidentRefSerializer(serializers.ModelSerializer):
    url = serializers.CharField(source="get_absolute_url", read_only=True)

    class Meta:
        model = Incident
        fields = ["id", "number", "title", "status", "priority", "created_at", "url"]
        read_only_fields = fields


class CandidateSerializer(serializers.ModelSerializer):
    url = serializers.CharField(source="get_absolute_url", read_only=True)
    ci = serializers.SerializerMethodField()
    service = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    category = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    problem = serializers.SlugRelatedField(slug_field="number", read_only=True)
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ProblemCandidate
        fields = ["id", "url", "kind", "key", "title", "reason", "incident_count", "window_start", "window_end", "ci",
                  "service", "category", "status", "problem", "decided_by", "decided_at", "dismiss_reason",
                  "detected_at", "updated_at"]
        read_only_fields = fields

    def get_ci(self, candidate) -> dict | None:
        if candidate.ci_id is None:
            return None
        return {"id": candidate.ci_id, "number": candidate.ci.number, "name": candidate.ci.name}


class CandidateDetailSerializer(CandidateSerializer):
    incidents = serializers.SerializerMethodField()

    class Meta(CandidateSerializer.Meta):
        fields = [*CandidateSerializer.Meta.fields, "incidents"]
        read_only_fields = fields

    def get_incidents(self, candidate) -> list[dict]:
        return IncidentRefSerializer(candidate.incidents.order_by("-created_at", "-id"), many=True).data


class CandidateFilterSet(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=ProblemCandidate.STATES)
    kind = django_filters.ChoiceFilter(choices=ProblemCandidate.KINDS)

    class Meta:
        model = ProblemCandidate
        fields = ["status", "kind"]


DISMISS_REQUEST = inline_serializer("ProblemCandidateDismissRequest", {"reason": serializers.CharField(max_length=500)})


class CandidateViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Problem candidates proposed by trend detection."""

    queryset = ProblemCandidate.objects.select_related("ci", "service", "category", "problem", "decided_by")
    serializer_class = CandidateSerializer
    filterset_class = CandidateFilterSet
    search_fields = ["title", "reason"]
    ordering_fields = ["id", "incident_count", "detected_at", "updated_at"]
    ordering = ["-incident_count", "-id"]
    action_roles = {"accept": "responder", "dismiss": "responder", "detect": "manager"}

    def get_serializer_class(self):
        return CandidateDetailSerializer if self.action == "retrieve" else CandidateSerializer

    @extend_schema(summary="Accept: create the problem from the candidate's incidents",
                   request=inline_serializer("ProblemCandidateAcceptRequest", {
                       "title": serializers.CharField(required=False),
                       "owner_team": serializers.CharField(required=False),
                       "owner": serializers.CharField(required=False)}),
                   responses={201: OpenApiResponse(description="The problem created (as GET problems/{id}/)"),
                              409: OpenApiResponse(description="The candidate was already decided")})
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        from .api import ProblemSerializer

        candidate = self.get_object()
        data = request.data if isinstance(request.data, dict) else {}
        serializer = ProblemSerializer(data=data, partial=True, context={"request": request})
        serializer.is_valid(raise_exception=True)
        fields = {k: v for k, v in serializer.validated_data.items() if v not in (None, "", [])}
        owner_team = fields.get("owner_team")
        if owner_team is not None:
            from opsdesk.core.api import _TeamProxy
            from opsdesk.core.permissions import can

            if not can(request.user, "responder", _TeamProxy(owner_team)):
                raise exceptions.PermissionDenied(_("Your role does not allow this for that team."))
        problem = trends.accept_candidate(candidate, actor=Actor.from_request(request), data=fields)
        return Response(ProblemSerializer(problem, context={"request": request}).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Dismiss with a reason (the same pattern is not proposed again for a while)",
                   request=DISMISS_REQUEST, responses={200: CandidateSerializer,
                                                       409: OpenApiResponse(description="Already decided")})
    @action(detail=True, methods=["post"])
    def dismiss(self, request, pk=None):
        candidate = self.get_object()
        data = request.data if isinstance(request.data, dict) else {}
        reason = data.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise exceptions.ValidationError({"reason": _("Say why the candidate is dismissed.")})
        candidate = trends.dismiss_candidate(candidate, actor=Actor.from_request(request), reason=reason)
        return Response(CandidateSerializer(self.get_queryset().get(pk=candidate.pk)).data)

    @extend_schema(summary="Run trend detection now (queued: the worker runs it)", request=None,
                   responses={202: inline_serializer("ProblemCandidateDetectResponse", {
                       "status": serializers.CharField(), "task": serializers.CharField()})})
    @action(detail=False, methods=["post"])
    def detect(self, request):
        from opsdesk.core import events

        events.enqueue(DETECT_TASK)
        return Response({"status": "queued", "task": DETECT_TASK}, status=status.HTTP_202_ACCEPTED)


class RecurrenceCheckSerializer(serializers.ModelSerializer):
    problem = serializers.SlugRelatedField(slug_field="number", read_only=True)
    problem_id = serializers.IntegerField(read_only=True)
    recurrences = serializers.SlugRelatedField(slug_field="number", many=True, read_only=True)

    class Meta:
        model = RecurrenceCheck
        fields = ["id", "problem", "problem_id", "started_at", "ends_at", "status", "recurrences", "count_before",
                  "count_after", "mtbi_before_hours", "mtbi_after_hours", "verdict", "explanation", "evaluated_at",
                  "owner_notified_at"]
        read_only_fields = fields


class RecurrenceCheckFilterSet(django_filters.FilterSet):
    problem = django_filters.CharFilter(field_name="problem__number", label=gettext_lazy("Problem (number)"))
    status = django_filters.ChoiceFilter(choices=RecurrenceCheck.STATES)
    verdict = django_filters.ChoiceFilter(choices=[v for v in RecurrenceCheck.VERDICTS if v[0]])

    class Meta:
        model = RecurrenceCheck
        fields = ["problem", "status", "verdict"]


class RecurrenceCheckViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Recurrence checks of resolved problems: the watch, its recurrences and the evaluation."""

    queryset = RecurrenceCheck.objects.select_related("problem").prefetch_related("recurrences")
    serializer_class = RecurrenceCheckSerializer
    filterset_class = RecurrenceCheckFilterSet
    ordering_fields = ["id", "started_at", "ends_at"]
    ordering = ["-started_at", "-id"]


def register_routes(router) -> None:
    """Register this module's viewsets on the problems API router (/api/v1/problems/)."""
    router.register("candidates", CandidateViewSet, basename="problemcandidate")
    router.register("recurrence-checks", RecurrenceCheckViewSet, basename="recurrencecheck")
