"""The MCP server's handlers (official `mcp` SDK, low-level Server): the active collection's
published prompts and the assistant's tools, for the user the bearer token belongs to.

Prompts: every variable is a required argument. `prompts/get` returns the prompt's system
prompt first, as a **user** message (MCP prompt messages are only "user" or "assistant", and
the system prompt holds instructions for the model, which it follows when they come from the
user, not when they look like something it said itself), then the prompt's messages, rendered.
"""

from __future__ import annotations

from typing import Any, Literal

import mcp_types as types
from asgiref.sync import sync_to_async
from mcp.server import Server, ServerRequestContext
from mcp.shared.exceptions import MCPError

from ai_settings.current import CurrentSettings, aget_current
from ai_settings.default_prompt import DEFAULT_SYSTEM_PROMPT
from assistant.tools import ToolContext, server_tools
from prompts.models import PromptMessage
from prompts.queries import NO_ACTIVE_COLLECTION, aactive_collection, apublished_prompts
from prompts.rendering import MissingVariableError, render, variables

SERVER_NAME = "django-ai-assistant"
SYSTEM_PROMPT_TOOL = "system-prompt"
USER_STATE_KEY = "mcp_user"  # set on the ASGI scope's "state" by assistant.mcp.http


def request_user(ctx: ServerRequestContext[Any, Any]) -> Any:
    """The token owner, authenticated by assistant.mcp.http before the SDK saw the request."""
    request = ctx.request
    user = None if request is None else request.scope.get("state", {}).get(USER_STATE_KEY)
    if user is None:  # unreachable through assistant.mcp.http, which refuses unauthenticated calls
        raise MCPError(types.INVALID_REQUEST, "Authentication required.")
    return user


# -- prompts ----------------------------------------------------------------------------------


async def _published(current: CurrentSettings) -> list[Any]:
    if await aactive_collection(current.prompts_collection_id) is None:
        raise MCPError(types.INVALID_REQUEST, NO_ACTIVE_COLLECTION)
    return await apublished_prompts(current.prompts_collection_id)


def _describe(prompt: Any) -> types.Prompt:
    return types.Prompt(
        name=prompt.name,
        description=prompt.description or None,
        arguments=[
            types.PromptArgument(name=v.name, description=v.description or None, required=True)
            for v in variables(prompt)
        ],
    )


async def list_prompts(
    ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
) -> types.ListPromptsResult:
    request_user(ctx)
    prompts = await _published(await aget_current())
    return types.ListPromptsResult(prompts=[_describe(p) for p in prompts])


async def get_prompt(
    ctx: ServerRequestContext[Any, Any], params: types.GetPromptRequestParams
) -> types.GetPromptResult:
    request_user(ctx)
    prompts = await _published(await aget_current())
    prompt = next((p for p in prompts if p.name == params.name), None)
    if prompt is None:
        raise MCPError(
            types.INVALID_PARAMS,
            f"Unknown prompt “{params.name}”: "
            "it is not a published prompt of the active collection.",
        )
    try:
        rendered = render(prompt, params.arguments or {})
    except MissingVariableError as error:
        raise MCPError(types.INVALID_PARAMS, str(error)) from None
    messages = [("user", rendered.system_prompt)] if rendered.system_prompt.strip() else []
    messages.extend(rendered.messages)
    return types.GetPromptResult(
        description=prompt.description or None,
        messages=[
            types.PromptMessage(
                role=_mcp_role(role), content=types.TextContent(type="text", text=text)
            )
            for role, text in messages
        ],
    )


def _mcp_role(role: str) -> Literal["user", "assistant"]:
    return "assistant" if role == PromptMessage.Role.ASSISTANT else "user"


# -- tools ------------------------------------------------------------------------------------
# The assistant's registry minus the tools that need a person in the chat (ask_user). Each runs
# with the token owner's permissions; `items` itself refuses deletes via MCP unless "Allow
# deletes via MCP" is on (ToolContext.via_mcp).

SYSTEM_PROMPT_TOOL_SPEC = types.Tool(
    name=SYSTEM_PROMPT_TOOL,
    description=(
        "Returns the system prompt for working with this site: how to use the other tools well "
        "and the site's rules. Call it once at the start of a conversation and follow it."
    ),
    input_schema={"type": "object", "properties": {}, "additionalProperties": False},
    annotations=types.ToolAnnotations(read_only_hint=True, open_world_hint=False),
)


def system_prompt_text(current: CurrentSettings) -> str:
    """The MCP system prompt: the administrator's override, else the assistant's default."""
    return current.mcp_system_prompt if current.mcp_system_prompt.strip() else DEFAULT_SYSTEM_PROMPT


def _describe_tool(tool: Any) -> types.Tool:
    return types.Tool(
        name=tool.name,
        description=tool.description,
        input_schema=tool.parameters,
        annotations=types.ToolAnnotations(
            title=getattr(tool, "label", None),
            read_only_hint=tool.read_only,
            open_world_hint=False,
        ),
    )


async def list_tools(
    ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
) -> types.ListToolsResult:
    request_user(ctx)
    current = await aget_current()
    tools = [_describe_tool(tool) for tool in server_tools()]
    if current.mcp_system_prompt_enabled:
        tools.insert(0, SYSTEM_PROMPT_TOOL_SPEC)
    return types.ListToolsResult(tools=tools)


def _text_result(text: str, *, is_error: bool = False) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)], is_error=is_error
    )


async def call_tool(
    ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
) -> types.CallToolResult:
    user = request_user(ctx)
    current = await aget_current()
    if params.name == SYSTEM_PROMPT_TOOL and current.mcp_system_prompt_enabled:
        return _text_result(system_prompt_text(current))
    tool = next((t for t in server_tools() if t.name == params.name), None)
    if tool is None:
        raise MCPError(types.INVALID_PARAMS, f"Unknown tool “{params.name}”.")
    context = ToolContext(user=user, current=current, via_mcp=True)
    result = await sync_to_async(tool.run)(dict(params.arguments or {}), context)
    return _text_result(result.content, is_error=result.is_error)


def build_server() -> Server:
    return Server(
        SERVER_NAME,
        version="1",
        title="AI Assistant for Django",
        on_list_prompts=list_prompts,
        on_get_prompt=get_prompt,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )
