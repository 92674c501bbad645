"""The approvals API, under /api/v1/changes/:

- GET  changes/<pk>/approvals/      the change's approvals, stage by stage (viewer)
- POST changes/<pk>/approve/        {"comment"?}   the acting user's OWN pending approval (or one delegated to
- POST changes/<pk>/reject/         {"reason"}     them) at the current stage; there is no field naming another
                                                   approver. 403 for the requester and for non-approvers.
- GET  approvals/mine/              my pending approvals and those delegated to me
- delegations/                      list (mine, given and received; managers: all), create, retrieve,
                                    POST delegations/<id>/end/
- approval-policies/                the policies with their stages (read-only; config-as-code changes them)

Errors come in the core error format (400 fields, 403, 404, 409 with a sentence).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import Prefetch, Q
from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from opsdesk.core.actors import Actor
from opsdesk.core.pagination import Pagination
from opsdesk.core.permissions import has_role

from . import approvals
from .models import Approval, ApprovalDelegation, ApprovalPolicy, ApprovalStage, ChangeRequest


class ApprovalSerializer(serializers.ModelSerializer):
    change = serializers.SlugRelatedField(slug_field="number", read_only=True)
    approver = serializers.SlugRelatedField(slug_field="username", read_only=True)
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    decided_by_label = serializers.SerializerMethodField()
    delegated = serializers.SerializerMethodField()

    class Meta:
        model = Approval
        fields = ["id", "change", "change_id", "stage_order", "stage_name", "approver", "status", "decided_by",
                  "decided_by_label", "delegated", "decided_at", "comment", "due_at", "reminded_at", "created_at"]
        read_only_fields = fields

    def get_decided_by_label(self, approval) -> str:
        return approvals.decided_label(approval)

    def get_delegated(self, approval) -> bool:
        return approval.decided_by_id is not None and approval.decided_by_id != approval.approver_id


APPROVE_REQUEST = inline_serializer("ChangeApproveRequest", {
    "comment": serializers.CharField(required=False, allow_blank=True, max_length=2000)})
REJECT_REQUEST = inline_serializer("ChangeRejectRequest", {"reason": serializers.CharField(max_length=2000)})


def _rows():
    return Approval.objects.select_related("change", "approver", "decided_by")


class ChangeApprovalsView(APIView):
    """The change's approvals. `action` names the role RolePermission asks (viewer: the service decides who)."""

    action = "list"

    @extend_schema(summary="The change's approvals, by stage", responses=ApprovalSerializer(many=True))
    def get(self, request, pk):
        change = get_object_or_404(ChangeRequest, pk=pk)
        rows = _rows().filter(change=change).order_by("stage_order", "id")
        return Response({"change": change.number, "status": change.status,
                         "policy": change.approval_policy.slug if change.approval_policy_id else None,
                         "current_stage": change.approval_stage if change.status == "approval" else None,
                         "approvals": ApprovalSerializer(rows, many=True).data})


class _DecisionView(APIView):
    action = "decide"
    action_roles = {"decide": "viewer"}  # any signed-in person; the service refuses all but the approver
    decision = ""

    def post(self, request, pk):
        change = get_object_or_404(ChangeRequest, pk=pk)
        data = request.data if isinstance(request.data, dict) else {}
        unknown = sorted(set(data) - {"comment", "reason"})
        if unknown:
            raise exceptions.ValidationError({name: _("Unknown field: an approval is the acting user's own decision.")
                                              for name in unknown})
        field = "reason" if self.decision == "rejected" else "comment"
        text = data.get(field, "")
        if not isinstance(text, str):
            raise exceptions.ValidationError({field: _("Give text.")})
        if self.decision == "rejected" and not text.strip():
            raise exceptions.ValidationError({"reason": _("Say why the change is rejected.")})
        try:
            approval = approvals.decide_for_change(change, actor=Actor.from_request(request), decision=self.decision,
                                                   comment=text)
        except DjangoPermissionDenied as exc:
            raise exceptions.PermissionDenied(str(exc) or None)
        approval = _rows().get(pk=approval.pk)
        change.refresh_from_db()
        return Response({"approval": ApprovalSerializer(approval).data, "change_status": change.status,
                         "current_stage": change.approval_stage if change.status == "approval" else None})


class ApproveView(_DecisionView):
    decision = "approved"

    @extend_schema(summary="Approve the change (your own approval at the current stage)", request=APPROVE_REQUEST,
                   responses={200: OpenApiResponse(description="The approval and the change's status"),
                              403: OpenApiResponse(description="Not an approver, or the requester"),
                              409: OpenApiResponse(description="The change is not awaiting approval")})
    def post(self, request, pk):
        return super().post(request, pk)


