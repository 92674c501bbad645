from django.contrib import admin

from opsdesk.accounts.admin import ReadOnlyAdmin

from .models import AuditEntry, Delivery, JobRun, OutboxEvent, Timer


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ["id", "timestamp", "actor_label", "action", "object_repr"]
    list_filter = ["action", "actor_kind"]
    search_fields = ["object_repr", "actor_label", "request_id"]


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "event_type", "object_repr", "created_at", "dispatched_at"]


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ["id", "event", "destination", "status", "attempts", "next_attempt_at"]
    list_filter = ["status"]


@admin.register(Timer)
class TimerAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "due_at", "status", "attempts"]


@admin.register(JobRun)
class JobRunAdmin(ReadOnlyAdmin):
    list_display = ["task_name", "status", "started_at", "duration_ms"]
    list_filter = ["status", "task_name"]
