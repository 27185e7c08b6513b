"""The conversation history sent with a turn: stored messages → provider messages, trimmed
to the model's context window (assistant.token_estimates)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from ai_settings.catalog import AvailableModel
from assistant.models import Message
from assistant.models import ToolCall as ToolCallRow
from assistant.providers.base import AttachmentData, ChatMessage, ToolSpec
from assistant.providers.events import ToolCall
from assistant.token_estimates import estimate_message, estimate_text, estimate_tools


@dataclass(frozen=True)
class TrimmedHistory:
    messages: tuple[ChatMessage, ...]
    trimmed: bool
    estimated_tokens: int


def _turns(messages: Sequence[ChatMessage]) -> list[list[ChatMessage]]:
    """Split into turns, each starting at a user message (so a tool call never loses its
    result and an answer never loses its question)."""
    turns: list[list[ChatMessage]] = []
    for message in messages:
        if message.role == "user" or not turns:
            turns.append([message])
        else:
            turns[-1].append(message)
    return turns


def trim(
    messages: Sequence[ChatMessage],
    *,
    model: AvailableModel,
    system_prompt: str,
    tools: Sequence[ToolSpec] = (),
) -> TrimmedHistory:
    """Drop the oldest turns until the estimate fits context_window - max_output. The system
    prompt and the latest turn always stay."""
    budget = model.context_window - model.max_output
    fixed = estimate_text(system_prompt) + estimate_tools(tools)
    turns = _turns(messages)
    sizes = [sum(estimate_message(m) for m in turn) for turn in turns]
    total = fixed + sum(sizes)
    first = 0
    while total > budget and first < len(turns) - 1:
        total -= sizes[first]
        first += 1
    kept = tuple(m for turn in turns[first:] for m in turn)
    return TrimmedHistory(kept, trimmed=first > 0, estimated_tokens=total)


def _tool_call_event(row: ToolCallRow) -> ToolCall:
    return ToolCall(
        id=row.call_id,
        name=row.name,
        arguments=row.arguments if isinstance(row.arguments, dict) else {},
        provider_data=row.provider_data or {},
    )


def _finished_tool_result(row: ToolCallRow) -> ChatMessage | None:
    if row.status == ToolCallRow.Status.PENDING:
        return None
    return ChatMessage(
        role="tool",
        text=row.result,
        tool_call_id=row.call_id,
        tool_name=row.name,
        is_error=row.is_error
        or row.status in (ToolCallRow.Status.DENIED, ToolCallRow.Status.FAILED),
    )


# An answer that ended in one of these with nothing in it did not answer its question.
UNFINISHED = (Message.Status.ERROR, Message.Status.STOPPED, Message.Status.INTERRUPTED)


def _decided_calls(row: Message) -> list[ToolCallRow]:
    # A call still waiting for approval has no result yet: providers reject a call without
    # its result, so it is left out until it is decided.
    return [c for c in row.tool_calls.all() if c.status != ToolCallRow.Status.PENDING]


def _abandoned_questions(rows: Sequence[Message]) -> set[int]:
    """Positions of the user messages whose answer failed with nothing in it (an error, or
    stopped before a word) and that a newer user message follows: attempts the user moved on
    from instead of retrying. Sending them again, glued to the new question, would ask both."""
    abandoned: set[int] = set()
    question: list[int] = []  # the user messages since the last answer
    for position, row in enumerate(rows):
        if row.role == Message.Role.USER:
            question.append(position)
        elif row.role == Message.Role.ASSISTANT:
            if row.status in UNFINISHED and not row.content and not _decided_calls(row):
                abandoned.update(question)
            question = []
    latest = max((p for p, row in enumerate(rows) if row.role == Message.Role.USER), default=-1)
    return {position for position in abandoned if position < latest}


def to_chat_messages(
    rows: Iterable[Message], attachments: dict[int, list[AttachmentData]] | None = None
) -> list[ChatMessage]:
    """Stored messages (with tool_calls prefetched) → provider messages. Failed attempts
    with nothing in them are left out, with their question once the user has asked another
    one; other consecutive user messages (a prompt's) are merged so every provider accepts
    the sequence."""
    attachments = attachments or {}
    stored = list(rows)
    abandoned = _abandoned_questions(stored)
    result: list[ChatMessage] = []
    for position, row in enumerate(stored):
        if position in abandoned:
            continue
        if row.role == Message.Role.USER:
            message = ChatMessage(
                role="user", text=row.content, attachments=tuple(attachments.get(row.pk, ()))
            )
            if result and result[-1].role == "user":
                previous = result.pop()
                message = replace(
                    previous,
                    text=f"{previous.text}\n\n{message.text}".strip(),
                    attachments=previous.attachments + message.attachments,
                )
            result.append(message)
        elif row.role == Message.Role.ASSISTANT:
            calls = _decided_calls(row)
            if not row.content and not calls:
                continue
            result.append(
                ChatMessage(
                    role="assistant",
                    text=row.content,
                    reasoning=row.reasoning,
                    tool_calls=tuple(_tool_call_event(c) for c in calls),
                )
            )
            for call in calls:
                tool_message = _finished_tool_result(call)
                if tool_message is not None:
                    result.append(tool_message)
    return result
