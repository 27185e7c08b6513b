"""The conversation history sent with a turn: stored messages → provider messages, trimmed
to the model's context window with a token estimate (no downloaded tokenizer)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from ai_settings.catalog import AvailableModel
from assistant.models import Message
from assistant.models import ToolCall as ToolCallRow
from assistant.providers.base import AttachmentData, ChatMessage, ToolSpec
from assistant.providers.events import ToolCall

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD_TOKENS = 4
IMAGE_TOKENS = 1_600
PDF_MIN_TOKENS = 1_000
PDF_BYTES_PER_TOKEN = 32


def estimate_text(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def estimate_attachment(attachment: AttachmentData) -> int:
    if attachment.content_type.startswith("image/"):
        return IMAGE_TOKENS
    if attachment.content_type == "application/pdf":
        return max(PDF_MIN_TOKENS, len(attachment.data) // PDF_BYTES_PER_TOKEN)
    return math.ceil(len(attachment.data) / CHARS_PER_TOKEN)


def estimate_message(message: ChatMessage) -> int:
    tokens = MESSAGE_OVERHEAD_TOKENS + estimate_text(message.text)
    tokens += sum(estimate_attachment(a) for a in message.attachments)
    for call in message.tool_calls:
        tokens += estimate_text(call.name) + estimate_text(json.dumps(call.arguments))
    return tokens


def estimate_tools(tools: Sequence[ToolSpec]) -> int:
    return sum(
        estimate_text(t.name)
        + estimate_text(t.description)
        + estimate_text(json.dumps(t.parameters))
        for t in tools
    )


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
        provider_data=getattr(row, "provider_data", None) or {},
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


def to_chat_messages(
    rows: Iterable[Message], attachments: dict[int, list[AttachmentData]] | None = None
) -> list[ChatMessage]:
    """Stored messages (with tool_calls prefetched) → provider messages. Failed attempts
    with nothing in them are left out; consecutive user messages (a question whose answer
    failed, then another) are merged so every provider accepts the sequence."""
    attachments = attachments or {}
    result: list[ChatMessage] = []
    for row in rows:
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
            # A call still waiting for approval has no result yet: providers reject a call
            # without its result, so it is left out until it is decided.
            calls = [c for c in row.tool_calls.all() if c.status != ToolCallRow.Status.PENDING]
            if not row.content and not calls:
                continue
            result.append(
                ChatMessage(
                    role="assistant",
                    text=row.content,
                    reasoning=row.reasoning,
                    tool_calls=tuple(_tool_call_event(c) for c in calls),
                    provider_data=getattr(row, "provider_data", None) or {},
                )
            )
            for call in calls:
                tool_message = _finished_tool_result(call)
                if tool_message is not None:
                    result.append(tool_message)
    return result
