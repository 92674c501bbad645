from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from opsdesk.core import audit
from opsdesk.core.actors import Actor

from .models import ApiToken, LoginAttempt, Membership, Team, User

AUDITED = ["username", "email", "first_name", "last_name", "role", "is_active", "is_superuser", "is_staff"]


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """User administration. Every save is written to the change log like any other write."""

    fieldsets = (*DjangoUserAdmin.fieldsets, ("Opsdesk", {"fields": ("role", "phone", "time_zone")}))
    add_fieldsets = (*DjangoUserAdmin.add_fieldsets, ("Opsdesk", {"fields": ("role", "email")}))
    list_display = ["username", "email", "first_name", "last_name", "role", "is_active"]
    list_filter = ["role", "is_active", "is_superuser"]

    def save_model(self, request, obj, form, change):
        before = audit.snapshot(User.objects.get(pk=obj.pk), AUDITED) if change else {}
        super().save_model(request, obj, form, change)
        changes = audit.diff(before, audit.snapshot(obj, AUDITED))
        if "password" in form.changed_data:
            changes["password"] = ["***", "***"]
        if changes or not change:
            audit.record(obj, actor=Actor.for_user(request.user), action="update" if change else "create",
                         changes=changes)

    def has_delete_permission(self, request, obj=None):
        return False  # users are deactivated, never deleted: the change log points at them


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Team)
class TeamAdmin(ReadOnlyAdmin):
    list_display = ["name", "slug", "lead"]


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdmin):
    list_display = ["team", "user", "role"]


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    list_display = ["name", "user", "key_id", "scope", "expires_at", "revoked_at", "last_used_at"]
    exclude = ["secret_hash"]


@admin.register(LoginAttempt)
class LoginAttemptAdmin(ReadOnlyAdmin):
    list_display = ["username", "ip", "success", "at"]
