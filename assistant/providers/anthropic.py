"""Anthropic through the official `anthropic` SDK: Messages API streaming, tool use, thinking.

Thinking blocks (text + signature, or redacted data) are attached to the turn's first tool
call (`provider_data["anthropic_thinking"]`): with extended thinking on, Anthropic requires
them back, unchanged, at the start of the assistant message that holds the tool calls.
Extended thinking is turned on by the `thinking` provider option
(`{"type": "enabled", "budget_tokens": 4000}`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import httpx2

from ai_settings.current import ProviderConnection
from assistant.providers import attachments as att
from assistant.providers.base import ChatMessage, ChatRequest, ProviderFailure
from assistant.providers.clients import (
    LIST_MODELS_TIMEOUT,
    MAX_RETRIES,
    PerLoop,
    Timeouts,
    refuse_long_retry_waits,
)
from assistant.providers.errors import (
    error_detail,
    kind_for_status,
    provider_error,
    retry_after_seconds,
    transport_detail,
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
THINKING_KEY = "anthropic_thinking"
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
    blocks: list[dict[str, Any]] = []
    for call in message.tool_calls[:1]:
        blocks.extend(call.provider_data.get(THINKING_KEY, ()))
    if message.text:
        blocks.append({"type": "text", "text": message.text})
    for call in message.tool_calls:
        blocks.append({"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments})
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
    secrets = (connection.api_key, *connection.headers.values())
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
                timeout=timeout, event_hooks={"response": [refuse_long_retry_waits]}
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

    async def stream(self, request: ChatRequest) -> AsyncIterator[Event]:
        body = self.build_params(request)
        params = {
            "model": body.pop("model"),
            "messages": body.pop("messages"),
            "max_tokens": body.pop("max_tokens"),
            "stream": True,
        }
        blocks: dict[int, dict[str, Any]] = {}
        thinking: list[dict[str, Any]] = []
        calls_made = 0
        input_tokens = output_tokens = reasoning_tokens = 0
        stop_reason: str | None = None
        try:
            stream = await self.client.messages.create(**params, extra_body=body)
            async with stream:
                async for event in stream:
                    kind = event.type
                    if kind == "message_start":
                        usage = event.message.usage
                        input_tokens = (
                            usage.input_tokens
                            + (usage.cache_creation_input_tokens or 0)
                            + (usage.cache_read_input_tokens or 0)
                        )
                        output_tokens = usage.output_tokens
                    elif kind == "content_block_start":
                        block = event.content_block
                        if block.type == "tool_use":
                            blocks[event.index] = {
                                "type": "tool_use",
                                "id": block.id,
                                "name": block.name,
                                "json": "",
                            }
                        elif block.type == "thinking":
                            blocks[event.index] = {"type": "thinking", "thinking": "", "signature": ""}
                            if block.thinking:
                                blocks[event.index]["thinking"] = block.thinking
                                yield ReasoningDelta(block.thinking)
                        elif block.type == "redacted_thinking":
                            blocks[event.index] = {"type": "redacted_thinking", "data": block.data}
                        elif block.type == "text" and block.text:
                            yield TextDelta(block.text)
                    elif kind == "content_block_delta":
                        delta = event.delta
                        current = blocks.get(event.index)
                        if delta.type == "text_delta":
                            yield TextDelta(delta.text)
                        elif delta.type == "thinking_delta":
                            if current is not None:
                                current["thinking"] += delta.thinking
                            yield ReasoningDelta(delta.thinking)
                        elif delta.type == "signature_delta" and current is not None:
                            current["signature"] += delta.signature
                        elif delta.type == "input_json_delta" and current is not None:
                            current["json"] += delta.partial_json
                    elif kind == "content_block_stop":
                        current = blocks.pop(event.index, None)
                        if current is None:
                            continue
                        if current["type"] == "tool_use":
                            data = {THINKING_KEY: thinking} if not calls_made and thinking else {}
                            calls_made += 1
                            yield ToolCall(
                                id=current["id"],
                                name=current["name"],
                                arguments=parse_arguments(current["json"]),
                                provider_data=data,
                            )
                        else:
                            thinking.append(current)
                    elif kind == "message_delta":
                        stop_reason = event.delta.stop_reason or stop_reason
                        usage = event.usage
                        output_tokens = usage.output_tokens or output_tokens
                        if usage.input_tokens:
                            input_tokens = max(
                                input_tokens,
                                usage.input_tokens
                                + (usage.cache_creation_input_tokens or 0)
                                + (usage.cache_read_input_tokens or 0),
                            )
                        details = getattr(usage, "output_tokens_details", None)
                        if details is not None:
                            reasoning_tokens = details.thinking_tokens or 0
                    elif kind == "message_stop":
                        yield Usage(input_tokens, output_tokens, reasoning_tokens)
                        yield Finish(_STOP_REASONS.get(stop_reason or "", stop_reason or "stop"))
                        return
        except (anthropic.AnthropicError, httpx2.TransportError) as exc:
            yield map_error(exc, self.connection)
            return
        yield provider_error(
            "connection", self.connection.label, "the stream ended before the answer did"
        )
