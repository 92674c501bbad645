"""The audit API under /api/v1/cmdb/: audit-rules (admins write, everyone reads), audit-runs (managers
start one: 202), audit-findings (a manager, or the manager of the CI's team, accepts one as an exception)
and audit-exceptions (revoked by the same people). Writes go through `auditing`."""

from __future__ import annotations

import django_filters
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from opsdesk.core.actors import Actor
from opsdesk.core.api import RecordViewSet

from . import auditing
from .models import AuditException, AuditFinding, AuditResult, AuditRule, AuditRun


class CIRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    name = serializers.CharField()
    url = serializers.CharField(source="get_absolute_url")


# --- rules -------------------------------------------------------------------------------------------


class AuditRuleSerializer(serializers.ModelSerializer):
    url = serializers.CharField(source="get_absolute_url", read_only=True)
    scope = serializers.JSONField(required=False, help_text=gettext_lazy(
        'Which subjects the rule applies to: [{"field", "op", "value"}], ANDed.'))
    conditions = serializers.JSONField(required=False, help_text=gettext_lazy("What breaks the rule, same form."))

    class Meta:
        model = AuditRule
        fields = ["id", "url", "slug", "name", "description", "kind", "scope", "conditions", "severity", "enabled",
                  "builtin", "created_at", "updated_at"]
        read_only_fields = ["builtin", "created_at", "updated_at"]


class AuditRuleFilterSet(django_filters.FilterSet):
    class Meta:
        model = AuditRule
        fields = ["kind", "severity", "enabled", "builtin"]


