from django.db.models import Prefetch
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from opsdesk.accounts.models import Team
from opsdesk.core import weekly_hours
from opsdesk.core.api import RecordViewSet, TagListField

from . import services
from .filters import ServiceFilterSet
from .models import Service
from .workflows import SERVICE_WORKFLOW


class ServiceSerializer(serializers.ModelSerializer):
    owner_team = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all())
    depends_on = serializers.SlugRelatedField(slug_field="slug", many=True, required=False,
                                              queryset=Service.objects.all())
    tags = TagListField(required=False)
    status = serializers.CharField(read_only=True)
    support_hours = serializers.JSONField(required=False, help_text=_('{"mon": [["09:00", "17:00"]], ...}'))
    url = serializers.SerializerMethodField()

    class Meta:
        model = Service
        fields = ["id", "number", "url", "name", "slug", "kind", "description", "owner_team", "tier",
                  "criticality", "status", "status_reason", "support_hours", "support_time_zone", "depends_on",
                  "runbook_url", "dashboard_url", "repository_url", "tags", "retired_at", "created_at",
                  "updated_at"]
        read_only_fields = ["number", "status", "status_reason", "retired_at", "created_at", "updated_at"]

    def get_url(self, service) -> str:
        return service.get_absolute_url()

    def validate_support_hours(self, value):
        from django.core.exceptions import ValidationError

        try:
            weekly_hours.validate(value or {})
        except ValidationError as exc:
            raise serializers.ValidationError(exc.messages)
        return value


class ServiceViewSet(RecordViewSet):
    """Business and technical services. Transitions: activate, retire (reason), reinstate (reason)."""

    queryset = Service.objects.with_ranks().select_related("owner_team").prefetch_related(
        Prefetch("depends_on", queryset=Service.objects.only("id", "slug")), "tags")
    serializer_class = ServiceSerializer
    filterset_class = ServiceFilterSet
    search_fields = ["number", "name", "slug", "description"]
    # id: the order of the numbers; criticality_rank: critical first (criticality alone sorts by name)
    ordering_fields = ["id", "name", "tier", "criticality", "criticality_rank", "status", "created_at", "updated_at"]
    ordering_aliases = {"criticality": "criticality_rank"}
    ordering = ["name"]
    workflow = SERVICE_WORKFLOW
    create_service = staticmethod(services.create_service)
    update_service = staticmethod(services.update_service)
    transition_service = staticmethod(services.transition_service)
