"""Django admin: the settings audit log (read-only) and per-group AI policies.

The settings themselves (and their secrets) are edited only on Settings → AI, which masks
keys; admin would render them in clear text, so AISettings and providers are not registered.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from ai_settings.models import GroupAIPolicy, SettingsAuditEntry


@admin.register(SettingsAuditEntry)
class SettingsAuditEntryAdmin(admin.ModelAdmin):
    list_display = ["changed_at", "user", "summary"]
    list_filter = ["changed_at"]
    list_select_related = ["user"]
    date_hierarchy = "changed_at"

    @admin.display(description="Changes")
    def summary(self, entry: SettingsAuditEntry) -> str:
        return str(entry)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: SettingsAuditEntry | None = None
    ) -> bool:
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: SettingsAuditEntry | None = None
    ) -> bool:
        return False


@admin.register(GroupAIPolicy)
class GroupAIPolicyAdmin(admin.ModelAdmin):
    list_display = ["group", "daily_token_budget", "allowed_models"]
    list_select_related = ["group"]
