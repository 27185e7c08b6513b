"""Each user's mode per tool (Always / Ask / Disabled) and what needs approval.

Defaults: tools that only read (schema, prompts, ask_user) are Always; the others (items)
are Ask. A user's choice is stored in ToolPreference.

- Disabled: the tool is not sent to the provider at all (fewer tokens per message).
- Always: every call runs without asking.
- Ask: a call that changes data waits for the user's Approve. A call that only reads runs
  at once even in Ask mode (`items` with action "read"): reading is what the user's view
  permission already allows, and asking before every lookup would make Ask unusable.
  ask_user never needs approval: answering it is the user's decision already.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.db import transaction
from django.utils import timezone

from assistant.models import Message, ToolCall, ToolPreference
from assistant.tools import all_tools, get_tool
from assistant.tools.base import Tool
from prompts.users import User

Mode = ToolPreference.Mode
UNUSED_DAYS = 30  # a tool unused this long (while the user chats) is suggested for disabling


def default_mode(tool: Tool) -> str:
    return Mode.ALWAYS if tool.read_only else Mode.ASK


def modes_for(user: User) -> dict[str, str]:
    """{tool name: mode} for every tool in the registry."""
    stored = {}
    if user.is_authenticated:
        stored = dict(ToolPreference.objects.filter(user=user).values_list("tool", "mode"))
    modes = {}
    for tool in all_tools():
        mode = stored.get(tool.name)
        modes[tool.name] = mode if mode in Mode.values else default_mode(tool)
    return modes


def set_mode(user: User, name: str, mode: str) -> None:
    """Store a user's mode for a tool; ValueError for an unknown tool or mode."""
    tool = get_tool(name)
    if tool is None:
        raise ValueError(f"Unknown tool {name!r}.")
    if mode not in Mode.values:
        raise ValueError(f"Unknown mode {mode!r}; use one of {', '.join(Mode.values)}.")
    with transaction.atomic():
        ToolPreference.objects.update_or_create(user=user, tool=name, defaults={"mode": mode})


def enabled_tools(user: User) -> list[Tool]:
    """The tools to send to the provider for this user: every tool not Disabled."""
    modes = modes_for(user)
    return [tool for tool in all_tools() if modes[tool.name] != Mode.DISABLED]


def needs_approval(tool: Tool, arguments: dict[str, Any] | str, mode: str) -> bool:
    """Whether this call must wait for the user's Approve. A Disabled tool must not run at
    all (use assistant.tools.unavailable_result); asked anyway, the answer is True."""
    if mode == Mode.DISABLED:
        return True
    if tool.interactive or mode == Mode.ALWAYS:
        return False
    return not tool.reads_only(arguments)


def unused_tools(user: User, modes: dict[str, str] | None = None) -> list[Tool]:
    """Enabled tools the user's conversations have not called in the last UNUSED_DAYS days,
    provided the user chatted in that time (a newcomer gets no suggestions)."""
    since = timezone.now() - timedelta(days=UNUSED_DAYS)
    used = set(
        ToolCall.objects.filter(message__conversation__user=user, created_at__gte=since)
        .values_list("name", flat=True)
        .distinct()
    )
    chatted = Message.objects.filter(
        conversation__user=user, role=Message.Role.USER, created_at__gte=since
    ).exists()
    if not chatted:
        return []
    modes = modes if modes is not None else modes_for(user)
    return [t for t in all_tools() if modes[t.name] != Mode.DISABLED and t.name not in used]


aset_mode = sync_to_async(set_mode)
