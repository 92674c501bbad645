from django.contrib import admin

from opsdesk.accounts.admin import ReadOnlyAdmin

from .models import BusinessCalendar, SLAPolicy, SLATimer


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(ReadOnlyAdmin):
    """Read-only: writes go through the service layer so that they are logged."""

    list_display = ["name", "slug", "time_zone", "holiday_country", "holiday_subdivision"]
    search_fields = ["name", "slug"]


@admin.register(SLAPolicy)
class SLAPolicyAdmin(ReadOnlyAdmin):
    list_display = ["name", "slug", "record_type", "order", "active", "calendar"]
    list_filter = ["record_type", "active"]
    search_fields = ["name", "slug"]


@admin.register(SLATimer)
class SLATimerAdmin(ReadOnlyAdmin):
    list_display = ["id", "content_type", "object_id", "metric", "state", "due_at", "breached_at"]
    list_filter = ["state", "metric"]
    list_select_related = ["content_type"]
