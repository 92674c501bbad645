"""The SLA API, under /api/v1/sla/: calendars and policies (admins write, everyone reads), the
due-date calculator and the timers of any record (read-only: they change through the record's own
transitions)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from opsdesk.core import weekly_hours
from opsdesk.core.actors import Actor
from opsdesk.core.api import RecordViewSet

from . import rules, services, specs
from .business_time import add_business_seconds
from .filters import CalendarFilterSet, PolicyFilterSet, TimerFilterSet
from .models import BusinessCalendar, SLAPolicy, SLATimer

ADMIN_WRITES = {"create": "admin", "update": "admin", "partial_update": "admin", "destroy": "admin"}


class WeeklyHoursField(serializers.JSONField):
    """Working hours as {"mon": [["09:00", "17:00"]], ...} or as text: "mon-fri 09:00-17:00", "24x7"."""

    def to_internal_value(self, data):
        try:
            if isinstance(data, str):
                return weekly_hours.parse(data)
            weekly_hours.validate(data)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None
        return data


class CalendarSerializer(serializers.ModelSerializer):
    hours = WeeklyHoursField(help_text=gettext_lazy('{"mon": [["09:00", "17:00"]], ...} or "mon-fri 09:00-17:00"'))
    hours_text = serializers.CharField(read_only=True)
    custom_holidays = serializers.JSONField(required=False, help_text=gettext_lazy(
        '[{"date": "2026-12-24", "name": "Christmas Eve"}]'))
    extra_days = serializers.JSONField(required=False, help_text=gettext_lazy(
        '[{"date": "2026-12-19", "hours": "09:00-13:00", "name": "Year-end release"}]'))
    url = serializers.SerializerMethodField()

    class Meta:
        model = BusinessCalendar
        fields = ["id", "url", "name", "slug", "description", "time_zone", "hours", "hours_text", "holiday_country",
                  "holiday_subdivision", "custom_holidays", "extra_days", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]

    def get_url(self, calendar) -> str:
        return calendar.get_absolute_url()


class DueRequestSerializer(serializers.Serializer):
    start = serializers.DateTimeField(help_text=gettext_lazy("ISO 8601 with an offset, e.g. 2026-03-06T15:00:00+01:00"))
    minutes = serializers.IntegerField(min_value=1, max_value=525600 * 5,
                                       help_text=gettext_lazy("The goal in business minutes"))


class CalendarViewSet(RecordViewSet):
    """Business calendars: weekly hours in a time zone, public holidays, custom holidays, extra days."""

    http_method_names = ["get", "post", "patch", "put", "delete", "head", "options"]
    queryset = BusinessCalendar.objects.all()
    serializer_class = CalendarSerializer
    filterset_class = CalendarFilterSet
    search_fields = ["name", "slug", "description"]
    ordering_fields = ["id", "name", "slug", "created_at", "updated_at"]
    ordering = ["name"]
    action_roles = {**ADMIN_WRITES, "due": "viewer"}
    create_service = staticmethod(rules.create_calendar)
    update_service = staticmethod(rules.update_calendar)

    def perform_destroy(self, instance):
        rules.delete_calendar(instance, actor=Actor.from_request(self.request))

    @extend_schema(summary="When a goal is used up on this calendar", request=DueRequestSerializer,
                   responses=inline_serializer(name="DueResponse", fields={"due_at": serializers.DateTimeField()}))
    @action(detail=True, methods=["post"])
    def due(self, request, pk=None):
        calendar = self.get_object()
        serializer = DueRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            due_at = add_business_seconds(specs.for_calendar(calendar), serializer.validated_data["start"],
                                          serializer.validated_data["minutes"] * 60)
        except ValueError as exc:
            raise serializers.ValidationError({"non_field_errors": [str(exc)]}) from None
        return Response({"due_at": due_at})


class TargetSerializer(serializers.Serializer):
    metric = serializers.SlugField(max_length=32)
    goal_minutes = serializers.IntegerField(min_value=1, max_value=525600)
    business_time = serializers.BooleanField(default=True)


class PolicySerializer(serializers.ModelSerializer):
    calendar = serializers.SlugRelatedField(slug_field="slug", queryset=BusinessCalendar.objects.all())
    conditions = serializers.JSONField(required=False, help_text=gettext_lazy(
        '{"priority": ["P1"], "service_tier": [1], "category": ["network"], "ci_class": ["server"]}'))
    pause_states = serializers.ListField(child=serializers.CharField(max_length=32), required=False)
    warn_percentages = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=99),
                                             required=False)
    targets = TargetSerializer(many=True, required=False)
    url = serializers.SerializerMethodField()

    class Meta:
        model = SLAPolicy
        fields = ["id", "url", "name", "slug", "description", "record_type", "order", "active", "conditions",
                  "calendar", "pause_states", "warn_percentages", "targets", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]

    def get_url(self, policy) -> str:
        return policy.get_absolute_url()

    def to_representation(self, policy):
        data = super().to_representation(policy)
        data["targets"] = rules.target_items(policy)
        return data

    def validate(self, attrs):
        if self.instance is None and not attrs.get("targets"):
            raise serializers.ValidationError({"targets": _("Give at least one target.")})
        if "targets" in attrs:
            attrs["targets"] = [dict(t) for t in attrs["targets"]]
        return attrs


class PolicyViewSet(RecordViewSet):
    """SLA policies: conditions on the record (first match by order wins) and a goal per metric."""

    http_method_names = ["get", "post", "patch", "put", "delete", "head", "options"]
    queryset = SLAPolicy.objects.select_related("calendar").prefetch_related("targets")
    serializer_class = PolicySerializer
    filterset_class = PolicyFilterSet
    search_fields = ["name", "slug", "description"]
    ordering_fields = ["id", "name", "order", "record_type", "created_at", "updated_at"]
    ordering = ["record_type", "order", "name"]
    action_roles = ADMIN_WRITES
    create_service = staticmethod(rules.create_policy)
    update_service = staticmethod(rules.update_policy)

    def perform_destroy(self, instance):
        rules.delete_policy(instance, actor=Actor.from_request(self.request))


class TimerSerializer(serializers.ModelSerializer):
    record_type = serializers.CharField(source="content_type.model", read_only=True)
    policy = serializers.CharField(source="policy.slug", read_only=True)
    calendar = serializers.SerializerMethodField()

    class Meta:
        model = SLATimer
        fields = ["id", "record_type", "object_id", "metric", "policy", "calendar", "state", "goal_seconds",
                  "business_time", "started_at", "resumed_at", "paused_at", "stopped_at", "due_at", "breached_at",
                  "pause_count", "recalculated_at"]

    def get_calendar(self, timer) -> str | None:
        return timer.calendar.slug if timer.calendar_id else None

    def to_representation(self, timer):
        data = super().to_representation(timer)
        state = services.timer_state(timer)
        for key in ("elapsed_seconds", "remaining_seconds", "percent", "breached", "colour", "label"):
            data[key] = state[key]
        return data


class TimerViewSet(viewsets.ReadOnlyModelViewSet):
    """SLA clocks: filter by `record_type` and `object_id` for one record's, by `breached`, `metric`, `state`."""

    queryset = SLATimer.objects.select_related("calendar", "policy", "content_type")
    serializer_class = TimerSerializer
    filterset_class = TimerFilterSet
    ordering_fields = ["id", "due_at", "breached_at", "started_at"]
    ordering = ["-id"]

