"""The settings in force, as one immutable snapshot shared by the chat, the tools and MCP,
and the one builder of a provider connection (`provider_connection`), from those settings or
from values typed on Settings → AI.

Reading it costs one small query (the settings version); the full snapshot, with decrypted
keys and the compatible providers' models, is rebuilt only when the version changes. The
version lives in the database, so every worker on every host sees a save at once.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from asgiref.sync import sync_to_async
from django.db.models import F
from django.utils import timezone

from ai_settings import catalog
from ai_settings.catalog import AvailableModel
from ai_settings.conf import app_settings
from ai_settings.fields import usable_secret
from ai_settings.models import AISettings, CompatibleProvider


@dataclass(frozen=True)
class ProviderConnection:
    """How to reach one provider: kind, endpoint, credentials. Never rendered, never logged."""

    key: str  # "openai", "anthropic", "google" or "compat-<pk>"
    kind: str
    label: str
    api_key: str = field(repr=False)
    base_url: str | None = None
    headers: dict[str, str] = field(default_factory=dict, repr=False, hash=False, compare=False)


@dataclass(frozen=True)
class CurrentSettings:
    version: int
    # With version, identifies one saved state (a restored database reuses versions).
    saved_at: object
    custom_system_prompt: str
    mcp_enabled: bool
    mcp_allow_deletes: bool
    prompts_collection_id: int | None
    mcp_system_prompt_enabled: bool
    mcp_system_prompt: str
    rate_limit_per_minute: int
    daily_token_budget: int | None
    connections: dict[str, ProviderConnection] = field(repr=False)
    models: tuple[AvailableModel, ...] = ()

    def model(self, key: str) -> AvailableModel | None:
        return next((m for m in self.models if m.key == key), None)


_lock = threading.Lock()
_memo: CurrentSettings | None = None


def _builtin_base_url(kind: str) -> str | None:
    """Where a built-in provider is reached: the gateway from settings, or None for the SDK's
    own address."""
    return {
        catalog.OPENAI: app_settings.OPENAI_BASE_URL,
        catalog.ANTHROPIC: app_settings.ANTHROPIC_BASE_URL,
        catalog.GOOGLE: app_settings.GOOGLE_BASE_URL,
    }[kind]


def provider_connection(
    kind: str,
    api_key: str,
    *,
    provider_pk: int | None = None,
    name: str = "",
    base_url: str = "",
    headers: Mapping[str, str] | None = None,
) -> ProviderConnection:
    """How to reach a provider from its values, saved (the settings in force) or typed on
    Settings → AI (Test connection).

    A built-in provider is reached at the gateway from the apps' settings, or its SDK's own
    address; an OpenAI-compatible one at its Base URL with its custom headers, under its
    row's key ("compat-new" for one not saved yet)."""
    if kind != catalog.COMPATIBLE:
        label = catalog.BUILTIN_PROVIDERS[kind]
        return ProviderConnection(kind, kind, label, api_key, _builtin_base_url(kind))
    key = "compat-new" if provider_pk is None else catalog.compatible_provider_key(provider_pk)
    return ProviderConnection(key, kind, name, api_key, base_url, dict(headers or {}))


def _build(row: AISettings) -> CurrentSettings:
    connections: dict[str, ProviderConnection] = {}
    models: list[AvailableModel] = []
    for kind, label in catalog.BUILTIN_PROVIDERS.items():
        api_key = usable_secret(row.api_key_for(kind))
        if not api_key:
            continue  # a provider without a key offers no models, whatever its list says
        connections[kind] = provider_connection(kind, api_key)
        for model_id in row.allowed_models_for(kind):
            info = catalog.catalog_model(kind, model_id)
            models.append(
                AvailableModel(
                    key=catalog.make_key(kind, model_id),
                    provider_kind=kind,
                    provider_key=kind,
                    provider_label=label,
                    model_id=model_id,
                    display_name=info.display_name,
                    context_window=info.context_window,
                    max_output=info.max_output,
                    supports_attachments=info.supports_attachments,
                    supports_reasoning=info.supports_reasoning,
                    input_price=info.input_price,
                    output_price=info.output_price,
                )
            )
    for provider in CompatibleProvider.objects.prefetch_related("models"):
        connection = provider_connection(
            catalog.COMPATIBLE,
            usable_secret(provider.api_key),
            provider_pk=provider.pk,
            name=provider.name,
            base_url=provider.base_url,
            headers=provider.header_values() or {},
        )
        provider_key = connection.key
        connections[provider_key] = connection
        models.extend(
            AvailableModel(
                key=catalog.make_key(provider_key, model.model_id),
                provider_kind=catalog.COMPATIBLE,
                provider_key=provider_key,
                provider_label=provider.name,
                model_id=model.model_id,
                display_name=model.display_name or model.model_id,
                context_window=model.context_window,
                max_output=model.max_output,
                supports_attachments=model.supports_attachments,
                supports_reasoning=model.supports_reasoning,
                provider_options=dict(model.provider_options or {}),
                input_price=model.input_price,
                output_price=model.output_price,
            )
            for model in provider.models.all()
        )
    return CurrentSettings(
        version=row.version,
        saved_at=row.updated_at,
        custom_system_prompt=row.custom_system_prompt,
        mcp_enabled=row.mcp_enabled,
        mcp_allow_deletes=row.mcp_allow_deletes,
        prompts_collection_id=row.prompts_collection_id,
        mcp_system_prompt_enabled=row.mcp_system_prompt_enabled,
        mcp_system_prompt=row.mcp_system_prompt,
        rate_limit_per_minute=row.rate_limit_per_minute,
        daily_token_budget=row.daily_token_budget,
        connections=connections,
        models=tuple(models),
    )


def get_current() -> CurrentSettings:
    """The snapshot for the settings version now in the database."""
    global _memo
    stamp = AISettings.objects.filter(pk=1).values_list("version", "updated_at").first()
    memo = _memo
    if memo is not None and stamp == (memo.version, memo.saved_at):
        return memo
    with _lock:
        row = AISettings.load()
        _memo = _build(row)
        return _memo


async def aget_current() -> CurrentSettings:
    return await sync_to_async(get_current)()


def bump_version() -> None:
    """Call inside the transaction of every change to AI settings or compatible providers."""
    AISettings.load()
    AISettings.objects.filter(pk=1).update(version=F("version") + 1, updated_at=timezone.now())


def forget() -> None:
    """Drop the memoized snapshot (tests that empty the database call this)."""
    global _memo
    _memo = None
