"""The system prompt of every chat turn: the administrator's Custom System Prompt or our
default, then what the model needs to know about this turn (date, user, page) and a prompt's
extra instructions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from ai_settings.current import CurrentSettings
from ai_settings.default_prompt import DEFAULT_SYSTEM_PROMPT
from assistant.page_context import describe
from prompts.users import User

MAX_CONTEXT_TEXT = 200  # a name or a page description, flattened to one line


def _one_line(text: str) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= MAX_CONTEXT_TEXT else flat[: MAX_CONTEXT_TEXT - 1] + "…"


def _user_line(user: User) -> str:
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
    user: User,
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
