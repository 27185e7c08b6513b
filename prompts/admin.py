"""Django admin for prompt collections and prompts (staff with the prompts permissions)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils import timezone

from prompts.forms import PromptAdminForm, PromptMessageFormSet, PromptMessageInlineForm
from prompts.models import ApiToken, Prompt, PromptCollection, PromptMessage
from prompts.rendering import PlaceholderSyntaxError, render, sample_values, variables


@admin.register(PromptCollection)
class PromptCollectionAdmin(admin.ModelAdmin):
    list_display = ["name", "prompt_count", "created_at"]
    search_fields = ["name", "description"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[PromptCollection]:
        collections: QuerySet[PromptCollection] = super().get_queryset(request)
        return collections.annotate(prompt_total=Count("prompts"))

    @admin.display(description="Prompts", ordering="prompt_total")
    def prompt_count(self, obj: PromptCollection) -> int:
        total: int = obj.prompt_total  # type: ignore[attr-defined]  # annotated by get_queryset
        return total


class PromptMessageInline(admin.TabularInline):
    model = PromptMessage
    form = PromptMessageInlineForm
    formset = PromptMessageFormSet
    extra = 1
    verbose_name = "message"
    verbose_name_plural = "Messages (sent in this order after the system prompt)"


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    form = PromptAdminForm
    inlines = [PromptMessageInline]
    list_display = ["name", "collection", "status", "variable_names", "updated_at", "updated_by"]
    list_filter = ["collection", "status"]
    list_select_related = ["collection", "updated_by"]
    search_fields = ["name", "description", "system_prompt", "messages__text"]
    readonly_fields = ["preview", "created_by", "created_at", "updated_by", "updated_at"]
    fieldsets = [
        (None, {"fields": ["collection", "name", "status", "description", "system_prompt"]}),
        ("Preview", {"fields": ["preview"]}),
        ("History", {"fields": ["created_by", "created_at", "updated_by", "updated_at"]}),
    ]

    class Media:
        css = {"all": ["prompts/css/prompts-admin.css"]}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Prompt]:
        prompts: QuerySet[Prompt] = super().get_queryset(request)
        return prompts.prefetch_related("messages")

    @admin.display(description="Variables")
    def variable_names(self, obj: Prompt) -> str:
        try:
            return ", ".join(v.name for v in variables(obj)) or "—"
        except PlaceholderSyntaxError:
            return "(invalid placeholder)"

    @admin.display(description="Preview with sample values")
    def preview(self, obj: Prompt) -> str:
        context: dict[str, object] = {"saved": obj.pk is not None}
        if obj.pk is not None:
            try:
                context["variables"] = variables(obj)
                context["rendered"] = render(obj, sample_values(obj))
            except PlaceholderSyntaxError as error:
                context["error"] = str(error)
        return render_to_string("admin/prompts/prompt/preview.html", context)

    def save_model(self, request: HttpRequest, obj: Prompt, form: ModelForm, change: bool) -> None:
        user = request.user
        assert user.is_authenticated  # the admin lets only signed-in staff this far
        if not change:
            obj.created_by = user
        obj.updated_by = user
        super().save_model(request, obj, form, change)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Read-only, to find and revoke a leaked token; users create their own on API tokens."""

    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["user"]
    search_fields = ["name", "prefix", "user__username"]
    fields = readonly_fields = (
        "name",
        "user",
        "prefix",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {count} token(s).", messages.SUCCESS)
