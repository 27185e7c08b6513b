"""The one event vocabulary every provider adapter speaks. Nothing above the adapters knows
which SDK produced an event."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ErrorKind = Literal[
    "auth",
    "rate_limit",
    "bad_request",
    "context_length",  # the conversation does not fit the model's context window
    "not_found",
    "unavailable",
    "timeout",
    "connection",  # could not reach the server
    "cut_off",  # the connection was lost once the answer had begun
    "incompatible",  # what answered does not speak the provider's API
]


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    text: str


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]
    # Opaque, provider-specific data that must be sent back with this call in the next
    # request (e.g. Gemini's thought signature). Only the adapter that made it reads it.
    provider_data: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Usage:
    input_tokens: int
    output_tokens: int
    reasoning_tokens: int = 0


@dataclass(frozen=True)
class Finish:
    reason: str  # "stop", "length", "tool_calls", "content_filter", …


@dataclass(frozen=True)
class ProviderError:
    kind: ErrorKind
    message: str  # readable, never contains a key
    retry_after: float | None = None
    status_code: int | None = None


Event = TextDelta | ReasoningDelta | ToolCall | Usage | Finish | ProviderError
