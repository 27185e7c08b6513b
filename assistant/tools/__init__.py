"""The one tool registry, used by the chat loop, the MCP server and the tests.

    all_tools()            every tool, in the order they are offered to a model
    get_tool(name)         one tool, or None
    server_tools()         the tools that run without a person (all but ask_user), for MCP
    tool_specs(tools)      provider ToolSpecs for a ChatRequest
    unavailable_result(n)  the result for a call to a tool that is unknown or disabled

Per-user modes (Always / Ask / Disabled) and approvals: assistant.tools.preferences.
"""

from __future__ import annotations

from collections.abc import Iterable

from assistant.providers.base import ToolSpec
from assistant.tools.arguments import ToolError
from assistant.tools.ask_user import AskUserTool
from assistant.tools.base import CallPreview, Tool, ToolContext, ToolResult
from assistant.tools.items import ItemsTool
from assistant.tools.prompts import PromptsTool
from assistant.tools.schema import SchemaTool

__all__ = [
    "CallPreview",
    "Tool",
    "ToolContext",
    "ToolResult",
    "all_tools",
    "get_tool",
    "server_tools",
    "tool_specs",
    "unavailable_result",
]

_TOOLS: tuple[Tool, ...] = (SchemaTool(), ItemsTool(), PromptsTool(), AskUserTool())


def all_tools() -> list[Tool]:
    return list(_TOOLS)


def get_tool(name: str) -> Tool | None:
    return next((tool for tool in _TOOLS if tool.name == name), None)


def server_tools() -> list[Tool]:
    return [tool for tool in _TOOLS if not tool.interactive]


def tool_specs(tools: Iterable[Tool]) -> tuple[ToolSpec, ...]:
    return tuple(ToolSpec(tool.name, tool.description, tool.parameters) for tool in tools)


def unavailable_result(name: str) -> ToolResult:
    """For a call to a tool the model was not given (unknown, or Disabled by the user)."""
    return ToolError(
        f"The tool {name!r} is not available. The user can enable tools in the chat settings."
    ).result()
