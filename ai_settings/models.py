"""AI settings: one settings row, OpenAI-compatible providers with their models, the audit
log of settings changes, and per-group usage policies."""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.validators import MinValueValidator
from django.db import models

from ai_settings import catalog
from ai_settings.fields import UNDECRYPTABLE, SecretField

# The columns of each built-in provider, by kind: the one place that names them.
API_KEY_FIELDS = {
    catalog.OPENAI: "openai_api_key",
    catalog.ANTHROPIC: "anthropic_api_key",
    catalog.GOOGLE: "google_api_key",
}
ALLOWED_MODELS_FIELDS = {
    catalog.OPENAI: "openai_allowed_models",
    catalog.ANTHROPIC: "anthropic_allowed_models",
    catalog.GOOGLE: "google_allowed_models",
}


class AISettings(models.Model):
    """The singleton (pk=1) edited on Settings → AI. `version` grows with every save: it
    detects stale forms and keys the provider-client cache."""

    openai_api_key = SecretField("OpenAI API Key", blank=True, default="")
    anthropic_api_key = SecretField("Anthropic API Key", blank=True, default="")
    google_api_key = SecretField("Google API Key", blank=True, default="")
    openai_allowed_models = models.JSONField(default=catalog.default_allowed_openai, blank=True)
    anthropic_allowed_models = models.JSONField(
        default=catalog.default_allowed_anthropic, blank=True
    )
    google_allowed_models = models.JSONField(default=catalog.default_allowed_google, blank=True)

    custom_system_prompt = models.TextField("Custom System Prompt", blank=True, default="")

    mcp_enabled = models.BooleanField("Enable MCP server", default=False)
    mcp_allow_deletes = models.BooleanField("Allow deletes via MCP", default=False)
    prompts_collection = models.ForeignKey(
        "prompts.PromptCollection",
        verbose_name="AI Prompts Collection",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    mcp_system_prompt_enabled = models.BooleanField("MCP system prompt", default=True)
    mcp_system_prompt = models.TextField("MCP system prompt override", blank=True, default="")

    rate_limit_per_minute = models.PositiveIntegerField(
        "Messages per minute per user", default=20, validators=[MinValueValidator(1)]
    )
    daily_token_budget = models.PositiveIntegerField(
        "Daily token budget per user",
        null=True,
        blank=True,
        help_text="Blank means no budget. Groups can override it.",
    )

    version = models.PositiveIntegerField(default=1, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "AI settings"
        verbose_name_plural = "AI settings"
        permissions = [("manage_ai_settings", "Can manage AI settings")]

    def __str__(self) -> str:
        return "AI settings"

    @classmethod
    def load(cls) -> AISettings:
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj

    def api_key_for(self, kind: str) -> str:
        """A built-in provider's stored key (UNDECRYPTABLE when no key decrypts it)."""
        key: str = getattr(self, API_KEY_FIELDS[kind])
        return key

    def allowed_models_for(self, kind: str) -> list[str]:
        return list(getattr(self, ALLOWED_MODELS_FIELDS[kind]) or [])


class CompatibleProvider(models.Model):
    """An OpenAI-compatible endpoint (Ollama, LM Studio, Azure OpenAI, Mistral…)."""

    name = models.CharField("Provider Name", max_length=100, unique=True)
    base_url = models.URLField("Base URL", max_length=500)
    api_key = SecretField("API Key", blank=True, default="")
    # JSON object {header name: value}, encrypted as a whole: values are often credentials.
    custom_headers = SecretField("Custom Headers", blank=True, default="")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        verbose_name = "OpenAI-compatible provider"

    def __str__(self) -> str:
        return self.name

    def header_values(self) -> dict[str, str] | None:
        """The custom headers as {name: value}; None when they cannot be decrypted."""
        blob = self.custom_headers
        if blob is UNDECRYPTABLE:
            return None
        return json.loads(blob) if blob else {}


class CompatibleModel(models.Model):
    provider = models.ForeignKey(
        CompatibleProvider, on_delete=models.CASCADE, related_name="models"
    )
    model_id = models.CharField("Model ID", max_length=200)
    display_name = models.CharField("Display Name", max_length=200, blank=True, default="")
    context_window = models.PositiveIntegerField(
        "Context Window", default=catalog.CUSTOM_CONTEXT_WINDOW, validators=[MinValueValidator(1)]
    )
    max_output = models.PositiveIntegerField(
        "Max Output", default=catalog.CUSTOM_MAX_OUTPUT, validators=[MinValueValidator(1)]
    )
    supports_attachments = models.BooleanField("Supports Attachments", default=False)
    supports_reasoning = models.BooleanField("Supports Reasoning", default=False)
    provider_options = models.JSONField("Provider Options", default=dict, blank=True)
    input_price = models.DecimalField(
        "Input price per 1M tokens", max_digits=12, decimal_places=4, null=True, blank=True
    )
    output_price = models.DecimalField(
        "Output price per 1M tokens", max_digits=12, decimal_places=4, null=True, blank=True
    )
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "model_id"], name="unique_model_per_provider"
            )
        ]

    def __str__(self) -> str:
        return self.display_name or self.model_id


class SettingsAuditEntry(models.Model):
    """Who changed which settings and when. Secrets appear as "set"/"removed", never values."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # [{"field": "OpenAI API Key", "change": "set"},
    #  {"field": "Custom System Prompt", "change": "changed"}]
    changes = models.JSONField(default=list)

    class Meta:
        ordering = ["-changed_at", "-id"]
        verbose_name_plural = "settings audit entries"

    def __str__(self) -> str:
        return "; ".join(f"{c.get('field')}: {c.get('change')}" for c in self.changes)


class GroupAIPolicy(models.Model):
    """Per-group usage controls: a daily token budget override and an optional model subset."""

    group = models.OneToOneField(Group, on_delete=models.CASCADE, related_name="ai_policy")
    daily_token_budget = models.PositiveIntegerField(null=True, blank=True)
    # None: every allowed model. A list of model keys ("openai:gpt-5-mini"): only those.
    allowed_models = models.JSONField(null=True, blank=True)

    class Meta:
        verbose_name = "group AI policy"
        verbose_name_plural = "group AI policies"

    def __str__(self) -> str:
        return f"AI policy for {self.group}"
