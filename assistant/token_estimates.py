"""Token estimates without a tokenizer (none may be downloaded at run time): about four
characters a token, fixed sizes for images and PDFs. The history is trimmed with them, budgets
reserve them, and the ledger records them when a provider reports no usage."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

from assistant.providers.base import AttachmentData, ChatMessage, ChatRequest, ToolSpec
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


def estimate_tool_call(call: ToolCall) -> int:
    return estimate_text(call.name) + estimate_text(json.dumps(call.arguments))


def estimate_message(message: ChatMessage) -> int:
    tokens = MESSAGE_OVERHEAD_TOKENS + estimate_text(message.text)
    tokens += sum(estimate_attachment(a) for a in message.attachments)
    tokens += sum(estimate_tool_call(call) for call in message.tool_calls)
    return tokens


def estimate_tools(tools: Sequence[ToolSpec]) -> int:
    return sum(
        estimate_text(t.name)
        + estimate_text(t.description)
        + estimate_text(json.dumps(t.parameters))
        for t in tools
    )


def estimate_request(request: ChatRequest) -> int:
    """The input tokens of a request: its system prompt, messages and tool specs (for a
    trimmed request, what `trim` computed)."""
    return (
        estimate_text(request.system_prompt)
        + estimate_tools(request.tools)
        + sum(estimate_message(m) for m in request.messages)
    )


def estimate_output(text: str, reasoning: str, calls: Sequence[ToolCall]) -> int:
    """The output tokens of what a provider streamed back: text, reasoning and tool calls."""
    return (
        estimate_text(text) + estimate_text(reasoning) + sum(estimate_tool_call(c) for c in calls)
    )
