"""Conversations in Django admin, read-only and for superusers only: a conversation is
private to its owner, staff included; superusers may look (support, audits)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from assistant.models import Conversation, Message, ToolCall


class SuperuserReadOnly:
    """Visible to superusers only, and never editable here."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_superuser


class MessageInline(SuperuserReadOnly, admin.StackedInline):
    model = Message
    extra = 0
    fields = (
        "role", "status", "content", "reasoning", "provider", "model", "input_tokens",
        "output_tokens", "reasoning_tokens", "time_to_first_token_ms", "total_time_ms",
        "finish_reason", "error_kind", "error_message", "history_trimmed", "page_context",
        "created_at",
    )  # fmt: skip
    readonly_fields = fields
    show_change_link = True


@admin.register(Conversation)
class ConversationAdmin(SuperuserReadOnly, admin.ModelAdmin):
    list_display = ("__str__", "user", "model_key", "created_at", "updated_at")
    list_filter = ("created_at",)
    search_fields = ("title", "user__username")
    readonly_fields = ("user", "title", "model_key", "created_at", "updated_at")
    inlines = [MessageInline]


class ToolCallInline(SuperuserReadOnly, admin.TabularInline):
    model = ToolCall
    extra = 0
    fields = ("name", "status", "arguments", "result", "is_error", "decided_by", "created_at")
    readonly_fields = fields


@admin.register(Message)
class MessageAdmin(SuperuserReadOnly, admin.ModelAdmin):
    list_display = ("__str__", "conversation", "role", "status", "model", "created_at")
    list_filter = ("role", "status")
    readonly_fields = (*MessageInline.fields, "conversation")
    inlines = [ToolCallInline]
