"""What a chat request looks like to an adapter, and the adapter interface."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ai_settings.catalog import AvailableModel
from assistant.providers.events import Event, ToolCall


@dataclass(frozen=True)
class AttachmentData:
    filename: str
    content_type: str  # image/png, image/jpeg, image/webp, image/gif, application/pdf, text/plain
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class ChatMessage:
    """One turn of history.

    user: text (+ attachments); assistant: text and/or tool_calls (+ reasoning and opaque
    provider_data from the adapter that produced it); tool: the result of one call.
    """

    role: Literal["user", "assistant", "tool"]
    text: str = ""
    attachments: tuple[AttachmentData, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    reasoning: str = ""
    provider_data: dict[str, Any] = field(default_factory=dict, compare=False)
    tool_call_id: str = ""
    tool_name: str = ""
    is_error: bool = False


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]  # JSON Schema of the arguments object


@dataclass(frozen=True)
class ChatRequest:
    model: AvailableModel
    system_prompt: str
    messages: tuple[ChatMessage, ...]
    tools: tuple[ToolSpec, ...] = ()
    # Merged into the provider request; can never replace model, messages or tools.
    provider_options: dict[str, Any] = field(default_factory=dict)


class ProviderAdapter(Protocol):
    def stream(self, request: ChatRequest) -> AsyncGenerator[Event, None]:
        """Yield normalized events (an async generator: `async def` with `yield`). Errors are
        yielded as ProviderError, never raised."""
        ...

    async def list_models(self) -> list[str]:
        """Model ids the provider offers (for "Test connection"). Raises ProviderFailure."""
        ...


class ProviderFailure(Exception):
    """Raised by list_models; carries a ProviderError whose message never holds a key."""

    def __init__(self, error: Any) -> None:
        super().__init__(error.message)
        self.error = error
