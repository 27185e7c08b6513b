"""The `prompts` tool: list and read the published prompts of the active prompts collection.

Published prompts of the active collection are meant for everyone who uses the assistant
(the chat's prompt picker and MCP serve them to all users), so no model permission is
needed; drafts and archived prompts are never shown.
"""

from __future__ import annotations

from typing import Any

from assistant.tools.arguments import ToolError, optional_object, optional_str, parse_arguments
from assistant.tools.base import CallPreview, ToolContext, ToolResult
from assistant.tools.serialize import capped
from prompts import queries
from prompts.rendering import MissingVariableError, PlaceholderSyntaxError, variables

DESCRIPTION = """\
The site's reusable prompts (the published prompts of the active prompts collection). \
Without `name`: list them (name, description, variables). With `name`: that prompt's \
system prompt and messages; pass `variables` (an object of values) to get it filled in."""

PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "A prompt's name, from the list."},
        "variables": {
            "type": "object",
            "description": 'Values for the prompt\'s variables, e.g. {"topic": "billing"}.',
        },
    },
}


def _variables(prompt: Any) -> list[dict[str, str]]:
    try:
        found = variables(prompt)
    except PlaceholderSyntaxError:
        return []
    return [
        {"name": v.name, **({"description": v.description} if v.description else {})} for v in found
    ]


def _listing(context: ToolContext) -> str:
    if queries.active_collection(context.current.prompts_collection_id) is None:
        raise ToolError(queries.NO_ACTIVE_COLLECTION)
    items = [
        {"name": p.name, "description": p.description, "variables": _variables(p)}
        for p in queries.published_prompts(context.current.prompts_collection_id)
    ]
    payload: dict[str, Any] = {"prompts": items}
    if not items:
        payload["note"] = "The active collection has no published prompts."
    return capped(payload, key="prompts")


def _one(context: ToolContext, name: str, values: dict[str, Any] | None) -> str:
    try:
        prompt = queries.published_prompt(context.current.prompts_collection_id, name)
    except LookupError as error:  # NoActiveCollection, UnknownPrompt
        raise ToolError(str(error)) from None
    payload: dict[str, Any] = {
        "name": prompt.name,
        "description": prompt.description,
        "variables": _variables(prompt),
    }
    if values is None:
        payload["system_prompt"] = prompt.system_prompt
        payload["messages"] = [{"role": m.role, "text": m.text} for m in prompt.messages.all()]
        return capped(payload, key="messages")
    try:
        rendered = queries.render_published(context.current.prompts_collection_id, name, values)
    except (MissingVariableError, PlaceholderSyntaxError) as error:
        raise ToolError(str(error)) from None
    payload["system_prompt"] = rendered.system_prompt
    payload["messages"] = [{"role": role, "text": text} for role, text in rendered.messages]
    return capped(payload, key="messages")


class PromptsTool:
    name = "prompts"
    label = "Prompts"
    description = DESCRIPTION
    parameters = PARAMETERS
    read_only = True
    interactive = False

    def reads_only(self, arguments: dict[str, Any] | str) -> bool:
        return True

    def run(self, arguments: dict[str, Any] | str, context: ToolContext) -> ToolResult:
        try:
            parsed = parse_arguments(arguments)
            name = optional_str(parsed, "name")
            if name is None:
                return ToolResult(_listing(context))
            return ToolResult(_one(context, name, optional_object(parsed, "variables")))
        except ToolError as error:
            return error.result()

    def preview(self, arguments: dict[str, Any] | str, context: ToolContext) -> CallPreview:
        return CallPreview("Read the site's published prompts")
