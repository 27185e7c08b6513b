"""Merging an administrator's provider options into a request without letting them replace
what the chat decides (model, messages, tools, streaming)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from assistant.providers.base import ChatRequest


def provider_options(request: ChatRequest, protected: Iterable[str]) -> dict[str, Any]:
    """The model's configured options overlaid by the request's, minus protected keys."""
    merged = {**(request.model.provider_options or {}), **(request.provider_options or {})}
    blocked = set(protected)
    return {key: value for key, value in merged.items() if key not in blocked}
