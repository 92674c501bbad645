from django.contrib import admin

from opsdesk.accounts.admin import ReadOnlyAdmin

from .models import AuditRule, CIClass, ConfigurationItem, ImportRun, RelationshipType


@admin.register(ConfigurationItem)
class ConfigurationItemAdmin(ReadOnlyAdmin):
    list_display = ["number", "name", "ci_class", "status", "environment", "owner_team"]
    list_filter = ["status", "environment", "ci_class"]
    search_fields = ["number", "name", "serial_number"]


@admin.register(CIClass)
class CIClassAdmin(ReadOnlyAdmin):
    list_display = ["slug", "name", "is_asset", "builtin"]


@admin.register(RelationshipType)
class RelationshipTypeAdmin(ReadOnlyAdmin):
    list_display = ["slug", "name", "reverse_name", "impact"]


@admin.register(ImportRun)
class ImportRunAdmin(ReadOnlyAdmin):
    list_display = ["number", "kind", "status", "dry_run", "created_count", "updated_count", "error_count"]


@admin.register(AuditRule)
class AuditRuleAdmin(ReadOnlyAdmin):
    list_display = ["slug", "name", "kind", "enabled"]
