"""The alerts API under /api/v1/alerts/: alerts and groups (read-only; `raw_payload` on an alert's detail),
integrations (create answers the key once; `rotate-key/` and `test/`; secrets are never returned),
routes, silences (+ `expire/`) and maintenance windows (+ `cancel/`).

Roles: viewers read; responders create and edit silences and maintenance windows; managers edit
integrations and routes."""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import Prefetch
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from opsdesk.accounts.models import Team
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.actors import Actor
from opsdesk.core.api import RecordViewSet
from opsdesk.oncall.models import EscalationPolicy
from opsdesk.services.models import Service

from . import integrations, matching, services
from .filters import (
    AlertFilterSet,
    AlertGroupFilterSet,
    IntegrationFilterSet,
    MaintenanceWindowFilterSet,
    RouteFilterSet,
    SilenceFilterSet,
)
from .models import Alert, AlertGroup, Integration, MaintenanceWindow, Route, Silence


def _slug_field(model, slug="slug", **kwargs):
    return serializers.SlugRelatedField(slug_field=slug, queryset=model.objects.all(), allow_null=True,
                                        required=False, **kwargs)


# --- alerts and groups ----------------------------------------------------------------------------------------

class AlertSerializer(serializers.ModelSerializer):
    integration = serializers.SlugRelatedField(slug_field="name", read_only=True)
    incident = serializers.SerializerMethodField()
    ci = serializers.SlugRelatedField(slug_field="number", read_only=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = Alert
        fields = ["id", "url", "integration", "fingerprint", "status", "summary", "severity", "source", "labels",
                  "annotations", "generator_url", "starts_at", "ends_at", "first_seen_at", "last_seen_at",
                  "repeat_count", "flapping", "suppressed", "silence", "maintenance", "ci", "group", "incident"]
        read_only_fields = fields

    def get_url(self, alert) -> str:
        return alert.get_absolute_url()

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_incident(self, alert):
        group = alert.group if alert.group_id else None
        return group.incident.number if group is not None and group.incident_id else None


class RawPayloadSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    received_at = serializers.DateTimeField()
    content_type = serializers.CharField()
    size = serializers.IntegerField()
    body = serializers.CharField()
    kept_until = serializers.DateTimeField()


class AlertDetailSerializer(AlertSerializer):
    raw_payload = serializers.SerializerMethodField()
    state_changes = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta(AlertSerializer.Meta):
        fields = [*AlertSerializer.Meta.fields, "state_changes", "raw_payload"]
        read_only_fields = fields

    @extend_schema_field(RawPayloadSerializer(allow_null=True))
    def get_raw_payload(self, alert):
        """The last payload that carried the alert, while the integration's retention keeps it."""
        payload = alert.last_payload
        if payload is None:
            return None
        kept_until = payload.received_at + datetime.timedelta(days=alert.integration.payload_retention_days)
        return {"id": payload.pk, "received_at": payload.received_at, "content_type": payload.content_type,
                "size": payload.size, "body": payload.body, "kept_until": kept_until}


class AlertViewSet(viewsets.ReadOnlyModelViewSet):
    """Alerts as processing recorded them. Filters: status, severity, integration, suppressed (none,
    silence, maintenance, any), flapping, label (name=value), group, incident, ci, service, silence,
    maintenance, fingerprint, seen_after; `?q=` searches summary, source and fingerprint."""

    queryset = Alert.objects.select_related("integration", "group__incident", "ci").defer(
        "state_changes", "integration__description", "integration__imap_password", "integration__hmac_secret",
        "group__group_key", "group__incident__description")
    serializer_class = AlertSerializer
    filterset_class = AlertFilterSet
    search_fields = ["summary", "source", "fingerprint"]
    ordering_fields = ["id", "last_seen_at", "first_seen_at", "repeat_count", "severity", "status"]
    ordering = ["-last_seen_at", "-id"]

    def get_queryset(self):
        if self.action == "retrieve":
            return Alert.objects.select_related("integration", "group__incident", "ci", "last_payload")
        return super().get_queryset()

    def get_serializer_class(self):
        return AlertDetailSerializer if self.action == "retrieve" else AlertSerializer


class AlertGroupSerializer(serializers.ModelSerializer):
    integration = serializers.SlugRelatedField(slug_field="name", read_only=True)
    incident = serializers.SlugRelatedField(slug_field="number", read_only=True)
    route = serializers.SlugRelatedField(slug_field="name", read_only=True)

    class Meta:
        model = AlertGroup
        fields = ["id", "integration", "group_key", "is_open", "status", "title", "severity", "route", "incident",
                  "suppressed", "alert_count", "firing_count", "first_alert_at", "last_alert_at", "resolved_at"]
        read_only_fields = fields


class AlertGroupViewSet(viewsets.ReadOnlyModelViewSet):
    """Alert groups (one group, one incident). Filters: open, status, severity, integration, suppressed,
    incident."""

    queryset = AlertGroup.objects.select_related("integration", "incident", "route").defer(
        "integration__description", "integration__imap_password", "integration__hmac_secret",
        "incident__description")
    serializer_class = AlertGroupSerializer
    filterset_class = AlertGroupFilterSet
    search_fields = ["title"]
    ordering_fields = ["id", "last_alert_at", "first_alert_at", "alert_count"]
    ordering = ["-last_alert_at", "-id"]


# --- integrations ---------------------------------------------------------------------------------------------

class IntegrationSerializer(serializers.ModelSerializer):
    team = _slug_field(Team)
    service = _slug_field(Service)
    hmac_secret = serializers.CharField(write_only=True, required=False, allow_blank=True, max_length=200,
                                        help_text=_("Write only; \"\" removes it."))
    imap_password = serializers.CharField(write_only=True, required=False, allow_blank=True, max_length=200,
                                          help_text=_("Write only."))
    bearer_token = serializers.CharField(write_only=True, required=False, allow_blank=True, max_length=200,
                                         help_text=_("Write only: requests must then carry Authorization: Bearer "
                                                     "<token>; \"\" removes it."))
    hmac_enabled = serializers.SerializerMethodField()
    bearer_enabled = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    ingest_url = serializers.SerializerMethodField()

    class Meta:
        model = Integration
        fields = ["id", "url", "name", "kind", "description", "enabled", "key_prefix", "ingest_url", "hmac_secret",
                  "hmac_enabled", "bearer_token", "bearer_enabled", "grouping_template", "team", "service",
                  "severity_map", "ci_labels", "auto_resolve", "reopen_window_minutes", "flapping_changes",
                  "flapping_window_minutes", "payload_retention_days", "heartbeat_interval_minutes",
                  "last_heartbeat_at", "heartbeat_due_at", "imap_host", "imap_port", "imap_ssl", "imap_username",
                  "imap_password", "imap_folder", "last_alert_at", "created_at", "updated_at"]
        read_only_fields = ["key_prefix", "last_heartbeat_at", "heartbeat_due_at", "last_alert_at", "created_at",
                            "updated_at"]
        # The service checks names and every rule (one place for the UI, API and config files).
        validators = []
        extra_kwargs = {"name": {"validators": []}}

    def get_url(self, integration) -> str:
        return integration.get_absolute_url()

    def get_hmac_enabled(self, integration) -> bool:
        return bool(integration.hmac_secret)

    def get_bearer_enabled(self, integration) -> bool:
        return bool(integration.bearer_token_hash)

    def get_ingest_url(self, integration) -> str:
        """With the key's first characters only: the full URL is in the answer to create and rotate-key."""
        return integrations.ingest_url(integration, "KEY").replace("/KEY/", f"/{integration.key_prefix}…/")

    def validate_grouping_template(self, text):
        try:
            return matching.validate_template(text)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None

    def validate_kind(self, kind):
        if self.instance is not None and kind != self.instance.kind:
            raise serializers.ValidationError(_("The kind cannot change; create another integration."))
        return kind


class IntegrationCreatedSerializer(IntegrationSerializer):
    key = serializers.CharField(read_only=True, help_text=_("Shown only in this answer."))
    full_ingest_url = serializers.CharField(read_only=True)

    class Meta(IntegrationSerializer.Meta):
        fields = [*IntegrationSerializer.Meta.fields, "key", "full_ingest_url"]


KEY_RESPONSE = inline_serializer("IntegrationKey", {
    "id": serializers.IntegerField(), "key": serializers.CharField(), "key_prefix": serializers.CharField(),
    "ingest_url": serializers.CharField(), "heartbeat_url": serializers.CharField()})


def _key_answer(integration, key) -> dict:
    return {"id": integration.pk, "key": key, "key_prefix": integration.key_prefix,
            "ingest_url": integrations.ingest_url(integration, key),
            "heartbeat_url": integrations.ingest_url(integration, key, "heartbeat")}


class IntegrationViewSet(RecordViewSet):
    """Integrations (managers write). The key is answered once, by create and rotate-key; `hmac_secret`,
    `bearer_token` and `imap_password` are write-only."""

    queryset = Integration.objects.select_related("team", "service")
    serializer_class = IntegrationSerializer
    filterset_class = IntegrationFilterSet
    search_fields = ["name", "description", "key_prefix"]
    ordering_fields = ["id", "name", "last_alert_at"]
    ordering = ["name", "id"]
    action_roles = {"rotate_key": "manager", "send_test": "manager"}

    @staticmethod
    def _split(data: dict) -> tuple[dict, str | None]:
        bearer = data.pop("bearer_token", None)
        return data, bearer

    @extend_schema(responses={201: KEY_RESPONSE})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data, bearer = self._split(dict(serializer.validated_data))
        actor = Actor.from_request(request)
        with transaction.atomic():
            integration, key = integrations.create_integration(actor=actor, data=data)
            if bearer:
                integration = integrations.set_bearer_token(integration, actor=actor, token=bearer)
        body = {**IntegrationSerializer(integration, context=self.get_serializer_context()).data,
                **_key_answer(integration, key)}
        return Response(body, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer):
        data, bearer = self._split(dict(serializer.validated_data))
        actor = Actor.from_request(self.request)
        with transaction.atomic():
            locked = Integration.objects.select_for_update().get(pk=serializer.instance.pk)
            self.check_etag(locked)
            integration = integrations.update_integration(locked, actor=actor, data=data)
            if bearer is not None:
                integration = integrations.set_bearer_token(integration, actor=actor, token=bearer)
        serializer.instance = integration

    @extend_schema(summary="Replace the key (the old URL stops working)", request=None, responses=KEY_RESPONSE)
    @action(detail=True, methods=["post"], url_path="rotate-key")
    def rotate_key(self, request, pk=None):
        integration = self.get_object()
        key = integrations.rotate_key(integration, actor=Actor.from_request(request))
        integration.refresh_from_db()
        return Response(_key_answer(integration, key))

    @extend_schema(summary="Send a test alert through the integration", request=None, responses={
        202: inline_serializer("IntegrationTestAlert", {"status": serializers.CharField(),
                                                        "payload": serializers.IntegerField()})})
    @action(detail=True, methods=["post"], url_path="test", url_name="test")
    def send_test(self, request, pk=None):
        integration = self.get_object()
        payload = integrations.send_test_alert(integration, actor=Actor.from_request(request))
        return Response({"status": "accepted", "payload": payload.pk}, status=status.HTTP_202_ACCEPTED)


# --- routes ---------------------------------------------------------------------------------------------------

class RouteSerializer(serializers.ModelSerializer):
    integration = serializers.SlugRelatedField(slug_field="name", queryset=Integration.objects.all(), allow_null=True,
                                               required=False)
    service = _slug_field(Service)
    team = _slug_field(Team)
    escalation_policy = _slug_field(EscalationPolicy)
    matchers = serializers.JSONField(required=False)
    severities = serializers.JSONField(required=False)

    class Meta:
        model = Route
        fields = ["id", "name", "order", "enabled", "integration", "matchers", "severities", "source_pattern",
                  "service", "team", "escalation_policy", "priority", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]
        validators = []
        extra_kwargs = {"name": {"validators": []}, "priority": {"allow_blank": True}}


class RouteViewSet(RecordViewSet):
    """Routing rules, first match by `order` wins. Managers write; DELETE removes a route."""

    http_method_names = ["get", "post", "patch", "put", "delete", "head", "options"]
    queryset = Route.objects.select_related("integration", "service", "team", "escalation_policy")
    serializer_class = RouteSerializer
    filterset_class = RouteFilterSet
    search_fields = ["name"]
    ordering_fields = ["id", "order", "name"]
    ordering = ["order", "name", "id"]
    action_roles = {"destroy": "manager"}
    create_service = staticmethod(services.create_route)
    update_service = staticmethod(services.update_route)

    def perform_destroy(self, instance):
        services.delete_route(instance, actor=Actor.from_request(self.request))


# --- silences -------------------------------------------------------------------------------------------------

class SilenceSerializer(serializers.ModelSerializer):
    integration = serializers.SlugRelatedField(slug_field="name", queryset=Integration.objects.all(), allow_null=True,
                                               required=False)
    matchers = serializers.JSONField()
    state = serializers.SerializerMethodField()
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    starts_at = serializers.DateTimeField(required=False)

    class Meta:
        model = Silence
        fields = ["id", "state", "matchers", "starts_at", "ends_at", "comment", "integration", "expired_early_at",
                  "created_by", "created_at", "updated_at"]
        read_only_fields = ["expired_early_at", "created_at", "updated_at"]

    @extend_schema_field(serializers.ChoiceField(choices=["active", "pending", "expired"]))
    def get_state(self, silence) -> str:
        return services.silence_state(silence)


class SilenceViewSet(RecordViewSet):
    """Silences: responders create, edit and expire them. Filters: state (active, pending, expired),
    integration."""

    queryset = Silence.objects.select_related("integration", "created_by")
    serializer_class = SilenceSerializer
    filterset_class = SilenceFilterSet
    search_fields = ["comment"]
    ordering_fields = ["id", "starts_at", "ends_at"]
    ordering = ["-starts_at", "-id"]
    action_roles = {"create": "responder", "update": "responder", "partial_update": "responder",
                    "expire": "responder"}
    create_service = staticmethod(services.create_silence)
    update_service = staticmethod(services.update_silence)

    @extend_schema(summary="End the silence now", request=None, responses=SilenceSerializer)
    @action(detail=True, methods=["post"])
    def expire(self, request, pk=None):
        silence = services.expire_silence(self.get_object(), actor=Actor.from_request(request))
        return Response(self.get_serializer(silence).data)


# --- maintenance windows ------------------------------------------------------------------------------------------

class MaintenanceWindowSerializer(serializers.ModelSerializer):
    services = serializers.SlugRelatedField(slug_field="slug", many=True, required=False,
                                            queryset=Service.objects.all())
    cis = serializers.SlugRelatedField(slug_field="number", many=True, required=False,
                                       queryset=ConfigurationItem.objects.all())
    state = serializers.SerializerMethodField()

    class Meta:
        model = MaintenanceWindow
        fields = ["id", "state", "title", "description", "starts_at", "ends_at", "services", "cis", "cancelled_at",
                  "created_at", "updated_at"]
        read_only_fields = ["cancelled_at", "created_at", "updated_at"]

    @extend_schema_field(serializers.ChoiceField(choices=["now", "upcoming", "past", "cancelled"]))
    def get_state(self, window) -> str:
        return services.window_state(window)


class MaintenanceWindowViewSet(RecordViewSet):
    """Maintenance windows of services and CIs: responders plan, edit and cancel them. Filters: state
    (now, upcoming, past, cancelled), service, ci."""

    queryset = MaintenanceWindow.objects.prefetch_related(
        Prefetch("services", queryset=Service.objects.only("id", "slug")),
        Prefetch("cis", queryset=ConfigurationItem.objects.only("id", "number")))
    serializer_class = MaintenanceWindowSerializer
    filterset_class = MaintenanceWindowFilterSet
    search_fields = ["title", "description"]
    ordering_fields = ["id", "starts_at", "ends_at"]
    ordering = ["-starts_at", "-id"]
    action_roles = {"create": "responder", "update": "responder", "partial_update": "responder",
                    "cancel": "responder"}
    create_service = staticmethod(services.create_maintenance_window)
    update_service = staticmethod(services.update_maintenance_window)

    @extend_schema(summary="Cancel the window (or end a running one now)", request=None,
                   responses=MaintenanceWindowSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        window = services.cancel_maintenance_window(self.get_object(), actor=Actor.from_request(request))
        return Response(self.get_serializer(window).data)
