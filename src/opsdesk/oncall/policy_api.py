"""The escalation and paging API under /api/v1/oncall/: escalation policies with their steps nested,
escalation runs per incident (read, start, stop), and people's contact methods (with a test send) and
notification rules (one's own; managers everyone's)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Prefetch
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from opsdesk.accounts.models import Team
from opsdesk.core.actors import Actor
from opsdesk.core.api import RecordViewSet
from opsdesk.core.permissions import can, has_role
from opsdesk.services.models import Service

from . import escalation, paging, policies
from .models import (
    URGENCIES,
    ContactMethod,
    EscalationPolicy,
    EscalationRun,
    EscalationStep,
    NotificationRule,
    Page,
    Schedule,
)

User = get_user_model()
OWN_OR_MANAGER = {"list": "viewer", "retrieve": "viewer", "create": "viewer", "update": "viewer",
                  "partial_update": "viewer", "destroy": "viewer", "test": "viewer"}


# --- escalation policies ------------------------------------------------------------------------------------

class StepSerializer(serializers.Serializer):
    position = serializers.IntegerField(read_only=True)
    kind = serializers.ChoiceField(choices=EscalationStep.KINDS)
    users = serializers.PrimaryKeyRelatedField(many=True, queryset=User.objects.all(), required=False)
    schedule = serializers.PrimaryKeyRelatedField(queryset=Schedule.objects.all(), required=False, allow_null=True)
    team = serializers.PrimaryKeyRelatedField(queryset=Team.objects.all(), required=False, allow_null=True)
    team_role = serializers.ChoiceField(choices=[("", "every member"), ("manager", "managers")], required=False,
                                        default="")
    wait_minutes = serializers.IntegerField(required=False, default=0, min_value=0)
    urgency = serializers.ChoiceField(choices=URGENCIES, required=False, default="high")
    description = serializers.SerializerMethodField()

    def get_description(self, step) -> str:
        return escalation.step_description(step)


class EscalationPolicySerializer(serializers.ModelSerializer):
    team = serializers.PrimaryKeyRelatedField(queryset=Team.objects.all(), required=False, allow_null=True)
    services = serializers.SlugRelatedField(slug_field="slug", many=True, queryset=Service.objects.all(),
                                            required=False)
    steps = StepSerializer(many=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = EscalationPolicy
        fields = ["id", "name", "slug", "description", "team", "repeat_count", "services", "steps", "url",
                  "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]
        extra_kwargs = {"slug": {"required": False, "validators": []}, "name": {"validators": []}}

    def get_url(self, policy) -> str:
        return policy.get_absolute_url()


def _create_policy(*, actor, data):
    return policies.save_policy(actor=actor, data=data)


def _update_policy(policy, *, actor, data):
    return policies.save_policy(policy, actor=actor, data=data)


class EscalationPolicyViewSet(RecordViewSet):
    """Escalation policies: steps in order (notify_users, notify_schedule, notify_team, wait), repeated
    `repeat_count` times. Writing `steps` replaces them all; a team's managers edit its policies."""

    http_method_names = ["get", "post", "patch", "put", "delete", "head", "options"]
    queryset = (EscalationPolicy.objects.select_related("team")
                .prefetch_related("services", Prefetch("steps", queryset=EscalationStep.objects
                                                       .select_related("schedule", "team").prefetch_related("users")
                                                       .order_by("position", "id"))))
    serializer_class = EscalationPolicySerializer
    search_fields = ["name", "slug", "description"]
    filterset_fields = ["team"]
    ordering = ["name"]
    action_roles = {"destroy": "manager"}
    create_service = staticmethod(_create_policy)
    update_service = staticmethod(_update_policy)

    def check_services(self, policy, services) -> None:
        """Attaching or detaching a service needs manager rights on the service's owner team."""
        refused = policies.services_not_managed(self.request.user, policy, services)
        if refused:
            raise exceptions.PermissionDenied(
                _("Only the managers of a service's owner team attach it to a policy: %(services)s.")
                % {"services": ", ".join(service.slug for service in refused)})

    def perform_create(self, serializer):
        if "services" in serializer.validated_data:
            self.check_services(None, serializer.validated_data["services"])
        super().perform_create(serializer)

    def perform_update(self, serializer):
        if "services" in serializer.validated_data:
            self.check_services(serializer.instance, serializer.validated_data["services"])
        super().perform_update(serializer)

    def perform_destroy(self, instance):
        self.check_team_role(instance.team, "manager")
        policies.delete_policy(instance, actor=Actor.from_request(self.request))


