"""What the chat shows for a call waiting on the user: the approval card and the ask_user
form, as template context for templates/assistant/_tool_approval.html and
templates/assistant/_ask_user_form.html. The URLs they post to are the chat's."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ai_settings.current import CurrentSettings
from assistant.models import ToolCall as ToolCallRow
from assistant.tools.ask_user import Question, parse_questions
from assistant.tools.turn import approval_card


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str) if value else ""


def approval_context(
    row: ToolCallRow, user: Any, current: CurrentSettings, *, approve_url: str, deny_url: str
) -> dict[str, Any]:
    card = approval_card(row, user, current)
    return {
        "call": row,
        "card": card,
        "filter_json": _pretty(card.details.get("filter")),
        "data_json": _pretty(card.details.get("data")),
        "arguments_json": _pretty(row.arguments),
        "approve_url": approve_url,
        "deny_url": deny_url,
    }


@dataclass(frozen=True)
class QuestionRow:
    question: Question
    error: str = ""
    chosen: tuple[str, ...] = ()  # option indexes as posted, to keep them checked
    text: str = ""


def _values(form: Mapping[str, Any], name: str) -> tuple[str, ...]:
    if hasattr(form, "getlist"):
        return tuple(form.getlist(name))
    value = form.get(name)
    if value is None:
        return ()
    return tuple(map(str, value)) if isinstance(value, (list, tuple)) else (str(value),)


def question_context(
    row: ToolCallRow,
    *,
    answer_url: str,
    dismiss_url: str,
    form: Mapping[str, Any] | None = None,
    errors: Mapping[int, str] | None = None,
) -> dict[str, Any]:
    """The answer form for a pending ask_user call; after a refused submit, pass the posted
    form and the errors from assistant.tools.turn.answer to show them."""
    form, errors = form or {}, errors or {}
    rows = [
        QuestionRow(
            question,
            errors.get(question.index, ""),
            _values(form, question.field_name),
            str(form.get(question.text_field_name) or ""),
        )
        for question in parse_questions(row.arguments)
    ]
    return {"call": row, "rows": rows, "answer_url": answer_url, "dismiss_url": dismiss_url}
