from django.contrib import admin

from opsdesk.accounts.admin import ReadOnlyAdmin

from .models import Service


@admin.register(Service)
class ServiceAdmin(ReadOnlyAdmin):
    """Read-only: writes go through the service layer so that they are logged."""

    list_display = ["number", "name", "status", "tier", "owner_team"]
    list_filter = ["status", "tier"]
    search_fields = ["number", "name"]