# --- runs ---------------------------------------------------------------------------------------------------

class PageSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Page
        fields = ["id", "user", "username", "cycle", "position", "reason", "urgency", "paged_at", "methods"]


class RunSerializer(serializers.ModelSerializer):
    incident_number = serializers.CharField(source="incident.number", read_only=True)
    policy_name = serializers.CharField(source="policy.name", read_only=True)
    pages = PageSerializer(many=True, read_only=True)

    class Meta:
        model = EscalationRun
        fields = ["id", "incident", "incident_number", "policy", "policy_name", "status", "position", "cycle",
                  "due_at", "started_at", "stopped_at", "stopped_by", "pages"]


class RunStartSerializer(serializers.Serializer):
    incident = serializers.IntegerField()
    policy = serializers.PrimaryKeyRelatedField(queryset=EscalationPolicy.objects.all(), required=False,
                                                allow_null=True)


class EscalationRunViewSet(viewsets.ReadOnlyModelViewSet):
    """Escalation runs, newest first, with the pages each sent; `?incident=<id>` for one incident's."""

    queryset = (EscalationRun.objects.select_related("policy", "incident")
                .prefetch_related(Prefetch("pages", queryset=Page.objects.select_related("user")
                                           .order_by("cycle", "position", "id"))))
    serializer_class = RunSerializer
    filterset_fields = ["incident", "status", "policy"]
    ordering = ["-started_at", "-id"]
    action_roles = {"start": "responder", "stop": "responder"}

    def _incident(self, pk):
        from opsdesk.incidents.models import Incident

        incident = Incident.objects.filter(pk=pk).first()
        if incident is None:
            raise exceptions.ValidationError({"incident": _("No incident with this id.")})
        if not can(self.request.user, "responder", incident):
            raise exceptions.PermissionDenied()
        return incident

    @extend_schema(summary="Start an escalation policy for an incident (replacing its running one)",
                   request=RunStartSerializer, responses=RunSerializer)
    @action(detail=False, methods=["post"])
    def start(self, request):
        body = RunStartSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        incident = self._incident(body.validated_data["incident"])
        run = escalation.start_for_incident(incident, policy=body.validated_data.get("policy"),
                                            actor=Actor.from_request(request))
        if run is None:
            raise exceptions.ValidationError({"policy": _("The incident's service has no escalation policy; name "
                                                          "one.")})
        return Response(RunSerializer(self.get_queryset().get(pk=run.pk)).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Stop a running escalation", request=None, responses=RunSerializer)
    @action(detail=True, methods=["post"])
    def stop(self, request, pk=None):
        run = self.get_object()
        incident = self._incident(run.incident_id)
        if run.status != "active":
            from opsdesk.core.api import Conflict

            raise Conflict(_("This escalation is not running (%(status)s).") % {"status": run.get_status_display()})
        escalation.stop_for_incident(incident, status="cancelled", actor=Actor.from_request(request))
        return Response(RunSerializer(self.get_queryset().get(pk=run.pk)).data)


# --- contact methods and notification rules -----------------------------------------------------------------

class OwnOrManagedMixin:
    """One's own rows; a manager (global role) reads and writes everyone's."""

    action_roles = OWN_OR_MANAGER

    def get_queryset(self):
        queryset = super().get_queryset()
        if has_role(self.request.user, "manager"):
            return queryset
        return queryset.filter(user=self.request.user)

    def owner(self, user):
        if user is None:
            return self.request.user
        if user.pk != self.request.user.pk and not has_role(self.request.user, "manager"):
            raise exceptions.PermissionDenied(_("Only managers change someone else's paging settings."))
        return user


class ContactMethodSerializer(serializers.ModelSerializer):
    """`target` in full for its owner only; a manager reading someone else's sees URLs masked (email
    addresses in full), as on the paging settings page."""

    user = serializers.PrimaryKeyRelatedField(queryset=User.objects.all(), required=False)

    class Meta:
        model = ContactMethod
        fields = ["id", "user", "kind", "label", "target", "enabled", "last_test_at", "created_at"]
        read_only_fields = ["last_test_at", "created_at"]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        request = self.context.get("request")
        if request is None or instance.user_id != request.user.pk:
            data["target"] = paging.shown_target(instance.target)
        return data


class ContactMethodViewSet(OwnOrManagedMixin, viewsets.ModelViewSet):
    """Contact methods: email address, Apprise URL (chat, SMS gateway) or webhook URL."""

    queryset = ContactMethod.objects.select_related("user")
    serializer_class = ContactMethodSerializer
    filterset_fields = ["user", "kind", "enabled"]
    ordering = ["user_id", "kind", "id"]

    def check_kind(self, kind: str) -> None:
        if not paging.kind_allowed(self.request.user, kind):
            raise exceptions.PermissionDenied(_("Viewers add email addresses only; chat, SMS and webhook contact "
                                                "methods need the responder role."))

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        user = self.owner(data.pop("user", None))
        self.check_kind(data.get("kind", ""))
        serializer.instance = paging.create_contact_method(user=user, actor=Actor.from_request(self.request),
                                                           data=data)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        if "user" in data and data.pop("user").pk != serializer.instance.user_id:
            raise exceptions.ValidationError({"user": _("A contact method stays with its person.")})
        method = serializer.instance
        if (data.get("kind", method.kind) != method.kind
                or str(data.get("target", method.target)).strip() != method.target):
            self.check_kind(data.get("kind", method.kind))
        serializer.instance = paging.update_contact_method(serializer.instance, actor=Actor.from_request(self.request),
                                                           data=data)

    def perform_destroy(self, instance):
        paging.delete_contact_method(instance, actor=Actor.from_request(self.request))

    @extend_schema(summary="Send a test notification through the contact method", request=None,
                   responses=inline_serializer("ContactTest", {"delivery": serializers.IntegerField(),
                                                               "status": serializers.CharField()}))
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        method = self.get_object()
        delivery = paging.send_test_notification(method, actor=Actor.from_request(request))
        return Response({"delivery": delivery.pk, "status": delivery.status}, status=status.HTTP_202_ACCEPTED)


class NotificationRuleSerializer(serializers.ModelSerializer):
    contact_method = serializers.PrimaryKeyRelatedField(queryset=ContactMethod.objects.select_related("user"))

    class Meta:
        model = NotificationRule
        fields = ["id", "user", "urgency", "contact_method", "delay_minutes"]
        read_only_fields = ["user"]


class NotificationRuleViewSet(OwnOrManagedMixin, viewsets.ModelViewSet):
    """Notification rules: for an urgency, a contact method after a delay (minutes). The rule belongs to
    the contact method's person."""

    queryset = NotificationRule.objects.select_related("contact_method", "user")
    serializer_class = NotificationRuleSerializer
    filterset_fields = ["user", "urgency"]
    ordering = ["user_id", "urgency", "delay_minutes", "id"]

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        user = self.owner(data["contact_method"].user)
        serializer.instance = paging.create_rule(user=user, actor=Actor.from_request(self.request), data=data)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        serializer.instance = paging.update_rule(serializer.instance, actor=Actor.from_request(self.request),
                                                 data=data)

    def perform_destroy(self, instance):
        paging.delete_rule(instance, actor=Actor.from_request(self.request))


def _router():
    from rest_framework.routers import DefaultRouter

    router = DefaultRouter()
    router.include_root_view = False
    router.register("escalation-policies", EscalationPolicyViewSet, basename="oncall-escalation-policy")
    router.register("runs", EscalationRunViewSet, basename="oncall-run")
    router.register("contact-methods", ContactMethodViewSet, basename="oncall-contact-method")
    router.register("notification-rules", NotificationRuleViewSet, basename="oncall-notification-rule")
    return router


urlpatterns = _router().urls
