"""Driving an adapter against its fake in tests: the fake, a connection pointing the real SDK
at it, a model and request builder, and a reader for the recorded request bodies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from ai_settings.catalog import AvailableModel
from ai_settings.current import ProviderConnection
from assistant.providers import get_adapter
from assistant.providers.base import ChatMessage, ChatRequest, ToolSpec
from assistant.providers.events import Event

API_KEY = "sk-" + "test-SECRET-0123456789abcdef"

SEARCH = ToolSpec(
    name="search_records",
    description="Find records by text.",
    parameters={
        "type": "object",
        "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}},
        "required": ["query"],
    },
)


@dataclass
class Provider:
    """One adapter under test, wired to its fake server."""

    kind: str  # openai, compatible, anthropic, google
    fake: Any
    model_id: str
    headers: dict[str, str] = field(default_factory=dict)
    api_key: str = API_KEY

    @property
    def label(self) -> str:
        return {"openai": "OpenAI", "anthropic": "Anthropic", "google": "Google"}.get(
            self.kind, "Local LLM"
        )

    def connection(self, **changes: Any) -> ProviderConnection:
        values: dict[str, Any] = {
            "key": "compat-1" if self.kind == "compatible" else self.kind,
            "kind": self.kind,
            "label": self.label,
            "api_key": self.api_key,
            "base_url": self.fake.base_url if self.fake is not None else None,
            "headers": dict(self.headers),
        }
        values.update(changes)
        return ProviderConnection(**values)

    def model(self, *, reasoning: bool = True, max_output: int = 4096, **options: Any):
        return AvailableModel(
            key=f"{self.connection().key}:{self.model_id}",
            provider_kind=self.kind,
            provider_key=self.connection().key,
            provider_label=self.label,
            model_id=self.model_id,
            display_name=self.model_id,
            context_window=128_000,
            max_output=max_output,
            supports_attachments=True,
            supports_reasoning=reasoning,
            provider_options=options,
        )

    def request(
        self,
        *messages: ChatMessage,
        tools: tuple[ToolSpec, ...] = (),
        options: dict[str, Any] | None = None,
        reasoning: bool = True,
        system: str = "You are a helpful assistant.",
    ) -> ChatRequest:
        return ChatRequest(
            model=self.model(reasoning=reasoning),
            system_prompt=system,
            messages=messages or (ChatMessage(role="user", text="Hello?"),),
            tools=tools,
            provider_options=options or {},
        )

    async def run(self, request: ChatRequest | None = None, **connection: Any) -> list[Event]:
        adapter = get_adapter(self.connection(**connection))
        stream: AsyncIterator[Event] = adapter.stream(request or self.request())
        return [event async for event in stream]

    @property
    def body(self) -> dict[str, Any]:
        """JSON body of the last generation request the fake received."""
        return self.fake.last_body

    @property
    def generation_requests(self) -> list[Any]:
        return self.fake.generation_requests()


def of_type(events: list[Event], kind: type) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]
