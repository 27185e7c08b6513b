"""One streaming interface over the OpenAI, Anthropic and Google SDKs and any
OpenAI-compatible server.

`get_adapter(connection)` returns the adapter for a provider connection, which
ai_settings.current.provider_connection builds from the settings in force (the chat) or from
the values typed on Settings → AI (Test connection). Adapters (and the SDK clients inside
them) are built once per distinct connection (kind, key, credentials, endpoint, headers,
timeouts) and reused by every request; a settings change that alters a connection yields a
new adapter, and old ones age out of a small LRU.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from ai_settings import redaction
from ai_settings.connection_test import ListingRefused
from ai_settings.current import CurrentSettings, ProviderConnection
from assistant.providers.base import ProviderAdapter, ProviderFailure
from assistant.providers.clients import Timeouts

__all__ = ["ProviderAdapter", "ProviderFailure", "adapter_for", "get_adapter", "list_models"]

_MAX_ADAPTERS = 64
_adapters: OrderedDict[tuple[Any, ...], ProviderAdapter] = OrderedDict()
_lock = threading.Lock()


def _cache_key(connection: ProviderConnection, timeouts: Timeouts) -> tuple[Any, ...]:
    return (
        connection.kind,
        connection.key,
        connection.label,
        connection.api_key,
        connection.base_url,
        tuple(sorted(connection.headers.items())),
        timeouts,
    )


def _build(connection: ProviderConnection, timeouts: Timeouts) -> ProviderAdapter:
    if connection.kind == "openai":
        from assistant.providers.openai_responses import ResponsesAdapter

        return ResponsesAdapter(connection, timeouts)
    if connection.kind == "compatible":
        from assistant.providers.openai import ChatCompletionsAdapter

        return ChatCompletionsAdapter(connection, timeouts)
    if connection.kind == "anthropic":
        from assistant.providers.anthropic import AnthropicAdapter

        return AnthropicAdapter(connection, timeouts)
    if connection.kind == "google":
        from assistant.providers.google import GoogleAdapter

        return GoogleAdapter(connection, timeouts)
    raise ValueError(f"Unknown provider kind {connection.kind!r}")


def get_adapter(connection: ProviderConnection) -> ProviderAdapter:
    """The adapter for this connection, built once and shared by all requests."""
    redaction.remember(connection)  # whatever its SDK logs or its server says, scrubbed
    timeouts = Timeouts.from_settings()
    key = _cache_key(connection, timeouts)
    with _lock:
        adapter = _adapters.get(key)
        if adapter is not None:
            _adapters.move_to_end(key)
            return adapter
        adapter = _adapters[key] = _build(connection, timeouts)
        while len(_adapters) > _MAX_ADAPTERS:
            _adapters.popitem(last=False)
        return adapter


def adapter_for(current: CurrentSettings, provider_key: str) -> ProviderAdapter:
    """The adapter of one provider of the settings in force. Every key and header value of
    those settings is redacted from what any provider says (and from the logs) from now on."""
    redaction.remember_settings(current)
    return get_adapter(current.connections[provider_key])


async def list_models(connection: ProviderConnection) -> list[str]:
    """The provider's model ids ("Test connection"). Raises ProviderFailure (10 s timeout)."""
    return await get_adapter(connection).list_models()


async def list_models_for_settings(connection: ProviderConnection) -> list[str]:
    """list_models as Settings → AI's Test connection takes it (connection_test.ModelLister):
    a provider's refusal is a ListingRefused with our readable message."""
    try:
        return await list_models(connection)
    except ProviderFailure as failure:
        raise ListingRefused(failure.error.message) from None


def load_adapters() -> None:
    """Import every adapter and its SDK now (server start-up) rather than in a first request."""
    from assistant.providers import anthropic, google, openai, openai_responses  # noqa: F401
