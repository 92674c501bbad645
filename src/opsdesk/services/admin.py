from django.contrib import admin

from .models import Service


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    """Read-only: writes go through the service layer so that they are logged."""

    list_display = ["number", "name", "status", "tier", "owner_team"]
    list_filter = ["status", "tier"]
    search_fields = ["number", "name"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