class AuditRuleViewSet(RecordViewSet):
    """Audit rules. Admins add, change and delete their own; builtin rules can only be disabled (and
    renamed or re-rated). A rule with results in past runs cannot be deleted: disable it."""

    http_method_names = [*RecordViewSet.http_method_names, "delete"]
    queryset = AuditRule.objects.all()
    serializer_class = AuditRuleSerializer
    filterset_class = AuditRuleFilterSet
    search_fields = ["slug", "name", "description"]
    ordering_fields = ["name", "slug", "severity", "created_at"]
    ordering = ["name"]
    action_roles = {"create": "admin", "update": "admin", "partial_update": "admin", "destroy": "admin"}
    create_service = staticmethod(auditing.create_rule)
    update_service = staticmethod(auditing.update_rule)

    def destroy(self, request, *args, **kwargs):
        auditing.delete_rule(self.get_object(), actor=Actor.from_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- runs --------------------------------------------------------------------------------------------


class AuditResultSerializer(serializers.ModelSerializer):
    rule = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    rule_name = serializers.CharField(source="rule.name", read_only=True)
    ci_class = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = AuditResult
        fields = ["rule", "rule_name", "ci_class", "checked", "failing", "excepted", "compliance"]


class AuditRunSerializer(serializers.ModelSerializer):
    url = serializers.CharField(source="get_absolute_url", read_only=True)
    failing_count = serializers.SerializerMethodField(help_text=gettext_lazy("Findings not covered by an exception."))

    class Meta:
        model = AuditRun
        fields = ["id", "number", "url", "trigger", "status", "started_at", "finished_at", "checked", "findings_count",
                  "excepted_count", "failing_count", "compliance", "error"]
        read_only_fields = fields

    def get_failing_count(self, run) -> int:
        return run.findings_count - run.excepted_count


class AuditRunDetailSerializer(AuditRunSerializer):
    results = AuditResultSerializer(many=True, read_only=True)

    class Meta(AuditRunSerializer.Meta):
        fields = [*AuditRunSerializer.Meta.fields, "results"]
        read_only_fields = fields


class AuditRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Audit runs with their compliance; the detail lists the results per rule and class. POST starts a
    run on demand (managers): 202, evaluated by a worker."""

    queryset = AuditRun.objects.all()
    serializer_class = AuditRunSerializer
    filterset_fields = ["status", "trigger"]
    ordering_fields = ["id", "started_at", "compliance"]
    ordering = ["-id"]
    action_roles = {"create": "manager"}

    def get_queryset(self):
        if self.action == "retrieve":
            return AuditRun.objects.prefetch_related("results__rule", "results__ci_class")
        return AuditRun.objects.all()

    def get_serializer_class(self):
        return AuditRunDetailSerializer if self.action == "retrieve" else AuditRunSerializer

    @extend_schema(request=None, responses={202: AuditRunSerializer,
                                            409: OpenApiResponse(description="A run is still running")})
    def create(self, request):
        run = auditing.start_audit(actor=Actor.from_request(request))
        return Response(AuditRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


# --- findings and exceptions -------------------------------------------------------------------------


class AuditFindingSerializer(serializers.ModelSerializer):
    run = serializers.CharField(source="run.number", read_only=True)
    run_id = serializers.IntegerField(read_only=True)
    rule = serializers.CharField(source="rule.slug", read_only=True)
    rule_name = serializers.CharField(source="rule.name", read_only=True)
    severity = serializers.CharField(source="rule.severity", read_only=True)
    ci = CIRefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = AuditFinding
        fields = ["id", "run", "run_id", "rule", "rule_name", "severity", "ci", "key", "message", "details",
                  "excepted"]


class AuditFindingFilterSet(django_filters.FilterSet):
    run = django_filters.NumberFilter(field_name="run_id", label=gettext_lazy("Run (id)"))
    rule = django_filters.CharFilter(field_name="rule__slug", label=gettext_lazy("Rule (key)"))
    ci = django_filters.NumberFilter(field_name="ci_id", label=gettext_lazy("CI (id)"))
    excepted = django_filters.BooleanFilter()

    class Meta:
        model = AuditFinding
        fields = ["run", "rule", "ci", "excepted"]


class AcceptSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)
    expires_at = serializers.CharField(help_text=gettext_lazy(
        "A date (through that day) or a date and time, at most a year ahead."))


class AuditExceptionSerializer(serializers.ModelSerializer):
    rule = serializers.CharField(source="rule.slug", read_only=True)
    rule_name = serializers.CharField(source="rule.name", read_only=True)
    ci = CIRefSerializer(read_only=True, allow_null=True)
    state = serializers.SerializerMethodField(help_text="active | expired | revoked")
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)

    class Meta:
        model = AuditException
        fields = ["id", "rule", "rule_name", "ci", "key", "reason", "expires_at", "revoked_at", "state", "created_by",
                  "created_at"]
        read_only_fields = fields

    def get_state(self, exception) -> str:
        return auditing.exception_state(exception)


class AuditFindingViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Findings of audit runs. `POST {id}/accept/` accepts one as an exception (reason, expiry)."""

    queryset = AuditFinding.objects.select_related("run", "rule", "ci")
    serializer_class = AuditFindingSerializer
    filterset_class = AuditFindingFilterSet
    search_fields = ["message", "key"]
    ordering_fields = ["id", "run_id"]
    ordering = ["-id"]
    action_roles = {"accept": "viewer"}  # checked against the finding's CI below

    @extend_schema(request=AcceptSerializer, responses={201: AuditExceptionSerializer,
                                                        409: OpenApiResponse(description="Already accepted")})
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        finding = self.get_object()
        if not auditing.may_accept(request.user, finding.ci):
            raise exceptions.PermissionDenied(_("Managers (or the managers of the CI's team) accept findings."))
        payload = AcceptSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        exception = auditing.accept_finding(finding, actor=Actor.from_request(request), **payload.validated_data)
        return Response(AuditExceptionSerializer(exception).data, status=status.HTTP_201_CREATED)


class AuditExceptionFilterSet(django_filters.FilterSet):
    rule = django_filters.CharFilter(field_name="rule__slug", label=gettext_lazy("Rule (key)"))
    ci = django_filters.NumberFilter(field_name="ci_id", label=gettext_lazy("CI (id)"))
    state = django_filters.ChoiceFilter(method="filter_state", choices=[
        ("active", gettext_lazy("Active")), ("expired", gettext_lazy("Expired")), ("revoked", gettext_lazy("Revoked"))])

    class Meta:
        model = AuditException
        fields = ["rule", "ci", "state"]

    def filter_state(self, queryset, name, value):
        now = timezone.now()
        if value == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        if value == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        return queryset.filter(revoked_at__isnull=True, expires_at__gt=now)


class AuditExceptionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Findings accepted as exceptions. `POST {id}/revoke/` ends one now."""

    queryset = AuditException.objects.select_related("rule", "ci", "created_by")
    serializer_class = AuditExceptionSerializer
    filterset_class = AuditExceptionFilterSet
    search_fields = ["reason", "key"]
    ordering_fields = ["id", "expires_at", "created_at"]
    ordering = ["-id"]
    action_roles = {"revoke": "viewer"}  # checked against the exception's CI below

    @extend_schema(request=None, responses={200: AuditExceptionSerializer,
                                            409: OpenApiResponse(description="Already revoked or expired")})
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        exception = self.get_object()
        if not auditing.may_accept(request.user, exception.ci):
            raise exceptions.PermissionDenied(_("Managers (or the managers of the CI's team) revoke exceptions."))
        exception = auditing.revoke_exception(exception, actor=Actor.from_request(request))
        return Response(AuditExceptionSerializer(exception).data)


def register(router) -> None:
    router.register("audit-rules", AuditRuleViewSet, basename="auditrule")
    router.register("audit-runs", AuditRunViewSet, basename="auditrun")
    router.register("audit-findings", AuditFindingViewSet, basename="auditfinding")
    router.register("audit-exceptions", AuditExceptionViewSet, basename="auditexception")

