"""The Django admin of the alerts app: read-only views for support (writes go through the services and
the pages, so the change log stays complete; secrets are not shown)."""

from django.contrib import admin

from .models import Alert, AlertGroup, Integration, MaintenanceWindow, RawPayload, Route, Silence


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Integration)
class IntegrationAdmin(ReadOnlyAdmin):
    list_display = ["name", "kind", "enabled", "key_prefix", "last_alert_at", "heartbeat_interval_minutes"]
    list_filter = ["kind", "enabled"]
    search_fields = ["name", "key_prefix"]
    exclude = ["hmac_secret", "imap_password", "key_hash", "bearer_token_hash"]


@admin.register(RawPayload)
class RawPayloadAdmin(ReadOnlyAdmin):
    list_display = ["id", "integration", "received_at", "size", "event_count", "processed_at"]
    list_filter = ["integration"]
    list_select_related = ["integration"]
    date_hierarchy = "received_at"


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = ["id", "integration", "fingerprint", "status", "severity", "summary", "repeat_count", "last_seen_at"]
    list_filter = ["status", "severity", "integration", "flapping"]
    list_select_related = ["integration"]
    search_fields = ["fingerprint", "summary"]
    raw_id_fields = ["group", "last_payload", "ci", "silence", "maintenance"]


@admin.register(AlertGroup)
class AlertGroupAdmin(ReadOnlyAdmin):
    list_display = ["id", "integration", "title", "status", "is_open", "incident", "alert_count", "last_alert_at"]
    list_filter = ["status", "is_open", "integration"]
    list_select_related = ["integration", "incident"]
    raw_id_fields = ["incident", "route"]


@admin.register(Route)
class RouteAdmin(ReadOnlyAdmin):
    list_display = ["name", "order", "enabled", "integration", "service", "team", "priority"]


@admin.register(Silence)
class SilenceAdmin(ReadOnlyAdmin):
    list_display = ["id", "comment", "starts_at", "ends_at", "expired_early_at", "created_by"]


@admin.register(MaintenanceWindow)
class MaintenanceWindowAdmin(ReadOnlyAdmin):
    list_display = ["title", "starts_at", "ends_at", "cancelled_at"]
