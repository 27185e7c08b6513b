"""The system prompt of every chat turn: the administrator's Custom System Prompt or our
default, then what the model needs to know about this turn (date, user, page) and a prompt's
extra instructions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from ai_settings.current import CurrentSettings

DEFAULT_SYSTEM_PROMPT = """\
You are the assistant of this Django site. You help signed-in users find and change the \
site's data with tools that act with the user's own permissions: you can see and do what \
they could do in Django admin, and nothing more.

## Answering
- Be brief. Lead with the answer; confirm a change in one line ("Deleted 3 prompts.").
- Use plain language for people who edit content; technical detail only when asked.
- If you are unsure what the user wants or which items they mean, ask. Offer choices \
with `ask_user` when there are a few clear options.

## Finding data
- Discover before you act: `schema` with no arguments lists the collections; \
`schema` with `keys` gives their fields and relations. Never guess collection or field names.
- With `items`, ask only for the fields you need, narrow with `filter`, keep `limit` \
small, and page with `offset` only when the user needs more.
- Show four or more rows of similar data as a markdown table; fewer as a short list.
- Use `prompts` when the user refers to the site's saved prompts.

## Changing data
- Before deleting anything, or changing more than a few items, say exactly what will \
change and how many items, and get the user's go-ahead.
- Look for an existing item before creating one; never create duplicates.
- The user may be asked to approve a change in the chat; if they deny it, do not try \
another way to make it.

## When something fails
- A permission error is final: tell the user which permission is missing. Do not retry \
or work around it.
- A clear error (an unknown field, a missing value): fix the call and retry once. After \
two failed attempts, stop and ask the user how to go on.
- If a tool you need is not available, tell the user they can enable it in the chat \
settings; if the task is simple and many tools are enabled, you may suggest disabling \
unused ones (once per conversation)."""

MAX_CONTEXT_TEXT = 200  # a name or a page description, flattened to one line


def _one_line(text: str) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= MAX_CONTEXT_TEXT else flat[: MAX_CONTEXT_TEXT - 1] + "…"


def _user_line(user: Any) -> str:
    username = user.get_username()
    full_name = (user.get_full_name() if hasattr(user, "get_full_name") else "").strip()
    if full_name and full_name != username:
        return f"The user is {_one_line(full_name)} (username “{_one_line(username)}”)."
    return f"The user is “{_one_line(username)}”."


def _page_line(page: str | dict[str, Any] | None) -> str:
    if not page:
        return ""
    if isinstance(page, dict):
        if "path" not in page:
            return ""
        from assistant.page_context import describe

        return _one_line(describe(page))
    return f"The user is on the page {_one_line(page)}."


def _date_line(now: datetime | None) -> str:
    moment = timezone.localtime(now) if now is None or timezone.is_aware(now) else now
    return (
        f"Today is {moment:%A}, {moment.day} {moment:%B %Y} ({moment:%Y-%m-%d}; "
        f"time zone {timezone.get_current_timezone_name()})."
    )


def build_system_prompt(
    current: CurrentSettings,
    user: Any,
    page_context: str | dict[str, Any] | None = None,
    *,
    now: datetime | None = None,
    extra_instructions: str = "",
    page: str | dict[str, Any] | None = None,
) -> str:
    """The system prompt for one turn. A non-blank Custom System Prompt replaces the default.
    `page_context` (or `page`) is Message.page_context or a plain page description;
    `extra_instructions` is the system prompt of a prompt the user ran for this turn."""
    base = (current.custom_system_prompt or "").strip() or DEFAULT_SYSTEM_PROMPT
    lines = [_date_line(now), _user_line(user)]
    page_line = _page_line(page_context if page_context is not None else page)
    if page_line:
        lines.append(page_line)
    parts = [base, "## This conversation\n" + "\n".join(f"- {line}" for line in lines)]
    if extra_instructions and extra_instructions.strip():
        parts.append("## Instructions for this message\n" + extra_instructions.strip())
    return "\n\n".join(parts)
