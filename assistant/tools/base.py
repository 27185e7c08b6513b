"""The tool interface shared by the chat loop and the MCP server."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from ai_settings.current import CurrentSettings


@dataclass(frozen=True)
class ToolContext:
    """Who is calling and how: every tool runs with this user's own permissions."""

    user: Any
    current: CurrentSettings
    via_mcp: bool = False


@dataclass(frozen=True)
class ToolResult:
    content: str  # JSON text handed back to the model
    is_error: bool = False


@dataclass(frozen=True)
class CallPreview:
    """What an approval card shows before a call that changes data runs."""

    summary: str  # e.g. "Delete 3 items from Library › Books"
    affected_count: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


class Tool(Protocol):
    name: str
    description: str  # written for a model
    parameters: dict[str, Any]  # JSON Schema
    read_only: bool

    def run(self, arguments: dict[str, Any], context: ToolContext) -> ToolResult:
        """Synchronous (ORM work); async callers use sync_to_async. Never raises for bad
        arguments or denied permissions: those come back as ToolResult(is_error=True)."""
        ...

    def preview(self, arguments: dict[str, Any], context: ToolContext) -> CallPreview:
        ...
