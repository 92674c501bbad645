"""API endpoints of the core: the change log, notifications and job runs."""

from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from .api import AuditEntrySerializer
from .models import AuditEntry, JobRun, Notification


class AuditEntryViewSet(viewsets.ReadOnlyModelViewSet):
    """The change log across all records (managers and admins)."""

    queryset = AuditEntry.objects.select_related("content_type")
    serializer_class = AuditEntrySerializer
    action_roles = {"list": "manager", "retrieve": "manager"}
    filterset_fields = ["action", "actor_kind", "object_id", "request_id"]
    search_fields = ["object_repr", "actor_label"]
    ordering_fields = ["id", "timestamp"]
    ordering = ["-id"]


class NotificationSerializer(serializers.ModelSerializer):
    event_type = serializers.CharField(source="event.event_type", read_only=True)

    class Meta:
        model = Notification
        fields = ["id", "event_type", "title", "url", "created_at", "read_at"]


class NotificationViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = NotificationSerializer
    action_roles = {"read_all": "viewer"}
    ordering = ["-id"]

    def get_queryset(self):
        return Notification.objects.filter(user=self.request.user).select_related("event")

    @action(detail=False, methods=["post"], url_path="read-all")
    def read_all(self, request):
        from .personal import mark_read

        return Response({"marked_read": mark_read(request.user)})


class JobRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = JobRun
        fields = ["id", "task_id", "task_name", "status", "started_at", "finished_at", "duration_ms", "error"]


class JobRunViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = JobRun.objects.all()
    serializer_class = JobRunSerializer
    action_roles = {"list": "manager", "retrieve": "manager"}
    filterset_fields = ["status", "task_name"]
    ordering = ["-started_at"]