class RejectView(_DecisionView):
    decision = "rejected"

    @extend_schema(summary="Reject the change with a reason", request=REJECT_REQUEST,
                   responses={200: OpenApiResponse(description="The approval and the change's status"),
                              400: OpenApiResponse(description="No reason"),
                              403: OpenApiResponse(description="Not an approver, or the requester")})
    def post(self, request, pk):
        return super().post(request, pk)


class MyApprovalsView(APIView):
    action = "list"

    @extend_schema(summary="My pending approvals, and those delegated to me", responses=ApprovalSerializer(many=True))
    def get(self, request):
        paginator = Pagination()
        rows = approvals.pending_for(request.user).select_related("change", "approver", "decided_by").order_by(
            "due_at", "id")
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(ApprovalSerializer(page, many=True).data)


# --- delegations ----------------------------------------------------------------------------------------------

class DelegationSerializer(serializers.ModelSerializer):
    user = serializers.SlugRelatedField(slug_field="username", queryset=get_user_model().objects.all(),
                                        required=False)
    delegate = serializers.SlugRelatedField(slug_field="username",
                                            queryset=get_user_model().objects.filter(is_active=True))
    active = serializers.SerializerMethodField()

    class Meta:
        model = ApprovalDelegation
        fields = ["id", "user", "delegate", "starts_at", "ends_at", "reason", "active", "created_at"]
        read_only_fields = ["id", "active", "created_at"]
        extra_kwargs = {"reason": {"required": False, "allow_blank": True, "max_length": 300}}
        validators = []  # the service validates (a clear field error rather than a constraint name)

    def get_active(self, delegation) -> bool:
        now = timezone.now()
        return delegation.starts_at <= now < delegation.ends_at


class DelegationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                        viewsets.GenericViewSet):
    """Delegations of approvals: mine (given and received); managers see everyone's."""

    queryset = ApprovalDelegation.objects.select_related("user", "delegate")
    serializer_class = DelegationSerializer
    action_roles = {"create": "viewer", "end": "viewer"}  # the service decides whose delegations one may set
    ordering = ["-starts_at", "-id"]
    ordering_fields = ["starts_at", "ends_at", "id"]

    def get_queryset(self):
        rows = super().get_queryset()
        user = self.request.user
        if has_role(user, "manager"):
            return rows
        managed = [team_id for team_id, role in user.memberships.values_list("team_id", "role")
                   if role in ("manager", "admin")]
        return rows.filter(Q(user=user) | Q(delegate=user) | Q(user__memberships__team_id__in=managed)).distinct()

    def perform_create(self, serializer):
        data = serializer.validated_data
        try:
            serializer.instance = approvals.create_delegation(
                actor=Actor.from_request(self.request), user=data.get("user") or self.request.user,
                delegate=data["delegate"], starts_at=data["starts_at"], ends_at=data["ends_at"],
                reason=data.get("reason", ""))
        except DjangoPermissionDenied as exc:
            raise exceptions.PermissionDenied(str(exc) or None)

    @extend_schema(summary="End the delegation now", request=None, responses=DelegationSerializer)
    @action(detail=True, methods=["post"])
    def end(self, request, pk=None):
        delegation = self.get_object()
        try:
            delegation = approvals.end_delegation(delegation, actor=Actor.from_request(request))
        except DjangoPermissionDenied as exc:
            raise exceptions.PermissionDenied(str(exc) or None)
        return Response(DelegationSerializer(self.get_queryset().get(pk=delegation.pk)).data,
                        status=status.HTTP_200_OK)


# --- policies -------------------------------------------------------------------------------------------------

class StageSerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = ApprovalStage
        fields = ["order", "name", "team", "min_role", "quorum", "required", "cab"]
        read_only_fields = fields


class PolicySerializer(serializers.ModelSerializer):
    stages = StageSerializer(many=True, read_only=True)

    class Meta:
        model = ApprovalPolicy
        fields = ["id", "slug", "name", "change_types", "risk_levels", "order", "active", "stages"]
        read_only_fields = fields


class PolicyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Approval policies (read-only here: config-as-code section `change_approval_policies` changes them)."""

    queryset = ApprovalPolicy.objects.prefetch_related(
        Prefetch("stages", queryset=ApprovalStage.objects.select_related("team").order_by("order")))
    serializer_class = PolicySerializer
    ordering = ["order", "id"]
    ordering_fields = ["order", "id"]


urlpatterns = [
    path("changes/<int:pk>/approvals/", ChangeApprovalsView.as_view(), name="change-approvals"),
    path("changes/<int:pk>/approve/", ApproveView.as_view(), name="change-approve"),
    path("changes/<int:pk>/reject/", RejectView.as_view(), name="change-reject"),
    path("approvals/mine/", MyApprovalsView.as_view(), name="approvals-mine"),
]


def register_routes(router) -> None:
    router.register("delegations", DelegationViewSet, basename="approvaldelegation")
    router.register("approval-policies", PolicyViewSet, basename="approvalpolicy")
