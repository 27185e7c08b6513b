"""Anthropic through the official `anthropic` SDK: Messages API streaming, tool use, thinking.

With extended thinking on, Anthropic requires the assistant turn that called tools to be
sent back with its thinking blocks unchanged and in their original order. So tool calls are
emitted when the message ends, and the first one carries the turn's whole content, in order
(`provider_data["anthropic_content"]`: thinking with signatures, redacted thinking, text,
tool_use), which is replayed verbatim in the next request of the tool loop. Extended
thinking is turned on by the `thinking` provider option
(`{"type": "enabled", "budget_tokens": 4000}`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import anthropic
import httpx2

from ai_settings.current import ProviderConnection
from ai_settings.redaction import secrets_of
from assistant.per_loop import PerLoop
from assistant.providers import attachments as att
from assistant.providers.base import ChatMessage, ChatRequest, ProviderFailure
from assistant.providers.clients import (
    LIST_MODELS_TIMEOUT,
    MAX_RETRIES,
    Timeouts,
    refuse_unwanted_retries,
)
from assistant.providers.errors import (
    UNREADABLE,
    cut_off,
    error_detail,
    kind_for_status,
    provider_error,
    retry_after_seconds,
    transport_detail,
    unreadable,
)
from assistant.providers.events import (
    ErrorKind,
    Event,
    Finish,
    ProviderError,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    Usage,
)
from assistant.providers.openai import parse_arguments
from assistant.providers.options import provider_options

ANTHROPIC_DEFAULT_BASE_URL = "https://api.anthropic.com"
CONTENT_KEY = "anthropic_content"
_STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content_filter",
}
_STREAM_ERROR_KINDS: dict[str, ErrorKind] = {
    "rate_limit_error": "rate_limit",
    "authentication_error": "auth",
    "permission_error": "auth",
    "not_found_error": "not_found",
    "invalid_request_error": "bad_request",
    "request_too_large": "bad_request",
    "timeout_error": "timeout",
}


def _user_blocks(message: ChatMessage) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for attachment in message.attachments:
        if attachment.content_type in att.IMAGE_TYPES:
            source = {
                "type": "base64",
                "media_type": attachment.content_type,
                "data": att.b64(attachment),
            }
            blocks.append({"type": "image", "source": source})
        elif attachment.content_type == att.PDF:
            source = {"type": "base64", "media_type": att.PDF, "data": att.b64(attachment)}
            blocks.append({"type": "document", "source": source, "title": attachment.filename})
        else:
            source = {"type": "text", "media_type": att.TEXT, "data": att.as_text(attachment)}
            blocks.append({"type": "document", "source": source, "title": attachment.filename})
    if message.text:
        blocks.append({"type": "text", "text": message.text})
    return blocks


def _assistant_blocks(message: ChatMessage) -> list[dict[str, Any]]:
    for call in message.tool_calls[:1]:
        if call.provider_data.get(CONTENT_KEY):
            return list(call.provider_data[CONTENT_KEY])
    blocks: list[dict[str, Any]] = []
    if message.text:
        blocks.append({"type": "text", "text": message.text})
    blocks.extend(
        {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}
        for call in message.tool_calls
    )
    return blocks


def anthropic_messages(request: ChatRequest) -> list[dict[str, Any]]:
    """History in Messages API shape; consecutive tool results share one user message."""
    messages: list[dict[str, Any]] = []
    for message in request.messages:
        if message.role == "tool":
            block: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": message.tool_call_id,
                "content": message.text,
            }
            if message.is_error:
                block["is_error"] = True
            last = messages[-1] if messages else None
            if last and last["role"] == "user" and last.get("tool_results"):
                last["content"].append(block)
            else:
                messages.append({"role": "user", "content": [block], "tool_results": True})
        elif message.role == "user":
            messages.append({"role": "user", "content": _user_blocks(message)})
        else:
            blocks = _assistant_blocks(message)
            if blocks:
                messages.append({"role": "assistant", "content": blocks})
    for entry in messages:
        entry.pop("tool_results", None)
    return messages


def map_error(exc: Exception, connection: ProviderConnection) -> ProviderError:
    secrets = secrets_of(connection)
    label = connection.label
    if isinstance(exc, (anthropic.APITimeoutError, httpx2.TimeoutException, TimeoutError)):
        return provider_error("timeout", label, secrets=secrets)
    if isinstance(exc, anthropic.APIConnectionError):
        detail = transport_detail(exc) or exc.message
        return provider_error("connection", label, detail, secrets=secrets)
    if isinstance(exc, httpx2.TransportError):
        return provider_error("connection", label, transport_detail(exc), secrets=secrets)
    if isinstance(exc, anthropic.APIStatusError):
        detail = exc.api_message or error_detail(exc.body) or exc.message
        status = exc.status_code
        if status < 400:  # an `error` event inside a 200 stream
            kind = _STREAM_ERROR_KINDS.get(exc.type or "", "unavailable")
            return provider_error(kind, label, detail, secrets=secrets)
        return provider_error(
            kind_for_status(status),
            label,
            detail,
            secrets=secrets,
            retry_after=retry_after_seconds(exc.response.headers) if status == 429 else None,
            status_code=status,
        )
    if isinstance(exc, anthropic.APIError):
        return provider_error("unavailable", label, exc.message, secrets=secrets)
    return provider_error("unavailable", label, str(exc), secrets=secrets)


class AnthropicAdapter:
    def __init__(self, connection: ProviderConnection, timeouts: Timeouts) -> None:
        self.connection = connection
        self._clients = PerLoop(lambda: self._make_client(timeouts))

    def _make_client(self, timeouts: Timeouts) -> anthropic.AsyncAnthropic:
        timeout = httpx2.Timeout(
            connect=timeouts.connect, read=timeouts.idle, write=timeouts.idle, pool=timeouts.idle
        )
        return anthropic.AsyncAnthropic(
            api_key=self.connection.api_key,
            base_url=self.connection.base_url or ANTHROPIC_DEFAULT_BASE_URL,
            timeout=timeout,
            max_retries=MAX_RETRIES,
            default_headers=dict(self.connection.headers) or None,
            http_client=anthropic.DefaultAsyncHttpxClient(
                timeout=timeout, event_hooks={"response": [refuse_unwanted_retries]}
            ),
        )

    @property
    def client(self) -> anthropic.AsyncAnthropic:
        return self._clients.get()

    async def list_models(self) -> list[str]:
        quick = self.client.with_options(timeout=LIST_MODELS_TIMEOUT, max_retries=0)
        try:
            async with asyncio.timeout(LIST_MODELS_TIMEOUT):
                return sorted([model.id async for model in quick.models.list(limit=1000)])
        except (anthropic.AnthropicError, httpx2.TransportError, TimeoutError) as exc:
            raise ProviderFailure(map_error(exc, self.connection)) from None

    def build_params(self, request: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {"max_tokens": request.model.max_output}
        body.update(provider_options(request))
        body.update(
            {
                "model": request.model.model_id,
                "messages": anthropic_messages(request),
                "stream": True,
            }
        )
        if request.system_prompt:
            body["system"] = request.system_prompt
        if request.tools:
            body["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.parameters}
                for t in request.tools
            ]
        return body

    async def stream(self, request: ChatRequest) -> AsyncGenerator[Event, None]:
        body = self.build_params(request)
        params = {
            "model": body.pop("model"),
            "messages": body.pop("messages"),
            "max_tokens": body.pop("max_tokens"),
            "stream": True,
        }
        turn = _Turn()
        started = False  # the server answered: a lost connection now cuts the answer
        try:
            stream = await self.client.messages.create(**params, extra_body=body)
            started = True
            async with stream:
                async for event in stream:
                    for normalized in turn.feed(event):
                        yield normalized
                    if turn.ended:
                        return
        except (anthropic.AnthropicError, httpx2.TransportError) as exc:
            error = map_error(exc, self.connection)
            yield cut_off(error, self.connection.label) if started else error
            return
        except UNREADABLE as exc:
            yield unreadable(self.connection.label, exc)
            return
        yield provider_error("cut_off", self.connection.label)


def _input_tokens(usage: Any) -> int:
    return (
        (usage.input_tokens or 0)
        + (usage.cache_creation_input_tokens or 0)
        + (usage.cache_read_input_tokens or 0)
    )


class _Turn:
    """Messages stream events → normalized events, for one streamed message."""

    def __init__(self) -> None:
        self.ended = False
        self.blocks: dict[int, dict[str, Any]] = {}  # index -> block being streamed
        self.content: list[dict[str, Any]] = []  # finished blocks, in order
        self.input_tokens = self.output_tokens = self.reasoning_tokens = 0
        self.stop_reason: str | None = None

    def feed(self, event: Any) -> list[Event]:
        kind = event.type
        if kind == "message_start":
            usage = event.message.usage
            self.input_tokens = _input_tokens(usage)
            self.output_tokens = usage.output_tokens or 0
        elif kind == "content_block_start":
            return self._start(event.index, event.content_block)
        elif kind == "content_block_delta":
            return self._delta(self.blocks.get(event.index), event.delta)
        elif kind == "content_block_stop":
            block = self.blocks.pop(event.index, None)
            if block is not None:
                if block["type"] == "tool_use":
                    block["input"] = parse_arguments(block.pop("json"))
                self.content.append(block)
        elif kind == "message_delta":
            self.stop_reason = event.delta.stop_reason or self.stop_reason
            usage = event.usage
            self.output_tokens = usage.output_tokens or self.output_tokens
            if usage.input_tokens:
                self.input_tokens = max(self.input_tokens, _input_tokens(usage))
            details = getattr(usage, "output_tokens_details", None)
            if details is not None:
                self.reasoning_tokens = details.thinking_tokens or 0
        elif kind == "message_stop":
            self.ended = True
            reason = self.stop_reason or "end_turn"
            return [
                *self._tool_calls(),
                Usage(self.input_tokens, self.output_tokens, self.reasoning_tokens),
                Finish(_STOP_REASONS.get(reason, reason)),
            ]
        return []

    def _start(self, index: int, block: Any) -> list[Event]:
        if block.type == "tool_use":
            self.blocks[index] = {
                "type": "tool_use",
                "id": block.id,
                "name": block.name,
                "json": "",
            }
        elif block.type == "thinking":
            self.blocks[index] = {
                "type": "thinking",
                "thinking": block.thinking or "",
                "signature": "",
            }
            return [ReasoningDelta(block.thinking)] if block.thinking else []
        elif block.type == "redacted_thinking":
            self.blocks[index] = {"type": "redacted_thinking", "data": block.data}
        elif block.type == "text":
            self.blocks[index] = {"type": "text", "text": block.text or ""}
            return [TextDelta(block.text)] if block.text else []
        return []

    def _delta(self, block: dict[str, Any] | None, delta: Any) -> list[Event]:
        if delta.type == "text_delta":
            if block is not None:
                block["text"] += delta.text
            return [TextDelta(delta.text)]
        if delta.type == "thinking_delta":
            if block is not None:
                block["thinking"] += delta.thinking
            return [ReasoningDelta(delta.thinking)]
        if block is None:
            return []
        if delta.type == "signature_delta":
            block["signature"] += delta.signature
        elif delta.type == "input_json_delta":
            block["json"] += delta.partial_json
        return []

    def _tool_calls(self) -> list[Event]:
        calls = [block for block in self.content if block["type"] == "tool_use"]
        replay = [block for block in self.content if block["type"] != "text" or block["text"]]
        return [
            ToolCall(
                id=block["id"],
                name=block["name"],
                arguments=block["input"],
                provider_data={CONTENT_KEY: replay} if position == 0 else {},
            )
            for position, block in enumerate(calls)
        ]
