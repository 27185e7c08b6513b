"""Merging an administrator's provider options into a request without letting them replace
what the chat decides: the model, the conversation, the tools, streaming and the endpoint."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic.alias_generators import to_snake

from assistant.providers.base import ChatRequest

# Every provider's spelling of "what is asked, of which model, with which tools, how it is
# delivered": blocked for all adapters, whichever wire format an option was written for.
PROTECTED = frozenset(
    {
        "model",
        "messages",
        "input",
        "contents",
        "prompt",
        "system",
        "instructions",
        "system_instruction",
        "tools",
        "functions",
        "stream",
        "stream_options",
        "previous_response_id",
        "conversation",
        "http_options",
        "automatic_function_calling",
        "should_return_http_response",
    }
)


def provider_options(request: ChatRequest, protected: Iterable[str] = ()) -> dict[str, Any]:
    """The model's configured options overlaid by the request's, minus protected keys
    (in snake_case or camelCase)."""
    merged = {**(request.model.provider_options or {}), **(request.provider_options or {})}
    blocked = PROTECTED | set(protected)
    return {key: value for key, value in merged.items() if to_snake(key) not in blocked}
