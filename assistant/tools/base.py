"""The tool interface shared by the chat loop and the MCP server."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from ai_settings.current import CurrentSettings
from prompts.users import User


@dataclass(frozen=True)
class ToolContext:
    """Who is calling and how: every tool runs with this user's own permissions."""

    user: User
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
    # Set when the call cannot run as given (invalid, or permission denied). There is nothing
    # to approve then: run it at once, and its result tells the model the same error.
    error: str = ""


class Tool(Protocol):
    name: str
    label: str  # for people: the chat settings menu, tool-call cards
    description: str  # written for a model
    parameters: dict[str, Any]  # JSON Schema
    read_only: bool  # the tool as a whole only reads (its default mode is Always)
    # True for ask_user: the call is answered by the user in the chat, never run server-side.
    interactive: bool

    def reads_only(self, arguments: dict[str, Any] | str) -> bool:
        """Whether this particular call only reads (e.g. `items` with action=read). Such calls
        need no approval in Ask mode and may run concurrently."""
        ...

    def run(self, arguments: dict[str, Any] | str, context: ToolContext) -> ToolResult:
        """Synchronous (ORM work); async callers use sync_to_async. Never raises for bad
        arguments or denied permissions: those come back as ToolResult(is_error=True).
        Arguments may be an object or the same object as a JSON string."""
        ...

    def preview(self, arguments: dict[str, Any] | str, context: ToolContext) -> CallPreview:
        """The approval card's content: what exactly the call would do and to how many items.
        Never raises; CallPreview.error is set when the call cannot run."""
        ...
